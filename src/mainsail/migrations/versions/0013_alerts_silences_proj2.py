"""alerts: a project on silences (a silence mutes its own project's alerts only); existing silences land in 'default'

Revision ID: 0013_alerts_silences_proj2
Revises: 0012_alerts_projects
Create Date: 2026-12-04 04:35:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0013_alerts_silences_proj2'
down_revision = '0012_alerts_projects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('alert_silences')


def downgrade() -> None:
    drop_project('alert_silences')
