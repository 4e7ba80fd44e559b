"""Projects on objects: every domain object (experiment, dataset, feature definition, registered model,
pipeline, deployment, monitor, alert rule and channel) carries the name of the project it belongs to.

A row stores the project's *name* (not the ``auth_projects`` id): every request names its project
(``ctx.project``), so a lookup filters on a column it already has without a join or an extra read on
the hot paths, domains stay free of the auth tables (embedded use without auth has no project rows at
all), and a backup reads the same in any database. Names are unique within a project:
``UNIQUE (project, name)``.

:func:`owned` is the one check of a lookup by id: an object of another project is *not found* in this
one (its existence is not disclosed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from mainsail.core.errors import not_found
from mainsail.core.principal import DEFAULT_PROJECT

if TYPE_CHECKING:
    from mainsail.core.runtime import Ctx

R = TypeVar("R")
PROJECT_LENGTH = 128  # as auth_projects.name


class InProject:
    """A table's ``project`` column: the owning project's name, ``'default'`` for rows made before projects.
    Not indexed on its own: the table's ``UNIQUE (project, name)`` (or primary key) leads with it."""

    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH), default=DEFAULT_PROJECT,
                                         server_default=text(f"'{DEFAULT_PROJECT}'"))


def project_of(ctx: Ctx) -> str:
    """The project a call addresses."""
    return getattr(ctx, "project", None) or DEFAULT_PROJECT


def owned(ctx: Ctx, row: R | None, kind: str, key: object) -> R:
    """``row`` when it exists and belongs to the call's project; else :func:`not_found` for ``kind key``."""
    if row is None or getattr(row, "project", DEFAULT_PROJECT) != project_of(ctx):
        raise not_found(kind, key)
    return row


# ---------------------------------------------------------------- migrations


def add_project(table: str, *, unique: dict[str, list[str]] | None = None, primary_key: list[str] | None = None) -> None:
    """Alembic step: add ``project`` (NOT NULL, server default ``'default'``) to ``table`` so every
    existing row lands in the default project, and widen each named unique constraint (old name -> its
    columns) to ``(project, *columns)`` under the name ``uq_<table>_project``-based convention. With
    ``primary_key`` the primary key becomes ``(project, *primary_key)``. Works on SQLite (batch
    recreate) and PostgreSQL (ALTER)."""
    import sqlalchemy as sa
    from alembic import op

    with op.batch_alter_table(table) as batch:  # one table copy on SQLite, plain ALTERs on PostgreSQL
        batch.add_column(sa.Column("project", sa.String(length=PROJECT_LENGTH), nullable=False,
                                   server_default=sa.text(f"'{DEFAULT_PROJECT}'")))
        for old, cols in (unique or {}).items():
            batch.drop_constraint(old, type_="unique")
            batch.create_unique_constraint(f"uq_{table}_project", ["project", *cols])
        if primary_key:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["project", *primary_key])


def drop_project(table: str, *, unique: dict[str, list[str]] | None = None, primary_key: list[str] | None = None) -> None:
    """Undo :func:`add_project` (rows outside the default project would clash on their names: refuse)."""
    from alembic import op

    bind: Any = op.get_bind()
    others = bind.execute(text(f"SELECT COUNT(*) FROM {table} WHERE project <> :p"), {"p": DEFAULT_PROJECT}).scalar()
    if others:
        raise RuntimeError(f"{table}: {others} rows live outside project {DEFAULT_PROJECT!r}; move or delete them first")
    with op.batch_alter_table(table) as batch:
        for old, cols in (unique or {}).items():
            batch.drop_constraint(f"uq_{table}_project", type_="unique")
            batch.create_unique_constraint(old, cols)
        if primary_key:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", primary_key)
        batch.drop_column("project")
