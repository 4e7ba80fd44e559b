"""costs: usage records, price sheets, budgets, retention rules

Revision ID: 0012_costs
Revises: 0001_core_tracking
Create Date: 2026-12-03 16:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0012_costs'
down_revision = '0001_core_tracking'
branch_labels = ('costs',)
depends_on = None


def upgrade() -> None:
    op.create_table('cost_usage',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('pipeline', sa.String(length=200), nullable=True),
    sa.Column('pipeline_run', sa.String(length=64), nullable=True),
    sa.Column('task', sa.String(length=200), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('experiment', sa.String(length=200), nullable=True),
    sa.Column('deployment', sa.String(length=200), nullable=True),
    sa.Column('replica', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('started_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('wall_seconds', sa.Float(), nullable=False),
    sa.Column('cpu_seconds', sa.Float(), nullable=False),
    sa.Column('peak_memory', sa.BigInteger(), nullable=False),
    sa.Column('gpu_seconds', sa.Float(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('cpu_request', sa.Float(), nullable=True),
    sa.Column('memory_request', sa.BigInteger(), nullable=True),
    sa.Column('attempt', sa.BigInteger(), nullable=False),
    sa.Column('retries', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('spot', sa.Boolean(), nullable=False),
    sa.Column('billable', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_usage'))
    )
    op.create_index('ix_cost_usage_project_ended', 'cost_usage', ['project', 'ended_at'], unique=False)
    op.create_index('ix_cost_usage_run', 'cost_usage', ['run_id'], unique=False)
    op.create_table('cost_prices',
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('prices', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('project', name=op.f('pk_cost_prices'))
    )
    op.create_table('cost_budgets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=True),
    sa.Column('last_spent', sa.Float(), nullable=True),
    sa.Column('last_checked_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_budgets')),
    sa.UniqueConstraint('project', 'name', name='uq_cost_budgets_project_name')
    )
    op.create_table('cost_retention',
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('runs_days', sa.Float(), nullable=True),
    sa.Column('inference_logs_days', sa.Float(), nullable=True),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('project', name=op.f('pk_cost_retention'))
    )


def downgrade() -> None:
    op.drop_table('cost_retention')
    op.drop_table('cost_budgets')
    op.drop_table('cost_prices')
    op.drop_index('ix_cost_usage_run', table_name='cost_usage')
    op.drop_index('ix_cost_usage_project_ended', table_name='cost_usage')
    op.drop_table('cost_usage')
