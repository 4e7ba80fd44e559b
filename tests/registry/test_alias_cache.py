"""Alias resolve is cached per process, yet every change by any client shows at the next call."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import NotFound


def _two_versions(c: Client, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "model.txt").write_text("x")
    for _ in range(2):
        run = c.create_run(c.ensure_experiment("e").id)
        c.log_artifacts(run.id, pkg, "model")
        c.end_run(run.id)
        c.register_model_version("m", source=f"runs:/{run.id}/model", framework="python")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_resolve_sees_every_change_from_any_client(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    a = Client(uri, artifact_root=str(tmp_path / "art"))
    b = Client(uri, artifact_root=str(tmp_path / "art"))  # another writer (as another process would be)
    _two_versions(a, tmp_path)
    a.set_model_alias("m", "champion", 1)
    first = a.resolve_model("models:/m@champion")
    assert first.version == 1 and a.resolve_model("models:/m@champion") == first  # cached answer, same value
    b.set_model_alias("m", "champion", 2)
    assert a.resolve_model("models:/m@champion").version == 2  # alias moved
    b.set_model_stage("m", 2, "staging")
    assert a.resolve_model("models:/m@champion").stage.value == "staging"  # the version edited
    b.set_model_alias("m", "prod", 2)
    assert a.resolve_model("models:/m@champion").aliases == ["champion", "prod"]  # another alias on it
    got = a.resolve_model("models:/m@champion")
    got.aliases.append("mutated")  # a caller changing its copy does not change the next answer
    assert a.resolve_model("models:/m@champion").aliases == ["champion", "prod"]
    b.delete_model_alias("m", "champion")
    with pytest.raises(NotFound):
        a.resolve_model("models:/m@champion")
    a.close()
    b.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_cached_resolve_skips_the_session_and_sees_another_process(kind: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    """A repeated resolve is one statement on a driver connection (no session, no BEGIN); a move made by
    another process shows at the very next call (the bound is zero: every call re-reads the rows)."""
    import subprocess
    import sys

    from sqlalchemy import event

    uri = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    a = Client(uri, artifact_root=str(tmp_path / "art"))
    _two_versions(a, tmp_path)
    a.set_model_alias("m", "champion", 1)
    assert a.resolve_model("models:/m@champion").version == 1  # fills the cache
    begins: list[int] = []
    engine = a._backend.runtime.read_engine
    listener = lambda *_: begins.append(1)  # noqa: E731
    event.listen(engine, "begin", listener)
    try:
        for _ in range(5):
            assert a.resolve_model("models:/m@champion").version == 1
        assert begins == []  # answered by the shortcut
        code = ("import sys; from mainsail import Client; "
                "c = Client(sys.argv[1], artifact_root=sys.argv[2]); c.set_model_alias('m', 'champion', 2)")
        subprocess.run([sys.executable, "-c", code, uri, str(tmp_path / "art")], check=True, timeout=300)
        assert a.resolve_model("models:/m@champion").version == 2  # the other process's move, at once
        assert begins  # the rows changed: the usual path built the new answer
        begins.clear()
        assert a.resolve_model("models:/m@champion").version == 2 and begins == []  # and cached it
    finally:
        event.remove(engine, "begin", listener)
    a.close()


def test_cached_resolve_still_checks_the_role(tmp_path: Path) -> None:
    from mainsail.client.backends import LocalBackend
    from mainsail.core.errors import Forbidden
    from mainsail.core.principal import Principal
    from mainsail.registry.ops import ops

    a = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    _two_versions(a, tmp_path)
    a.set_model_alias("m", "champion", 1)
    a.resolve_model("models:/m@champion")  # cached
    nobody = LocalBackend.on_runtime(a._backend.runtime, principal=Principal("nobody", roles={"other": "viewer"}))
    with pytest.raises(Forbidden):
        nobody.call(ops.get_version_by_alias, {"name": "m", "alias": "champion"})
    viewer = LocalBackend.on_runtime(a._backend.runtime, principal=Principal("v", roles={"*": "viewer"}))
    assert viewer.call(ops.get_version_by_alias, {"name": "m", "alias": "champion"}).version == 1
    a.close()


def test_sqlite_resolve_skips_the_join_until_something_is_committed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a repeated resolve reads only the connection's data version while nothing was committed;
    any commit (here an unrelated experiment, then an alias move, each by another client) brings the join back."""
    from mainsail.registry import aliases

    a = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    b = Client(f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "art"))
    _two_versions(a, tmp_path)
    a.set_model_alias("m", "champion", 1)
    for _ in range(2):
        a.resolve_model("models:/m@champion")  # cached, then matched at this data version
    joins: list[str] = []
    real = aliases.stamp
    monkeypatch.setattr(aliases, "stamp", lambda *args: joins.append(args[3]) or real(*args))
    for _ in range(5):
        assert a.resolve_model("models:/m@champion").version == 1
    assert joins == []
    b.create_experiment("unrelated")
    assert a.resolve_model("models:/m@champion").version == 1 and joins == ["champion"]  # re-checked, same
    b.set_model_alias("m", "champion", 2)
    assert a.resolve_model("models:/m@champion").version == 2
    a.close()
    b.close()
