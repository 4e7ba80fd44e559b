"""Fixtures for tests/loops: the serving fixtures (a Client per back end with churn v1 ← champion and
v2, a real replica process) and helpers in _loops_support."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

from _serving_support import *  # noqa: E402, F403
