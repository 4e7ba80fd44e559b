"""Writing real inference logs (the replica's own InferenceLogger) for a deployment."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Sequence
from typing import Any

from mainsail import Client
from mainsail.serving.inference_log import InferenceLogger


def write_logs(client: Client, deployment: str, rows: Sequence[tuple[str, str, Any]], *, at: float | None = None,
               status: int = 200) -> None:
    """Log ``(request_id, variant, prediction or [predictions])`` rows as a replica does, one file."""
    def sink(data: bytes, n: int, first: Any, last: Any) -> None:
        client.add_inference_log(deployment, data, rows=n, first_at=first, last_at=last, replica="test")

    logger = InferenceLogger(deployment, sink)
    t = time.time() if at is None else at
    # typed logs (monitoring's format) take the input and predictions as objects, with the signature's spec
    typed = "spec" in inspect.signature(InferenceLogger.log).parameters
    extra: tuple[Any, ...] = ()
    if typed:
        from mainsail.serving.inference_log import LogSpec  # type: ignore[attr-defined]

        extra = (LogSpec(columns=("x",), types=("int64",)),)
    for rid, variant, pred in rows:
        preds = pred if isinstance(pred, list) else [pred]
        records = [{"x": 1}] * len(preds)
        logger.log(rid, t, variant, "churn", 1, 1.0, False, status, *((records, preds, *extra) if typed else
                                                                       (json.dumps(records), json.dumps(preds))))
    logger.flush()


def write_typed_logs(client: Client, deployment: str, variant: str, proba: Any, *, at: float,
                     prefix: str) -> list[str]:
    """Log predictions in the typed format (``prediction`` and ``proba_<class>`` columns, as
    monitoring's typed logs are written): one row per request ``<prefix><i>``; returns the ids."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa

    p1 = np.asarray(proba, dtype=float)
    n = p1.size
    ids = [f"{prefix}{i}" for i in range(n)]
    times = pa.array([int(at * 1e6)] * n, pa.timestamp("us", tz="UTC"))
    table = pa.table({"request_id": ids, "row": pa.array([0] * n, pa.int32()), "time": times, "deployment": [deployment] * n, "variant": [variant] * n,
                      "model": ["churn"] * n, "version": pa.array([1] * n, pa.int32()),
                      "latency_ms": [1.0] * n, "shadow": [False] * n, "status": pa.array([200] * n, pa.int16()),
                      "prediction": (p1 >= 0.5).astype(np.int64), "proba_0": 1 - p1, "proba_1": p1})
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    client.add_inference_log(deployment, typed_file(table), rows=n, first_at=when, last_at=when, replica="typed")
    return ids


def typed_file(table: Any) -> bytes:
    """Parquet bytes of a typed log table, marked with the typed format when the serving domain has one."""
    import io

    import pyarrow.parquet as pq

    try:
        from mainsail.serving.inference_log import FORMAT, FORMAT_KEY  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        table = table.replace_schema_metadata({FORMAT_KEY: FORMAT})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
