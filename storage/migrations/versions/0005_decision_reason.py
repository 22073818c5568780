"""a proposal keeps the reason of its last decision: a rejection's code and text, or why an
approval was withdrawn or a rejection restored

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 08:00:00

``proposals.decision_code`` (one of the policy's ``[review] reject_codes``, or NULL) and
``proposals.decision_reason`` (the reviewer's text). Both are NULL for proposals decided
before, and cleared by an approval.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('proposals', sa.Column('decision_code', sa.String(length=32), nullable=True))
    op.add_column('proposals', sa.Column('decision_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    # never a table rebuild: rebuilding proposals on SQLite would cascade-delete its trades
    with op.batch_alter_table('proposals', schema=None, recreate='never') as batch:
        batch.drop_column('decision_reason')
        batch.drop_column('decision_code')
