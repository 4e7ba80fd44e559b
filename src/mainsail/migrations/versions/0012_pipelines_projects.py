"""pipelines: a project on pipelines (names unique per project) and their runs; each run records the
principal its tasks act as (``started_by``), each schedule the principal its runs act as (``owner``).
Existing rows land in project 'default'; their NULL starter/owner is the local admin, as before.

Revision ID: 0012_pipelines_projects
Revises: 0005_pipelines
Create Date: 2026-12-03 16:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

from mainsail.core.projects import add_project, drop_project

revision = '0012_pipelines_projects'
down_revision = '0005_pipelines'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('pipelines', unique={'uq_pipelines_name': ['name']})
    add_project('pipeline_runs')
    with op.batch_alter_table('pipeline_runs') as batch:
        batch.add_column(sa.Column('started_by', sa.JSON(), nullable=True))
    with op.batch_alter_table('pipeline_schedules') as batch:
        batch.add_column(sa.Column('owner', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pipeline_schedules') as batch:
        batch.drop_column('owner')
    with op.batch_alter_table('pipeline_runs') as batch:
        batch.drop_column('started_by')
    drop_project('pipeline_runs')
    drop_project('pipelines', unique={'uq_pipelines_name': ['name']})
