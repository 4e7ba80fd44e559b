"""Shared fixtures: per-test SQLite files, per-test PostgreSQL schemas, a real uvicorn server, and the
rule that a missing service skips (or fails under MAINSAIL_TEST_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os

import pytest
from _s3server import moto_s3_server, s3_artifact_root  # noqa: F401
from _services import (  # noqa: F401  (fixtures re-exported for every test module)
    backend,
    http_server,
    pg_url,
    ray_address,
    require_service,
    runtime_settings,
    sqlite_settings,
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the developer's ~/.mainsail: every test gets its own MAINSAIL_HOME."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MAINSAIL_HOME", str(home))
    for var in ("MAINSAIL_URI", "MAINSAIL_ARTIFACT_ROOT", "MAINSAIL_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("MAINSAIL_METRIC_FLUSH_INTERVAL", "0.2")
