"""Writing real inference logs (the replica's own InferenceLogger) for a deployment."""

from __future__ import annotations

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
    for rid, variant, pred in rows:
        preds = pred if isinstance(pred, list) else [pred]
        logger.log(rid, t, variant, "churn", 1, 1.0, False, status, json.dumps([{"x": 1}] * len(preds)),
                   json.dumps(preds))
    logger.flush()
