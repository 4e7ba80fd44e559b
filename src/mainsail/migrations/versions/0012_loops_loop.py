"""loops: closed-loop policies, their runs (episodes), steps and handled trigger events

Revision ID: 0012_loops_loop
Revises: 0001_core_tracking
Create Date: 2026-12-03 16:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0012_loops_loop'
down_revision = '0001_core_tracking'
branch_labels = ('loops',)
depends_on = None


def upgrade() -> None:
    op.create_table(
        'loop_policies',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('deployment', sa.String(length=100), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('alert_rule', sa.String(length=200), nullable=True),
        sa.Column('pipeline', sa.String(length=200), nullable=False),
        sa.Column('spec', sa.JSON(), nullable=False),
        sa.Column('cooldown_seconds', sa.Float(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('active_run_id', sa.String(length=32), nullable=True),
        sa.Column('cooldown_until', mainsail.core.db.UTCDateTime(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_loop_policies')),
        sa.UniqueConstraint('name', name=op.f('uq_loop_policies_name')),
    )
    op.create_index(op.f('ix_loop_policies_deployment'), 'loop_policies', ['deployment'], unique=False)
    op.create_table(
        'loop_runs',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('policy_id', sa.String(length=32), nullable=False),
        sa.Column('policy', sa.String(length=200), nullable=False),
        sa.Column('deployment', sa.String(length=100), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('stage', sa.String(length=16), nullable=False),
        sa.Column('trigger_event_id', sa.BigInteger(), nullable=False),
        sa.Column('trigger', sa.JSON(), nullable=False),
        sa.Column('pipeline_run_id', sa.String(length=32), nullable=True),
        sa.Column('candidate', sa.String(length=300), nullable=True),
        sa.Column('candidate_version', sa.Integer(), nullable=True),
        sa.Column('champion_version', sa.Integer(), nullable=True),
        sa.Column('rollout_id', sa.String(length=32), nullable=True),
        sa.Column('canary_step', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('detected_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.Column('started_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.Column('finished_at', mainsail.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['policy_id'], ['loop_policies.id'], name=op.f('fk_loop_runs_policy_id_loop_policies'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_loop_runs')),
    )
    op.create_index(op.f('ix_loop_runs_policy_id'), 'loop_runs', ['policy_id'], unique=False)
    op.create_index(op.f('ix_loop_runs_deployment'), 'loop_runs', ['deployment'], unique=False)
    op.create_index('ix_loop_runs_active', 'loop_runs', ['state', 'stage'], unique=False)
    op.create_table(
        'loop_steps',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['loop_runs.id'], name=op.f('fk_loop_steps_run_id_loop_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_loop_steps')),
    )
    op.create_index(op.f('ix_loop_steps_run_id'), 'loop_steps', ['run_id'], unique=False)
    op.create_table(
        'loop_triggers',
        sa.Column('policy_id', sa.String(length=32), nullable=False),
        sa.Column('event_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('policy_id', 'event_id', name=op.f('pk_loop_triggers')),
    )


def downgrade() -> None:
    op.drop_table('loop_triggers')
    op.drop_index(op.f('ix_loop_steps_run_id'), table_name='loop_steps')
    op.drop_table('loop_steps')
    op.drop_index('ix_loop_runs_active', table_name='loop_runs')
    op.drop_index(op.f('ix_loop_runs_deployment'), table_name='loop_runs')
    op.drop_index(op.f('ix_loop_runs_policy_id'), table_name='loop_runs')
    op.drop_table('loop_runs')
    op.drop_index(op.f('ix_loop_policies_deployment'), table_name='loop_policies')
    op.drop_table('loop_policies')
