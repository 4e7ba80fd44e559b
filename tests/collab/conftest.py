"""Fixtures of the collaboration tests (helpers in _collab_support)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _collab_support import Receiver, World, make_world


@pytest.fixture(params=["sqlite", "postgres", "http"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from make_world(request.param, request, tmp_path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "model.txt"
    p.write_text("weights")
    return p
