"""Hot paths for metrics and tags, below the ORM: metric points by binary ``COPY`` on PostgreSQL (one
``executemany`` on SQLite), an upsert of the latest value per key, and a columnar read-back."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

MetricTuple = tuple[str, str, float, int, float]


def _ph(session: Session) -> str:
    return "?" if session.get_bind().dialect.name == "sqlite" else "%s"


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


COPY_MIN_ROWS = 8  # below this, one pipelined INSERT costs less than setting up a COPY
_COPY_SQL = "COPY run_metrics (run_id, key, value, step, timestamp) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("text", "text", "float8", "int8", "float8")


_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\0" + b"\0" * 8  # signature, flags, header extension length
_PGCOPY_TRAILER = b"\xff\xff"


def _copy_block(rows: list[MetricTuple]) -> bytes | None:
    """The whole binary ``COPY`` stream of ``rows`` built column-wise with numpy (one fixed-size record per
    row), or None when the rows do not fit one record layout (several runs, keys of different byte
    lengths, a value that is not a float): then psycopg formats them row by row."""
    import numpy as np

    n = len(rows)
    run_id = rows[0][0]
    keys = {r[1] for r in rows}
    try:
        if any(r[0] != run_id for r in rows):
            return None
        encoded = {k: k.encode() for k in keys}
        width = len(encoded[rows[0][1]])
        if any(len(b) != width for b in encoded.values()):
            return None
        values = np.fromiter((r[2] for r in rows), np.float64, n)
        steps = np.fromiter((r[3] for r in rows), np.int64, n)
        stamps = np.fromiter((r[4] for r in rows), np.float64, n)
    except (TypeError, ValueError, OverflowError):  # None, a step beyond int64: the row path decides
        return None
    run = run_id.encode()
    rec = np.dtype([("nf", ">i2"), ("l_run", ">i4"), ("run", f"S{len(run)}"), ("l_key", ">i4"), ("key", f"S{width}"),
                    ("l_value", ">i4"), ("value", ">f8"), ("l_step", ">i4"), ("step", ">i8"), ("l_ts", ">i4"),
                    ("ts", ">f8")])  # packed: a binary COPY tuple is exactly these bytes
    out = np.empty(n, rec)
    out["nf"], out["l_run"], out["run"], out["l_key"] = 5, len(run), run, width
    out["key"] = encoded[rows[0][1]] if len(keys) == 1 else np.array([encoded[r[1]] for r in rows], f"S{width}")
    out["l_value"], out["value"], out["l_step"], out["step"], out["l_ts"], out["ts"] = 8, values, 8, steps, 8, stamps
    return _PGCOPY_HEADER + out.tobytes() + _PGCOPY_TRAILER


def _copy_metrics(cursor: Any, rows: list[MetricTuple]) -> None:
    """Binary ``COPY`` of metric points (PostgreSQL): the bulk-load floor, several times faster than a
    pipelined ``executemany``; doubles travel as IEEE bytes, so NaN and ±inf arrive unchanged. The
    stream is built column-wise (:func:`_copy_block`) when the rows allow, else row by row."""
    block = _copy_block(rows)
    with cursor.copy(_COPY_SQL) as copy:
        if block is not None:
            copy.write(block)  # the complete stream: signature, tuples, trailer
            return
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        for r in rows:
            write(r)


def insert_metrics(session: Session, run_id: str, rows: list[MetricTuple]) -> None:
    """Insert metric points and move each key's latest value forward (highest step, then newest)."""
    if not rows:
        return
    p = _ph(session)
    latest: dict[str, MetricTuple] = {}
    keys = {r[1] for r in rows}
    if len(keys) == 1:  # the usual batch: one metric; the last of the highest (step, timestamp) wins
        latest[keys.pop()] = max(reversed(rows), key=itemgetter(3, 4))
    else:
        for r in rows:
            cur = latest.get(r[1])
            if cur is None or (r[3], r[4]) >= (cur[3], cur[4]):
                latest[r[1]] = r
    cursor = _cursor(session)
    try:
        if p == "?" or len(rows) < COPY_MIN_ROWS:
            cursor.executemany(
                f"INSERT INTO run_metrics (run_id, key, value, step, timestamp) VALUES ({p}, {p}, {p}, {p}, {p})",
                rows,
            )
        else:
            _copy_metrics(cursor, rows)
        cursor.executemany(
            f"INSERT INTO run_latest_metrics (run_id, key, value, step, timestamp) VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
            "timestamp = excluded.timestamp WHERE excluded.step > run_latest_metrics.step OR "
            "(excluded.step = run_latest_metrics.step AND excluded.timestamp >= run_latest_metrics.timestamp)",
            list(latest.values()),
        )
    finally:
        cursor.close()


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
