"""Fixtures of the costs tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mainsail import Client


@pytest.fixture
def client(backend: str) -> Iterator[Client]:
    c = Client(backend)
    yield c
    c.close()
