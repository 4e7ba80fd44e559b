"""Settings read from the environment (``MAINSAIL_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _home() -> Path:
    return Path(os.environ.get("MAINSAIL_HOME") or Path.home() / ".mainsail").expanduser()


def home_dir() -> Path:
    """``MAINSAIL_HOME``, else ``~/.mainsail``: :attr:`Settings.home` without reading every other setting."""
    return _home()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Every field has an embedded default."""

    home: Path = field(default_factory=_home)
    uri: str = ""
    artifact_root: str = ""
    token: str | None = None
    metric_flush_interval: float = 1.0
    metric_flush_rows: int = 20_000
    metric_flush_timeout: float = 30.0  # how long flush() and run end keep retrying an unreachable store
    max_batch_points: int = 10_000  # metric points per log-batch request/transaction (bigger: split)
    run_heartbeat_interval: float = 30.0  # how often a live run tells the store it is alive
    run_heartbeat_timeout: float = 300.0  # a running run silent this long is marked killed
    max_json_body: int = 16 * 2**20  # bytes of a JSON (or any non-upload) request body
    max_upload_body: int = 2**30  # bytes of an octet-stream upload (artifacts, dataset files)
    project: str = "default"  # the project calls address (MAINSAIL_PROJECT / --project)
    auth: bool = False  # the server authenticates every request (MAINSAIL_AUTH=1 or `mainsail server --auth`)
    auth_cache_ttl: float = 5.0  # seconds a resolved token is trusted before the database is asked again
    metrics_auth: bool = False  # /metrics needs a token too (MAINSAIL_METRICS_AUTH=1)

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``MAINSAIL_*`` environment variables."""
        home = _home()
        return cls(
            home=home,
            uri=os.environ.get("MAINSAIL_URI") or f"sqlite:///{home / 'mainsail.db'}",
            artifact_root=os.environ.get("MAINSAIL_ARTIFACT_ROOT") or str(home / "artifacts"),
            token=os.environ.get("MAINSAIL_TOKEN") or None,
            metric_flush_interval=float(os.environ.get("MAINSAIL_METRIC_FLUSH_INTERVAL", "1.0")),
            metric_flush_rows=int(os.environ.get("MAINSAIL_METRIC_FLUSH_ROWS", "20000")),
            metric_flush_timeout=float(os.environ.get("MAINSAIL_METRIC_FLUSH_TIMEOUT", "30")),
            max_batch_points=int(os.environ.get("MAINSAIL_MAX_BATCH_POINTS", "10000")),
            run_heartbeat_interval=float(os.environ.get("MAINSAIL_RUN_HEARTBEAT_INTERVAL", "30")),
            run_heartbeat_timeout=float(os.environ.get("MAINSAIL_RUN_HEARTBEAT_TIMEOUT", "300")),
            max_json_body=int(os.environ.get("MAINSAIL_MAX_JSON_BODY", str(16 * 2**20))),
            max_upload_body=int(os.environ.get("MAINSAIL_MAX_UPLOAD_BODY", str(2**30))),
            project=os.environ.get("MAINSAIL_PROJECT") or "default",
            auth=_flag("MAINSAIL_AUTH"),
            auth_cache_ttl=float(os.environ.get("MAINSAIL_AUTH_CACHE_TTL", "5")),
            metrics_auth=_flag("MAINSAIL_METRICS_AUTH"),
        )

    def with_uri(self, uri: str | None, artifact_root: str | None = None) -> Settings:
        """Copy with another metadata URI (and artifact root, defaulting beside a SQLite file)."""
        if not uri:
            return self
        root = artifact_root or os.environ.get("MAINSAIL_ARTIFACT_ROOT")
        if not root and uri.startswith("sqlite:///") and uri != self.uri:
            root = str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
        return replace(self, uri=uri, artifact_root=root or self.artifact_root)
