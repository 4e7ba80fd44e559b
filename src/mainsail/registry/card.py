"""Model cards: markdown generated from a version's metadata plus its editable fields."""

from __future__ import annotations

from mainsail.registry.schemas import ModelCardFields, ModelVersion


def _table(rows: dict[str, object]) -> list[str]:
    if not rows:
        return ["_none recorded_", ""]
    out = ["| name | value |", "|---|---|"]
    out += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(rows.items())]
    return [*out, ""]


def render_card(v: ModelVersion, fields: ModelCardFields) -> str:
    """The model card of ``v`` as markdown."""
    f = fields
    lines = [f"# Model card: {v.name} v{v.version}", ""]
    if f.summary or v.description:
        lines += [f.summary or v.description or "", ""]
    lines += ["## Overview", "",
              f"- **Stage:** {v.stage}" + (f" (aliases: {', '.join(v.aliases)})" if v.aliases else ""),
              f"- **Framework:** {v.framework}",
              f"- **Registered:** {v.created_at:%Y-%m-%d %H:%M UTC} by {v.created_by or 'unknown'}",
              f"- **Owners:** {', '.join(f.owners) if f.owners else '_not set_'}",
              f"- **Source:** {v.source or '—'}", ""]
    lines += ["## Intended use", "", f.intended_use or "_Not yet described._", ""]
    lines += ["## Limitations", "", f.limitations or "_Not yet described._", ""]
    if f.ethical_considerations:
        lines += ["## Ethical considerations", "", f.ethical_considerations, ""]
    lines += ["## Training data", ""]
    if f.training_data:
        lines += [f.training_data, ""]
    lines += [f"- dataset version: `{d}`" for d in v.lineage.dataset_versions] or ["_No dataset versions linked._"]
    lines += [""]
    lines += ["## Metrics", "", *_table(dict(v.metrics))]
    lines += ["## Parameters", "", *_table(dict(v.params))]
    lines += ["## Signature", ""]
    sig = v.signature or {}
    if sig.get("inputs"):
        inputs = sig["inputs"]
        if isinstance(inputs, list):
            lines += ["| input | type |", "|---|---|", *(f"| {i.get('name')} | {i.get('type')} |" for i in inputs), ""]
        else:
            lines += [f"tensor input: `{inputs}`", ""]
    else:
        lines += ["_No signature recorded._", ""]
    lines += ["## Lineage", "", f"- run: `{v.lineage.run_id or '—'}`", f"- git commit: `{v.lineage.git_commit or '—'}`"]
    lines += [f"- feature view: `{fv}`" for fv in v.lineage.feature_views]
    return "\n".join(lines) + "\n"
