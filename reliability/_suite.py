"""What every reliability check shares: its sizes and the table of results."""

from __future__ import annotations

import os
from typing import Any

TRIALS = int(os.environ.get("MAINSAIL_RELIABILITY_TRIALS", "20"))
SECONDS = float(os.environ.get("MAINSAIL_RELIABILITY_SECONDS", "60"))
_rows: list[dict[str, Any]] = []


def record(check: str, backend: str, ok: bool, **numbers: Any) -> None:
    """Add one line to the end-of-stage table."""
    _rows.append({"check": check, "backend": backend, "ok": ok, "numbers": numbers})
