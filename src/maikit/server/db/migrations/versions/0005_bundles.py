"""final bundles: a submission's code archive, and one factsheet per owner and phase

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

import maikit.server.db.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('code_sha256', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('code_size_bytes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('code_format', sa.String(length=16), nullable=True))
    op.create_table(
        'factsheets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', maikit.server.db.models.UtcDateTime(), nullable=False),
        sa.Column('updated_at', maikit.server.db.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('phase_id', 'owner_key'),
    )


def downgrade() -> None:
    op.drop_table('factsheets')
    with op.batch_alter_table('submissions') as batch:
        batch.drop_column('code_format')
        batch.drop_column('code_size_bytes')
        batch.drop_column('code_sha256')
