"""compact proposal detail (issue 21)

Revision ID: 0014_compact
Revises: 0009_budgets
Create Date: 2026-12-02 19:40:00

``proposal_details``: one row per proposal with detail, in compact form (storage/compact_detail.py):
the class weights as float64 bytes, the cash and benefit figures as columns, and ids of texts the
run's proposals share (``detail_texts``: key order, class names, targets and bands; the rest as
JSON). New runs write their detail there instead of ``proposals.detail``; the column stays for
runs written before and for edited proposals, and wins when both exist. No data moves.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_compact'
down_revision = '0009_budgets'  # the lead re-chains at the merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('detail_texts',
                    sa.Column('run_id', sa.Integer(), nullable=False),
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('text', sa.Text(), nullable=False),
                    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_detail_texts_run_id_runs'),
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('run_id', 'id', name=op.f('pk_detail_texts')))
    op.create_table('proposal_details',
                    sa.Column('proposal_id', sa.Integer(), nullable=False),
                    sa.Column('run_id', sa.Integer(), nullable=False),
                    sa.Column('shape', sa.Integer(), nullable=False),
                    sa.Column('extra', sa.Integer(), nullable=False),
                    sa.Column('weights', sa.LargeBinary(), nullable=True),
                    sa.Column('cash_post', sa.Float(), nullable=True),
                    sa.Column('cash_required', sa.Float(), nullable=True),
                    sa.Column('cash_shortfall', sa.Float(), nullable=True),
                    sa.Column('cash_needed', sa.Float(), nullable=True),
                    sa.Column('harvest_value', sa.Float(), nullable=True),
                    sa.Column('tax_saved', sa.Float(), nullable=True),
                    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'],
                                            name=op.f('fk_proposal_details_proposal_id_proposals'),
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('proposal_id', name=op.f('pk_proposal_details')))
    op.create_index('ix_proposal_details_run_id', 'proposal_details', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_proposal_details_run_id', table_name='proposal_details')
    op.drop_table('proposal_details')
    op.drop_table('detail_texts')
