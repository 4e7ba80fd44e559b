"""serving: deployments.sampling_percentage (the share of requests whose inference is logged)

Revision ID: 0008_serving_sampling_m2
Revises: 0004_serving
Create Date: 2026-12-03 13:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_serving_sampling_m2'
down_revision = '0004_serving'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.add_column(sa.Column('sampling_percentage', sa.Float(), nullable=False, server_default='100'))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('sampling_percentage')
