"""collab: comments, reviews and approval policies, activity feed, watches, inbox

Revision ID: 0012_collab
Revises: 0001_core_tracking
Create Date: 2026-12-03 17:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0012_collab'
down_revision = '0001_core_tracking'
branch_labels = ('collab',)
depends_on = None


def upgrade() -> None:
    op.create_table('collab_activity',
    sa.Column('event_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('project', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=False),
    sa.Column('object_key', sa.String(length=400), nullable=False),
    sa.Column('parent_kind', sa.String(length=32), nullable=True),
    sa.Column('parent_key', sa.String(length=400), nullable=True),
    sa.Column('label', sa.String(length=400), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_collab_activity'))
    )
    op.create_index('ix_collab_activity_actor', 'collab_activity', ['project', 'actor', 'event_id'], unique=False)
    op.create_index('ix_collab_activity_object', 'collab_activity', ['project', 'object_kind', 'object_key', 'event_id'], unique=False)
    op.create_index('ix_collab_activity_parent', 'collab_activity', ['project', 'parent_kind', 'parent_key', 'event_id'], unique=False)
    op.create_index('ix_collab_activity_project', 'collab_activity', ['project', 'event_id'], unique=False)
    op.create_table('collab_comments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=128), server_default='default', nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=False),
    sa.Column('object_key', sa.String(length=400), nullable=False),
    sa.Column('label', sa.String(length=400), nullable=False),
    sa.Column('parent_kind', sa.String(length=32), nullable=True),
    sa.Column('parent_key', sa.String(length=400), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collab_comments'))
    )
    op.create_index('ix_collab_comments_object', 'collab_comments', ['project', 'object_kind', 'object_key', 'id'], unique=False)
    op.create_table('collab_feed_cursor',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_collab_feed_cursor'))
    )
    op.create_table('collab_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=128), server_default='default', nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=True),
    sa.Column('object_key', sa.String(length=400), nullable=True),
    sa.Column('label', sa.String(length=400), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', mainsail.core.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collab_notifications'))
    )
    op.create_index('ix_collab_notifications_user', 'collab_notifications', ['user', 'id'], unique=False)
    op.create_table('collab_policies',
    sa.Column('project', sa.String(length=128), nullable=False),
    sa.Column('required_approvals', sa.Integer(), nullable=False),
    sa.Column('count_author', sa.Boolean(), nullable=False),
    sa.Column('protected_aliases', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('project', name=op.f('pk_collab_policies'))
    )
    op.create_table('collab_preferences',
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=True),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user', name=op.f('pk_collab_preferences'))
    )
    op.create_table('collab_review_responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('review_id', sa.BigInteger(), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('verdict', sa.String(length=32), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collab_review_responses'))
    )
    op.create_index(op.f('ix_collab_review_responses_review_id'), 'collab_review_responses', ['review_id'], unique=False)
    op.create_table('collab_reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=128), server_default='default', nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=False),
    sa.Column('object_key', sa.String(length=400), nullable=False),
    sa.Column('label', sa.String(length=400), nullable=False),
    sa.Column('parent_kind', sa.String(length=32), nullable=True),
    sa.Column('parent_key', sa.String(length=400), nullable=True),
    sa.Column('object_author', sa.String(length=200), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('reviewers', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collab_reviews'))
    )
    op.create_index('ix_collab_reviews_object', 'collab_reviews', ['project', 'object_kind', 'object_key'], unique=False)
    op.create_table('collab_watches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project', sa.String(length=128), server_default='default', nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=False),
    sa.Column('object_key', sa.String(length=400), nullable=False),
    sa.Column('label', sa.String(length=400), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collab_watches')),
    sa.UniqueConstraint('project', 'object_kind', 'object_key', 'user', name=op.f('uq_collab_watches_project'))
    )
    op.create_index(op.f('ix_collab_watches_user'), 'collab_watches', ['user'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_collab_watches_user'), table_name='collab_watches')
    op.drop_table('collab_watches')
    op.drop_index('ix_collab_reviews_object', table_name='collab_reviews')
    op.drop_table('collab_reviews')
    op.drop_index(op.f('ix_collab_review_responses_review_id'), table_name='collab_review_responses')
    op.drop_table('collab_review_responses')
    op.drop_table('collab_preferences')
    op.drop_table('collab_policies')
    op.drop_index('ix_collab_notifications_user', table_name='collab_notifications')
    op.drop_table('collab_notifications')
    op.drop_table('collab_feed_cursor')
    op.drop_index('ix_collab_comments_object', table_name='collab_comments')
    op.drop_table('collab_comments')
    op.drop_index('ix_collab_activity_project', table_name='collab_activity')
    op.drop_index('ix_collab_activity_parent', table_name='collab_activity')
    op.drop_index('ix_collab_activity_object', table_name='collab_activity')
    op.drop_index('ix_collab_activity_actor', table_name='collab_activity')
    op.drop_table('collab_activity')
