"""households and substantially identical securities

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:10:00

``accounts.household_id`` (accounts with the same id are one household and one wash-sale
group; NULL: the account is its own) and ``securities.identical_group`` (securities the firm
treats as substantially identical for the wash-sale rules; NULL: only itself). Both are
nullable columns added with plain ``ALTER TABLE ... ADD COLUMN`` (no table rebuild on SQLite);
older snapshots read as "no households, no groups", today's behaviour.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('household_id', sa.String(length=64), nullable=True))
    op.add_column('securities', sa.Column('identical_group', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('securities') as batch:
        batch.drop_column('identical_group')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('household_id')
