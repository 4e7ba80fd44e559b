"""auth: projects (with the default project), users and service accounts, memberships, API tokens

Revision ID: 0011_auth_s1
Revises: 0001_core_tracking
Create Date: 2026-12-03 13:10:00.000000
"""
import uuid

import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0011_auth_s1'
down_revision = '0001_core_tracking'
branch_labels = ('auth',)
depends_on = None


def upgrade() -> None:
    projects = op.create_table(
        'auth_projects',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('description', sa.String(length=1000), nullable=True),
        sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_projects')),
        sa.UniqueConstraint('name', name=op.f('uq_auth_projects_name')),
    )
    op.create_table(
        'auth_users',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=True),
        sa.Column('is_admin', sa.Boolean(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_users')),
        sa.UniqueConstraint('name', name=op.f('uq_auth_users_name')),
    )
    op.create_table(
        'auth_memberships',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('project_id', sa.String(length=32), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['auth_projects.id'], ondelete='CASCADE',
                                name=op.f('fk_auth_memberships_project_id_auth_projects')),
        sa.ForeignKeyConstraint(['user_id'], ['auth_users.id'], ondelete='CASCADE',
                                name=op.f('fk_auth_memberships_user_id_auth_users')),
        sa.PrimaryKeyConstraint('user_id', 'project_id', name=op.f('pk_auth_memberships')),
    )
    op.create_table(
        'auth_tokens',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('project', sa.String(length=128), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('permissions', sa.JSON(), nullable=False),
        sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
        sa.Column('expires_at', mainsail.core.db.UTCDateTime(), nullable=True),
        sa.Column('last_used_at', mainsail.core.db.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', mainsail.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['auth_users.id'], ondelete='CASCADE',
                                name=op.f('fk_auth_tokens_user_id_auth_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_auth_tokens_token_hash')),
    )
    op.create_index('ix_auth_tokens_user_id', 'auth_tokens', ['user_id'], unique=False)
    # every existing object belongs to the default project
    op.bulk_insert(projects, [{'id': uuid.uuid4().hex, 'name': 'default', 'description': 'The default project',
                               'created_at': mainsail.core.db.utcnow()}])


def downgrade() -> None:
    op.drop_index('ix_auth_tokens_user_id', table_name='auth_tokens')
    op.drop_table('auth_tokens')
    op.drop_table('auth_memberships')
    op.drop_table('auth_users')
    op.drop_table('auth_projects')
