"""loops: a project on loop policies and runs; every existing row lands in project 'default', policy names unique per project

Revision ID: 0013_loops_projects_proj2
Revises: 0012_loops_loop
Create Date: 2026-12-04 04:30:00.000000
"""
from alembic import op

from mainsail.core.projects import add_project, drop_project

revision = '0013_loops_projects_proj2'
down_revision = '0012_loops_loop'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('loop_policies', unique={'uq_loop_policies_name': ['name']})
    add_project('loop_runs')
    op.create_index('ix_loop_runs_project', 'loop_runs', ['project'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_loop_runs_project', table_name='loop_runs')
    drop_project('loop_runs')
    drop_project('loop_policies', unique={'uq_loop_policies_name': ['name']})
