"""Fixtures for tests/serving (helpers live in _serving_support so test modules can import them by a unique name)."""

from _serving_support import *  # noqa: F403
