"""Pages of the model registry: models, a model's versions, aliases and their history, and a version
with its lineage graph (data → features → run → model → deployment), model card and stage changes."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mainsail.core.errors import InvalidInput, MainsailError
from mainsail.registry.schemas import Stage
from mainsail.ui import charts as ch
from mainsail.ui.web import client, form, me, page_router, render, seg

router = page_router()
VERDICTS = ("approve", "request_changes")
COLUMNS = {"dataset_version": 0, "git_commit": 0, "feature_view": 1, "experiment": 1, "run": 2, "model_version": 3,
           "deployment": 4}


def node_link(ntype: str, nid: str, label: str) -> str | None:
    """Where a lineage node's page is (None when it has none)."""
    key = nid.split(":", 1)[-1]
    if ntype == "dataset_version" and "@" in key:
        name, _, version = key.rpartition("@")
        return f"/datasets/{seg(name)}/{seg(version)}"
    pages = {"feature_view": "/features/views/", "run": "/runs/", "experiment": "/experiments/",
             "deployment": "/serving/"}
    return pages[ntype] + seg(key) if ntype in pages else None


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, cursor: str | None = None) -> Response:
    page = client(request).list_registered_models(cursor=cursor, limit=100)
    return render(request, "models.html", models=page.items, next_cursor=page.next_cursor)


@router.get("/models/{name}", response_class=HTMLResponse)
def model(request: Request, name: str, cursor: str | None = None) -> Response:
    """A model: its versions, where its aliases and stages point, and their history."""
    c = client(request)
    registered = c.get_registered_model(name)
    versions = c.list_model_versions(name, cursor=cursor, limit=100)
    history = list(reversed(c.model_history(name)))
    return render(request, "model.html", model=registered, versions=versions.items,
                  next_cursor=versions.next_cursor, history=history)


def _deployments_of(c: Any, version_id: str) -> list[tuple[str, str, float]]:
    """(deployment, variant, weight) of the deployments serving the version now."""
    return [(d.name, v.name, v.weight) for d in c.list_deployments(limit=1000).items for v in d.variants
            if v.version_id == version_id]


def lineage_chart(charts: ch.Charts, graph: Any, serving: list[tuple[str, str, float]], version_node: str
                  ) -> dict[str, Any] | None:
    """The lineage graph as a layered drawing: sources on the left, deployments on the right."""
    nodes = [(n.id, n.type, n.label) for n in graph.nodes]
    edges = [(e.source, e.target, e.relation) for e in graph.edges]
    for dep, variant, weight in serving:
        nodes.append((f"deployment:{dep}", "deployment", f"{dep} ({variant}, {weight:g}%)"))
        edges.append((version_node, f"deployment:{dep}", "served by"))
    if len(nodes) < 2:
        return None
    by_col: dict[int, list[str]] = {}
    for nid, ntype, _ in nodes:
        by_col.setdefault(COLUMNS.get(ntype, 2), []).append(nid)
    pos = {nid: (col, (i + 1) / (len(ids) + 1)) for col, ids in by_col.items() for i, nid in enumerate(ids)}
    ex: list[Any] = []
    ey: list[Any] = []
    for s, t, _ in edges:
        if s in pos and t in pos:
            ex += [pos[s][0], pos[t][0], None]
            ey += [pos[s][1], pos[t][1], None]
    data = [{"type": "scatter", "mode": "lines", "x": ex, "y": ey, "hoverinfo": "skip", "showlegend": False,
             "line": {"color": "#8c959f", "width": 2}}]
    for ntype in dict.fromkeys(t for _, t, _ in nodes):
        ids = [(nid, label) for nid, t, label in nodes if t == ntype]
        data.append({"type": "scatter", "mode": "markers+text", "name": ntype.replace("_", " "),
                     "x": [pos[i][0] for i, _ in ids], "y": [pos[i][1] for i, _ in ids],
                     "text": [label for _, label in ids], "textposition": "top center",
                     "marker": {"size": 16, "color": ch.PALETTE[list(COLUMNS).index(ntype) % len(ch.PALETTE)]
                                if ntype in COLUMNS else "#6c757d"}})
    return charts.add(data, xaxis={"visible": False, "range": [-0.6, max(p[0] for p in pos.values()) + 0.6]},
                      yaxis={"visible": False, "range": [0, 1.1]}, legend={"orientation": "h"},
                      title={"text": "lineage"}, height=360)


def _version_context(request: Request, name: str, version: int) -> dict[str, Any]:
    c = client(request)
    v = c.get_model_version(name, version)
    registered = c.get_registered_model(name)
    graph = c.model_lineage(name, version)
    serving = _deployments_of(c, v.id)
    charts = ch.Charts()
    lineage = lineage_chart(charts, graph, serving, next((n.id for n in graph.nodes if n.type == "model_version"),
                                                         v.id))
    links = [(n.type, n.label, node_link(n.type, n.id, n.label)) for n in graph.nodes if n.type != "model_version"]
    links += [("deployment", f"{d} ({variant}, {w:g}%)", node_link("deployment", f"deployment:{d}", d))
              for d, variant, w in serving]
    try:
        card = c.model_card(name, version)
    except MainsailError:
        card = None
    history = [t for t in reversed(c.model_history(name)) if t.version == version or t.kind == "alias"]
    ref = f"{name}/{version}"
    return {"v": v, "model": registered, "charts": charts, "lineage": lineage, "links": links, "serving": serving,
            "card": card, "history": history, "stages": [s.value for s in Stage],
            "reviews": c.list_reviews("model_version", ref, limit=50).items, "approvals": c.get_approvals(
                "model_version", ref), "policy": c.get_review_policy(), "me": me(request), "problem": None}


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: int, message: str | None = None) -> Response:
    """A version: stage and aliases (with forms to move them), reviews and where the version stands
    against the approval policy, metrics, lineage and model card."""
    return render(request, "version.html", message=message, **_version_context(request, name, version))


def _refused(request: Request, name: str, version: int, exc: MainsailError) -> Response:
    """A refused form shown on the version's page, its reason boxed above the forms (e.g. the 409
    ``approvals_required``: how many approvals are missing and whose)."""
    try:
        context = _version_context(request, name, version)
    except MainsailError:
        return render(request, "error.html", status=exc.status, error=exc)
    context["problem"] = exc
    return render(request, "version.html", status=exc.status, message=None, **context)


@router.post("/models/{name}/{version}/stage")
async def change_stage(request: Request, name: str, version: int) -> Response:
    """The stage form: move the version (optionally archiving the versions in that stage)."""
    fields = await form(request)
    c = client(request)
    try:
        v = await _in_thread(c.set_model_stage, name, version, fields.get("stage", ""),
                             archive_existing=fields.get("archive_existing") == "on",
                             reason=fields.get("reason") or None)
        message = f"moved to {v.stage}"
    except MainsailError as exc:
        return await _in_thread(_refused, request, name, version, exc)
    return RedirectResponse(f"/models/{seg(name)}/{version}?message={seg(message)}", status_code=303)


@router.post("/models/{name}/{version}/alias")
async def set_alias(request: Request, name: str, version: int) -> Response:
    """The alias form: point an alias (e.g. ``champion``) at this version."""
    fields = await form(request)
    c = client(request)
    try:
        await _in_thread(c.set_model_alias, name, fields.get("alias", ""), version, fields.get("reason") or None)
    except MainsailError as exc:
        return await _in_thread(_refused, request, name, version, exc)
    message = f"alias {fields.get('alias', '')} → v{version}"
    return RedirectResponse(f"/models/{seg(name)}/{version}?message={seg(message)}", status_code=303)


def reviewers(text: str) -> list[str]:
    """User names separated by commas, spaces or new lines (``@`` allowed)."""
    names = [n.strip().lstrip("@") for n in re.split(r"[,\s]+", text) if n.strip().lstrip("@")]
    if not names:
        raise InvalidInput("reviewers: name at least one user (e.g. alice, bob)",
                           errors=[{"loc": ["form", "reviewers"], "msg": "at least one user name"}])
    return list(dict.fromkeys(names))


@router.post("/models/{name}/{version}/reviews")
async def ask_review(request: Request, name: str, version: int) -> Response:
    """The review request form: ask named users to review this version."""
    fields = await form(request)
    c = client(request)
    try:
        r = await _in_thread(lambda: c.request_review("model_version", f"{name}/{version}",
                                                      reviewers(fields.get("reviewers", "")),
                                                      fields.get("comment") or None))
    except MainsailError as exc:
        return await _in_thread(_refused, request, name, version, exc)
    message = f"review asked of {', '.join(r.reviewers)}"
    return RedirectResponse(f"/models/{seg(name)}/{version}?message={seg(message)}#reviews", status_code=303)


@router.post("/models/{name}/{version}/reviews/{review_id}/respond")
async def respond(request: Request, name: str, version: int, review_id: int) -> Response:
    """A reviewer's answer: approve, or request changes (with an optional comment)."""
    fields = await form(request)
    c = client(request)
    verdict = fields.get("verdict", "")
    try:
        if verdict not in VERDICTS:
            raise InvalidInput(f"verdict: one of {', '.join(VERDICTS)}, not {verdict[:40]!r}",
                               errors=[{"loc": ["form", "verdict"], "msg": "approve or request_changes"}])
        answer = c.approve_review if verdict == "approve" else c.request_changes
        await _in_thread(answer, review_id, fields.get("comment") or None)
    except MainsailError as exc:
        return await _in_thread(_refused, request, name, version, exc)
    message = "approved" if verdict == "approve" else "changes requested"
    return RedirectResponse(f"/models/{seg(name)}/{version}?message={seg(message)}#reviews", status_code=303)


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)
