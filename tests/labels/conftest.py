"""Fixtures for tests/labels: the serving fixtures (a Client per back end with churn v1 ← champion and
v2 constant 1, a real replica process)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

from _serving_support import *  # noqa: E402, F403
