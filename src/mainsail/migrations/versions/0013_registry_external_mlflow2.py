"""registry: versions whose files are elsewhere (MLflow's create_model_version with any source): the
source Mainsail does not hold and the run id it was given when that run is not a Mainsail run; existing
rows keep both empty

Revision ID: 0013_registry_external_mlflow2
Revises: 0012_registry_projects
Create Date: 2026-12-04 04:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_registry_external_mlflow2'
down_revision = '0012_registry_projects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.add_column(sa.Column('external_source', sa.String(1000), nullable=True))
        batch.add_column(sa.Column('external_run_id', sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.drop_column('external_run_id')
        batch.drop_column('external_source')
