"""alerts

Revision ID: 0010_alerts
Revises: 0001_core_tracking
Create Date: 2026-12-03 13:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0010_alerts'
down_revision = '0001_core_tracking'
branch_labels = ('alerts',)
depends_on = None


def upgrade() -> None:
    op.create_table('alert_channels',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('min_severity', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_channels')),
    sa.UniqueConstraint('name', name=op.f('uq_alert_channels_name'))
    )
    op.create_table('alert_deliveries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('transition', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_deliveries_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_alert_deliveries_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('alert_evaluated_events',
    sa.Column('event_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('evaluated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_alert_evaluated_events'))
    )
    op.create_table('alert_rules',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('selector', sa.JSON(), nullable=False),
    sa.Column('condition', sa.String(length=500), nullable=False),
    sa.Column('for_seconds', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_alert_rules_name'))
    )
    op.create_table('alert_silences',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('matchers', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('starts_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('ends_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_silences'))
    )
    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_silences_ends_at'), ['ends_at'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('open_key', sa.String(length=64), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('started_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('fired_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('last_seen_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('acknowledged_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('muted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('open_key', name=op.f('uq_alerts_open_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index('ix_alerts_state', ['state', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_state')
        batch_op.drop_index(batch_op.f('ix_alerts_rule_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_fingerprint'))

    op.drop_table('alerts')
    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_silences_ends_at'))

    op.drop_table('alert_silences')
    op.drop_table('alert_rules')
    op.drop_table('alert_evaluated_events')
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_deliveries_due')
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_alert_id'))

    op.drop_table('alert_deliveries')
    op.drop_table('alert_channels')
