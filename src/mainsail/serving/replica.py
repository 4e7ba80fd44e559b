"""``mainsail serve DEPLOYMENT``: a stateless model-server replica.

It loads each variant's model once (digests checked), routes each request by weight (sticky when a
request key is given), mirrors traffic to shadow variants, and polls the control plane (a heartbeat
that also carries its measurements for the rollout controller). When an alias or a weight changes it
builds a new routing snapshot and swaps it in one assignment: requests in flight finish on the model
they started with. A model that fails to load leaves the old one serving and the replica degraded."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mainsail.core.background import Periodic
from mainsail.core.errors import MainsailError
from mainsail.costs.hooks import ReplicaUsage
from mainsail.serving.batcher import MicroBatcher
from mainsail.serving.codec import InputSpec
from mainsail.serving.entities import FeatureSource
from mainsail.serving.inference_log import NO_SPEC, InferenceLogger, LogSpec
from mainsail.serving.schemas import LATENCY_BUCKETS_MS, Deployment, Role, Status, Variant

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """One variant's model, loaded once."""

    variant: str
    model_name: str
    version: int
    model: Any  # PyFuncModel
    spec: InputSpec
    batcher: MicroBatcher | None = None
    features: FeatureSource | None = None  # for entity requests
    log_spec: LogSpec = NO_SPEC  # how its inference logs are typed

    def predict_direct(self, x: Any) -> Any:
        if self.spec.fast and isinstance(x, np.ndarray):
            return self.model._flavor.predict(self.model.raw, x)  # signature already enforced by the codec
        return self.model.predict(x)

    async def run(self, x: Any) -> Any:
        if self.batcher is not None and isinstance(x, np.ndarray):
            return await self.batcher.submit(x)
        return self.predict_direct(x)


@dataclass(frozen=True)
class Routing:
    """An immutable routing snapshot: primaries with cumulative weights, shadows, and every variant."""

    primaries: tuple[tuple[float, Loaded], ...]
    total: float
    shadows: tuple[Loaded, ...]
    variants: dict[str, Loaded]
    weights: dict[str, float]

    def pick(self, key: str | None) -> Loaded:
        """The variant for a request: by a hash of ``key`` (sticky) or at random."""
        if key is None:
            point = random.random() * self.total
        else:
            h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
            point = (h / 2**64) * self.total
        for bound, loaded in self.primaries:
            if point < bound:
                return loaded
        return self.primaries[-1][1]


EMPTY = Routing((), 0.0, (), {}, {})


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0  # model failures and 5xx: what the canary guard counts
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_MS))
    client_errors: int = 0  # 4xx: counted apart, neither a request nor an error of the variant

    def observe(self, ms: float, error: bool) -> None:
        self.requests += 1
        if error:
            self.errors += 1
        for i, bound in enumerate(LATENCY_BUCKETS_MS):
            if ms <= bound:
                self.buckets[i] += 1
                return
        self.buckets[-1] += 1


def error_kind(exc: BaseException) -> tuple[str, str]:
    """``(code, kind)`` of a failed request: kind ``client`` (4xx), ``model`` (the model raised) or
    ``server`` (any other 5xx)."""
    if isinstance(exc, MainsailError):
        if exc.code == "prediction_failed":
            return exc.code, "model"
        return exc.code, "client" if exc.status < 500 else "server"
    return "internal_error", "server"


class ReplicaMetrics:
    """The Prometheus metrics of one or more replicas (``mainsail server`` hosts several in one registry)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        labels = ["project", "deployment", "model", "version", "variant"]
        self.predictions = Counter("mainsail_predictions", "Rows predicted", labels, registry=self.registry)
        self.requests = Counter("mainsail_prediction_requests", "Prediction requests answered", labels,
                                registry=self.registry)
        self.errors = Counter("mainsail_prediction_errors", "Prediction requests that failed, by kind: client "
                              "(4xx), model (the model raised) or server (other 5xx)",
                              ["project", "deployment", "variant", "code", "kind"], registry=self.registry)
        self.latency = Histogram("mainsail_prediction_latency_seconds", "Prediction latency",
                                 ["project", "deployment", "variant"],
                                 buckets=[b / 1000 for b in LATENCY_BUCKETS_MS[:-1]], registry=self.registry)
        self.in_flight = Gauge("mainsail_predictions_in_flight", "Prediction requests being served",
                               ["project", "deployment"],
                               registry=self.registry)
        self.batch = Histogram("mainsail_batch_size", "Requests per micro-batch", ["project", "deployment"],
                               buckets=[1, 2, 4, 8, 16, 32, 64, 128, 256], registry=self.registry)
        self.loaded = Gauge("mainsail_model_loaded", "Loaded model version per variant",
                            ["project", "deployment", "variant"],
                            registry=self.registry)
        self.degraded = Gauge("mainsail_deployment_degraded", "1 when a model failed to load", ["project", "deployment"],
                              registry=self.registry)

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class ReplicaState:
    """What a replica serves and how it stays in step with its deployment."""

    def __init__(self, client: Any, deployment: str, *, replica_id: str | None = None, poll_interval: float = 2.0,
                 max_batch: int = 256, max_wait: float = 0.0015, log_interval: float = 2.0,
                 log_inferences: bool = True, metrics: ReplicaMetrics | None = None):
        self.client = client
        self.deployment = deployment
        self.replica_id = replica_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.poll_interval = poll_interval
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.routing: Routing = EMPTY
        self.arriving = 0  # requests whose body is being read (the batcher waits briefly for them)
        self.status = Status.healthy
        self.message: str | None = None
        self.counters: dict[str, Counters] = {}
        self._reported: dict[str, Counters] = {}
        # the control plane may be briefly away: keep serving the last known routing
        self._loop = Periodic("mainsail-replica-sync", self.sync, poll_interval, "deployment sync")
        self._sync_lock = threading.Lock()
        self.metrics = m = metrics or ReplicaMetrics()
        self.registry = m.registry
        self.m_predictions, self.m_requests, self.m_errors, self.m_latency = m.predictions, m.requests, m.errors, \
            m.latency
        # same-named deployments of two projects hosted by one server keep apart by this label
        self.project = str(getattr(client, "project", None) or "default")
        self.m_in_flight = m.in_flight.labels(self.project, deployment)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}  # bound metrics per served model
        self.m_batch = m.batch.labels(self.project, deployment)
        self.m_loaded = m.loaded
        self.m_degraded = m.degraded.labels(self.project, deployment)
        self.logger: InferenceLogger | None = None
        self.capture = 1.0  # the deployment's sampling_percentage / 100: the share of requests logged
        self.usage = ReplicaUsage(client, deployment, self.replica_id)  # costs: CPU, memory, requests per interval
        if log_inferences:
            self.logger = InferenceLogger(deployment, self._write_log, interval=log_interval)

    # ------------------------------------------------------------ control plane
    def _write_log(self, data: bytes, rows: int, first: Any, last: Any) -> None:
        self.client.add_inference_log(self.deployment, data, rows=rows, first_at=first, last_at=last,
                                      replica=self.replica_id)

    def _stats(self) -> dict[str, Any]:
        out = {}
        for name, c in list(self.counters.items()):
            prev = self._reported.get(name) or Counters()
            snap = Counters(c.requests, c.errors, list(c.buckets), c.client_errors)
            if (snap.requests, snap.client_errors) != (prev.requests, prev.client_errors):
                out[name] = {"requests": snap.requests - prev.requests, "errors": snap.errors - prev.errors,
                             "client_errors": snap.client_errors - prev.client_errors,
                             "latency_buckets": [a - b for a, b in zip(snap.buckets, prev.buckets, strict=True)]}
            self._reported[name] = snap
        return out

    def sync(self) -> Deployment:
        """One heartbeat: report health and measurements, then apply the deployment as it is now."""
        with self._sync_lock:
            current = self.routing
            report = {"status": self.status.value, "message": self.message, "stats": self._stats(),
                      "loaded": {n: v.version for n, v in current.variants.items()}}
            d = self.client.report_replica(self.deployment, self.replica_id, report)
            self.apply(d)
            self.report_usage()
            return d

    def report_usage(self, force: bool = False) -> None:
        """Costs: this replica's usage and requests served since the last report (every minute)."""
        self.usage.maybe_report(sum(c.requests for c in list(self.counters.values())),
                                [v.model_name for v in self.routing.variants.values()], force)

    def _load(self, v: Variant) -> Loaded:
        assert v.version is not None
        model = self.client.load_model(f"models:/{v.model_name}/{v.version}")
        spec = InputSpec.from_signature(model.input_schema, model.flavor)
        loaded = Loaded(v.name, v.model_name, v.version, model, spec,
                        features=FeatureSource.of(v.feature_service, v.feature_views),
                        log_spec=LogSpec.of(model, spec.columns, spec.types))
        if spec.fast and self.max_batch > 1:
            loaded.batcher = MicroBatcher(loaded.predict_direct, max_batch=self.max_batch, max_wait=self.max_wait,
                                          on_batch=self.m_batch.observe, arriving=lambda: self.arriving)
        return loaded

    def apply(self, d: Deployment) -> None:
        """Load what changed (keeping the old model when a load fails) and swap the routing snapshot."""
        old = self.routing.variants
        variants: dict[str, Loaded] = {}
        problems = []
        for v in d.variants:
            have = old.get(v.name)
            if v.version is None:
                problems.append(f"variant {v.name}: {v.model} does not resolve to a model version")
            elif have is not None and (have.model_name, have.version) == (v.model_name, v.version):
                source = FeatureSource.of(v.feature_service, v.feature_views)
                if FeatureSource.key(source) != FeatureSource.key(have.features):
                    have.features = source  # the feature service changed; the model did not
                variants[v.name] = have
                continue
            else:
                try:
                    variants[v.name] = self._load(v)
                    self.m_loaded.labels(self.project, self.deployment, v.name).set(v.version)
                    log.info("variant %s now serves %s v%s", v.name, v.model_name, v.version)
                    continue
                except Exception as exc:  # noqa: BLE001 - keep serving the old model
                    problems.append(f"variant {v.name}: loading {v.model_name} v{v.version} failed: "
                                    f"{type(exc).__name__}: {exc}")
                    log.warning(problems[-1])
            if have is not None:
                variants[v.name] = have
        if any(variants[n] is not old.get(n) for n in variants):
            from mainsail.core.heap import settle

            settle(collect=False)  # the new model is long-lived: keep full collections from walking it
        weights = {v.name: v.weight for v in d.variants}
        prim: list[tuple[float, Loaded]] = []
        total = 0.0
        for v in d.variants:
            if v.role == Role.primary and v.name in variants and v.weight > 0:
                total += v.weight
                prim.append((total, variants[v.name]))
        if not prim:  # every weighted primary failed: keep answering with whatever primary is loaded
            prim = [(1.0, variants[v.name]) for v in d.variants if v.role == Role.primary and v.name in variants][:1]
            total = 1.0 if prim else 0.0
        shadows = tuple(variants[v.name] for v in d.variants if v.role == Role.shadow and v.name in variants)
        self.routing = Routing(tuple(prim), total, shadows, variants, weights)
        self.capture = getattr(d, "sampling_percentage", 100.0) / 100.0
        self.status = Status.degraded if problems else Status.healthy
        self.message = "; ".join(problems) or None
        self.m_degraded.set(1 if problems else 0)

    def start(self) -> ReplicaState:
        """Load the deployment (first sync), then keep polling in the background."""
        self.sync()
        if self.logger:
            self.logger.start()
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()
        if self.logger:
            self.logger.close()
        try:
            self.sync()  # last measurements
        except Exception:  # noqa: BLE001
            log.warning("final deployment sync failed")
        self.report_usage(force=True)

    # ------------------------------------------------------------ request path bookkeeping
    def _counters(self, variant: str) -> Counters:
        c = self.counters.get(variant)
        if c is None:
            c = self.counters[variant] = Counters()
        return c

    def record(self, loaded: Loaded, rows: int, seconds: float) -> None:
        """An answered request."""
        self._counters(loaded.variant).observe(seconds * 1000, False)
        key = (loaded.variant, loaded.model_name, loaded.version)
        children = self._children.get(key)
        if children is None:  # ``labels()`` takes a lock and builds its key on every call: bind them once
            labels = (self.project, self.deployment, loaded.model_name, str(loaded.version), loaded.variant)
            children = self._children[key] = (self.m_latency.labels(self.project, self.deployment, loaded.variant),
                                              self.m_requests.labels(*labels), self.m_predictions.labels(*labels))
        children[0].observe(seconds)
        children[1].inc()
        children[2].inc(rows)

    def record_error(self, loaded: Loaded | None, exc: BaseException, seconds: float) -> None:
        """A failed request: ``errors_total{kind}``; model and server errors of a routed request also count
        against its variant (the canary guard), client errors only as its ``client_errors``."""
        code, kind = error_kind(exc)
        self.m_errors.labels(self.project, self.deployment, loaded.variant if loaded else "", code, kind).inc()
        if loaded is None:
            return
        if kind == "client":
            self._counters(loaded.variant).client_errors += 1
            return
        self._counters(loaded.variant).observe(seconds * 1000, True)
        self.m_latency.labels(self.project, self.deployment, loaded.variant).observe(seconds)

    def sampled(self) -> bool:
        """Whether this request is logged: always at 100 %, else one random draw against the capture
        percentage."""
        return self.logger is not None and (self.capture >= 1.0 or random.random() < self.capture)

    def log(self, request_id: str, loaded: Loaded, seconds: float, shadow: bool, status: int, inputs: Any,
            outputs: Any) -> None:
        """Hand one request to the inference logger: ``inputs`` as the model took it (or the request's
        data), ``outputs`` the predictions or an error message; encoding happens off the request path."""
        if self.logger is not None:
            self.logger.log(request_id, time.time(), loaded.variant, loaded.model_name, loaded.version,
                            seconds * 1000, shadow, status, inputs, outputs, loaded.log_spec)
