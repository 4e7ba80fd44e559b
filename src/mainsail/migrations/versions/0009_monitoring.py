"""monitoring: monitors, monitor_runs, monitor_results

Revision ID: 0009_monitoring_m2
Revises: 0001_core_tracking
Create Date: 2026-12-03 13:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0009_monitoring_m2'
down_revision = '0001_core_tracking'
branch_labels = ('monitoring',)
depends_on = None


def upgrade() -> None:
    op.create_table('monitors',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('deployment', sa.String(length=100), nullable=True),
    sa.Column('dataset', sa.String(length=200), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('schedule', sa.String(length=120), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('last_window_end', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors')),
    sa.UniqueConstraint('name', name=op.f('uq_monitors_name'))
    )
    op.create_index(op.f('ix_monitors_dataset'), 'monitors', ['dataset'], unique=False)
    op.create_index(op.f('ix_monitors_deployment'), 'monitors', ['deployment'], unique=False)
    op.create_index(op.f('ix_monitors_next_run_at'), 'monitors', ['next_run_at'], unique=False)
    op.create_table('monitor_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('monitor_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('window_start', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('window_end', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('windows', sa.Integer(), nullable=False),
    sa.Column('results', sa.Integer(), nullable=False),
    sa.Column('drifted_windows', sa.Integer(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_monitor_runs_monitor_id_monitors'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_runs'))
    )
    op.create_index(op.f('ix_monitor_runs_monitor_id'), 'monitor_runs', ['monitor_id'], unique=False)
    op.create_table('monitor_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('monitor_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('window_start', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('window_end', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('feature', sa.String(length=200), nullable=False),
    sa.Column('test', sa.String(length=60), nullable=False),
    sa.Column('variant', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_monitor_results_monitor_id_monitors'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_results')),
    sa.UniqueConstraint('monitor_id', 'window_start', 'window_end', 'kind', 'feature', 'test', 'variant',
                        name='uq_monitor_results_key')
    )
    op.create_index('ix_monitor_results_series', 'monitor_results', ['monitor_id', 'kind', 'feature', 'window_end'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_monitor_results_series', table_name='monitor_results')
    op.drop_table('monitor_results')
    op.drop_index(op.f('ix_monitor_runs_monitor_id'), table_name='monitor_runs')
    op.drop_table('monitor_runs')
    op.drop_index(op.f('ix_monitors_next_run_at'), table_name='monitors')
    op.drop_index(op.f('ix_monitors_deployment'), table_name='monitors')
    op.drop_index(op.f('ix_monitors_dataset'), table_name='monitors')
    op.drop_table('monitors')
