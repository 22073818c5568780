"""retired book snapshots (issue #18)

Revision ID: 0011_harden
Revises: 0008
Create Date: 2026-12-02 17:00:00

``book_snapshots`` gets ``retired_at``, ``retired_by`` and ``retired_reason``: an admin can set a
wrong snapshot aside (a confirmed as_of typo such as 2062-11-20) so the desk is never stuck; a
retired snapshot is no longer the current book (storage.repo.snapshot_info) and its rows stay for
the record. Plain ``ALTER TABLE ... ADD COLUMN`` (no table rebuild on SQLite).
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_harden'
down_revision = '0008'  # chained after households at the merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('book_snapshots', sa.Column('retired_at', sa.DateTime(), nullable=True))
    op.add_column('book_snapshots', sa.Column('retired_by', sa.String(length=64), nullable=True))
    op.add_column('book_snapshots', sa.Column('retired_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop a table other tables point at
    for column in ('retired_reason', 'retired_by', 'retired_at'):
        op.drop_column('book_snapshots', column)
