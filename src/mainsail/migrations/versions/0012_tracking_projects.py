"""tracking: a project on experiments (runs belong to their experiment's project); every existing row lands in project 'default', names unique per project

Revision ID: 0012_tracking_projects
Revises: 0008_tracking_order_u1ui
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_tracking_projects'
down_revision = '0008_tracking_order_u1ui'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('experiments', unique={'uq_experiments_name': ['name']})


def downgrade() -> None:
    drop_project('experiments', unique={'uq_experiments_name': ['name']})
