"""audit: a project on audit rows; every existing row lands in project 'default' (its hash unchanged)

Revision ID: 0013_audit_projects_auditfast
Revises: 0008_audit_s2chain
Create Date: 2026-12-04 04:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_audit_projects_auditfast'
down_revision = '0008_audit_s2chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # no index: every write appends a row, and a project's list reads in seq order (the primary key)
    with op.batch_alter_table('audit_log') as batch:
        batch.add_column(sa.Column('project', sa.String(length=128), nullable=False,
                                   server_default=sa.text("'default'")))


def downgrade() -> None:
    # Rows of other projects keep their place in the chain, but their hashes covered the project:
    # without the column they no longer verify, so refuse rather than break the chain.
    bind = op.get_bind()
    others = bind.execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE project <> 'default'")).scalar()
    if others:
        raise RuntimeError(f"audit_log: {others} rows were written in projects other than 'default'; their "
                           "hashes cover the project, so the chain cannot lose the column")
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('project')
