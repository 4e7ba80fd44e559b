"""labels: ground truth by (deployment, request id)

Revision ID: 0008_labels
Revises: 0001_core_tracking
Create Date: 2026-12-03 13:20:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0008_labels'
down_revision = '0001_core_tracking'
branch_labels = ('labels',)
depends_on = None


def upgrade() -> None:
    op.create_table('labels',
    sa.Column('deployment_id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('number', sa.Float(), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('deployment_id', 'request_id', name=op.f('pk_labels'))
    )
    op.create_index('ix_labels_updated', 'labels', ['deployment_id', 'updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_labels_updated', table_name='labels')
    op.drop_table('labels')
