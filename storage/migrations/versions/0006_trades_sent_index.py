"""an index of the trades that are in a batch, by account and book

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02 08:00:00

An export sends no trade of an account that already has a trade of the same book snapshot in a
batch (engine.decide.batch_guard); the console's "approved, not yet exported" counts ask the same. A
partial index over the exported trades only (account, snapshot) answers it per trade without
reading the account's proposed, rejected and removed trades of every run.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trades_sent_account_snapshot', 'trades', ['account_id', 'snapshot_id'], unique=False,
                    sqlite_where=sa.text('batch_id IS NOT NULL'), postgresql_where=sa.text('batch_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_trades_sent_account_snapshot', table_name='trades')
