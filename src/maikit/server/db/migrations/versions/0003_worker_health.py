"""a worker's device health (healthy, reason, when it was last checked)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

import maikit.server.db.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workers') as batch:
        batch.add_column(sa.Column('healthy', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column('health_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('health_checked_at', maikit.server.db.models.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('workers') as batch:
        batch.drop_column('health_checked_at')
        batch.drop_column('health_reason')
        batch.drop_column('healthy')
