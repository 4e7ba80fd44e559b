"""Fixtures for tests/monitoring (helpers live in _monitoring_support so test modules can import them)."""

from _monitoring_support import *  # noqa: F403
