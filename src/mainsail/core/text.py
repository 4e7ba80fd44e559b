"""Small text helpers shared by messages a user reads (CLI output, task logs, error details)."""

from __future__ import annotations


def count(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` with its noun in agreement: ``1 run``, ``2 runs``, ``1,500 rows``, ``1 entity``/``3 entities``."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"
