"""audit entries name the console or process that wrote them; the policy lock row exists

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:00:00

``audit_log.session`` (host/login/process of the writer) lets a console tell its own actions
from everyone else's, including the same user on a second workstation or in a script. Older
entries keep NULL. The ``policy`` application lock gets its row up front (like ``export``), so
two first-ever policy saves queue on it instead of racing to insert it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('session', sa.String(length=128), nullable=True))
    locks = sa.table('app_locks', sa.column('name', sa.String))
    conn = op.get_bind()
    if conn.execute(sa.select(locks.c.name).where(locks.c.name == 'policy')).first() is None:
        op.bulk_insert(locks, [{'name': 'policy'}])


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('session')
