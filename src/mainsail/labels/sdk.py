"""Labels methods of the Client: push ground truth, read measured performance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.labels.schemas import LabelPushResult, PerformanceReport

ops = LazyOpSet("mainsail.labels.ops")
CHUNK = 50_000  # labels per call (a call takes at most 100,000)


def label_pairs(labels: Any, request_id_column: str = "request_id", label_column: str = "label"
                ) -> list[dict[str, Any]]:
    """``{request_id: label}``, ``[(request_id, label)]``, ``[{"request_id", "label"}]``, a pandas
    DataFrame or a pyarrow Table (with the two named columns) → ``[{"request_id", "label"}]``."""
    if hasattr(labels, "column_names") or hasattr(labels, "columns"):  # pyarrow Table / pandas DataFrame
        names = list(labels.column_names if hasattr(labels, "column_names") else labels.columns)
        missing = [c for c in (request_id_column, label_column) if c not in names]
        if missing:
            from mainsail.core.errors import InvalidInput

            raise InvalidInput(f"no column {missing[0]!r} in the labels (columns: {', '.join(map(str, names))})",
                               code="unknown_column", errors=[{"loc": ["labels", missing[0]], "msg": "no such column"}])
        ids, values = (labels[request_id_column], labels[label_column])
        ids, values = (x.to_pylist() if hasattr(x, "to_pylist") else x.tolist() for x in (ids, values))
        return [{"request_id": str(r), "label": v} for r, v in zip(ids, values, strict=True)]
    if isinstance(labels, Mapping):
        return [{"request_id": str(r), "label": v} for r, v in labels.items()]
    return [dict(x) if isinstance(x, Mapping) else {"request_id": x[0], "label": x[1]} for x in labels]


class LabelMethods:
    _backend: Backend

    def push_labels(self, deployment: str, labels: Any = None, *, dataset: str | None = None,
                    version: str = "latest", request_id_column: str = "request_id",
                    label_column: str = "label") -> LabelPushResult:
        """Push ground truth by request id: ``labels`` as ``{request_id: label}``, pairs, dicts, a DataFrame or
        an Arrow table; or ``dataset`` (a version's ``request_id_column`` and ``label_column``). Large inputs go
        in chunks of 50,000. The result counts labels whose request id no inference log holds (``unknown``)."""
        from mainsail.labels.schemas import LabelPushResult

        if dataset is not None:
            body = {"deployment": deployment, "dataset": dataset, "version": version,
                    "request_id_column": request_id_column, "label_column": label_column}
            return self._backend.call(ops.push_labels, {"body": body})
        rows = label_pairs(labels, request_id_column, label_column)
        parts: list[LabelPushResult] = [self._backend.call(ops.push_labels, {
            "body": {"deployment": deployment, "labels": rows[i:i + CHUNK]}}) for i in range(0, max(len(rows), 1), CHUNK)]
        return LabelPushResult(deployment=deployment, received=sum(p.received for p in parts),
                               inserted=sum(p.inserted for p in parts), updated=sum(p.updated for p in parts),
                               unknown=sum(p.unknown for p in parts),
                               unknown_sample=[r for p in parts for r in p.unknown_sample][:20])

    def get_performance(self, deployment: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
                        window: str | None = None, variant: str | None = None,
                        task: str | None = None, estimate: bool = False) -> PerformanceReport:
        """The deployment's measured performance from its labels, per window and variant; with
        ``estimate``, also CBPE estimates from the logged probabilities (``estimated: true``)."""
        return self._backend.call(ops.get_performance, {"name": deployment, "start": start, "end": end,
                                                        "window": window, "variant": variant, "task": task,
                                                        "estimate": estimate})

    def performance_frame(self, deployment: str, **kw: Any) -> Any:
        """:meth:`get_performance` as a pandas DataFrame (one row per window, variant and metric)."""
        import pandas as pd

        return pd.DataFrame([r.model_dump() for r in self.get_performance(deployment, **kw).results])


