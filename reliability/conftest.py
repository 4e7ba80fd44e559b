"""The reliability suite (its own CI stage, ``scripts/reliability.sh``): kill -9 during writes, concurrent
embedded processes, sustained load and dependency faults, with real processes and services. Each check
records its numbers with :func:`record`; the table of every check is printed at the end of the run.

Sizes come from the environment so CI stays small: ``MAINSAIL_RELIABILITY_TRIALS`` (kill -9 trials,
default 20) and ``MAINSAIL_RELIABILITY_SECONDS`` (load duration, default 60)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _s3server import moto_s3_server, s3_artifact_root  # noqa: E402,F401  (fixtures for these tests)
from _services import pg_url, ray_address, require_service  # noqa: E402,F401
from _suite import _rows  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSAIL_HOME", str(tmp_path_factory.mktemp("home")))
    for var in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT", "MAINSAIL_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _rows:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="reliability checks")
    for col in ("check", "backend", "result", "numbers"):
        table.add_column(col)
    for r in _rows:
        nums = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["numbers"].items())
        table.add_row(r["check"], r["backend"], "[green]ok[/]" if r["ok"] else "[red]FAILED[/]", nums)
    Console(width=160).print(table)
