"""Loop methods of the Client: closed-loop policies and their runs (episodes with recorded steps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:  # annotations only: importing the Client does not build these models
    from mainsail.loops.schemas import LoopPolicy, LoopRun

ops = LazyOpSet("mainsail.loops.ops")


class LoopMethods:
    _backend: Backend

    def create_loop(self, name: str, *, deployment: str, pipeline: str, trigger: str = "drift",
                    alert_rule: str | None = None, params: Mapping[str, Any] | None = None,
                    candidate_task: str | None = None, gate: Mapping[str, str] | None = None,
                    metric: str = "roc_auc", source: str = "labels", margin: float = 0.0, min_labels: int = 20,
                    quality: Sequence[Mapping[str, Any]] | None = None, steps: Sequence[float] = (10, 50, 100),
                    step_seconds: float = 60.0, min_requests: int = 20, max_error_rate: float = 0.05,
                    max_p95_ms: float | None = None, cooldown: float = 600.0, retrain_timeout: float = 3600.0,
                    description: str | None = None, enabled: bool = True, replace: bool = False) -> LoopPolicy:
        """On drift detected for ``deployment`` (or, ``trigger="alert"``, an alert of ``alert_rule``)
        run ``pipeline`` with ``params``; the version it registers passes ``gate`` and is canaried
        through ``steps`` with a quality guard (``metric`` from ``source`` "labels" or "estimated", no
        worse than the champion's by ``margin`` once each has ``min_labels``; ``quality`` gives several),
        then promoted or rolled back with the reason. ``cooldown`` seconds after an episode, detections
        are counted, not acted on. ``replace=True`` updates an existing policy of that name."""
        guards: dict[str, Any] = {"min_requests": min_requests, "max_error_rate": max_error_rate,
                                  "max_p95_ms": max_p95_ms,
                                  "quality": [dict(q) for q in quality] if quality is not None else
                                  [{"metric": metric, "source": source, "margin": margin, "min_labels": min_labels}]}
        body = {"name": name, "deployment": deployment, "pipeline": pipeline, "trigger": trigger,
                "alert_rule": alert_rule, "params": dict(params or {}), "candidate_task": candidate_task,
                "gate": dict(gate or {}), "canary": {"steps": list(steps), "step_seconds": step_seconds,
                                                     "guards": guards},
                "cooldown_seconds": cooldown, "retrain_timeout_seconds": retrain_timeout, "description": description,
                "enabled": enabled}
        if replace and any(p.name == name for p in self.list_loops()):
            return self._backend.call(ops.update_loop_policy, {"name": name, "body": body})
        return self._backend.call(ops.create_loop_policy, {"body": body})

    def list_loops(self, deployment: str | None = None) -> list[LoopPolicy]:
        return self._backend.call(ops.list_loop_policies, {"deployment": deployment})

    def get_loop(self, name: str) -> LoopPolicy:
        return self._backend.call(ops.get_loop_policy, {"name": name})

    def delete_loop(self, name: str) -> None:
        self._backend.call(ops.delete_loop_policy, {"name": name})

    def list_loop_runs(self, policy: str | None = None, *, deployment: str | None = None, state: str | None = None,
                       cursor: str | None = None, limit: int = 100) -> Page[LoopRun]:
        """Episodes newest first, each with its steps (time and outcome of each)."""
        return self._backend.call(ops.list_loop_runs, {"policy": policy, "deployment": deployment, "state": state,
                                                       "cursor": cursor, "limit": limit})

    def get_loop_run(self, id: str) -> LoopRun:
        return self._backend.call(ops.get_loop_run, {"id": id})

    def tick_loops(self) -> int:
        """Move running episodes on now (a server does it every second)."""
        return self._backend.call(ops.tick_loop_runs, {})
