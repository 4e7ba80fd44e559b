"""Checks shared by the deployment-file tests: does a `mainsail …` command line parse against the real CLI,
which MAINSAIL_* settings does the code read, compose-style interpolation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def parse_mainsail(args: list[str]) -> list[str]:
    """Parse ``mainsail ARGS`` with the real click commands (nothing runs); return the command path, e.g.
    ``["db", "upgrade"]``. A wrong command, option or missing argument raises click's ``UsageError``."""
    from mainsail.cli.main import app

    group: Any = typer.main.get_command(app)
    ctx = group.make_context("mainsail", list(args))
    path: list[str] = []
    while hasattr(group, "resolve_command"):  # a group (typer vendors its own click)
        protected = getattr(ctx, "_protected_args", None) or ctx.protected_args  # click 8.2 renamed it
        rest = [*protected, *ctx.args]
        if not rest:
            break
        name, cmd, rest = group.resolve_command(ctx, rest)
        assert cmd is not None and name is not None
        path.append(name)
        ctx = cmd.make_context(name, list(rest), parent=ctx)
        group = cmd
    return path


def settings_read_by_code() -> set[str]:
    """Every ``MAINSAIL_*`` name that appears in the package's source (what it can read)."""
    names: set[str] = set()
    for path in (REPO / "src" / "mainsail").rglob("*.py"):
        names |= set(re.findall(r"MAINSAIL_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    return names


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$`` with ``env`` (else the
    default; a required variable becomes ``<VAR>``)."""
    env = env or {}

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in env:
            return env[name]
        return arg if op == "-" else f"<{name}>"

    return _VAR.sub(sub, text.replace("$$", "\0")).replace("\0", "$")


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``check-jsonschema`` with one of its vendored (offline) schemas."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           *map(str, files)], capture_output=True, text=True, timeout=120)
