"""features

Revision ID: 0006_features
Revises: 0002_data
Create Date: 2026-11-25 09:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0006_features'
down_revision = '0002_data'
branch_labels = ('features',)
depends_on = None


def upgrade() -> None:
    op.create_table('feature_definitions',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'name', 'version', name=op.f('pk_feature_definitions'))
    )
    op.create_table('feature_view_state',
    sa.Column('view', sa.String(length=200), nullable=False),
    sa.Column('materialized_until', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('last_materialized_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.Column('last_rows', sa.BigInteger(), nullable=False),
    sa.Column('pushed_rows', sa.BigInteger(), nullable=False),
    sa.Column('online_reads', sa.BigInteger(), nullable=False),
    sa.Column('offline_reads', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('view', name=op.f('pk_feature_view_state'))
    )
    op.create_table('feature_push_batches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('view', sa.String(length=200), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_push_batches'))
    )
    op.create_index('ix_feature_push_batches_view', 'feature_push_batches', ['view', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_feature_push_batches_view', table_name='feature_push_batches')
    op.drop_table('feature_push_batches')
    op.drop_table('feature_view_state')
    op.drop_table('feature_definitions')
