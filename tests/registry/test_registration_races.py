"""Two processes register the first versions of a new model at the same moment: one model, every
version numbered once, no error."""

from __future__ import annotations

import threading

import pytest

from mainsail import Client


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_first_registrations_at_once(backend: str, tmp_path, request) -> None:
    uri = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'r.db'}"
    model = tmp_path / "model.txt"
    model.write_text("weights")
    names = [f"m{i}" for i in range(10)]
    got: dict[str, list[int]] = {n: [] for n in names}
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def register() -> None:
        c = Client(uri, artifact_root=str(tmp_path / "art"))
        for name in names:
            barrier.wait()
            try:
                got[name].append(c.register_model(name, framework="custom", artifacts=[model]).version)
            except Exception as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert all(sorted(v) == [1, 2, 3, 4, 5, 6] for v in got.values()), got
