"""notes: free text with a reason code on accounts and on the desk's actions

Revision ID: 0013
Revises: 0011_harden
Create Date: 2026-12-02 16:15:00

``notes``: one row per note — when, by whom, on which account, of what (``kind``: account,
approval, rejection, ...), what it refers to (``ref``: e.g. "run 3"), the reason code (one of the
policy's ``[notes] codes``, or NULL) and the text. Written with the action it explains, in the
same transaction; searchable; shown in the account's history.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0011_harden'  # chained after hardening at the merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.Column('username', sa.String(length=64), nullable=False),
                    sa.Column('account_id', sa.String(length=64), nullable=True),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('ref', sa.String(length=64), nullable=True),
                    sa.Column('code', sa.String(length=32), nullable=True),
                    sa.Column('text', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')))
    op.create_index('ix_notes_account_id', 'notes', ['account_id'], unique=False)
    op.create_index('ix_notes_at', 'notes', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notes_at', table_name='notes')
    op.drop_index('ix_notes_account_id', table_name='notes')
    op.drop_table('notes')
