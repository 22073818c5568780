"""cash requests are sent, then paid (no longer "filled"); proposals say how their tier was valued

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00

A cash request's cash stays reserved while the book lists it: the state ``filled`` (set when
its batch was written) becomes ``sent``; ``paid`` is set at import when a newer book no longer
lists it. Plain ``ADD COLUMN`` (no table rebuild). ``proposals.tier_basis`` records how holdings without a usable price were valued for
the account's tier (last known price or cost basis); NULL: every holding at the book's prices.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

states = sa.table('cash_request_states', sa.column('status', sa.String))


def upgrade() -> None:
    op.add_column('proposals', sa.Column('tier_basis', sa.Text(), nullable=True))
    op.execute(states.update().where(states.c.status == 'filled').values(status='sent'))


def downgrade() -> None:
    op.execute(states.update().where(states.c.status.in_(['sent', 'paid'])).values(status='filled'))
    # never a table rebuild: rebuilding proposals on SQLite would cascade-delete its trades
    with op.batch_alter_table('proposals', recreate='never') as batch:
        batch.drop_column('tier_basis')
