"""tracking: index runs by (experiment, start time) so a page of an experiment's newest runs reads only
that page (the web UI's runs table and search_runs over many runs)

Revision ID: 0008_tracking_order_u1ui
Revises: 0007_tracking_hb_h3durability
Create Date: 2026-12-03 13:40:00.000000
"""
from alembic import op

revision = '0008_tracking_order_u1ui'
down_revision = '0007_tracking_hb_h3durability'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tracking_runs_experiment_start', 'tracking_runs', ['experiment_id', 'start_time', 'id'])


def downgrade() -> None:
    op.drop_index('ix_tracking_runs_experiment_start', table_name='tracking_runs')
