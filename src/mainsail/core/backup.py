"""Backup and restore of the metadata database and the artifact store's manifest, portable between SQLite
and PostgreSQL.

An archive is a gzip'd tar:

- ``manifest.json``: format and version, the Mainsail version, the Alembic revisions the database was at,
  and per table its columns (name and kind), row count, file and SHA-256;
- ``tables/<table>.jsonl``: one JSON array per row, in primary-key order (datetimes ISO 8601, bytes base64,
  decimals as strings, JSON columns as JSON);
- ``artifacts.jsonl``: the artifact store's manifest, one ``{"digest", "size"}`` per stored object;
- ``objects/<digest>``: the objects' bytes, only with ``with_artifacts``.

Every table is read in one transaction (a consistent snapshot while the server keeps writing). Restore
refuses a database that holds rows unless forced, recreates the schema at the archive's revisions, loads
every table in foreign-key order in one transaction, resets PostgreSQL sequences, then migrates forward to
this package's heads: a backup of an older release restores into a newer one.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import JSON, Connection, Engine, MetaData, Table, func, select, text

from mainsail.core.artifacts import ArtifactStore
from mainsail.core.errors import Conflict, IntegrityError, InvalidInput
from mainsail.core.migrate import current_heads, script_graph, upgrade, upgrade_to

FORMAT = "mainsail-backup"
FORMAT_VERSION = 1
BATCH = 2000
SKIP = {"alembic_version"}
_DIGEST = re.compile(r"[0-9a-f]{64}")
Progress = Callable[[str], None]


@dataclass
class Summary:
    """What a backup wrote or a restore loaded."""

    path: str
    revisions: list[str]
    tables: dict[str, int] = field(default_factory=dict)
    artifacts: int = 0
    artifact_bytes: int = 0
    artifacts_included: bool = False
    artifacts_missing: list[str] = field(default_factory=list)  # restore: manifest objects the store lacks
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "revisions": self.revisions, "tables": self.tables, "rows": self.rows,
                "artifacts": self.artifacts, "artifact_bytes": self.artifact_bytes,
                "artifacts_included": self.artifacts_included, "artifacts_missing": self.artifacts_missing,
                "seconds": round(self.seconds, 3)}


# -- values ------------------------------------------------------------------------------------------------
def _kind(column: Any) -> str:
    """How a column's values are written: json, datetime, date, time, bytes, decimal or plain."""
    if isinstance(column.type, JSON):
        return "json"
    try:
        py = column.type.python_type
    except NotImplementedError:
        return "plain"
    for kind, cls in (("datetime", dt.datetime), ("date", dt.date), ("time", dt.time), ("bytes", bytes),
                      ("decimal", decimal.Decimal)):
        if issubclass(py, cls):
            return kind
    return "plain"


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("datetime", "date", "time"):
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "decimal":
        return str(value)
    return value


def _decoder(kind: str) -> Callable[[Any], Any]:
    if kind == "datetime":
        return dt.datetime.fromisoformat
    if kind == "date":
        return dt.date.fromisoformat
    if kind == "time":
        return dt.time.fromisoformat
    if kind == "bytes":
        return base64.b64decode
    if kind == "decimal":
        return decimal.Decimal
    return lambda v: v


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _reflect(conn: Connection) -> MetaData:
    md = MetaData()
    md.reflect(conn)
    return md


def _tables(md: MetaData) -> list[Table]:
    """The database's tables in foreign-key order (parents first), Alembic's own table left out."""
    return [t for t in md.sorted_tables if t.name not in SKIP]


# -- backup ------------------------------------------------------------------------------------------------
def _snapshot(conn: Connection) -> None:
    """Make every read of this connection's transaction see one snapshot."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _dump_table(conn: Connection, table: Table, out: IO[bytes]) -> tuple[int, str, list[list[str]]]:
    columns = [[c.name, _kind(c)] for c in table.columns]
    kinds = [k for _, k in columns]
    order = list(table.primary_key.columns) or list(table.columns)
    h, n = hashlib.sha256(), 0
    result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
    for row in result:
        line = _dumps([_encode(k, v) for k, v in zip(kinds, row, strict=True)]) + b"\n"
        out.write(line)
        h.update(line)
        n += 1
    return n, h.hexdigest(), columns


def _add_file(tar: tarfile.TarFile, name: str, path: str | Path) -> None:
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    with open(path, "rb") as fh:
        tar.addfile(info, fh)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def backup(engine: Engine, store: ArtifactStore, dest: str | Path, *, with_artifacts: bool = False,
           progress: Progress | None = None) -> Summary:
    """Write every table of ``engine``'s database, the artifact manifest (and with ``with_artifacts`` the
    objects' bytes) to the archive ``dest``; the file appears only when complete."""
    started = time.monotonic()
    dest = Path(dest)
    if dest.exists() and dest.is_dir():
        raise InvalidInput(f"backup destination {dest} is a folder; name the archive file, e.g. "
                           f"{dest / 'mainsail-backup.tar.gz'}", errors=[{"loc": ["output"], "msg": "a folder"}])
    dest.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix=".mainsail-backup-", dir=dest.parent) as tmp:
        manifest: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                                    "created_at": dt.datetime.now(dt.UTC).isoformat(), "tables": {}}
        with engine.connect() as conn:
            _snapshot(conn)
            revisions = sorted(current_heads(conn))
            if not revisions:
                raise InvalidInput("the database holds no Mainsail schema (no alembic_version); nothing to back "
                                   "up", code="backup_empty_database")
            tables = _tables(_reflect(conn))
            for table in tables:
                path = Path(tmp) / f"{table.name}.jsonl"
                with open(path, "wb") as out:
                    rows, digest, columns = _dump_table(conn, table, out)
                manifest["tables"][str(table.name)] = {"file": f"tables/{table.name}.jsonl", "rows": rows,
                                                  "sha256": digest, "columns": columns}
                say(f"{table.name}: {rows} rows")
            conn.rollback()
        from mainsail import __version__

        manifest.update(mainsail_version=__version__, dialect=engine.dialect.name, revisions=revisions,
                        table_order=[t.name for t in tables])
        blobs = list(store.iter_blobs())
        art = b"".join(_dumps({"digest": b.digest, "size": b.size}) + b"\n" for b in blobs)
        manifest["artifacts"] = {"file": "artifacts.jsonl", "count": len(blobs), "bytes": sum(b.size for b in blobs),
                                 "sha256": hashlib.sha256(art).hexdigest(), "included": with_artifacts}
        part = Path(tmp) / "archive.tar.gz"
        with tarfile.open(part, "w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
            for table in tables:
                _add_file(tar, f"tables/{table.name}.jsonl", Path(tmp) / f"{table.name}.jsonl")
            _add_bytes(tar, "artifacts.jsonl", art)
            if with_artifacts:
                for b in blobs:
                    info = tarfile.TarInfo(f"objects/{b.digest}")
                    info.size, info.mtime, info.mode = b.size, int(time.time()), 0o644
                    with store.fs.open(store.path(b.digest), "rb") as fh:
                        tar.addfile(info, fh)
                say(f"artifacts: {len(blobs)} objects")
        os.replace(part, dest)
    return Summary(path=str(dest), revisions=revisions,
                   tables={n: t["rows"] for n, t in manifest["tables"].items()}, artifacts=len(blobs),
                   artifact_bytes=sum(b.size for b in blobs), artifacts_included=with_artifacts,
                   seconds=time.monotonic() - started)


# -- restore -----------------------------------------------------------------------------------------------
_KINDS = Literal["json", "datetime", "date", "time", "bytes", "decimal", "plain"]


class _TableEntry(BaseModel):
    file: str = Field(pattern=r"^tables/[A-Za-z0-9_]{1,128}\.jsonl$")
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    columns: list[tuple[str, _KINDS]]


class _ArtifactsEntry(BaseModel):
    file: Literal["artifacts.jsonl"] = "artifacts.jsonl"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    included: bool = False


class _Manifest(BaseModel):
    revisions: list[str] = Field(min_length=1)
    tables: dict[str, _TableEntry]
    artifacts: _ArtifactsEntry


class _Archive:
    """An opened backup archive whose members are checked against the manifest as they are read."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise InvalidInput(f"backup archive {path} does not exist", code="backup_not_found",
                               errors=[{"loc": ["archive"], "msg": "no such file"}])
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            self.members = {m.name: m for m in self.tar.getmembers() if m.isfile()}
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidInput(f"{path} is not a Mainsail backup archive (not a readable tar: {exc})",
                               code="backup_invalid") from None
        self.path = path
        try:
            self._load_manifest()
        except BaseException:
            self.tar.close()
            raise

    def _load_manifest(self) -> None:
        path = self.path
        raw = self.read("manifest.json")
        try:
            self.manifest = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"{path}: manifest.json is not JSON ({exc})", code="backup_invalid") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            raise InvalidInput(f"{path} is not a Mainsail backup archive (manifest format "
                               f"{self.manifest.get('format') if isinstance(self.manifest, dict) else None!r})",
                               code="backup_invalid")
        version = self.manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise InvalidInput(f"{path} is a backup of format version {version}; this Mainsail reads version "
                               f"{FORMAT_VERSION}", code="backup_format_unsupported")
        try:
            _Manifest.model_validate(self.manifest)
        except ValidationError as exc:
            from mainsail.core.errors import describe_errors, pydantic_errors

            errors = pydantic_errors(exc, ("manifest.json",))
            raise InvalidInput(f"{path}: manifest.json is malformed: {describe_errors(errors)}",
                               code="backup_invalid", errors=errors) from None

    def _open(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        if member is None:
            raise InvalidInput(f"{self.path}: the archive has no member {name}", code="backup_invalid")
        fh = self.tar.extractfile(member)
        assert fh is not None
        return fh

    def _damaged(self, name: str) -> IntegrityError:
        return IntegrityError(f"{self.path}: member {name} does not match its SHA-256 in the manifest (the "
                              "archive is damaged)", code="backup_corrupt")

    def read(self, name: str, sha256: str | None = None) -> bytes:
        data = self._open(name).read()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise self._damaged(name)
        return data

    def lines(self, name: str, sha256: str) -> Iterator[bytes]:
        """The member's lines, streamed; raise ``IntegrityError`` at the end if its digest differs."""
        h = hashlib.sha256()
        for line in self._open(name):
            h.update(line)
            yield line
        if h.hexdigest() != sha256:
            raise self._damaged(name)

    def verify(self) -> None:
        """Check every member the manifest names against its SHA-256 (and every object against its digest)
        before anything is written, so a damaged archive changes nothing."""
        for meta in (self.manifest.get("tables") or {}).values():
            for _ in self.lines(meta["file"], meta["sha256"]):
                pass
        art = self.manifest.get("artifacts") or {}
        self.blobs = self._blobs(self.read(art.get("file", "artifacts.jsonl"), art.get("sha256")))
        for name, member in self.members.items():
            if name.startswith("objects/"):
                fh = self.tar.extractfile(member)
                assert fh is not None
                h = hashlib.sha256()
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                if h.hexdigest() != name.removeprefix("objects/"):
                    raise IntegrityError(f"{self.path}: object {name} does not hash to its digest (the archive "
                                         "is damaged)", code="backup_corrupt")

    def _blobs(self, data: bytes) -> list[dict[str, Any]]:
        """The artifact manifest's entries, each ``{"digest": 64 hex, "size": int}``."""
        out = []
        for lineno, line in enumerate(data.splitlines(), 1):
            try:
                entry = json.loads(line)
                ok = (isinstance(entry, dict) and isinstance(entry.get("digest"), str)
                      and _DIGEST.fullmatch(entry["digest"]) and isinstance(entry.get("size"), int))
            except ValueError:
                ok = False
            if not ok:
                raise InvalidInput(f"{self.path}: artifacts.jsonl line {lineno} is not a {{digest, size}} entry",
                                   code="backup_invalid")
            out.append(entry)
        return out

    def close(self) -> None:
        self.tar.close()


def _counts(conn: Connection, tables: list[Table]) -> dict[str, int]:
    return {t.name: n for t in tables if (n := conn.execute(select(func.count()).select_from(t)).scalar_one())}


def seeded_tables(revisions: set[str]) -> set[str]:
    """The tables whose rows the migrations themselves insert (an audit chain's head, a default project), found
    by migrating a scratch SQLite database to ``revisions``: a new database holds those rows, so they neither
    make a target "not empty" nor stay beside the archive's own rows. No domain table is named here."""
    from mainsail.core.db import make_engine

    if not revisions:
        return set()
    with tempfile.TemporaryDirectory(prefix="mainsail-seeds-") as tmp:
        scratch = make_engine(f"sqlite:///{Path(tmp) / 'seeds.db'}")
        try:
            upgrade_to(scratch, revisions)
            with scratch.connect() as conn:
                return set(_counts(conn, _tables(_reflect(conn))))
        finally:
            scratch.dispose()


def _drop_all(conn: Connection) -> None:
    md = _reflect(conn)
    md.drop_all(conn)
    conn.commit()


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move each serial/identity sequence past the restored ids."""
    for table in tables:
        for col in table.primary_key.columns:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": col.name}).scalar()
            if seq:
                conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{col.name}") FROM "{table.name}"), 0) + 1, '
                                  "false)"), {"s": seq})


def _load_table(conn: Connection, archive: _Archive, table: Table, meta: dict[str, Any]) -> int:
    columns = meta["columns"]
    names = [c for c, _ in columns]
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise InvalidInput(f"table {table.name} of the archive has column(s) {', '.join(missing)} that the "
                           f"database at the same revision lacks", code="backup_schema_mismatch",
                           errors=[{"loc": ["tables", table.name, c], "msg": "no such column"} for c in missing])
    for name, kind in columns:
        if kind == "json":  # a restored NULL stays SQL NULL, not the JSON text 'null'
            table.columns[name].type.none_as_null = True  # type: ignore[attr-defined]
    decoders = [_decoder(k) for _, k in columns]

    def rows() -> Iterator[list[Any]]:
        for lineno, line in enumerate(archive.lines(meta["file"], meta["sha256"]), 1):
            try:
                values = json.loads(line)
                yield [None if v is None else d(v) for d, v in zip(decoders, values, strict=True)]
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"{archive.path}: {meta['file']} line {lineno}: cannot read the row ({exc})",
                                   code="backup_invalid") from None

    if conn.dialect.name == "postgresql":
        return _copy_rows(conn, table, names, [k for _, k in columns], rows(), archive, meta)
    n = 0
    batch: list[dict[str, Any]] = []
    for values in rows():
        batch.append(dict(zip(names, values, strict=True)))
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        n += len(batch)
    return _check_count(n, archive, meta)


def _copy_rows(conn: Connection, table: Table, names: list[str], kinds: list[str], rows: Iterator[list[Any]],
               archive: _Archive, meta: dict[str, Any]) -> int:
    """PostgreSQL: load the rows with COPY in the restore's transaction (JSON columns as their text)."""
    def ident(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    json_at = [i for i, k in enumerate(kinds) if k == "json"]
    raw = conn.connection.dbapi_connection
    assert raw is not None
    n = 0
    sql = f"COPY {ident(str(table.name))} ({', '.join(map(ident, names))}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
        for values in rows:
            for i in json_at:
                if values[i] is not None:
                    values[i] = json.dumps(values[i])
            copy.write_row(values)
            n += 1
    return _check_count(n, archive, meta)


def _check_count(n: int, archive: _Archive, meta: dict[str, Any]) -> int:
    if n != meta["rows"]:
        raise IntegrityError(f"{archive.path}: {meta['file']} holds {n} rows, the manifest says {meta['rows']}",
                             code="backup_corrupt")
    return n


def _check_revisions(archive: _Archive) -> set[str]:
    wanted = set(archive.manifest.get("revisions") or [])
    known = script_graph()
    unknown = sorted(wanted - set(known))
    if not wanted:
        raise InvalidInput(f"{archive.path}: the manifest names no schema revision", code="backup_invalid")
    if unknown:
        raise InvalidInput(f"{archive.path} was taken at schema revision(s) {', '.join(unknown)}, which this "
                           "Mainsail does not ship: restore it with the Mainsail release that wrote it (or newer)",
                           code="backup_from_newer_release")
    return wanted


def restore(engine: Engine, store: ArtifactStore, src: str | Path, *, force: bool = False,
            progress: Progress | None = None) -> Summary:
    """Load the archive ``src`` into ``engine``'s database (which must hold no rows unless ``force``: then
    its Mainsail tables are dropped first) and put the archive's objects into ``store``; then migrate to
    this package's heads. Objects of the manifest that are neither in the archive nor in the store are
    reported in ``artifacts_missing``."""
    started = time.monotonic()
    say = progress or (lambda _m: None)
    archive = _Archive(Path(src))
    try:
        manifest = archive.manifest
        revisions = _check_revisions(archive)
        archive.verify()
        with engine.connect() as conn:
            present = _counts(conn, _tables(_reflect(conn)))
            seeded = seeded_tables(current_heads(conn)) if present else set()
            present = {t: n for t, n in present.items() if t not in seeded}
            conn.commit()
            if present and not force:
                listed = ", ".join(f"{t} ({n})" for t, n in sorted(present.items()))
                raise Conflict(f"the target database is not empty: {listed}; restore into an empty database, or "
                               "pass --force to replace its contents", code="restore_target_not_empty")
            _drop_all(conn)
        upgrade_to(engine, revisions)
        loaded: dict[str, int] = {}
        with engine.connect() as conn, conn.begin():
            target = _tables(_reflect(conn))
            seeded = set(_counts(conn, target))  # the schema is new: any row in it is a migration's seed
            by_name = {t.name: t for t in target}
            absent = sorted(set(manifest["tables"]) - set(by_name))
            if absent:
                raise InvalidInput(f"{archive.path}: table(s) {', '.join(absent)} do not exist at revision(s) "
                                   f"{', '.join(sorted(revisions))}", code="backup_schema_mismatch")
            for table in target:
                meta = manifest["tables"].get(table.name)
                if meta:
                    if table.name in seeded:
                        conn.execute(table.delete())  # the archive holds this table's rows, seed included
                    loaded[str(table.name)] = _load_table(conn, archive, table, meta)
                    say(f"{table.name}: {loaded[str(table.name)]} rows")
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, target)
        upgrade(engine, recheck=True)
        art = manifest.get("artifacts") or {}
        blobs = archive.blobs
        missing: list[str] = []
        for b in blobs:
            digest = b["digest"]
            if art.get("included") and f"objects/{digest}" in archive.members:
                if not store.exists(digest):
                    _put_member(archive, store, digest)
            elif not store.exists(digest):
                missing.append(digest)
        if blobs:
            say(f"artifacts: {len(blobs) - len(missing)} of {len(blobs)} objects present")
        return Summary(path=str(src), revisions=sorted(revisions), tables=loaded, artifacts=len(blobs),
                       artifact_bytes=sum(int(b.get("size", 0)) for b in blobs),
                       artifacts_included=bool(art.get("included")), artifacts_missing=missing,
                       seconds=time.monotonic() - started)
    finally:
        archive.close()


def _put_member(archive: _Archive, store: ArtifactStore, digest: str) -> None:
    """Copy one object from the archive into the store, verified against its digest."""
    fh = archive.tar.extractfile(archive.members[f"objects/{digest}"])
    assert fh is not None
    with tempfile.NamedTemporaryFile(prefix=".mainsail-restore-", delete=False) as tmp:
        while chunk := fh.read(1 << 20):
            tmp.write(chunk)
    try:
        store.put_file(tmp.name, expected_digest=digest)
    except IntegrityError:
        raise IntegrityError(f"{archive.path}: object {digest} does not hash to its digest (the archive is "
                             "damaged)", code="backup_corrupt") from None
    finally:
        os.unlink(tmp.name)
