"""costs: the rollup of usage per hour and per day (cost_usage_rollup), backfilled from the usage
records; the GPUs a task reserves (cost_usage.gpu_request)

Revision ID: 0013_costs_rollup_costs2
Revises: 0012_costs
Create Date: 2026-12-04 04:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0013_costs_rollup_costs2'
down_revision = '0012_costs'
branch_labels = None
depends_on = None

GREATEST = {'postgresql': 'greatest', 'sqlite': 'max'}
START = {  # the start of the hour / day of ended_at (SQLite: SQLAlchemy's datetime text)
    ('postgresql', 1): "date_trunc('hour', ended_at)", ('postgresql', 24): "date_trunc('day', ended_at)",
    ('sqlite', 1): "strftime('%Y-%m-%d %H:00:00.000000', ended_at)",
    ('sqlite', 24): "strftime('%Y-%m-%d 00:00:00.000000', ended_at)"}


def upgrade() -> None:
    with op.batch_alter_table('cost_usage') as batch:
        batch.add_column(sa.Column('gpu_request', sa.Float(), nullable=True))
    op.create_table('cost_usage_rollup',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('span_hours', sa.Integer(), nullable=False),
    sa.Column('start', mainsail.core.db.UTCDateTime(), nullable=False),
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
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_usage_rollup')),
    sa.UniqueConstraint('project', 'span_hours', 'start', 'kind', 'pipeline', 'task', 'deployment', 'model', 'spot',
                        'billable', name='uq_cost_usage_rollup_key')
    )
    dialect = op.get_bind().dialect.name
    dialect = dialect if dialect == 'postgresql' else 'sqlite'
    greatest = GREATEST[dialect]
    for span in (1, 24):
        start = START[(dialect, span)]
        op.execute(
            "INSERT INTO cost_usage_rollup (project, span_hours, start, kind, pipeline, task, deployment, model, "
            "spot, billable, records, wall, cpu, mem, gpu, requests) "
            f"SELECT project, {span}, {start}, kind, coalesce(pipeline, ''), coalesce(task, ''), "
            "coalesce(deployment, ''), coalesce(model, ''), spot, billable, count(*), sum(wall_seconds), "
            f"sum({greatest}(coalesce(cpu_request * wall_seconds, 0), cpu_seconds)), "
            f"sum({greatest}(coalesce(memory_request, 0), peak_memory) * wall_seconds), "
            f"sum({greatest}(coalesce(gpu_request * wall_seconds, 0), gpu_seconds)), sum(requests) "
            f"FROM cost_usage GROUP BY project, {start}, kind, coalesce(pipeline, ''), coalesce(task, ''), "
            "coalesce(deployment, ''), coalesce(model, ''), spot, billable"
        )


def downgrade() -> None:
    op.drop_table('cost_usage_rollup')
    with op.batch_alter_table('cost_usage') as batch:
        batch.drop_column('gpu_request')
