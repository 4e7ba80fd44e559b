from __future__ import annotations

from collections.abc import Iterator

import pytest
from _auth_support import AuthWorld, auth_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthWorld]:
    yield from auth_world(tmp_path_factory.mktemp("auth"))


@pytest.fixture(autouse=True)
def _fresh_login_limits() -> None:
    from mainsail.auth.passwords import LIMITER

    LIMITER._failures.clear()
