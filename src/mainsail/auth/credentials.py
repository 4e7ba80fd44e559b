"""Tokens saved by ``mainsail login``: ``$MAINSAIL_HOME/credentials.json`` (mode 0600), one per server URL."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _file(home: Path) -> Path:
    return Path(home) / "credentials.json"


def _read(home: Path) -> dict[str, str]:
    try:
        data = json.loads(_file(home).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stored_token(home: Path, url: str) -> str | None:
    """The token saved for server ``url``, if any."""
    value = _read(home).get(url.rstrip("/"))
    return value if isinstance(value, str) else None


def save_token(home: Path, url: str, token: str | None) -> Path:
    """Save (or, with None, forget) the token for ``url``; the file is readable by its owner only."""
    data = _read(home)
    if token is None:
        data.pop(url.rstrip("/"), None)
    else:
        data[url.rstrip("/")] = token
    path = _file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(path, 0o600)
    return path
