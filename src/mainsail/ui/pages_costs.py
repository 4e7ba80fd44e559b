"""The costs page: what the project spent over a period grouped by project, model, deployment or
pipeline (a chart and a table), its budgets (spent so far in each budget's period against its limit)
and the recommendations with their evidence and estimated monthly saving. Everything comes from the
costs service's public report functions, through the Client."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from mainsail.core.errors import InvalidInput
from mainsail.ui import charts as ch
from mainsail.ui.web import client, page_router, render

router = page_router()
GROUPS = ("project", "model", "deployment", "pipeline", "task", "run", "kind")
PERIODS = (1, 7, 30, 90, 365)
CHART_BARS = 20
FRESH = dt.timedelta(minutes=10)  # a server checks budgets every 5 minutes (MAINSAIL_BUDGET_CHECK_INTERVAL)


def budget_rows(c: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """Each budget with the project's cost since its period began: the server's last budget check when it
    is fresh (within :data:`FRESH` and this period), else one cost report per period kind."""
    from mainsail.costs.service import period_start

    budgets = c.list_budgets()
    spent: dict[str, float] = {}
    rows = []
    for b in budgets:
        since = period_start(b.period, now)
        checked = b.last_checked_at
        if b.spent is not None and checked is not None and checked >= since and now - checked <= FRESH:
            used, as_of = b.spent, checked
        else:
            if b.period not in spent:
                spent[b.period] = c.cost_report("project", since=since, until=now + dt.timedelta(microseconds=1)).total
            used, as_of = spent[b.period], now
        fraction = used / b.amount if b.amount else 0.0
        rows.append({"budget": b, "spent": used, "fraction": fraction, "since": since, "as_of": as_of,
                     "reached": [t for t in b.thresholds if fraction >= t],
                     "level": "over" if fraction >= 1 else "near" if fraction >= min(b.thresholds) else "ok"})
    return rows


def evidence(key: str, value: Any) -> str:
    """An evidence value as read: bytes as sizes, numbers to 4 digits."""
    from mainsail.ui.web import _num, _size

    if isinstance(value, int | float) and not isinstance(value, bool) and "memory" in key and value >= 1024:
        return _size(int(value))
    return _num(value)


def _chart(charts: ch.Charts, report: Any) -> dict[str, Any] | None:
    lines = [ln for ln in report.lines if ln.cost > 0][:CHART_BARS]
    if not lines:
        return None
    labels = [ln.key or "(none)" for ln in reversed(lines)]
    data = [{"type": "bar", "orientation": "h", "name": "compute", "y": labels,
             "x": [round(ln.compute_cost, 6) for ln in reversed(lines)], "marker": {"color": ch.PALETTE[0]}}]
    if any(ln.storage_cost for ln in lines):
        data.append({"type": "bar", "orientation": "h", "name": "storage", "y": labels,
                     "x": [round(ln.storage_cost, 6) for ln in reversed(lines)], "marker": {"color": ch.PALETTE[3]}})
    return charts.add(data, barmode="stack", height=max(320, 80 + 28 * len(lines)), legend={"orientation": "h"},
                      title={"text": f"cost by {report.by} ({report.currency})"},
                      xaxis={"title": {"text": report.currency}}, yaxis={"automargin": True})


@router.get("/costs", response_class=HTMLResponse)
def costs(request: Request, by: str = Query("project", max_length=20), days: int = Query(30, ge=1, le=366),
          storage: bool = False) -> Response:
    """Cost over the last ``days`` days grouped ``by`` project, model, deployment or pipeline (with
    ``storage``, by project: what the artifact store holds, a scan of the store); budgets; recommendations."""
    if by not in GROUPS:
        raise InvalidInput(f"by: one of {', '.join(GROUPS)}, not {by[:20]!r}",
                           errors=[{"loc": ["query", "by"], "msg": f"one of {', '.join(GROUPS)}"}])
    c = client(request)
    now = dt.datetime.now(dt.UTC)
    report = c.cost_report(by, since=now - dt.timedelta(days=days), until=now,
                           storage=storage and by == "project")
    charts = ch.Charts()
    chart = _chart(charts, report)
    return render(request, "costs.html", report=report, charts=charts, chart=chart, by=by, days=days, storage=storage,
                  groups=GROUPS, periods=sorted({*PERIODS, days}), budgets=budget_rows(c, now))


@router.get("/costs/recommendations", response_class=HTMLResponse)
def recommendations(request: Request, days: int = Query(30, ge=1, le=366)) -> Response:
    """The htmx fragment of the recommendations (fetched once the page has loaded: finding archivable
    artifacts scans the artifact store, which the page itself does not wait for)."""
    recs = client(request).cost_recommendations(days=days)
    return render(request, "_cost_recs.html", recs=recs, days=days, evidence=evidence,
                  saving=sum(r.estimated_saving for r in recs))
