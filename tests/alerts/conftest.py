"""Fixtures of the alert tests (defined in _alerts_support)."""

from _alerts_support import _fast_retries, receiver, smtp_server  # noqa: F401
