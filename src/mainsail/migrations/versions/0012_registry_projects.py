"""registry: a project on registered models (versions and aliases belong to their model's project); every existing row lands in project 'default', names unique per project

Revision ID: 0012_registry_projects
Revises: 0003_registry
Create Date: 2026-12-03 16:40:00.000000
"""
from mainsail.core.projects import add_project, drop_project

revision = '0012_registry_projects'
down_revision = '0003_registry'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_project('registered_models', unique={'uq_registered_models_name': ['name']})


def downgrade() -> None:
    drop_project('registered_models', unique={'uq_registered_models_name': ['name']})
