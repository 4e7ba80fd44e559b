"""The canary rollout controller's rules, as a pure function of measured stats and time (deterministic
to test), plus :class:`RolloutController`, a background loop that ticks every running rollout so steps
advance on time even when no replica is reporting."""

from __future__ import annotations

import datetime as dt
import logging
import operator
from dataclasses import dataclass
from typing import Any

from mainsail.core.background import Periodic
from mainsail.core.text import count
from mainsail.serving.schemas import Guards, QualityReading, StepStats, p95

log = logging.getLogger(__name__)
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
        "!=": operator.ne}


@dataclass(frozen=True)
class Decision:
    action: str  # hold | advance | promote | rollback
    reason: str


def parse_threshold(text: str) -> tuple[str, float]:
    """``">= 0.8"`` → (">=", 0.8); ``ValueError`` naming the problem otherwise."""
    text = text.strip()
    for sym in (">=", "<=", "==", "!=", ">", "<"):
        if text.startswith(sym):
            return sym, float(text[len(sym):])
    raise ValueError(f"{text!r}: expected OP NUMBER, e.g. '<= 0.2'")


def step_stats(stats: dict[str, Any]) -> StepStats:
    n, e = int(stats.get("requests", 0)), int(stats.get("errors", 0))
    return StepStats(requests=n, errors=e, client_errors=int(stats.get("client_errors", 0)),
                     error_rate=(e / n) if n else None,
                     p95_ms=p95(list(stats.get("latency_buckets", []))),
                     quality=[QualityReading.model_validate(q) for q in stats.get("quality", [])])


LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})  # as monitoring.performance (a test keeps them equal)


def quality_verdict(guards: Guards, readings: list[QualityReading], pct: str) -> Decision | None:
    """``rollback`` when a quality guard's candidate is worse than its champion by more than the margin,
    ``hold`` while a guard lacks labeled predictions (or a value), ``None`` when every guard passes."""
    by_key = {(q.metric, q.source): q for q in readings}
    waiting = []
    for g in guards.quality:
        q = by_key.get((g.metric, g.source))
        what = f"{g.metric} ({'estimated' if g.source == 'estimated' else 'from labels'})"
        if q is None or q.candidate_n < g.min_labels or q.champion_n < g.min_labels:
            nc, nh = (q.candidate_n, q.champion_n) if q else (0, 0)
            waiting.append(f"{what}: {nc}/{g.min_labels} candidate and {nh}/{g.min_labels} champion "
                           f"{'labeled' if g.source == 'labels' else 'scored'} predictions")
            continue
        if q.candidate is None or q.champion is None:
            waiting.append(f"{what}: {q.note or 'not measurable yet'}")
            continue
        lower = g.metric in LOWER_IS_BETTER
        worse = q.candidate > q.champion + g.margin if lower else q.candidate < q.champion - g.margin
        if worse:
            return Decision("rollback", f"quality guard {what}: candidate {q.candidate:.4g} is worse than champion "
                                        f"{q.champion:.4g} by more than {g.margin:g} ({'lower' if lower else 'higher'}"
                                        f" is better; {q.candidate_n} vs {q.champion_n} predictions) at {pct}")
    if waiting:
        return Decision("hold", f"at {pct}: waiting for quality: {'; '.join(waiting)}")
    return None


def decide(*, steps: list[float], step_index: int, step_started_at: dt.datetime, step_seconds: float,
           guards: Guards, stats: dict[str, Any], now: dt.datetime,
           quality: list[QualityReading] | None = None) -> Decision:
    """What the controller does now with the candidate's stats for the current step.

    Guards are checked first and a breach rolls back at once: the error rate once ``min_requests``
    have been seen (or as soon as the errors alone exceed it), p95 latency once ``min_requests``
    have been seen, each monitoring metric as soon as it is reported, and each quality guard (the
    candidate's live metric against the champion's, ``quality``) once both have enough labeled
    predictions. A step passes when it has lasted ``step_seconds``, seen ``min_requests`` and every
    quality guard has passed; passing the last step promotes."""
    s = step_stats(stats)
    pct = f"{steps[step_index]:g}%"
    if s.requests and s.errors / max(s.requests, guards.min_requests) > guards.max_error_rate:
        return Decision("rollback", f"error rate {s.errors}/{s.requests} above {guards.max_error_rate:g} at {pct}")
    if guards.max_p95_ms is not None and s.requests >= guards.min_requests and s.p95_ms is not None \
            and s.p95_ms > guards.max_p95_ms:
        return Decision("rollback", f"p95 latency {s.p95_ms:g} ms above {guards.max_p95_ms:g} ms at {pct}")
    observed = stats.get("metrics") or {}
    for metric, threshold in guards.metrics.items():
        if metric in observed:
            sym, bound = parse_threshold(threshold)
            if not _OPS[sym](float(observed[metric]), bound):
                return Decision("rollback", f"metric {metric} = {observed[metric]:g} fails {threshold} at {pct}")
    verdict = quality_verdict(guards, quality or [], pct) if guards.quality else None
    if verdict is not None and verdict.action == "rollback":
        return verdict
    elapsed = (now - step_started_at).total_seconds()
    if s.requests >= guards.min_requests and elapsed >= step_seconds:
        if verdict is not None:  # the step is done but the quality guards have not spoken yet
            return verdict
        if step_index + 1 >= len(steps):
            return Decision("promote", f"all steps passed ({', '.join(f'{x:g}%' for x in steps)})")
        return Decision("advance", f"step {pct} passed: {count(s.requests, 'request')}, {count(s.errors, 'error')}")
    return Decision("hold", f"at {pct}: {s.requests}/{guards.min_requests} requests, {elapsed:.0f}/"
                            f"{step_seconds:g} s")


class RolloutController:
    """Ticks every running rollout every ``interval`` seconds (for ``mainsail server`` or a replica)."""

    def __init__(self, client: Any, interval: float = 2.0):
        self.client = client
        self.interval = interval
        self._loop = Periodic("mainsail-rollouts", self.tick_all, interval, "rollout tick")

    def tick_all(self) -> int:
        """One pass over running rollouts (of every project, when the client is in-process); returns how
        many were ticked."""
        n = 0
        for client in self._clients():
            for d in client.iter_deployments():
                if d.rollout is not None and d.rollout.state == "running":
                    client.tick_rollout(d.name)
                    n += 1
        return n

    def _clients(self) -> list[Any]:
        """The client, and in-process one per other project that holds deployments (same principal)."""
        backend = self.client._backend
        runtime = getattr(backend, "runtime", None)
        if runtime is None:
            return [self.client]
        from mainsail.client import Client
        from mainsail.client.backends import LocalBackend
        from mainsail.serving.service import deployment_projects

        with runtime.transaction(write=False) as ctx:
            projects = deployment_projects(ctx)
        out = [self.client]
        for project in projects:
            if project != backend.project:
                other = Client.__new__(Client)
                other._backend = LocalBackend.on_runtime(runtime, actor=backend.actor, principal=backend.principal,
                                                         project=project)
                out.append(other)
        return out

    def start(self) -> RolloutController:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(5)
