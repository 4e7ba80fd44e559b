"""`mainsail backup` / `mainsail restore`: every table and the artifact manifest, round trips between SQLite
and PostgreSQL with every row compared, refusals that leave the target as it was."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from _dbsnap import assert_same, copy_sqlite, quickstart_home, run_cli, snapshot

from mainsail.core.artifacts import ArtifactStore
from mainsail.core.backup import backup, restore
from mainsail.core.db import make_engine
from mainsail.core.errors import Conflict, IntegrityError, InvalidInput


@pytest.fixture(scope="session")
def qs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quickstart_home(tmp_path_factory.getbasetemp() / "deploy-qs")


@pytest.fixture
def source(qs_home: Path, tmp_path: Path) -> tuple[str, str]:
    """A private copy of the quickstart database and artifacts: (uri, artifact root)."""
    copy_sqlite(qs_home / "mainsail.db", tmp_path / "src.db")
    shutil.copytree(qs_home / "artifacts", tmp_path / "src-artifacts")
    return f"sqlite:///{tmp_path / 'src.db'}", str(tmp_path / "src-artifacts")


def _backup(uri: str, root: str, dest: Path, **kw: bool):  # type: ignore[no-untyped-def]
    engine = make_engine(uri, write=False)
    try:
        return backup(engine, ArtifactStore(root), dest, **kw)
    finally:
        engine.dispose()


def _restore(uri: str, root: str, archive: Path, **kw: bool):  # type: ignore[no-untyped-def]
    engine = make_engine(uri)
    try:
        return restore(engine, ArtifactStore(root), archive, **kw)
    finally:
        engine.dispose()


def _check_usable(uri: str, root: str) -> None:
    """The restored store answers the way the source did and takes new writes (sequences moved on)."""
    from mainsail import Client

    c = Client(uri, artifact_root=root)
    champion = c.get_model_version_by_alias("churn", "champion")
    assert champion.stage == "production"
    assert c.load_model(f"models:/churn/{champion.version}") is not None  # artifact bytes restored, digest checked
    runs = c.search_runs(order_by=["metrics.auc DESC"]).items
    assert len(runs) >= 3 and runs[0].metrics["auc"] > 0.5
    c.set_model_alias("churn", "restored-check", champion.version, reason="after restore")  # autoincrement row
    exp = c.ensure_experiment("after-restore")
    run = c.create_run(exp.id)
    c.log_metric(run.id, "x", 1.0)
    c.end_run(run.id)


def test_sqlite_to_sqlite_round_trip_with_artifacts(source: tuple[str, str], tmp_path: Path) -> None:
    uri, root = source
    want = snapshot(uri)
    assert want["run_metrics"] and want["model_versions"] and want["pipeline_tasks"] and want["inference_logs"]
    summary = _backup(uri, root, tmp_path / "b.tar.gz", with_artifacts=True)
    assert summary.tables == {t: len(rows) for t, rows in want.items()}
    assert summary.artifacts == len(list(ArtifactStore(root).iter_blobs())) > 0
    target, target_root = f"sqlite:///{tmp_path / 'dst' / 'meta.db'}", str(tmp_path / "dst" / "artifacts")
    restored = _restore(target, target_root, tmp_path / "b.tar.gz")
    assert restored.tables == summary.tables and restored.artifacts_missing == []
    assert_same(snapshot(target), want)
    assert sorted(ArtifactStore(target_root).iter_blobs(), key=lambda b: b.digest) == \
        sorted(ArtifactStore(root).iter_blobs(), key=lambda b: b.digest)
    _check_usable(target, target_root)


def test_sqlite_to_postgres_to_sqlite(source: tuple[str, str], pg_url: str, tmp_path: Path) -> None:
    uri, root = source
    want = snapshot(uri)
    _backup(uri, root, tmp_path / "a.tar.gz")  # manifest only: the artifact store is shared
    restored = _restore(pg_url, root, tmp_path / "a.tar.gz")
    assert restored.artifacts_missing == [] and not restored.artifacts_included
    assert_same(snapshot(pg_url), want)

    # postgres -> sqlite, and the manifest tells which objects the new store lacks
    summary = _backup(pg_url, root, tmp_path / "b.tar.gz")
    assert summary.tables == {t: len(rows) for t, rows in want.items()}
    target = f"sqlite:///{tmp_path / 'back.db'}"
    empty_root = str(tmp_path / "empty-artifacts")
    back = _restore(target, empty_root, tmp_path / "b.tar.gz")
    assert len(back.artifacts_missing) == summary.artifacts > 0
    assert_same(snapshot(target), want)
    _check_usable(pg_url, root)  # new rows on PostgreSQL get ids past the restored ones


def test_restore_refuses_a_database_with_rows(source: tuple[str, str], tmp_path: Path) -> None:
    uri, root = source
    _backup(uri, root, tmp_path / "b.tar.gz")
    from mainsail import Client

    other = f"sqlite:///{tmp_path / 'other.db'}"
    Client(other, artifact_root=str(tmp_path / "oa")).ensure_experiment("keep-me")
    before = snapshot(other)
    with pytest.raises(Conflict) as err:
        _restore(other, str(tmp_path / "oa"), tmp_path / "b.tar.gz")
    assert err.value.code == "restore_target_not_empty" and "experiments (1)" in err.value.detail
    assert snapshot(other) == before
    _restore(other, root, tmp_path / "b.tar.gz", force=True)
    assert_same(snapshot(other), snapshot(uri))


def _rewrite(src: Path, dest: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Copy the archive ``src`` to ``dest`` with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = change(m.name, tin.extractfile(m).read())  # type: ignore[union-attr]
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("case", ["not-a-tar", "tampered-row", "tampered-object", "newer-release",
                                  "bad-manifest", "bad-artifact-entry", "missing"])
def test_bad_archives_are_refused_and_change_nothing(source: tuple[str, str], tmp_path: Path, case: str) -> None:
    uri, root = source
    good = tmp_path / "good.tar.gz"
    _backup(uri, root, good, with_artifacts=True)
    bad = tmp_path / "bad.tar.gz"
    if case == "not-a-tar":
        bad.write_bytes(b"hello")
    elif case == "tampered-row":
        _rewrite(good, bad, lambda n, d: d.replace(b"churn", b"chxrn", 1) if n == "tables/registered_models.jsonl"
                 else d)
    elif case == "tampered-object":
        _rewrite(good, bad, lambda n, d: (d[:-1] + b"!") if n.startswith("objects/") else d)
    elif case == "newer-release":
        def newer(n: str, d: bytes) -> bytes:
            if n != "manifest.json":
                return d
            m = json.loads(d)
            m["revisions"].append("9999_from_the_future")
            return json.dumps(m).encode()
        _rewrite(good, bad, newer)
    elif case == "bad-manifest":
        _rewrite(good, bad, lambda n, d: json.dumps({"format": "mainsail-backup", "format_version": 1,
                                                     "revisions": ["x"], "tables": {"t": {"file": "../../etc"}},
                                                     "artifacts": {}}).encode() if n == "manifest.json" else d)
    elif case == "bad-artifact-entry":  # a consistent manifest whose artifact list names a path, not a digest
        def traversal(n: str, d: bytes) -> bytes:
            return d if n != "artifacts.jsonl" else b'{"digest": "../../etc/passwd", "size": 1}\n'
        _rewrite(good, tmp_path / "half.tar.gz", traversal)
        import hashlib

        def fix(n: str, d: bytes) -> bytes:
            if n != "manifest.json":
                return d
            m = json.loads(d)
            m["artifacts"]["sha256"] = hashlib.sha256(b'{"digest": "../../etc/passwd", "size": 1}\n').hexdigest()
            return json.dumps(m).encode()
        _rewrite(tmp_path / "half.tar.gz", bad, fix)
    target = f"sqlite:///{tmp_path / 'dst.db'}"
    # the target holds a table at the current schema with no rows: a refused restore must leave it so
    from mainsail import Client

    Client(target, artifact_root=str(tmp_path / "dst-art"))
    before = snapshot(target)
    expected = {"not-a-tar": (InvalidInput, "backup_invalid"), "tampered-row": (IntegrityError, "backup_corrupt"),
                "tampered-object": (IntegrityError, "backup_corrupt"),
                "newer-release": (InvalidInput, "backup_from_newer_release"),
                "bad-manifest": (InvalidInput, "backup_invalid"), "bad-artifact-entry": (InvalidInput, "backup_invalid"),
                "missing": (InvalidInput, "backup_not_found")}
    cls, code = expected[case]
    with pytest.raises(cls) as err:
        _restore(target, str(tmp_path / "dst-art"), bad)
    assert err.value.code == code, err.value.detail
    assert str(bad) in err.value.detail
    assert snapshot(target) == before
    assert not list(ArtifactStore(str(tmp_path / "dst-art")).iter_blobs())


def test_cli_backup_and_restore(source: tuple[str, str], tmp_path: Path) -> None:
    uri, root = source
    home = tmp_path / "home"
    home.mkdir()
    copy_sqlite(Path(uri.removeprefix("sqlite:///")), home / "mainsail.db")
    shutil.copytree(root, home / "artifacts")
    out = run_cli("backup", str(tmp_path / "cli.tar.gz"), "--with-artifacts", "--json", home=home)
    summary = json.loads(out.stdout)
    assert summary["artifacts_included"] and summary["tables"]["registered_models"] == 1
    refused = run_cli("restore", str(tmp_path / "cli.tar.gz"), home=home, check=False)
    assert refused.returncode == 1 and "restore_target_not_empty" in refused.stderr and "--force" in refused.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    done = run_cli("restore", str(tmp_path / "cli.tar.gz"), home=fresh)
    assert "restored" in done.stdout
    assert_same(snapshot(f"sqlite:///{fresh / 'mainsail.db'}"), snapshot(uri))
    shown = run_cli("models", "show", "churn", home=fresh)
    assert "champion" in shown.stdout
    server = run_cli("--uri", "http://127.0.0.1:9", "backup", home=fresh, check=False)
    assert server.returncode == 1 and "database_uri_required" in server.stderr
