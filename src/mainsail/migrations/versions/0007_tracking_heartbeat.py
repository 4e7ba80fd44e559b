"""tracking: run heartbeats (last_heartbeat) and why a run ended (status_reason)

Revision ID: 0007_tracking_hb_h3durability
Revises: 0001_core_tracking
Create Date: 2026-12-03 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0007_tracking_hb_h3durability'
down_revision = '0001_core_tracking'
branch_labels = ('tracking',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tracking_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_heartbeat', mainsail.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('status_reason', sa.String(length=64), nullable=True))
    # runs from before heartbeats: their last sign of life is their start (a live old client that
    # writes again brings its run back to running)
    op.execute("UPDATE tracking_runs SET last_heartbeat = COALESCE(end_time, start_time)")


def downgrade() -> None:
    with op.batch_alter_table('tracking_runs', schema=None) as batch_op:
        batch_op.drop_column('status_reason')
        batch_op.drop_column('last_heartbeat')
