"""``mainsail.Client``: the same methods, types and errors whether embedded or remote."""

from __future__ import annotations

from typing import Any

from mainsail.alerts.sdk import AlertMethods
from mainsail.audit.sdk import AuditMethods
from mainsail.auth.sdk import AuthMethods
from mainsail.client.backends import Backend, LocalBackend, make_backend
from mainsail.collab.sdk import CollabMethods
from mainsail.core.errors import redact
from mainsail.core.ops import Operation
from mainsail.data.sdk import DataMethods
from mainsail.features.sdk import FeatureMethods
from mainsail.labels.sdk import LabelMethods
from mainsail.loops.sdk import LoopMethods
from mainsail.monitoring.sdk import MonitoringMethods
from mainsail.pipelines.sdk import PipelineMethods
from mainsail.registry.sdk import RegistryMethods
from mainsail.serving.sdk import ServingMethods
from mainsail.tracking.sdk import TrackingMethods


class Client(TrackingMethods, RegistryMethods, DataMethods, ServingMethods, PipelineMethods, FeatureMethods,
             AlertMethods, AuditMethods, MonitoringMethods, LabelMethods, AuthMethods, CollabMethods,
             LoopMethods):
    """Entry point of the SDK.

    ``Client()`` reads ``MAINSAIL_URI``: a database URL (``sqlite:///…``, ``postgresql+psycopg://…``)
    runs the services in this process; ``http(s)://host:port`` talks to a Mainsail server.
    """

    def __init__(self, uri: str | None = None, *, token: str | None = None, artifact_root: str | None = None):
        self._backend: Backend = make_backend(uri, token=token, artifact_root=artifact_root)

    @property
    def uri(self) -> str:
        return self._backend.uri

    @property
    def is_remote(self) -> bool:
        return not isinstance(self._backend, LocalBackend)

    def call(self, op: Operation, **kwargs: Any) -> Any:
        """Invoke any declared operation by its declaration."""
        return self._backend.call(op, kwargs)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({redact(self.uri)!r})"
