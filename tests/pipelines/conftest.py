"""Fixtures for tests/pipelines (helpers live in _pipelines_support so test modules can import them by a unique name)."""

from _pipelines_support import *  # noqa: F403
