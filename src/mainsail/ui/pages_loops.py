"""The closed-loop view: per loop policy, its latest drift → retrain → canary episode as a timeline —
what triggered it (the drift or alert, when, which features), the retrain pipeline run and its state,
the gate, the canary's steps, and whether the candidate was promoted or rolled back — kept live by htmx
while the episode runs. Data from the loops service, through the Client."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from mainsail.core.errors import InvalidInput, not_found
from mainsail.ui.web import client, page_router, render

router = page_router()
LABELS = {"detected": "Triggered", "retrain_started": "Retrain started", "retrain_finished": "Retrain finished",
          "retrain_failed": "Retrain failed", "gate_passed": "Gate passed", "gate_failed": "Gate failed",
          "registered": "Candidate registered", "canary_started": "Canary started", "canary_step": "Canary step",
          "promoted": "Promoted", "rolled_back": "Rolled back", "failed": "Failed"}


def phases(run: Any) -> list[tuple[str, str]]:
    """(phase, state) along trigger → retrain → gate → canary → outcome; a state is done, failed,
    current, pending (still to come) or skipped (the episode ended before it)."""
    seen = {s.step for s in run.steps}
    running = run.state == "running"
    later = "pending" if running else "skipped"

    def state(failed: bool, done: bool, current: bool) -> str:
        return "failed" if failed else "done" if done else "current" if current and running else later

    retrain = state("retrain_failed" in seen, "retrain_finished" in seen, run.stage == "retraining")
    gate = state("gate_failed" in seen, "gate_passed" in seen,
                 run.stage == "retraining" and "retrain_finished" in seen)
    canary = state("rolled_back" in seen, "promoted" in seen, run.stage == "canary")
    outcome = {"promoted": "done", "running": "pending"}.get(run.state, "failed")
    return [("trigger", "done"), ("retrain", retrain), ("gate", gate), ("canary", canary), ("outcome", outcome)]


def _loops_here(request: Request) -> tuple[Any, str | None]:
    """The Client, and why this project has no loops (None when it may have some)."""
    c = client(request)
    try:
        c.list_loops()
    except InvalidInput as exc:
        if exc.code == "project_not_supported":
            return c, exc.detail
        raise
    return c, None


@router.get("/loops", response_class=HTMLResponse)
def loops(request: Request) -> Response:
    """Every loop policy with its latest episode as a timeline."""
    c, unsupported = _loops_here(request)
    policies = [] if unsupported else c.list_loops()
    latest = {p.name: next(iter(c.list_loop_runs(p.name, limit=1).items), None) for p in policies}
    return render(request, "loops.html", policies=policies, latest=latest, unsupported=unsupported,
                  phases=phases, labels=LABELS)


@router.get("/loops/{name}", response_class=HTMLResponse)
def loop(request: Request, name: str, run: str | None = Query(None, max_length=64)) -> Response:
    """A loop policy: its episodes, and the timeline of one (the latest by default)."""
    c, unsupported = _loops_here(request)
    if unsupported:
        return render(request, "loops.html", status=404, policies=[], latest={}, unsupported=unsupported,
                      phases=phases, labels=LABELS)
    policy = c.get_loop(name)
    runs = c.list_loop_runs(name, limit=30).items
    shown = c.get_loop_run(run) if run else next(iter(runs), None)
    if shown is not None and shown.policy != policy.name:
        raise not_found("loop run", run)
    return render(request, "loop.html", policy=policy, runs=runs, r=shown, phases=phases, labels=LABELS)


@router.get("/loop-runs/{run_id}/timeline", response_class=HTMLResponse)
def timeline(request: Request, run_id: str) -> Response:
    """The htmx fragment: an episode's timeline; it stops polling once the episode has ended."""
    return render(request, "_loop_run.html", r=client(request).get_loop_run(run_id), phases=phases, labels=LABELS)
