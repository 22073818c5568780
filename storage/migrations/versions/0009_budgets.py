"""tax budgets and trading modes (issue 23)

Revision ID: 0009_budgets
Revises: 0013
Create Date: 2026-12-02 16:00:00

``accounts`` gets ``gains_budget`` (net realized gains allowed this calendar year; NULL = none),
``ytd_realized_st`` / ``ytd_realized_lt`` (net gains already realized this year; NULL = 0) and
``trading_mode`` (``full`` or ``cash_flow``; NULL = full); ``cash_requests`` gets ``mode``
(``rebalance`` or ``raise_only``; NULL = rebalance). Plain ``ADD COLUMN``s, all nullable: older
snapshots read as today's behaviour. ``model_changes`` lists the accounts whose model changed at
an import (engine.book.model_changes).
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_budgets'
down_revision = '0013'  # chained after the desk tools at the merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('gains_budget', sa.Float(), nullable=True))
    op.add_column('accounts', sa.Column('ytd_realized_st', sa.Float(), nullable=True))
    op.add_column('accounts', sa.Column('ytd_realized_lt', sa.Float(), nullable=True))
    op.add_column('accounts', sa.Column('trading_mode', sa.String(length=16), nullable=True))
    op.add_column('cash_requests', sa.Column('mode', sa.String(length=16), nullable=True))
    op.create_table('model_changes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('snapshot_id', sa.Integer(), nullable=False),
                    sa.Column('account_id', sa.String(length=64), nullable=False),
                    sa.Column('model_id', sa.String(length=64), nullable=False),
                    sa.Column('old_model_id', sa.String(length=64), nullable=True),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('trade_dollars', sa.Float(), nullable=False),
                    sa.Column('est_gain', sa.Float(), nullable=False),
                    sa.Column('est_tax', sa.Float(), nullable=False),
                    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'],
                                            name=op.f('fk_model_changes_snapshot_id_book_snapshots'),
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_changes')))
    op.create_index('ix_model_changes_snapshot_id', 'model_changes', ['snapshot_id'])
    op.create_index('ix_model_changes_account_id', 'model_changes', ['account_id'])


def downgrade() -> None:
    op.drop_index('ix_model_changes_account_id', table_name='model_changes')
    op.drop_index('ix_model_changes_snapshot_id', table_name='model_changes')
    op.drop_table('model_changes')
    with op.batch_alter_table('cash_requests') as batch:
        batch.drop_column('mode')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('trading_mode')
        batch.drop_column('ytd_realized_lt')
        batch.drop_column('ytd_realized_st')
        batch.drop_column('gains_budget')
