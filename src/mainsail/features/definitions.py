"""Definitions as a whole: loading them from Python or YAML files, resolving feature references with
helpful errors, and deciding whether an apply breaks a feature service. Pure functions, no storage."""

from __future__ import annotations

import difflib
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mainsail.core.errors import InvalidInput, NotFound, pydantic_errors
from mainsail.features.schemas import Entity, FeatureService, FeatureSetSpec, FeatureView


@dataclass
class Defs:
    """The current definitions (name → spec) and their versions."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)


def nearest(name: str, known: list[str] | Any) -> str:
    """`` (did you mean 'a', 'b'?)`` or, failing that, the known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return " (did you mean " + ", ".join(repr(c) for c in close) + "?)"
    if known:
        return " (known: " + ", ".join(known[:20]) + ("…" if len(known) > 20 else "") + ")"
    return " (none defined)"


def unknown(kind: str, name: str, known: Any, loc: list[Any]) -> NotFound:
    return NotFound(f"unknown {kind} {name!r}{nearest(name, known)}", code=f"{kind.replace(' ', '_')}_not_found",
                    errors=[{"loc": loc, "msg": f"unknown {kind}"}])


def view_of(defs: Defs, name: str, loc: list[Any] | None = None) -> FeatureView:
    v = defs.views.get(name)
    if v is None:
        raise unknown("feature view", name, defs.views, loc or ["view"])
    return v


def resolve(defs: Defs, features: list[str] | None = None, service: str | None = None,
            loc: str = "features") -> list[tuple[str, list[str]]]:
    """``[(view, [feature, …]), …]`` in first-mention order for ``"view:feature"`` / ``"view"`` refs or a
    service; an unknown view, feature or service is a ``NotFound`` naming it and the nearest names."""
    if service is not None:
        svc = defs.services.get(service)
        if svc is None:
            raise unknown("feature service", service, defs.services, ["service"])
        features, loc = svc.features, "service"
    if not features:
        raise InvalidInput("give features ('view:feature', …) or a feature service",
                           errors=[{"loc": ["features"], "msg": "no features requested"}])
    out: dict[str, list[str]] = {}
    for i, ref in enumerate(features):
        vname, sep, fname = ref.partition(":")
        if not sep and vname not in defs.views:  # a bare feature name: the one view that has it
            vname, sep, fname = _feature_owner(defs, ref, [loc, i]), ":", ref
        view = view_of(defs, vname, [loc, i])
        names = [f.name for f in view.features]
        if not sep or fname == "*":
            chosen = names
        elif fname not in names:
            raise unknown("feature", f"{vname}:{fname}", [f"{vname}:{n}" for n in names], [loc, i])
        else:
            chosen = [fname]
        have = out.setdefault(vname, [])
        have.extend(n for n in chosen if n not in have)
    return list(out.items())


def _feature_owner(defs: Defs, name: str, loc: list[Any]) -> str:
    """The view holding feature ``name`` (a reference without a view); unknown or ambiguous is an error."""
    owners = sorted(v.name for v in defs.views.values() if name in v.feature_types)
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise InvalidInput(f"feature {name!r} is in several views ({', '.join(owners)}): write it as "
                           f"'{owners[0]}:{name}'", code="ambiguous_feature",
                           errors=[{"loc": loc, "msg": f"in views {', '.join(owners)}"}])
    known = sorted(f"{v.name}:{f}" for v in defs.views.values() for f in v.feature_types)
    close = difflib.get_close_matches(name, sorted({k.partition(':')[2] for k in known}), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    listed = ", ".join(known[:50]) + ("…" if len(known) > 50 else "") if known else "none defined"
    raise NotFound(f"unknown feature {name!r}{hint}; known features: {listed}", code="feature_not_found",
                   errors=[{"loc": loc, "msg": "unknown feature (not a view name either)"}])


def _service_refs(defs: Defs, svc: FeatureService, i: int) -> list[str]:
    """The service's features as explicit ``view:feature`` refs (``view`` expanded)."""
    return [f"{v}:{f}" for v, fs in resolve(defs, svc.features, loc=f"services.{i}.features") for f in fs]


def plan_apply(current: Defs, spec: FeatureSetSpec) -> tuple[Defs, dict[tuple[str, str], list[str]]]:
    """The definitions after applying ``spec`` and, per changed view, the reasons it breaks a service.
    Raises ``NotFound``/``InvalidInput`` for references to unknown entities, views or features."""
    new = Defs(dict(current.entities), dict(current.views), dict(current.services), dict(current.versions))
    for kind, plural, items in (("entity", "entities", spec.entities), ("view", "views", spec.views),
                                ("service", "services", spec.services)):
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                raise InvalidInput(f"{kind} {item.name!r} is defined twice", errors=[
                    {"loc": ["body", plural, i, "name"], "msg": f"duplicate {item.name!r}"}])
            seen.add(item.name)
    new.entities.update({e.name: e for e in spec.entities})
    new.views.update({v.name: v for v in spec.views})
    for i, v in enumerate(spec.views):
        for j, e in enumerate(v.entities):
            if e not in new.entities:
                raise unknown("entity", e, new.entities, ["body", "views", i, "entities", j])
        keys = [new.entities[e].join_key for e in v.entities]
        clash = {f.name for f in v.features} & {*keys, v.timestamp_field}
        if clash:
            raise InvalidInput(f"view {v.name!r}: feature {sorted(clash)[0]!r} has the name of a key or timestamp "
                               "column", errors=[{"loc": ["body", "views", i, "features"], "msg": "name clash"}])
    expanded = []
    for i, s in enumerate(spec.services):
        expanded.append(s.model_copy(update={"features": _service_refs(new, s, i)}))
    new.services.update({s.name: s for s in expanded})
    breaking: dict[tuple[str, str], list[str]] = {}
    for e in spec.entities:
        before = current.entities.get(e.name)
        if before is None or (before.type, before.join_key) == (e.type, e.join_key):
            continue
        views = sorted(n for n, v in new.views.items() if e.name in v.entities)
        if not views:
            continue
        services = sorted(n for n, svc in new.services.items()
                          if any(ref.partition(":")[0] in views for ref in svc.features))
        what = (f"the key type from {before.type} to {e.type}" if before.type != e.type
                else f"the join key from {before.join_key!r} to {e.join_key!r}")
        breaking[("entity", e.name)] = [
            f"changes {what}: stored keys of views {', '.join(map(repr, views))} no longer match"
            + (f" (used by services {', '.join(map(repr, services))})" if services else "")]
    for v in spec.views:
        old = current.views.get(v.name)
        if old is None:
            continue
        reasons = []
        for sname, svc in sorted(new.services.items()):
            used = [ref.partition(":")[2] for ref in svc.features if ref.partition(":")[0] == v.name]
            for f in used:
                if f not in v.feature_types:
                    reasons.append(f"removes feature {v.name}:{f} used by service {sname!r}")
                elif f in old.feature_types and old.feature_types[f] != v.feature_types[f]:
                    reasons.append(f"changes the type of {v.name}:{f} from {old.feature_types[f]} to "
                                   f"{v.feature_types[f]} (used by service {sname!r})")
            if used and old.entities != v.entities:
                reasons.append(f"changes the entities of {v.name!r} used by service {sname!r}")
        if reasons:
            breaking[("view", v.name)] = reasons
    return new, breaking


# ---------------------------------------------------------------- files

def _collect(objs: list[Any], spec: dict[str, list[Any]]) -> None:
    for obj in objs:
        if isinstance(obj, Entity):
            spec["entities"].append(obj)
        elif isinstance(obj, FeatureView):
            spec["views"].append(obj)
        elif isinstance(obj, FeatureService):
            spec["services"].append(obj)


def load_path(path: str | Path) -> FeatureSetSpec:
    """Definitions from a Python file (module-level ``Entity``/``FeatureView``/``FeatureService``
    objects), a YAML file (``entities:``, ``views:``, ``services:``), or a folder of such files."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"{path}: no such file or folder", errors=[{"loc": ["path"], "msg": "not found"}])
    files = sorted(f for f in p.rglob("*") if f.suffix in (".py", ".yaml", ".yml")) if p.is_dir() else [p]
    spec: dict[str, list[Any]] = {"entities": [], "views": [], "services": []}
    for f in files:
        if f.suffix == ".py":
            ns = runpy.run_path(str(f), run_name=f"mainsail_features_{f.stem}")
            _collect([v for k, v in ns.items() if not k.startswith("_")], spec)
            for v in ns.values():
                if isinstance(v, (list, tuple)):
                    _collect(list(v), spec)
        elif f.suffix in (".yaml", ".yml"):
            import yaml

            try:
                doc = yaml.safe_load(f.read_text()) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{f}: not valid YAML: {exc}", errors=[{"loc": [str(f)], "msg": "bad YAML"}]) from None
            if not isinstance(doc, dict):
                raise InvalidInput(f"{f}: expected a mapping with entities, views, services",
                                   errors=[{"loc": [str(f)], "msg": "not a mapping"}])
            unknown_keys = set(doc) - {"entities", "views", "services"}
            if unknown_keys:
                raise InvalidInput(f"{f}: unknown section {sorted(unknown_keys)[0]!r} (use entities, views, services)",
                                   errors=[{"loc": [str(f), sorted(unknown_keys)[0]], "msg": "unknown section"}])
            for section, cls in (("entities", Entity), ("views", FeatureView), ("services", FeatureService)):
                for i, item in enumerate(doc.get(section) or []):
                    try:
                        spec[section].append(cls.model_validate(item))
                    except ValidationError as exc:
                        errors = pydantic_errors(exc, (str(f), section, i))
                        raise InvalidInput(f"{f}: {section}[{i}]: {errors[0]['msg']} at "
                                           f"{'.'.join(str(x) for x in errors[0]['loc'][1:])}", errors=errors) from None
    # objects may be defined in one file and referenced as variables in another: keep one per name
    for key in spec:
        spec[key] = list({o.name: o for o in spec[key]}.values())
    return FeatureSetSpec(**spec)
