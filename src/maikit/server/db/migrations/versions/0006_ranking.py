"""what a ranking needs beside the score: the shape a runtime was timed at, its interval and
flags, and a re-run's lineage (the first submission of its chain of re-runs)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('runtime_shape', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('runtime_interval', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('flags', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('lineage_id', sa.Integer(), nullable=True))
    # a re-run's lineage is the first submission of its chain (parent_id followed to the end)
    conn = op.get_bind()
    parents = dict(conn.execute(sa.text("SELECT id, parent_id FROM submissions WHERE parent_id IS NOT NULL")).all())
    for sid in parents:
        root = sid
        while root in parents:
            root = parents[root]
        conn.execute(sa.text("UPDATE submissions SET lineage_id = :root WHERE id = :id"), {"root": root, "id": sid})


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_column('lineage_id')
        batch.drop_column('flags')
        batch.drop_column('runtime_interval')
        batch.drop_column('runtime_shape')
