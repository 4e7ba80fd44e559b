"""audit: the hash-chained audit log, its head, and sealed named secrets

Revision ID: 0008_audit_s2chain
Revises: 0001_core_tracking
Create Date: 2026-12-03 13:20:00.000000
"""
import sqlalchemy as sa
from alembic import op

import mainsail.core.db

revision = '0008_audit_s2chain'
down_revision = '0001_core_tracking'
branch_labels = ('audit',)
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('op', sa.String(length=200), nullable=False),
    sa.Column('object', sa.String(length=500), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('result_sha256', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    # no index beyond seq: every write appends a row, and fewer pages per commit keep that cheap
    head = op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.bulk_insert(head, [{'id': 1, 'seq': 0, 'hash': '0' * 64}])
    op.create_table('secrets',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mainsail.core.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_secrets'))
    )


def downgrade() -> None:
    op.drop_table('secrets')
    op.drop_table('audit_head')
    op.drop_table('audit_log')
