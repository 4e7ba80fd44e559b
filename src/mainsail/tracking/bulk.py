"""Hot paths for metrics and tags, below the ORM: metric points by binary ``COPY`` on PostgreSQL (one
``executemany`` on SQLite), an upsert of the latest value per key, and a columnar read-back."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

MetricTuple = tuple[str, str, float, int, float]


def _ph(session: Session) -> str:
    return "?" if session.get_bind().dialect.name == "sqlite" else "%s"


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


COPY_MIN_ROWS = 8  # below this, one pipelined INSERT costs less than setting up a COPY
COPY_CHUNK = 4096  # rows per piece of a column-built stream: the server stores one piece while the next is built
_COPY_SQL = "COPY run_metrics (run_id, key, value, step, timestamp) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("text", "text", "float8", "int8", "float8")


_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\0" + b"\0" * 8  # signature, flags, header extension length
_PGCOPY_TRAILER = b"\xff\xff"


def _layout(rows: list[MetricTuple], keys: set[str]) -> Any:
    """The one fixed-size record every row encodes to (numpy dtype, packed: a binary ``COPY`` tuple is
    exactly these bytes), or None when the rows do not share one (several runs, keys of different byte
    lengths): then psycopg formats them row by row. ``keys``: the batch's metric keys."""
    import numpy as np

    run_id = rows[0][0]
    if any(r[0] != run_id for r in rows):
        return None
    widths = {len(k.encode()) for k in keys}
    if len(widths) != 1:
        return None
    run = run_id.encode()
    return np.dtype([("nf", ">i2"), ("l_run", ">i4"), ("run", f"S{len(run)}"), ("l_key", ">i4"),
                     ("key", f"S{widths.pop()}"), ("l_value", ">i4"), ("value", ">f8"), ("l_step", ">i4"),
                     ("step", ">i8"), ("l_ts", ">i4"), ("ts", ">f8")])


def _records(rows: list[MetricTuple], layout: Any, key: bytes | None) -> bytes | None:
    """The binary ``COPY`` tuples of ``rows`` built column-wise, or None when a value does not fit the
    layout (None, a step beyond int64): the row path decides about those. ``key``: the one key of the
    whole batch, encoded (None when it has several)."""
    import numpy as np

    n = len(rows)
    try:
        values = np.fromiter((r[2] for r in rows), np.float64, n)
        steps = np.fromiter((r[3] for r in rows), np.int64, n)
        stamps = np.fromiter((r[4] for r in rows), np.float64, n)
    except (TypeError, ValueError, OverflowError):
        return None
    out = np.empty(n, layout)
    out["nf"], out["l_run"], out["run"], out["l_key"] = 5, layout["run"].itemsize, rows[0][0].encode(), \
        layout["key"].itemsize
    out["key"] = key if key is not None else np.array([r[1].encode() for r in rows], layout["key"])
    out["l_value"], out["value"], out["l_step"], out["step"], out["l_ts"], out["ts"] = 8, values, 8, steps, 8, stamps
    return out.tobytes()


def _copy_metrics(cursor: Any, rows: list[MetricTuple], keys: set[str], during: Callable[[], None]) -> None:
    """Binary ``COPY`` of metric points (PostgreSQL): the bulk-load floor, several times faster than a
    pipelined ``executemany``; doubles travel as IEEE bytes, so NaN and ±inf arrive unchanged. Rows of one
    record layout are built column-wise in pieces, each sent as soon as it is built (the server stores
    it while the next is built); the others, and every row after a piece that does not fit, go row by row.
    ``during`` runs once every byte is handed over, while the server is still storing them."""
    layout = _layout(rows, keys)
    key = next(iter(keys)).encode() if len(keys) == 1 else None
    start = 0
    with cursor.copy(_COPY_SQL) as copy:
        if layout is not None:
            copy.write(_PGCOPY_HEADER)
            for start in range(0, len(rows), COPY_CHUNK):
                piece = _records(rows[start:start + COPY_CHUNK], layout, key)
                if piece is None:
                    break  # psycopg goes on from here (it sends the trailer of a stream it wrote rows to)
                copy.write(piece)
            else:
                copy.write(_PGCOPY_TRAILER)
                during()
                return
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        for r in rows[start:]:
            write(r)
        during()


def _latest(rows: list[MetricTuple], keys: set[str]) -> list[MetricTuple]:
    """Each key's latest point: the highest step, then the newest (the last of equals wins)."""
    if len(keys) == 1:  # the usual batch: one metric
        return [max(reversed(rows), key=itemgetter(3, 4))]
    latest: dict[str, MetricTuple] = {}
    for r in rows:
        cur = latest.get(r[1])
        if cur is None or (r[3], r[4]) >= (cur[3], cur[4]):
            latest[r[1]] = r
    return list(latest.values())


def insert_metrics(session: Session, run_id: str, rows: list[MetricTuple],
                   meanwhile: Callable[[], Any] | None = None) -> Any:
    """Insert metric points and move each key's latest value forward (highest step, then newest).

    ``meanwhile`` (e.g. the audit row's digest of the batch) runs while PostgreSQL stores the ``COPY``
    stream, with this function's own bookkeeping: that CPU time then hides behind the server's. Its
    result is returned."""
    if not rows:
        return meanwhile() if meanwhile is not None else None
    p = _ph(session)
    keys = {r[1] for r in rows}
    done: list[Any] = []

    def during() -> None:
        done.extend((_latest(rows, keys), meanwhile() if meanwhile is not None else None))

    cursor = _cursor(session)
    try:
        if p == "?" or len(rows) < COPY_MIN_ROWS:
            cursor.executemany(
                f"INSERT INTO run_metrics (run_id, key, value, step, timestamp) VALUES ({p}, {p}, {p}, {p}, {p})",
                rows,
            )
            during()
        else:
            _copy_metrics(cursor, rows, keys, during)
        cursor.executemany(
            f"INSERT INTO run_latest_metrics (run_id, key, value, step, timestamp) VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
            "timestamp = excluded.timestamp WHERE excluded.step > run_latest_metrics.step OR "
            "(excluded.step = run_latest_metrics.step AND excluded.timestamp >= run_latest_metrics.timestamp)",
            done[0],
        )
    finally:
        cursor.close()
    return done[1]


def upsert_tags(session: Session, rows: list[tuple[str, str, str]]) -> None:
    """Set tags, overwriting earlier values."""
    p = _ph(session)
    cursor = _cursor(session)
    try:
        cursor.executemany(
            f"INSERT INTO run_tags (run_id, key, value) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            rows,
        )
    finally:
        cursor.close()


_TABLE = [("id", "i8"), ("step", "i8"), ("value", "f8"), ("ts", "f8")]


def metric_table(session: Session, run_id: str, key: str, after_id: int = 0) -> Any:
    """Every point of one metric as a numpy record array (``id``, ``step``, ``value`` with NaN kept,
    ``ts``) in ``(step, timestamp, id)`` order; with ``after_id`` (SQLite only) just the points with a
    higher row id, in id order. Rows stream into the array, each row tuple freed as soon as it is read:
    a ``fetchall`` of 20,000 tuples kept the garbage collector's allocation count climbing until a full
    collection walked the whole heap of the embedding process, 5-10x the read itself now and then."""
    import numpy as np

    p = _ph(session)
    sql = "SELECT id, step, COALESCE(value, 'NaN'), timestamp FROM run_metrics WHERE "  # SQLite: NaN is NULL
    if after_id:  # a row-id range; `+` keeps SQLite's planner off the series index, which walks every point
        sql, args = sql + "id > ? AND +run_id = ? AND +key = ? ORDER BY id", (after_id, run_id, key)
    else:
        sql, args = sql + f"run_id = {p} AND key = {p} ORDER BY step, timestamp, id", (run_id, key)
    cursor = _cursor(session)
    try:
        cursor.execute(sql, args)
        return np.fromiter(cursor, dtype=_TABLE)
    finally:
        cursor.close()


def metric_history(session: Session, run_id: str, key: str) -> tuple[list[int], list[float | None], list[float]]:
    """Steps, values (NaN as None) and timestamps of one metric, in step order."""
    import numpy as np

    table = metric_table(session, run_id, key)
    values = table["value"]
    out: list[float | None] = values.tolist()
    if np.isnan(values).any():
        out = [None if v != v else v for v in out]  # NaN is not equal to itself
    return table["step"].tolist(), out, table["ts"].tolist()
