"""tracking: index the latest metrics by (key, value, run_id) so runs sorted by a metric read one page
in index order instead of sorting every run (the web UI's runs table over 100,000 runs)

Revision ID: 0012_tracking_metric_sort_ui2
Revises: 0008_tracking_order_u1ui
Create Date: 2026-12-03 16:40:00.000000
"""
from alembic import op

revision = '0012_tracking_metric_sort_ui2'
down_revision = '0008_tracking_order_u1ui'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_run_latest_metrics_key_value', 'run_latest_metrics', ['key', 'value', 'run_id'])


def downgrade() -> None:
    op.drop_index('ix_run_latest_metrics_key_value', table_name='run_latest_metrics')
