"""The alias-resolve cache: what ``models:/NAME@ALIAS`` points at, answered without a session.

Alias resolve is on the hot path (the API and the Client resolve on every call). The answer is cached per
database, project, name and alias together with the raw rows it was built from (its *stamp*); every call
re-reads those rows with one statement (the raw join) and reuses the cached answer only when they are
unchanged, so an alias move, an edit of the version or another alias on it, by any process, shows at the
next call. The embedded Client and the API try :func:`cached_version_by_alias` first: that statement on an
autocommit driver connection, without a session or a transaction (one statement reads one consistent
snapshot).

On SQLite even that statement is skipped while nothing was committed: ``PRAGMA data_version`` of a
connection changes whenever another connection (of any process) commits, and the driver connections here
only read. A connection that matched a stamp at a given data version answers the same key from the cache
while its data version stays the same (about 2 µs instead of the join's 10 µs)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mainsail.registry.schemas import ModelVersion

Key = tuple[str, str, str, str]  # database URL, project, model name, alias
Stamp = list[tuple[Any, ...]]

_STAMP_SQL = (
    "SELECT v.id, v.version, v.stage, v.framework, v.source, v.run_id, v.files, v.metrics, v.params, v.tags, "
    "v.signature, v.lineage, v.description, v.created_by, v.created_at, v.updated_at, a2.alias "
    "FROM registered_models m JOIN model_aliases a ON a.model_id = m.id AND a.alias = {p} "
    "JOIN model_versions v ON v.id = a.version_id "
    "LEFT JOIN model_aliases a2 ON a2.model_id = m.id AND a2.version_id = v.id "
    "WHERE m.name = {p} AND m.project = {p} ORDER BY a2.alias")
_CACHE: OrderedDict[Key, tuple[Stamp, bytes]] = OrderedDict()
_CACHE_MAX = 1024
# id(driver connection) -> (the connection, its data version, key -> the cache entry its stamp matched at that
# version). The connection is held so its id cannot be reused by another while the entry exists.
_UNCHANGED: dict[int, tuple[Any, int, dict[Key, tuple[Stamp, bytes]]]] = {}


def stamp(driver_conn: Any, sqlite: bool, name: str, alias: str, project: str) -> Stamp:
    """The raw rows an answer is built from (empty when the alias does not exist)."""
    cursor = driver_conn.cursor()
    try:  # the driver's cursor: no statement building or result processing on the hot path
        cursor.execute(_STAMP_SQL.format(p="?" if sqlite else "%s"), (alias, name, project))
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


def cached(key: Key, current: Stamp) -> ModelVersion | None:
    """A fresh copy of the cached answer for ``key`` when it was built from ``current`` rows."""
    hit = _CACHE.get(key)
    return ModelVersion.model_validate_json(hit[1]) if current and hit is not None and hit[0] == current else None


def remember(key: Key, current: Stamp, found: ModelVersion) -> None:
    if current:
        _CACHE[key] = (current, found.model_dump_json().encode())
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)


def cached_version_by_alias(runtime: Any, name: str, alias: str, project: str = "default") -> ModelVersion | None:
    """The cached answer of ``get_version_by_alias`` in ``project`` when the rows it came from are
    unchanged (one statement on a driver connection, no session); None when there is none or they changed."""
    key = (str(runtime.read_engine.url), project, name, alias)
    hit = _CACHE.get(key)
    if hit is None:
        return None
    sqlite = runtime.read_engine.dialect.name == "sqlite"
    try:
        with runtime.driver_read() as conn:
            version = conn.execute("PRAGMA data_version").fetchone()[0] if sqlite else None
            seen = _UNCHANGED.get(id(conn))
            if seen is not None and seen[0] is conn and seen[1] == version and seen[2].get(key) is hit:
                return ModelVersion.model_validate_json(hit[1])  # nothing committed since it matched
            current = stamp(conn, sqlite, name, alias, project)
    except Exception:  # noqa: BLE001 - the usual path answers (and reports what is wrong)
        return None
    if not current or current != hit[0]:
        return None
    if sqlite:
        if seen is None or seen[0] is not conn or seen[1] != version:
            if len(_UNCHANGED) > 64:
                _UNCHANGED.clear()
            seen = _UNCHANGED[id(conn)] = (conn, version, {})
        seen[2][key] = hit
    return ModelVersion.model_validate_json(hit[1])
