"""Parallel tasks on several machines ensure the same experiment at once: one is created, all get it."""

from __future__ import annotations

import threading

import pytest

from mainsail import Client


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ensure_experiment_at_once_from_many_threads(backend: str, tmp_path, request) -> None:
    uri = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'r.db'}"
    ids: dict[str, list[str]] = {f"shared-{i}": [] for i in range(20)}
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def ensure() -> None:
        c = Client(uri, artifact_root=str(tmp_path / "art"))
        for name, got in ids.items():
            barrier.wait()
            try:
                got.append(c.ensure_experiment(name).id)
            except Exception as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert all(len(got) == 8 and len(set(got)) == 1 for got in ids.values()), ids
