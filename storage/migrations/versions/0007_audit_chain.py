"""audit hash chain, how each entry's user is known, desk roles

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02 08:00:00

``audit_log`` gets ``seq`` (chain position), ``hash`` (SHA-256 chain, see storage.audit_chain)
and ``identity`` ("login", "os" or "declared"; NULL for older entries). Existing entries are
chained in id order here, and ``audit_chain`` records the head. ``desk_roles`` lists the desk
roles granted to users (empty: roles not set up, today's behaviour). Columns are added with
plain ``ALTER TABLE ... ADD COLUMN`` (no table rebuild on SQLite).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CHUNK = 20_000


def upgrade() -> None:
    from storage import audit_chain

    op.add_column('audit_log', sa.Column('identity', sa.String(length=16), nullable=True))
    op.add_column('audit_log', sa.Column('seq', sa.Integer(), nullable=True))
    op.add_column('audit_log', sa.Column('hash', sa.String(length=64), nullable=True))
    op.create_index('ix_audit_log_seq', 'audit_log', ['seq'], unique=True)
    op.create_table('audit_chain',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('seq', sa.Integer(), nullable=False),
                    sa.Column('hash', sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain')))
    op.create_table('desk_roles',
                    sa.Column('username', sa.String(length=64), nullable=False),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('granted_by', sa.String(length=64), nullable=False),
                    sa.Column('granted_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('username', 'role', name=op.f('pk_desk_roles')))

    conn = op.get_bind()
    log = sa.table('audit_log', *(sa.column(c) for c in ('id', 'seq', 'hash')),
                   *(sa.column(c) for c in audit_chain.FIELDS if c not in ('seq', 'at')),
                   sa.column('at', sa.DateTime()))
    fields = [log.c[f] for f in audit_chain.FIELDS if f != 'seq']
    seq, prev = 0, audit_chain.GENESIS
    last_id = None
    while True:
        stmt = sa.select(log.c.id, *fields).order_by(log.c.id).limit(CHUNK)
        if last_id is not None:
            stmt = stmt.where(log.c.id > last_id)
        rows = conn.execute(stmt).all()
        if not rows:
            break
        updates = []
        for r in rows:
            seq += 1
            prev = audit_chain.entry_hash(prev, [seq, *r[1:]])
            updates.append({'b_id': r[0], 'b_seq': seq, 'b_hash': prev})
        conn.execute(log.update().where(log.c.id == sa.bindparam('b_id'))
                     .values(seq=sa.bindparam('b_seq'), hash=sa.bindparam('b_hash')), updates)
        last_id = rows[-1][0]
    op.bulk_insert(sa.table('audit_chain', sa.column('id', sa.Integer), sa.column('seq', sa.Integer),
                            sa.column('hash', sa.String)), [{'id': 1, 'seq': seq, 'hash': prev}])


def downgrade() -> None:
    op.drop_table('desk_roles')
    op.drop_table('audit_chain')
    op.drop_index('ix_audit_log_seq', table_name='audit_log')
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('hash')
        batch.drop_column('seq')
        batch.drop_column('identity')
