"""alerts: a project on alert rules and notification channels; every existing row lands in project 'default', names unique per project

Revision ID: 0012_alerts_projects
Revises: 0010_alerts
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_alerts_projects'
down_revision = '0010_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('alert_rules', unique={'uq_alert_rules_name': ['name']})
    add_project('alert_channels', unique={'uq_alert_channels_name': ['name']})


def downgrade() -> None:
    drop_project('alert_channels', unique={'uq_alert_channels_name': ['name']})
    drop_project('alert_rules', unique={'uq_alert_rules_name': ['name']})
