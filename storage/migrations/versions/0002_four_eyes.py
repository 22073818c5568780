"""four-eyes approvals: who edited a proposal, who approved a manual trade

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00

Adds nullable columns (and one with a server default), so an existing database upgrades in
place: plain ``ALTER TABLE ... ADD COLUMN`` on SQLite and PostgreSQL, never a table rebuild
(rebuilding ``proposals`` on SQLite would cascade-delete its trades). Manual trades entered
before the upgrade keep their status (APPROVED: exportable as before). The editors of
proposals edited before the upgrade are filled in from the audit log, so an edit made just
before the upgrade still needs another user's approval under four-eyes.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('proposals', sa.Column('edited_by', sa.Text(), nullable=True))
    op.add_column('trades', sa.Column('four_eyes', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('trades', sa.Column('approved_by', sa.String(length=64), nullable=True))
    op.add_column('trades', sa.Column('approved_at', sa.DateTime(), nullable=True))
    _backfill_editors()


def _backfill_editors() -> None:
    conn = op.get_bind()
    audit = sa.table('audit_log', sa.column('id', sa.Integer), sa.column('username', sa.String),
                     sa.column('action', sa.String), sa.column('detail', sa.Text))
    trades = sa.table('trades', sa.column('id', sa.Integer), sa.column('proposal_id', sa.Integer))
    props = sa.table('proposals', sa.column('id', sa.Integer), sa.column('edited_by', sa.Text))
    rows = conn.execute(sa.select(audit.c.username, audit.c.detail)
                        .where(audit.c.action.in_(['EDIT', 'REMOVE_TRADE'])).order_by(audit.c.id)).all()
    by_trade: dict[int, list[str]] = {}
    for user, detail in rows:
        m = re.match(r'trade (\d+)\b', detail or '')
        if m:
            users = by_trade.setdefault(int(m.group(1)), [])
            if user not in users:
                users.append(user)
    if not by_trade:
        return
    editors: dict[int, list[str]] = {}
    ids = sorted(by_trade)
    for start in range(0, len(ids), 500):
        for tid, pid in conn.execute(sa.select(trades.c.id, trades.c.proposal_id)
                                     .where(trades.c.id.in_(ids[start:start + 500]))):
            if pid is not None:
                users = editors.setdefault(pid, [])
                users += [u for u in by_trade[tid] if u not in users]
    for pid, users in editors.items():
        conn.execute(sa.update(props).where(props.c.id == pid).values(edited_by=';'.join(users)))


def downgrade() -> None:
    # a manual trade still awaiting its second approval must not become exportable by the
    # downgrade's older code, which knows no such status: it stays in a status that code ignores
    with op.batch_alter_table('trades', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by')
        batch_op.drop_column('four_eyes')
    with op.batch_alter_table('proposals', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('edited_by')
