"""data: a project on datasets; every existing row lands in project 'default', names unique per project

Revision ID: 0012_data_projects
Revises: 0007_data_latest_h2errors
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_data_projects'
down_revision = '0007_data_latest_h2errors'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('datasets', unique={'uq_datasets_name': ['name']})


def downgrade() -> None:
    drop_project('datasets', unique={'uq_datasets_name': ['name']})
