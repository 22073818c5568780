"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 05:06:55.281513
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('app_locks',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('held_by', sa.String(length=64), nullable=True),
    sa.Column('held_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_app_locks'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('symbol', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_username'), ['username'], unique=False)
    op.bulk_insert(sa.table('app_locks', sa.column('name', sa.String)), [{'name': 'export'}])

    op.create_table('book_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('n_accounts', sa.Integer(), nullable=False),
    sa.Column('n_lots', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_book_snapshots'))
    )
    with op.batch_alter_table('book_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_book_snapshots_as_of'), ['as_of'], unique=False)

    op.create_table('overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('symbol', sa.String(length=32), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(kind = 'HOLD' AND account_id IS NOT NULL) OR (kind = 'HALT' AND symbol IS NOT NULL)", name=op.f('ck_overrides_target')),
    sa.CheckConstraint("kind IN ('HOLD', 'HALT')", name=op.f('ck_overrides_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overrides'))
    )
    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_overrides_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_overrides_symbol'), ['symbol'], unique=False)

    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policies'))
    )
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policies_checksum'), ['checksum'], unique=False)

    op.create_table('corporate_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ratio', sa.Float(), nullable=True),
    sa.Column('new_symbol', sa.String(length=32), nullable=True),
    sa.Column('processed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_corporate_actions_snapshot_id_book_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_corporate_actions'))
    )
    with op.batch_alter_table('corporate_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_corporate_actions_snapshot_id'), ['snapshot_id'], unique=False)

    op.create_table('export_batches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('out_dir', sa.Text(), nullable=False),
    sa.Column('n_trades', sa.Integer(), nullable=False),
    sa.Column('n_accounts', sa.Integer(), nullable=False),
    sa.Column('manifest', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_export_batches_snapshot_id_book_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_batches'))
    )
    op.create_table('feeds',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('custodian', sa.String(length=64), nullable=False),
    sa.Column('file_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.CheckConstraint("status IN ('ok', 'failed')", name=op.f('ck_feeds_status')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_feeds_snapshot_id_book_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'custodian', name=op.f('pk_feeds'))
    )
    op.create_table('models',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_models_snapshot_id_book_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'model_id', name=op.f('pk_models'))
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('workers', sa.Integer(), nullable=False),
    sa.Column('timings', sa.Text(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_runs_policy_id_policies')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_runs_snapshot_id_book_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_snapshot_id'), ['snapshot_id'], unique=False)

    op.create_table('securities',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('asset_class', sa.String(length=64), nullable=False),
    sa.Column('price', sa.Float(), nullable=True),
    sa.Column('price_date', sa.Date(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('rating', sa.Float(), nullable=True),
    sa.Column('substitute_group', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_securities_snapshot_id_book_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'symbol', name=op.f('pk_securities'))
    )
    op.create_table('suspensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('first_snapshot_id', sa.Integer(), nullable=False),
    sa.Column('last_snapshot_id', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_snapshot_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['first_snapshot_id'], ['book_snapshots.id'], name=op.f('fk_suspensions_first_snapshot_id_book_snapshots')),
    sa.ForeignKeyConstraint(['last_snapshot_id'], ['book_snapshots.id'], name=op.f('fk_suspensions_last_snapshot_id_book_snapshots')),
    sa.ForeignKeyConstraint(['resolved_snapshot_id'], ['book_snapshots.id'], name=op.f('fk_suspensions_resolved_snapshot_id_book_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suspensions'))
    )
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.create_index('ix_suspensions_open', ['account_id', 'code', 'resolved_at'], unique=False)

    op.create_table('accounts',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('custodian', sa.String(length=64), nullable=False),
    sa.Column('cash', sa.Float(), nullable=False),
    sa.Column('taxable', sa.Boolean(), nullable=False),
    sa.Column('st_rate', sa.Float(), nullable=True),
    sa.Column('lt_rate', sa.Float(), nullable=True),
    sa.Column('last_trade_date', sa.Date(), nullable=True),
    sa.Column('restrictions', sa.Text(), nullable=True),
    sa.Column('group_name', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_id', 'model_id'], ['models.snapshot_id', 'models.model_id'], name=op.f('fk_accounts_snapshot_id_models')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_accounts_snapshot_id_book_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'account_id', name=op.f('pk_accounts'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index('ix_accounts_snapshot_custodian', ['snapshot_id', 'custodian'], unique=False)

    op.create_table('cash_request_states',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['export_batches.id'], name=op.f('fk_cash_request_states_batch_id_export_batches')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_cash_request_states'))
    )
    with op.batch_alter_table('cash_request_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_request_states_account_id'), ['account_id'], unique=False)

    op.create_table('model_weights',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.CheckConstraint('weight >= 0 AND weight <= 1', name=op.f('ck_model_weights_weight_range')),
    sa.ForeignKeyConstraint(['snapshot_id', 'model_id'], ['models.snapshot_id', 'models.model_id'], name=op.f('fk_model_weights_snapshot_id_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'model_id', 'symbol', name=op.f('pk_model_weights'))
    )
    op.create_table('proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('review', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('score_bps', sa.Float(), nullable=True),
    sa.Column('threshold_bps', sa.Float(), nullable=True),
    sa.Column('drift_benefit', sa.Float(), nullable=True),
    sa.Column('harvest_benefit', sa.Float(), nullable=True),
    sa.Column('rating_benefit', sa.Float(), nullable=True),
    sa.Column('trading_cost', sa.Float(), nullable=True),
    sa.Column('tax_cost', sa.Float(), nullable=True),
    sa.Column('te_pre', sa.Float(), nullable=True),
    sa.Column('te_post', sa.Float(), nullable=True),
    sa.Column('turnover', sa.Float(), nullable=True),
    sa.Column('realized_tax', sa.Float(), nullable=True),
    sa.Column('mandates', sa.Text(), nullable=True),
    sa.Column('flags', sa.Text(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_proposals_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposals')),
    sa.UniqueConstraint('run_id', 'account_id', name=op.f('uq_proposals_run_id'))
    )
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.create_index('ix_proposals_account', ['account_id'], unique=False)
        batch_op.create_index('ix_proposals_run_category', ['run_id', 'category'], unique=False)
        batch_op.create_index('ix_proposals_run_status', ['run_id', 'status'], unique=False)

    op.create_table('cash_requests',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("priority IN ('high', 'normal')", name=op.f('ck_cash_requests_priority')),
    sa.ForeignKeyConstraint(['snapshot_id', 'account_id'], ['accounts.snapshot_id', 'accounts.account_id'], name=op.f('fk_cash_requests_snapshot_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'request_id', name=op.f('pk_cash_requests'))
    )
    with op.batch_alter_table('cash_requests', schema=None) as batch_op:
        batch_op.create_index('ix_cash_requests_snapshot_account', ['snapshot_id', 'account_id'], unique=False)

    op.create_table('custodian_positions',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id', 'account_id'], ['accounts.snapshot_id', 'accounts.account_id'], name=op.f('fk_custodian_positions_snapshot_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'account_id', 'symbol', name=op.f('pk_custodian_positions'))
    )
    op.create_table('lots',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('unit_cost', sa.Float(), nullable=False),
    sa.Column('acquired_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id', 'account_id'], ['accounts.snapshot_id', 'accounts.account_id'], name=op.f('fk_lots_snapshot_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'account_id', 'lot_id', name=op.f('pk_lots'))
    )
    op.create_table('trades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('custodian', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('est_price', sa.Float(), nullable=True),
    sa.Column('est_value', sa.Float(), nullable=True),
    sa.Column('lots', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f('ck_trades_side')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_trades_quantity_positive')),
    sa.ForeignKeyConstraint(['batch_id'], ['export_batches.id'], name=op.f('fk_trades_batch_id_export_batches')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_trades_proposal_id_proposals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['book_snapshots.id'], name=op.f('fk_trades_snapshot_id_book_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trades'))
    )
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trades_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trades_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trades_proposal_id'), ['proposal_id'], unique=False)
        batch_op.create_index('ix_trades_status_batch', ['status', 'batch_id'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('price', sa.Float(), nullable=False),
    sa.Column('realized_gain', sa.Float(), nullable=True),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f('ck_transactions_side')),
    sa.ForeignKeyConstraint(['snapshot_id', 'account_id'], ['accounts.snapshot_id', 'accounts.account_id'], name=op.f('fk_transactions_snapshot_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_snapshot_account', ['snapshot_id', 'account_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_snapshot_account')

    op.drop_table('transactions')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_index('ix_trades_status_batch')
        batch_op.drop_index(batch_op.f('ix_trades_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_trades_batch_id'))
        batch_op.drop_index(batch_op.f('ix_trades_account_id'))

    op.drop_table('trades')
    op.drop_table('lots')
    op.drop_table('custodian_positions')
    with op.batch_alter_table('cash_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_cash_requests_snapshot_account')

    op.drop_table('cash_requests')
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_proposals_run_status')
        batch_op.drop_index('ix_proposals_run_category')
        batch_op.drop_index('ix_proposals_account')

    op.drop_table('proposals')
    op.drop_table('model_weights')
    with op.batch_alter_table('cash_request_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_request_states_account_id'))

    op.drop_table('cash_request_states')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_accounts_snapshot_custodian')

    op.drop_table('accounts')
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.drop_index('ix_suspensions_open')

    op.drop_table('suspensions')
    op.drop_table('securities')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_snapshot_id'))

    op.drop_table('runs')
    op.drop_table('models')
    op.drop_table('feeds')
    op.drop_table('export_batches')
    with op.batch_alter_table('corporate_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_corporate_actions_snapshot_id'))

    op.drop_table('corporate_actions')
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policies_checksum'))

    op.drop_table('policies')
    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overrides_symbol'))
        batch_op.drop_index(batch_op.f('ix_overrides_account_id'))

    op.drop_table('overrides')
    with op.batch_alter_table('book_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_book_snapshots_as_of'))

    op.drop_table('book_snapshots')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_username'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))
        batch_op.drop_index(batch_op.f('ix_audit_log_account_id'))

    op.drop_table('audit_log')
    op.drop_table('app_locks')

