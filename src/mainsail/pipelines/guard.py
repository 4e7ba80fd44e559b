"""Who may put code in a pipeline. Running code of one's choosing is a permission of its own
(``pipelines:code``, which admins have): a ``python`` task, an estimator given as a callable or outside
the known ML packages, a SQLAlchemy URL to query, or a path on the server's disk to read or write.
Checked when a definition is applied, a run is created and a schedule is made, with the run's own
params on top of the definition's. A value that is a ``${…}`` reference is only known when the task
runs, so in a field that could carry code it counts as code. A non-admin holding ``pipelines:code``
may still only call shipped code or callables under ``MAINSAIL_CODE_ALLOW``, and ``notify`` posts
only to URLs under ``MAINSAIL_OUTBOUND_ALLOW`` unless an admin defined it."""

from __future__ import annotations

import re
from typing import Any

from mainsail.core.errors import Forbidden
from mainsail.core.principal import LOCAL, require
from mainsail.core.runtime import Ctx
from mainsail.core.sandbox import CODE_SETTING, callable_allowed, check_outbound, outbound_allowed
from mainsail.pipelines import dag
from mainsail.pipelines.schemas import PipelineSpec

ESTIMATOR_PACKAGES = ("sklearn.", "xgboost.", "lightgbm.")
_DATASET_REF = re.compile(r"^(dataset:)?[A-Za-z0-9][A-Za-z0-9_.\-]*(@[A-Za-z0-9_.\-]+)?$")


_REF = re.compile(r"\$\{(\w+)\.([^}]*)\}")
_FREE_OUTPUT = ("noop", "python")  # operators whose output is whatever the definition or code says


def _ref(value: Any, safe: frozenset[str] = frozenset()) -> bool:
    """True when ``value`` holds a reference only known when the task runs and not a stored object's."""
    if not isinstance(value, str) or "${" not in value:
        return False
    return any(kind != "tasks" or path.split(".", 1)[0] not in safe for kind, path in _REF.findall(value))


def _server_path(value: Any, safe: frozenset[str]) -> bool:
    """A value naming something other than a stored dataset or a toy one: a file, a URL or a reference."""
    if not isinstance(value, str):
        return False
    if "${" in value:
        return _ref(value, safe)
    if value.startswith("sklearn:"):
        return False
    return not _DATASET_REF.match(value) or value.endswith((".csv", ".parquet", ".json", ".jsonl"))


def code_reasons(operator: str, params: dict[str, Any], safe: frozenset[str] = frozenset()) -> list[str]:
    """Why a task of ``operator`` with ``params`` runs code (or reaches the server's disk or databases);
    ``safe``: the tasks whose outputs are stored objects' references (fine to refer to)."""
    out: list[str] = []
    if operator == "python":
        out.append(f"calls {params.get('callable')!r}")
    if operator in ("model_training", "hyperparameter_tuning"):
        est = params.get("estimator")
        if _ref(est) or not isinstance(est, str) or ":" in est or not est.startswith(ESTIMATOR_PACKAGES) \
                or any(p.startswith("_") for p in est.split(".")):
            out.append(f"estimator {est!r} is not a public class of {', '.join(p[:-1] for p in ESTIMATOR_PACKAGES)}")
    if operator in ("model_training", "hyperparameter_tuning", "model_evaluation") and _server_path(params.get("data"), safe):
        out.append(f"reads {params.get('data')!r} from the server")
    if operator == "sql_query" and params.get("url"):
        out.append("connects to a database URL")
    if operator == "data_ingestion":
        source = params.get("source")
        if params.get("query") or not isinstance(source, str) or _ref(source, safe) or not outbound_allowed(source):
            out.append("reads a source on the server (a path, a database or a URL not in the outbound allow-list)")
    if operator == "batch_inference":
        if params.get("output") or _server_path(params.get("source"), safe) and not str(
                params.get("source", "")).startswith("dataset:"):
            out.append("reads or writes files on the server")
        if params.get("ray_address"):
            out.append("connects to a Ray cluster")
    return out


def _known(value: Any, values: dict[str, Any]) -> Any:
    """``${params.NAME}`` replaced by the run's value when the whole string is that reference."""
    if isinstance(value, str) and (m := _REF.fullmatch(value.strip())) and m.group(1) == "params" \
            and m.group(2) in values:
        return values[m.group(2)]
    return value


def _is_admin(ctx: Ctx) -> bool:
    return (getattr(ctx, "principal", None) or LOCAL).can("admin", getattr(ctx, "project", None) or "default")


def check(ctx: Ctx, spec: PipelineSpec, run_params: dict[str, Any] | None = None,
          loc: list[Any] | None = None) -> None:
    """:class:`Forbidden` when the definition (with ``run_params``) runs code and the acting principal may
    not, or calls a callable outside the allow-list, or notifies a URL outside the outbound allow-list."""
    if _is_admin(ctx):
        return
    loc = loc or ["body"]
    values = {**spec.params, **(run_params or {})}
    safe = frozenset(t.name for t in spec.tasks if t.operator not in _FREE_OUTPUT)
    for t in spec.tasks:
        params = {k: _known(v, values) for k, v in dag.task_params(spec, t, run_params or {}).items()}
        reasons = code_reasons(t.operator, params, safe)
        if reasons:
            try:
                require(ctx, "pipelines:code")
            except Forbidden as exc:
                raise Forbidden(f"task {t.name!r} ({t.operator}) {reasons[0]}: running code needs the "
                                f"'pipelines:code' permission ({exc.detail})", code="code_not_allowed",
                                errors=[{"loc": [*loc, "tasks", t.name], "msg": reasons[0]}]) from None
        if t.operator == "python" and not params.get("code"):
            ref = params.get("callable")
            if not isinstance(ref, str) or _ref(ref) or not callable_allowed(ref):
                raise Forbidden(f"task {t.name!r}: {ref!r} is not under {CODE_SETTING}; ship the module with the "
                                f"definition or ask an admin to allow its package", code="callable_not_allowed",
                                errors=[{"loc": [*loc, "tasks", t.name, "callable"], "msg": "not allowed"}])
        if t.operator == "notify" and params.get("channel") == "webhook":
            url = params.get("url")
            if not isinstance(url, str) or _ref(url):
                raise Forbidden(f"task {t.name!r}: a webhook URL given by reference cannot be checked against the "
                                f"outbound allow-list; write the URL", code="outbound_not_allowed")
            check_outbound(url, f"task {t.name!r} url")
