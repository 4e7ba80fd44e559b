"""Audit rules: :func:`record` appends one hash-chained row per write, in the write's own transaction
(called by the two places writes run: the API's route and the embedded backend); :func:`verify_audit`
walks the chain and names every row that was altered, removed or moved. The only writer of the audit
tables; nothing here updates or deletes a row of ``audit_log``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import select

from mainsail.audit.models import GENESIS, AuditHead, AuditRow, SecretRow
from mainsail.audit.schemas import (
    AuditEntry,
    AuditProblem,
    AuditVerification,
    RotateResult,
    SecretInfo,
    SecretSet,
)
from mainsail.core.db import utcnow
from mainsail.core.errors import not_found
from mainsail.core.events import emit
from mainsail.core.ops import Operation
from mainsail.core.pagination import Limit, Page, decode_cursor, encode_cursor
from mainsail.core.principal import DEFAULT_PROJECT, LOCAL, check, require
from mainsail.core.projects import project_of
from mainsail.core.runtime import Ctx
from mainsail.core.secrets import reseal, seal, unseal
from mainsail.core.types import ObjectName

_LOG = AuditRow.__table__
_HEAD = AuditHead.__table__
_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(value).hexdigest(), "size": len(value)}  # uploads: their digest
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def canonical(value: Any) -> bytes:
    """``value`` as canonical JSON: sorted keys, UTC times, models as their JSON, bytes as their digest."""
    return orjson.dumps(value, default=_plain, option=_OPTS)


def digest(value: Any) -> str:
    """SHA-256 of :func:`canonical` ``value``."""
    return hashlib.sha256(canonical(value)).hexdigest()


_NONE = digest(None)  # the result digest of most writes (they answer nothing)


def content_hash(at: dt.datetime, actor: str, op: str, obj: str, request: str, result: str,
                 project: str = DEFAULT_PROJECT) -> str:
    """SHA-256 of a row's content (every column but ``seq`` and the two hashes). The project is hashed
    when it is not ``'default'``: rows written before audit rows carried a project (all ``'default'``)
    keep the hash they were written with, and moving any row into or out of the default project still
    changes its content hash (a six-item list never encodes like a seven-item one)."""
    content = [at.astimezone(dt.UTC).isoformat(), actor, op, obj, request, result]
    return digest(content if project == DEFAULT_PROJECT else [*content, project])


def link(content: str, prev: str) -> str:
    """A row's hash: SHA-256 of its content hash followed by the previous row's hash (hex text, so
    PostgreSQL computes the same with ``sha256``). ``seq`` is left out on purpose: a row moved elsewhere
    still matches its own hash, and its broken link names it as moved."""
    return hashlib.sha256((content + prev).encode()).hexdigest()


def chain_hash(at: dt.datetime, actor: str, op: str, obj: str, request: str, result: str, prev: str,
               project: str = DEFAULT_PROJECT) -> str:
    """A row's hash from its columns and the previous row's hash."""
    return link(content_hash(at, actor, op, obj, request, result, project), prev)


def who(ctx: Ctx) -> str:
    """The acting principal's name; embedded (the local admin), the user the client records."""
    principal = getattr(ctx, "principal", None) or LOCAL
    return (ctx.actor or principal.name) if principal is LOCAL else principal.name


def _object(op: Operation, kwargs: dict[str, Any], result: Any) -> str:
    parts = [f"{p.name}={kwargs.get(p.name)}" for p in op.params if p.where == "path"]
    if not parts:
        rid = getattr(result, "id", None) or (result.get("id") if isinstance(result, dict) else None)
        name = getattr(result, "name", None)
        parts = [f"id={rid}"] if rid else [f"name={name}"] if isinstance(name, str) else []
    return "/".join(parts)[:500]


#: operations sent with POST that only read (they compute from a body too large for a query string)
READ_POSTS = {"features.get_online_features", "features.get_historical_features", "registry.check_gate"}


def record(ctx: Ctx, op: Operation | str, kwargs: dict[str, Any], result: Any, obj: str | None = None,
           request: str | None = None) -> None:
    """Append the audit row of one write to the chain, in the caller's transaction (it commits or rolls
    back with the write). The head row is locked first, so concurrent writers append one after another.
    A read does nothing. An operation that computes under a read transaction and commits its result in
    a short write transaction of its own (ingest, profile, validate, materialize) is recorded right
    after, in a write transaction of the audit's own. ``request``: :func:`digest` of ``kwargs`` when the
    caller computed it already (a metric batch's, while the store took the points)."""
    name = op if isinstance(op, str) else f"{op.tag}.{op.name}"
    if isinstance(op, Operation) and not op.write:
        if op.method == "GET" or name in READ_POSTS:
            return
        if ctx.runtime is not None:
            with ctx.runtime.transaction(write=True, actor=ctx.actor, project=project_of(ctx)) as w:
                w.principal = ctx.principal
                record(w, name, kwargs, result, _object(op, kwargs, result) if obj is None else obj, request)
            return
    if obj is None:
        obj = _object(op, kwargs, result) if isinstance(op, Operation) else ""
    request, res = request or digest(kwargs), (_NONE if result is None else digest(result))
    at, actor, project = utcnow(), who(ctx)[:200], project_of(ctx)
    content = content_hash(at, actor, name, obj, request, res, project)
    naive = at.replace(tzinfo=None)  # how UTCDateTime stores it
    conn = ctx.session.connection()
    cur = conn.connection.cursor()  # the driver's own cursor: no per-statement SQLAlchemy overhead
    try:
        if conn.dialect.name == "postgresql":  # one round trip: lock the head, chain, insert, move the head
            cur.execute(_PG_APPEND, (project, naive, actor, name, obj, request, res, content))
            if cur.rowcount == 1:
                return
            cur.execute(_HEAD_INIT.replace("?", "%s"), (0, GENESIS))  # no head row yet (it was removed)
            cur.execute(_PG_APPEND, (project, naive, actor, name, obj, request, res, content))
            return
        # SQLite: the write lock is held already. The head this connection wrote last is moved with a
        # compare-and-set (one statement, no read); when another process appended since (or the write
        # that moved it rolled back) the set matches nothing and the head is read first.
        key = id(conn.connection.dbapi_connection)
        stamp = naive.strftime("%Y-%m-%d %H:%M:%S.%f")
        known = _SQLITE_HEADS.get(key)
        if known is not None:
            seq, h = known[0] + 1, link(content, known[1])
            cur.execute(_SQLITE_CAS, (seq, h, known[0], known[1]))
            if cur.rowcount == 1:
                cur.execute(_SQLITE_INSERT, (seq, project, stamp, actor, name, obj, request, res, known[1], h))
                _SQLITE_HEADS[key] = (seq, h)
                return
        cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1")
        head = cur.fetchone()
        if head is None:
            cur.execute(_HEAD_INIT, (0, GENESIS))
            head = (0, GENESIS)
        seq, h = head[0] + 1, link(content, head[1])
        cur.execute(_SQLITE_INSERT, (seq, project, stamp, actor, name, obj, request, res, head[1], h))
        cur.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        if len(_SQLITE_HEADS) > 256:
            _SQLITE_HEADS.clear()
        _SQLITE_HEADS[key] = (seq, h)
    finally:
        cur.close()


_SQLITE_HEADS: dict[int, tuple[int, str]] = {}  # DBAPI connection -> the head it last wrote (a hint, checked)
_SQLITE_CAS = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?"
_SQLITE_INSERT = ("INSERT INTO audit_log (seq, project, at, actor, op, object, request_sha256, result_sha256, "
                  "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


_HEAD_INIT = "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
# FOR UPDATE waits for a concurrent appender and then reads the head it committed, so appends queue.
_PG_APPEND = """
WITH head AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE),
row AS (
  INSERT INTO audit_log (seq, project, at, actor, op, object, request_sha256, result_sha256, prev_hash, hash)
  SELECT head.seq + 1, %s, %s, %s, %s, %s, %s, %s, head.hash, encode(sha256(convert_to(%s || head.hash, 'UTF8')), 'hex')
  FROM head RETURNING seq, hash)
UPDATE audit_head SET seq = row.seq, hash = row.hash FROM row WHERE audit_head.id = 1"""


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(seq=row.seq, project=row.project, at=row.at, actor=row.actor, op=row.op, object=row.object,
                      request_sha256=row.request_sha256, result_sha256=row.result_sha256, prev_hash=row.prev_hash,
                      hash=row.hash)


def _scope(ctx: Ctx, all_projects: bool) -> str | None:
    """The project whose rows a call sees: the call's own (its admins), or None for every project (admins
    of every project only)."""
    if all_projects:
        principal = getattr(ctx, "principal", None) or LOCAL
        check(principal, "admin", "*")
        return None
    require(ctx, "admin")
    return project_of(ctx)


def list_audit(ctx: Ctx, actor: str | None = None, op: str | None = None, object: str | None = None,
               since: dt.datetime | None = None, all_projects: bool = False, cursor: str | None = None,
               limit: Limit = 100) -> Page[AuditEntry]:
    """Recorded writes of the call's project, oldest first, filtered by actor, operation
    (``registry.set_alias``, or a domain ``registry``), object (a prefix) or time. The project's admins;
    ``all_projects``: every project's rows, admins of every project only."""
    scope = _scope(ctx, all_projects)
    after = decode_cursor(cursor).get("s", 0)
    q = select(AuditRow).where(AuditRow.seq > (after if isinstance(after, int) else 0))
    if scope is not None:
        q = q.where(AuditRow.project == scope)
    if actor:
        q = q.where(AuditRow.actor == actor)
    if op:
        q = q.where((AuditRow.op == op) | AuditRow.op.startswith(op.rstrip(".") + ".", autoescape=True))
    if object:
        q = q.where(AuditRow.object.startswith(object, autoescape=True))
    if since:
        q = q.where(AuditRow.at >= since)
    rows = list(ctx.session.scalars(q.order_by(AuditRow.seq).limit(limit + 1)))
    more = len(rows) > limit
    return Page[AuditEntry](items=[_entry(r) for r in rows[:limit]],
                            next_cursor=encode_cursor({"s": rows[limit - 1].seq}) if more else None)


def verify_audit(ctx: Ctx, all_projects: bool = False) -> AuditVerification:
    """Walk the whole chain (every project's rows form one) from its first row to the head: a row whose
    hash does not match its content was altered, a gap in ``seq`` or a ``prev_hash`` that is not the
    previous row's hash shows removed or moved rows, and the head names the last row (a removed tail).

    A project's admins get ``ok`` for the whole chain (a break anywhere means no row can be trusted to
    be where it was written), the problems of their project's rows and of removed rows (whose project
    is gone with them), and only the number of problems in other projects' rows. ``all_projects``
    (admins of every project): every problem."""
    scope = _scope(ctx, all_projects)
    head = ctx.session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    found: list[tuple[str | None, AuditProblem]] = []  # (the project of the row it names, or None: unknown)
    expected, prev_hash, rows, mine = 1, GENESIS, 0, 0
    for row in ctx.session.execute(select(_LOG).order_by(_LOG.c.seq)).yield_per(5000):
        rows += 1
        mine += scope is None or row.project == scope
        if row.seq > expected:
            gap = f"row {expected}" if row.seq == expected + 1 else f"rows {expected}..{row.seq - 1}"
            found.append((None, AuditProblem(seq=expected, kind="missing", detail=f"{gap} removed")))
        if chain_hash(row.at, row.actor, row.op, row.object, row.request_sha256, row.result_sha256,
                      row.prev_hash, row.project) != row.hash:
            found.append((row.project, AuditProblem(seq=row.seq, kind="altered",
                                                    detail=f"row {row.seq} ({row.op}) does not match its hash")))
        elif row.prev_hash != prev_hash and row.seq == expected:
            found.append((row.project, AuditProblem(
                seq=row.seq, kind="reordered",
                detail=f"row {row.seq} does not follow row {row.seq - 1} (its prev_hash names another row)")))
        expected, prev_hash = row.seq + 1, row.hash
    if head is None and rows:
        found.append((None, AuditProblem(seq=0, kind="head", detail="the chain's head row is missing")))
    elif expected - 1 != head_seq or (rows and prev_hash != head_hash):
        if expected - 1 < head_seq:
            found.append((None, AuditProblem(seq=expected, kind="missing",
                                             detail=f"rows {expected}..{head_seq} removed (the head is row {head_seq})")))
        else:
            found.append((None, AuditProblem(
                seq=head_seq, kind="head", detail=f"the head (row {head_seq}) does not match the last row {expected - 1}")))
    shown = [p for where, p in found if scope is None or where is None or where == scope]
    return AuditVerification(ok=not found, project=scope, rows=mine, head_seq=head_seq, head_hash=head_hash,
                             problems=shown, problems_elsewhere=len(found) - len(shown))


# ---------------------------------------------------------------- secrets

#: where sealed secrets are stored: name -> "module:function" taking a Ctx, re-sealing its domain's
#: secrets with the newest key and returning how many (a domain not installed is skipped).
SEALED_STORES: dict[str, str] = {
    "secrets": "mainsail.audit.service:reseal_secrets",
    "alert_channels": "mainsail.alerts.service:reseal_secrets",  # the alerts domain's webhooks, SMTP passwords
}


def _secret_row(ctx: Ctx, name: str) -> SecretRow:
    row = ctx.session.get(SecretRow, name)
    if row is None:
        raise not_found("secret", name)
    return row


def _info(row: SecretRow) -> SecretInfo:
    return SecretInfo(name=row.name, description=row.description, created_by=row.created_by,
                      created_at=row.created_at, updated_at=row.updated_at)


def set_secret(ctx: Ctx, name: ObjectName, body: SecretSet) -> SecretInfo:
    """Store (or replace) a named secret, sealed with the newest key; the value is never returned. Admins only."""
    require(ctx, "admin")
    sealed, now = seal(body.value.get_secret_value()), utcnow()
    row = ctx.session.get(SecretRow, name)
    if row is None:
        row = SecretRow(name=name, created_by=who(ctx), created_at=now)
        ctx.session.add(row)
    row.value, row.description, row.updated_at = sealed, body.description, now
    ctx.session.flush()
    emit(ctx.session, "secret.set", name, {"name": name}, who(ctx))
    return _info(row)


def list_secrets(ctx: Ctx) -> list[SecretInfo]:
    """The stored secrets' names and descriptions (never their values). Admins only."""
    require(ctx, "admin")
    return [_info(r) for r in ctx.session.scalars(select(SecretRow).order_by(SecretRow.name))]


def delete_secret(ctx: Ctx, name: ObjectName) -> None:
    """Remove a named secret. Admins only."""
    require(ctx, "admin")
    ctx.session.delete(_secret_row(ctx, name))
    emit(ctx.session, "secret.deleted", name, {"name": name}, who(ctx))


def secret_value(ctx: Ctx, name: str) -> str:
    """A secret's clear value, for code running beside the database (a connector in a worker). Not an
    API operation: a value never leaves the process that opens it."""
    require(ctx, "admin")
    return unseal(_secret_row(ctx, name).value)


def reseal_secrets(ctx: Ctx) -> int:
    """Re-seal every named secret with the newest key."""
    rows = list(ctx.session.scalars(select(SecretRow).with_for_update()))
    for row in rows:
        row.value = reseal(row.value)
    return len(rows)


def rotate_secrets(ctx: Ctx) -> RotateResult:
    """Re-encrypt every stored secret with the newest key (``MAINSAIL_SECRET_KEY``'s first), all in one
    transaction: a secret the keys cannot open stops the rotation and changes nothing. Admins only."""
    require(ctx, "admin")
    import importlib

    rotated: dict[str, int] = {}
    for store, ref in SEALED_STORES.items():
        module, _, fn = ref.partition(":")
        try:
            target = getattr(importlib.import_module(module), fn)
        except (ImportError, AttributeError):
            continue  # that domain is not installed here
        rotated[store] = target(ctx)
    emit(ctx.session, "secrets.rotated", "secrets", {"rotated": rotated}, who(ctx))
    return RotateResult(rotated=rotated)
