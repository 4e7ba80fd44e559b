"""serving: a project on deployments; every existing row lands in project 'default', names unique per project

Revision ID: 0012_serving_projects
Revises: 0008_serving_sampling_m2
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_serving_projects'
down_revision = '0008_serving_sampling_m2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('deployments', unique={'uq_deployments_name': ['name']})


def downgrade() -> None:
    drop_project('deployments', unique={'uq_deployments_name': ['name']})
