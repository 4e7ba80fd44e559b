"""A real ``mainsail server`` per test (SQLite or PostgreSQL) and the real MLflow client pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import ServerProcess

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before MLflow is imported: it sends nothing
os.environ.setdefault("DO_NOT_TRACK", "true")
pytest.importorskip("mlflow", reason="the mlflow test extra is not installed (pip install -e '.[mlflow]')")


@pytest.fixture(params=["sqlite", "postgres"])
def mlflow_server(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A running server; ``MLFLOW_TRACKING_URI`` points at it and MLflow sends no telemetry."""
    uri = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 's.db'}"
    srv = ServerProcess(uri, str(tmp_path / "server-artifacts"), tmp_path).start(timeout=120)  # a loaded machine
    for key, value in {"MLFLOW_TRACKING_URI": srv.url, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                       "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}.items():
        monkeypatch.setenv(key, value)
    import mlflow
    import mlflow.tracking.fluent as fluent

    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    fluent._active_experiment_id = None  # MLflow keeps the last set_experiment in a global: start fresh
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    monkeypatch.chdir(tmp_path)  # anything MLflow writes locally stays in the test's folder
    yield srv
    while mlflow.active_run():
        mlflow.end_run()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # set_experiment exports it for child processes
    srv.stop()
