"""Pages of monitoring and alerts: the monitors; a monitor with drift per feature over time, data quality,
model metrics measured and estimated (marked as such) and its runs; the alerts with forms to acknowledge
them and to silence their notifications, and the silences in force."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mainsail.core.errors import InvalidInput, MainsailError
from mainsail.ui import charts as ch
from mainsail.ui.web import client, form, page_router, render, seg

router = page_router()
PERFORMANCE = ("performance", "estimated_performance")
STATES = ("open", "firing", "pending", "resolved", "all")
MAX_SERIES = 24  # drift lines on one chart (the features furthest past their threshold first)
CLIP = 1000.0


@router.get("/monitoring", response_class=HTMLResponse)
def monitors(request: Request) -> Response:
    """Every monitor with its latest run, and how many alerts are open."""
    c = client(request)
    items = c.list_monitors(limit=500).items
    latest = {m.name: next(iter(c.list_monitor_runs(m.name, limit=1).items), None) for m in items}
    open_alerts = c.list_alerts("open", limit=500).items
    return render(request, "monitors.html", monitors=items, latest=latest, open_alerts=len(open_alerts))


def _key(r: Any) -> str:
    parts = [r.feature or "(all)", r.test or ""]
    return " · ".join(p for p in parts if p) + (f" [{r.variant}]" if r.variant else "") + (
        " (estimated)" if r.estimated else "")


def _series(results: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in results:
        out.setdefault(_key(r), []).append(r)
    return out


def ratio(r: Any) -> float | None:
    """How far a drift result is past its threshold, the same way for every test (above 1: drift): the
    threshold over the p-value for ks, chi2 and z (drift when the p-value is below it), the distance over
    the threshold for the others; clipped to [0.001, 1000] for a log axis."""
    from mainsail.monitoring.drift import P_VALUE_TESTS

    if r.value is None or not r.threshold or r.value != r.value:
        return None
    if r.test not in P_VALUE_TESTS:
        return min(max(r.value / r.threshold, 1 / CLIP), CLIP)
    return min(max(r.threshold / r.value, 1 / CLIP), CLIP) if r.value > 0 else CLIP


def _drift_chart(charts: ch.Charts, drift: list[Any]) -> dict[str, Any] | None:
    by = _series(drift)
    if not by:
        return None
    worst = sorted(by, key=lambda k: -(ratio(by[k][-1]) or 0))[:MAX_SERIES]
    data = []
    for i, k in enumerate(sorted(worst)):
        rs = by[k]
        data.append({"type": "scatter", "mode": "lines+markers", "name": k,
                     "x": [r.window_end.isoformat() for r in rs], "y": [ratio(r) for r in rs],
                     "text": [f"{r.test} = {r.value:.4g} (threshold {r.threshold:g}): {r.status}"
                              if r.value is not None and r.threshold is not None else r.status for r in rs],
                     "hovertemplate": "%{x}<br>%{text}<extra>%{fullData.name}</extra>",
                     "line": {"color": ch.PALETTE[i % len(ch.PALETTE)]},
                     "marker": {"size": [11 if r.status == "drift" else 6 for r in rs],
                                "symbol": ["x" if r.status == "drift" else "circle" for r in rs]}})
    line = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
            "line": {"color": "#a40e26", "dash": "dash", "width": 1}}
    return charts.add(data, title={"text": "drift per feature (× its threshold; above 1: drift)"}, height=380,
                      xaxis={"title": {"text": "window end (UTC)"}}, legend={"orientation": "h"}, shapes=[line],
                      yaxis={"type": "log", "title": {"text": "× threshold (log)"}})


def _performance_chart(charts: ch.Charts, perf: list[Any]) -> dict[str, Any] | None:
    by: dict[tuple[str, str, bool], list[Any]] = {}
    for r in perf:
        by.setdefault((r.test or r.feature or "metric", r.variant or "", r.estimated), []).append(r)
    if not by:
        return None
    data = []
    for i, ((metric, variant, estimated), rs) in enumerate(sorted(by.items())):
        name = metric + (f" [{variant}]" if variant else "") + (" (estimated)" if estimated else " (measured)")
        data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                     "x": [r.window_end.isoformat() for r in rs], "y": ch.clean([r.value for r in rs]),
                     "line": {"color": ch.PALETTE[(i // 2) % len(ch.PALETTE)], "dash": "dash" if estimated else "solid"}})
    return charts.add(data, title={"text": "model metrics (dashed: estimated)"}, height=340,
                      xaxis={"title": {"text": "window end (UTC)"}}, legend={"orientation": "h"})


def _latest(results: list[Any]) -> list[Any]:
    """The results of the newest window of each series."""
    by = _series(results)
    return [by[k][-1] for k in sorted(by)]


@router.get("/monitoring/{name}", response_class=HTMLResponse)
def monitor_page(request: Request, name: str, days: int = Query(7, ge=1, le=366),
                 message: str | None = Query(None, max_length=300)) -> Response:
    """A monitor: drift per feature over time, data quality, model metrics (measured and estimated) and
    its runs, over the last ``days`` days."""
    c = client(request)
    m = c.get_monitor(name)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    results = sorted(c.monitor_results(name, start=start, limit=10_000), key=lambda r: r.window_end)
    drift = [r for r in results if r.kind == "drift"]
    charts = ch.Charts()
    drift_chart = _drift_chart(charts, drift)
    perf = [r for r in results if r.kind in PERFORMANCE]
    perf_chart = _performance_chart(charts, perf)
    quality = _latest([r for r in results if r.kind == "quality"])
    breaches = {}
    for r in results:
        if r.kind == "quality":
            breaches.setdefault(r.window_end, 0)
            breaches[r.window_end] += r.status == "breach"
    runs = c.list_monitor_runs(name, limit=20).items
    return render(request, "monitor.html", m=m, charts=charts, drift_chart=drift_chart, perf_chart=perf_chart,
                  drift=_latest(drift), multivariate=_latest([r for r in results if r.kind == "multivariate_drift"]),
                  quality=quality, breaches=sorted(breaches.items()), perf=_latest(perf), runs=runs, days=days,
                  windows=len({r.window_end for r in results}), message=message)


@router.post("/monitoring/{name}/run")
async def run_monitor(request: Request, name: str) -> Response:
    """The "run now" button: check the windows completed since the last run."""
    await form(request)
    try:
        run = await run_in_threadpool(client(request).run_monitor, name)
    except MainsailError as exc:
        return render(request, "error.html", status=exc.status, error=exc)
    message = f"run {run.status}: {run.windows} window(s), {run.results} result(s)"
    return RedirectResponse(f"/monitoring/{seg(name)}?message={seg(message)}", status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, state: str = Query("open", max_length=20),
           message: str | None = Query(None, max_length=300)) -> Response:
    """Alerts (open ones by default) with acknowledge and silence forms; silences in force; the rules."""
    if state not in STATES:
        raise InvalidInput(f"state: one of {', '.join(STATES)}, not {state[:20]!r}",
                           errors=[{"loc": ["query", "state"], "msg": f"one of {', '.join(STATES)}"}])
    c = client(request)
    items = c.list_alerts(state, limit=200).items
    return render(request, "alerts.html", alerts=items, state=state, states=STATES, silences=c.list_silences(),
                  rules=c.list_alert_rules(), message=message)


@router.post("/alerts/{alert_id}/ack")
async def ack(request: Request, alert_id: str) -> Response:
    await form(request)
    try:
        a = await run_in_threadpool(client(request).ack_alert, alert_id)
    except MainsailError as exc:
        return render(request, "error.html", status=exc.status, error=exc)
    return RedirectResponse(f"/alerts?message={seg(f'acknowledged {a.rule} ({a.id[:8]})')}", status_code=303)


def matchers(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by commas or new lines (values may be globs)."""
    out: dict[str, str] = {}
    for part in re.split(r"[,\n]", text):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InvalidInput(f"matchers: {part.strip()[:100]!r} is not key=value",
                               errors=[{"loc": ["form", "matchers"], "msg": "key=value pairs, comma-separated"}])
        out[key.strip()] = value.strip()
    if not out:
        raise InvalidInput("matchers: give at least one key=value (e.g. deployment=churn)",
                           errors=[{"loc": ["form", "matchers"], "msg": "at least one key=value"}])
    return out


@router.post("/alerts/silences")
async def silence(request: Request) -> Response:
    """Mute the notifications of the alerts matching ``matchers`` for ``duration`` ('2h')."""
    fields = await form(request)
    try:
        s = await run_in_threadpool(client(request).silence_alerts, matchers(fields.get("matchers", "")),
                                    duration=fields.get("duration") or "2h", comment=fields.get("comment") or None)
    except MainsailError as exc:
        return render(request, "error.html", status=exc.status, error=exc)
    what = ", ".join(f"{k}={v}" for k, v in s.matchers.items())
    return RedirectResponse(f"/alerts?message={seg(f'silenced {what} until {s.ends_at:%Y-%m-%d %H:%M} UTC')}",
                            status_code=303)


@router.post("/alerts/silences/{silence_id}/expire")
async def expire(request: Request, silence_id: str) -> Response:
    await form(request)
    try:
        await run_in_threadpool(client(request).expire_silence, silence_id)
    except MainsailError as exc:
        return render(request, "error.html", status=exc.status, error=exc)
    return RedirectResponse(f"/alerts?message={seg('silence expired')}", status_code=303)
