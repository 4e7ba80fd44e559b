"""data: datasets.latest_version_id (re-ingesting an older version's bytes makes it the latest)

Revision ID: 0007_data_latest_h2errors
Revises: 0002_data
Create Date: 2026-12-03 10:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_data_latest_h2errors'
down_revision = '0002_data'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.add_column(sa.Column('latest_version_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.drop_column('latest_version_id')
