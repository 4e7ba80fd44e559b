"""costs: the hourly rollup of usage (cost_usage_hourly), backfilled from the usage records

Revision ID: 0013_costs_hourly_costs2
Revises: 0012_costs
Create Date: 2026-12-04 04:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0013_costs_hourly_costs2'
down_revision = '0012_costs'
branch_labels = None
depends_on = None

HOUR = {'postgresql': "date_trunc('hour', ended_at)",
        'sqlite': "strftime('%Y-%m-%d %H:00:00.000000', ended_at)"}  # SQLAlchemy's SQLite datetime text


def upgrade() -> None:
    op.create_table('cost_usage_hourly',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('hour', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('pipeline', sa.String(length=200), nullable=False),
    sa.Column('task', sa.String(length=200), nullable=False),
    sa.Column('deployment', sa.String(length=200), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('spot', sa.Boolean(), nullable=False),
    sa.Column('billable', sa.Boolean(), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('wall', sa.Float(), nullable=False),
    sa.Column('cpu', sa.Float(), nullable=False),
    sa.Column('mem', sa.Float(), nullable=False),
    sa.Column('gpu', sa.Float(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_usage_hourly')),
    sa.UniqueConstraint('project', 'hour', 'kind', 'pipeline', 'task', 'deployment', 'model', 'spot', 'billable',
                        name='uq_cost_usage_hourly_key')
    )
    hour = HOUR.get(op.get_bind().dialect.name, HOUR['sqlite'])
    op.execute(
        "INSERT INTO cost_usage_hourly (project, hour, kind, pipeline, task, deployment, model, spot, billable, "
        "records, wall, cpu, mem, gpu, requests) "
        f"SELECT project, {hour}, kind, coalesce(pipeline, ''), coalesce(task, ''), coalesce(deployment, ''), "
        "coalesce(model, ''), spot, billable, count(*), sum(wall_seconds), "
        "sum(coalesce(cpu_request * wall_seconds, cpu_seconds)), "
        "sum(coalesce(memory_request, peak_memory) * wall_seconds), sum(gpu_seconds), sum(requests) "
        f"FROM cost_usage GROUP BY project, {hour}, kind, coalesce(pipeline, ''), coalesce(task, ''), "
        "coalesce(deployment, ''), coalesce(model, ''), spot, billable"
    )


def downgrade() -> None:
    op.drop_table('cost_usage_hourly')
