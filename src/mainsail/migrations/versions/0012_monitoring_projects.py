"""monitoring: a project on monitors; every existing row lands in project 'default', names unique per project

Revision ID: 0012_monitoring_projects
Revises: 0009_monitoring_m2
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_monitoring_projects'
down_revision = '0009_monitoring_m2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('monitors', unique={'uq_monitors_name': ['name']})


def downgrade() -> None:
    drop_project('monitors', unique={'uq_monitors_name': ['name']})
