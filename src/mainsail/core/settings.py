"""Settings read from the environment (``MAINSAIL_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _home() -> Path:
    return Path(os.environ.get("MAINSAIL_HOME") or Path.home() / ".mainsail").expanduser()


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Every field has an embedded default."""

    home: Path = field(default_factory=_home)
    uri: str = ""
    artifact_root: str = ""
    token: str | None = None
    metric_flush_interval: float = 1.0
    metric_flush_rows: int = 20_000

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
        )

    def with_uri(self, uri: str | None, artifact_root: str | None = None) -> Settings:
        """Copy with another metadata URI (and artifact root, defaulting beside a SQLite file)."""
        if not uri:
            return self
        root = artifact_root or os.environ.get("MAINSAIL_ARTIFACT_ROOT")
        if not root and uri.startswith("sqlite:///") and uri != self.uri:
            root = str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
        return Settings(
            home=self.home, uri=uri, artifact_root=root or self.artifact_root, token=self.token,
            metric_flush_interval=self.metric_flush_interval, metric_flush_rows=self.metric_flush_rows,
        )
