"""features: a project on entities, feature views and services; view state and push batches; every existing row lands in project 'default', names unique per project

Revision ID: 0012_features_projects
Revises: 0006_features
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_features_projects'
down_revision = '0006_features'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('feature_definitions', primary_key=['kind', 'name', 'version'])
    add_project('feature_view_state', primary_key=['view'])
    add_project('feature_push_batches')


def downgrade() -> None:
    drop_project('feature_push_batches')
    drop_project('feature_view_state', primary_key=['view'])
    drop_project('feature_definitions', primary_key=['kind', 'name', 'version'])
