"""What collaboration is about: objects of other domains, named by kind and a reference, resolved through
their own services (imported when used, so importing this domain loads no other), and the object each
event is about."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mainsail.core.errors import InvalidInput, NotFound, not_found
from mainsail.core.events import Event
from mainsail.core.runtime import Ctx

DATASET_VERSION = re.compile(r"^(latest|[0-9a-f]{4,64})$")


@dataclass(frozen=True)
class Obj:
    kind: str
    key: str  # stable: a name, an id, or dataset@version-id (what events name)
    label: str
    author: str | None = None  # who made it (a version's author, for the approval policy)
    parent_kind: str | None = None  # a version's model, a dataset version's dataset
    parent_key: str | None = None

    def event_payload(self, project: str) -> dict[str, Any]:
        """What collaboration events say about their object (``of_event`` reads it back)."""
        return {"project": project, "object_kind": self.kind, "object_key": self.key, "label": self.label,
                "parent_kind": self.parent_kind, "parent_key": self.parent_key}


def resolve(ctx: Ctx, kind: str, ref: str, where: str = "body") -> Obj:
    """The object ``kind`` ``ref`` names; a 404 naming it when it does not exist (``where`` the reference
    was sent, for a 422's location: body, query or path)."""
    obj = _resolve(ctx, kind, ref.strip(), where)
    return Obj(obj.kind, obj.key[:400], obj.label[:400], obj.author, obj.parent_kind,
               obj.parent_key[:400] if obj.parent_key else None)


def _resolve(ctx: Ctx, kind: str, ref: str, where: str) -> Obj:
    if kind == "run":
        from mainsail.tracking import service as tracking

        run = tracking.get_run(ctx, ref)
        return Obj(kind, run.id, f"run {run.name or run.id}", run.created_by)
    if kind == "model":
        from mainsail.registry import service as registry

        return Obj(kind, registry.get_model(ctx, ref).name, f"model {ref}")
    if kind == "model_version":
        return _model_version(ctx, ref)
    if kind == "dataset":
        from mainsail.data import service as data

        return Obj(kind, data.get_dataset(ctx, ref).name, f"dataset {ref}")
    if kind == "dataset_version":
        from mainsail.data import service as data

        name, sep, version = ref.rpartition("@")
        if not sep or not name or not DATASET_VERSION.match(version.lower()):
            raise InvalidInput(f"dataset version {ref!r}: expected DATASET@VERSION (a version id or 'latest')",
                               errors=[{"loc": [where, "ref"], "msg": "expected DATASET@VERSION"}])
        v = data.get_version(ctx, name, version.lower())
        return Obj(kind, f"{name}@{v.id}", f"dataset {name} v{v.number}", v.created_by, "dataset", name)
    if kind == "pipeline":
        from mainsail.pipelines import service as pipelines

        return Obj(kind, pipelines.get_pipeline(ctx, ref).name, f"pipeline {ref}")
    if kind == "deployment":
        from mainsail.serving import service as serving

        return Obj(kind, serving.get_deployment(ctx, ref).name, f"deployment {ref}")
    if kind == "alert":
        from mainsail.alerts import service as alerts

        alert = alerts.get_alert(ctx, ref)
        return Obj(kind, alert.id, f"alert {alert.rule}")
    if kind == "monitor":
        from mainsail.monitoring import service as monitoring

        return Obj(kind, monitoring.get_monitor(ctx, ref).name, f"monitor {ref}")
    if kind == "project":
        if ref != ctx.project:
            raise InvalidInput(f"watch project {ref!r} from inside it (the call addresses project {ctx.project!r})",
                               errors=[{"loc": [where, "ref"], "msg": f"must be the call's project {ctx.project!r}"}])
        return Obj(kind, ref, f"project {ref}")
    raise InvalidInput(f"unknown object kind {kind!r}", errors=[{"loc": [where, "kind"], "msg": "unknown kind"}])


def _model_version(ctx: Ctx, ref: str) -> Obj:
    """``name/3``, ``name@alias`` or a version id."""
    from mainsail.registry import service as registry

    name, sep, number = ref.rpartition("/")
    if sep:
        if not number.isdigit() or not name:
            raise not_found("model version", ref)
        v = registry.get_version_by_number(ctx, name, int(number))
    elif "@" in ref:
        name, _, alias = ref.partition("@")
        v = registry.get_version_by_alias(ctx, name, alias)
    else:
        try:
            v = registry.get_version(ctx, ref)
        except NotFound:
            raise NotFound(f"model version {ref!r} not found (name one as MODEL/VERSION, MODEL@ALIAS or its id)",
                           code="model_version_not_found") from None
    return Obj("model_version", v.id, f"{v.name} v{v.version}", v.created_by, "model", v.name)


@dataclass(frozen=True)
class Subject:
    """The object an event is about, and that object's parent (a version's model, a run's pipeline)."""

    kind: str
    key: str
    label: str | None
    parent_kind: str | None = None
    parent_key: str | None = None


def _s(v: Any) -> str | None:
    return None if v is None else str(v)[:400]


def of_event(ev: Event) -> Subject:
    """The object ``ev`` is about, from its type and payload (see each domain's ``emit`` calls)."""
    t, p, subject = ev.type, ev.payload or {}, ev.subject[:400]
    if t.startswith(("comment.", "review.")):
        return Subject(_s(p.get("object_kind")) or "other", _s(p.get("object_key")) or subject, _s(p.get("label")),
                       _s(p.get("parent_kind")), _s(p.get("parent_key")))
    if t.startswith("run."):
        return Subject("run", subject, _s(p.get("name")))
    if t.startswith("experiment."):
        return Subject("experiment", subject, _s(p.get("name")))
    if t.startswith("registered_model."):
        return Subject("model", _s(p.get("name")) or subject, _s(p.get("name")))
    if t.startswith("model_version.") or t in ("stage.changed", "alias.moved", "model_card.updated"):
        name = _s(p.get("name"))
        label = f"{name} v{p.get('version') if t != 'alias.moved' else p.get('to') or p.get('from')}" if name else None
        return Subject("model_version", subject, label, "model" if name else None, name)
    if t.startswith("dataset."):
        if t == "dataset.created":
            return Subject("dataset", _s(p.get("name")) or subject, _s(p.get("name")))
        ds = _s(p.get("dataset"))
        number = p.get("number")
        label = f"{ds} v{number}" if number is not None else f"{ds}@{str(p.get('version') or '')[:12]}"
        return Subject("dataset_version", subject, label if ds else None,
                       "dataset" if ds else None, ds)
    if t.startswith("pipeline."):
        return Subject("pipeline", _s(p.get("name")) or subject, _s(p.get("name")))
    if t.startswith("pipeline_run."):
        pipe = _s(p.get("pipeline"))
        return Subject("pipeline_run", subject, f"{pipe} run {subject[:12]}" if pipe else None,
                       "pipeline" if pipe else None, pipe)
    if t.startswith(("deployment.", "rollout.")):
        name = _s(p.get("deployment")) or subject
        return Subject("deployment", name, name)
    if t.startswith("alert."):
        labels = p.get("labels") if isinstance(p.get("labels"), dict) else {}
        dep = _s(labels.get("deployment"))
        return Subject("alert", _s(p.get("alert_id")) or subject, _s(p.get("rule")),
                       "deployment" if dep else None, dep)
    if t.startswith("monitor."):
        return Subject("monitor", _s(p.get("monitor")) or subject, _s(p.get("monitor")))
    return Subject(t.split(".", 1)[0][:32], subject, None)


def summary(type_: str, payload: dict[str, Any], label: str | None, actor: str | None) -> str:
    """One line saying what happened: 'alice moved churn v3 from staging to production'."""
    who = actor or "someone"
    what = label or ""
    p = payload
    if type_ == "stage.changed":
        return f"{who} moved {what} from {p.get('from')} to {p.get('to')}"
    if type_ == "alias.moved":
        return (f"{who} pointed {p.get('name')}@{p.get('alias')} at v{p.get('to')}" if p.get("to") is not None
                else f"{who} removed alias {p.get('name')}@{p.get('alias')}")
    if type_ == "comment.created":
        return f"{who} commented on {what}"
    if type_ in ("model_version.registered", "registered_model.created", "dataset.created",
                 "dataset.version_created", "pipeline.applied", "deployment.created"):
        return f"{who} {'registered' if 'model' in type_ else 'created'} {what}"
    if type_.startswith("run."):
        return f"{who}: run {what} {type_.split('.', 1)[1]}"
    if type_ == "review.requested":
        return f"{who} asked {', '.join(p.get('reviewers') or [])} to review {what}"
    if type_ == "review.responded":
        verb = "approved" if p.get("verdict") == "approve" else "requested changes to"
        return f"{who} {verb} {what}"
    if type_.startswith("alert."):
        return f"alert {p.get('rule')} {type_.split('.', 1)[1]}: {p.get('summary')}"
    verb = type_.split(".", 1)[-1].replace("_", " ")
    noun = type_.split(".", 1)[0].replace("_", " ")
    return f"{who}: {noun} {verb}" + (f" ({what})" if what else "")
