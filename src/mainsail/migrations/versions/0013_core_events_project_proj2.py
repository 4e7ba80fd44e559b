"""core: a project on every event (the feeds of one project read only its events); existing events take the
project their payload names, else 'default'

Revision ID: 0013_core_events_project_proj2
Revises: 0001_core_tracking
Create Date: 2026-12-04 04:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_core_events_project_proj2'
down_revision = '0001_core_tracking'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:  # SQLite adds a column in place (no table copy)
        batch.add_column(sa.Column('project', sa.String(length=128), nullable=False,
                                   server_default=sa.text("'default'")))
    bind = op.get_bind()
    named = ("substr(json_extract(payload, '$.project'), 1, 128)" if bind.dialect.name == 'sqlite'
             else "left(payload->>'project', 128)")
    op.execute(f"UPDATE events SET project = {named} WHERE {named} IS NOT NULL AND {named} <> ''")
    op.create_index('ix_events_project_id', 'events', ['project', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_project_id', table_name='events')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('project')
