"""Pages of data and features: datasets and their versions, profiles (histograms, nulls, top values),
validation results with failing rows, the diff of two versions; feature entities, views (with their
statistics and freshness) and services."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from mainsail.core.errors import MainsailError
from mainsail.ui import charts as ch
from mainsail.ui.web import client, page_router, render

router = page_router()
MAX_PROFILE_CHARTS = 40


@router.get("/datasets", response_class=HTMLResponse)
def datasets(request: Request, cursor: str | None = None) -> Response:
    page = client(request).list_datasets(cursor=cursor, limit=100)
    return render(request, "datasets.html", datasets=page.items, next_cursor=page.next_cursor)


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset(request: Request, name: str, cursor: str | None = None) -> Response:
    """A dataset: its versions (newest first) and a form to diff two of them."""
    c = client(request)
    ds = c.get_dataset(name)
    versions = c.list_dataset_versions(name, cursor=cursor, limit=100)
    return render(request, "dataset.html", ds=ds, versions=versions.items, next_cursor=versions.next_cursor)


def _profile_charts(charts: ch.Charts, profile: Any) -> list[dict[str, Any]]:
    """Per column: its histogram (numbers, times) or its top values, and the nulls chart of all columns."""
    out = []
    for col in profile.columns[:MAX_PROFILE_CHARTS]:
        chart = None
        if col.histogram and col.histogram.counts:
            e = col.histogram.edges
            mids = [(a + b) / 2 for a, b in zip(e[:-1], e[1:], strict=False)]
            chart = charts.add(ch.bars(mids, col.histogram.counts, col.name), title={"text": col.name},
                               height=240, bargap=0.02, xaxis={"title": {"text": col.name}},
                               yaxis={"title": {"text": "rows"}})
        elif col.top_values:
            tops = list(reversed(col.top_values[:10]))
            chart = charts.add(ch.bars([t.value for t in tops], [t.count for t in tops], col.name, horizontal=True),
                               title={"text": f"{col.name}: top values"}, height=240,
                               margin={"l": 120, "r": 20, "t": 40, "b": 40})
        out.append({"col": col, "chart": chart})
    return out


@router.get("/datasets/{name}/diff", response_class=HTMLResponse)
def diff(request: Request, name: str, base: str = Query(..., max_length=64),
         other: str = Query(..., max_length=64)) -> Response:
    """What changed from ``base`` to ``other``: columns added, removed, retyped, and each column's shift."""
    c = client(request)
    ds = c.get_dataset(name)
    d = c.diff_dataset_versions(name, base, other)
    return render(request, "dataset_diff.html", ds=ds, d=d)


@router.get("/datasets/{name}/{version}", response_class=HTMLResponse)
def dataset_version(request: Request, name: str, version: str) -> Response:
    """A version: its schema, profile charts and validation results with failing rows."""
    c = client(request)
    v = c.get_dataset_version(name, version)
    charts = ch.Charts()
    profile, columns = None, []
    if v.has_profile:
        profile = c.call(_data_ops().get_profile, name=name, version=v.id)
        columns = _profile_charts(charts, profile)
        nulls = [(col.name, col.null_fraction) for col in profile.columns]
        null_chart = charts.add(ch.bars([n for n, _ in nulls], [f * 100 for _, f in nulls], "nulls"),
                                title={"text": "null values per column (%)"}, height=260,
                                yaxis={"title": {"text": "% null"}, "rangemode": "tozero"})
    else:
        null_chart = None
    validations = c.list_dataset_validations(name, v.id)
    return render(request, "dataset_version.html", v=v, profile=profile, columns=columns, charts=charts,
                  null_chart=null_chart, validations=validations)


def _data_ops() -> Any:
    from mainsail.data.ops import ops

    return ops


@router.get("/features", response_class=HTMLResponse)
def features(request: Request) -> Response:
    """Entities, feature views (with freshness) and feature services."""
    c = client(request)
    sets = c.list_feature_sets()
    stats = {}
    for view in sets.views:
        try:
            stats[view.name] = c.feature_view_stats(view.name)
        except MainsailError:  # a view whose source cannot be read still lists
            stats[view.name] = None
    return render(request, "features.html", sets=sets, stats=stats)


@router.get("/features/views/{name}", response_class=HTMLResponse)
def feature_view(request: Request, name: str) -> Response:
    """One feature view: its definition, versions, statistics and freshness."""
    c = client(request)
    view = c.get_feature_definition("views", name)
    versions = c.list_feature_definition_versions("views", name)
    try:
        stats, stats_error = c.feature_view_stats(name), None
    except MainsailError as exc:
        stats, stats_error = None, exc.detail
    services = [s for s in c.list_feature_sets().services
                if any(f == name or f.startswith(f"{name}:") for f in s.spec.get("features", []))]
    return render(request, "feature_view.html", view=view, versions=versions, stats=stats,
                  stats_error=stats_error, services=services)
