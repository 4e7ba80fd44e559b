"""A ``Page`` behaves as the list of its items (iterating it once yielded ``(field, value)`` tuples)."""

from __future__ import annotations

from pathlib import Path

from mainsail import Client
from mainsail.core.pagination import Page


def test_page_iterates_its_items(tmp_path: Path) -> None:
    page = Page[int](items=[1, 2, 3], next_cursor="abc")
    assert list(page) == [1, 2, 3] and len(page) == 3 and page[0] == 1 and page[-1] == 3
    assert page.model_dump() == {"items": [1, 2, 3], "next_cursor": "abc"}  # serialization is unchanged
    with Client(f"sqlite:///{tmp_path / 'meta.db'}") as c:
        for name in ("a", "b"):
            c.create_experiment(name)
        exps = c.list_experiments()
        assert sorted(e.name for e in exps if e.name != "Default") == ["a", "b"]
        assert len(exps) == len(exps.items)
