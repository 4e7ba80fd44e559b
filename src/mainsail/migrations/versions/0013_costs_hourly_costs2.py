"""costs: the hourly rollup of usage (cost_usage_hourly), backfilled from the usage records; the GPUs a
task reserves (cost_usage.gpu_request)

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

GREATEST = {'postgresql': 'greatest', 'sqlite': 'max'}
HOUR = {'postgresql': "date_trunc('hour', ended_at)",
        'sqlite': "strftime('%Y-%m-%d %H:00:00.000000', ended_at)"}  # SQLAlchemy's SQLite datetime text


def upgrade() -> None:
    with op.batch_alter_table('cost_usage') as batch:
        batch.add_column(sa.Column('gpu_request', sa.Float(), nullable=True))
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
    dialect = op.get_bind().dialect.name
    hour, greatest = HOUR.get(dialect, HOUR['sqlite']), GREATEST.get(dialect, 'max')
    op.execute(
        "INSERT INTO cost_usage_hourly (project, hour, kind, pipeline, task, deployment, model, spot, billable, "
        "records, wall, cpu, mem, gpu, requests) "
        f"SELECT project, {hour}, kind, coalesce(pipeline, ''), coalesce(task, ''), coalesce(deployment, ''), "
        "coalesce(model, ''), spot, billable, count(*), sum(wall_seconds), "
        f"sum({greatest}(coalesce(cpu_request * wall_seconds, 0), cpu_seconds)), "
        f"sum({greatest}(coalesce(memory_request, 0), peak_memory) * wall_seconds), "
        f"sum({greatest}(coalesce(gpu_request * wall_seconds, 0), gpu_seconds)), sum(requests) "
        f"FROM cost_usage GROUP BY project, {hour}, kind, coalesce(pipeline, ''), coalesce(task, ''), "
        "coalesce(deployment, ''), coalesce(model, ''), spot, billable"
    )


def downgrade() -> None:
    op.drop_table('cost_usage_hourly')
    with op.batch_alter_table('cost_usage') as batch:
        batch.drop_column('gpu_request')
