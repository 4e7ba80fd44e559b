"""General operators: noop, python (a callable by reference), notify, sql_query."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from mainsail.core.sandbox import no_inline_password
from mainsail.core.text import count
from mainsail.pipelines.context import TaskContext
from mainsail.pipelines.operators import OpParams, operator

CALLABLE_REF = r"^[^:]+:[A-Za-z_][A-Za-z0-9_.]*$"


class NoopParams(OpParams):
    value: Any = Field(None, description="Returned as the task's output.")


@operator("noop", NoopParams, deterministic=True)
def noop(tc: TaskContext, p: NoopParams) -> Any:
    """Do nothing; output ``value`` (for wiring, tests and benchmarks)."""
    return p.value


def import_path(file: str | Path) -> Any:
    """Import a ``.py`` file as a module (once per process), its folder on ``sys.path``."""
    path = Path(file).resolve()
    mod_name = "mainsail_task_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module = sys.modules.get(mod_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[mod_name]
            raise
    return module


def resolve_callable(ref: str) -> Any:
    """``package.module:qualname`` or ``/path/to/file.py:qualname`` → the object."""
    target, _, qualname = ref.rpartition(":")
    module = import_path(target) if target.endswith(".py") else importlib.import_module(target)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__wrapped_task__", obj)  # a @task-decorated function: the plain function


class PythonParams(OpParams):
    callable: str = Field(pattern=CALLABLE_REF, examples=["mypkg.steps:train", "/srv/flows/steps.py:train"])
    kwargs: dict[str, Any] = Field(default_factory=dict)
    code: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description=(
        "SHA-256 of the module source shipped with the definition (PUT /pipeline-code/{digest}); "
        "'callable' then names a function of that source (FILE.py:qualname), run wherever the task runs."))


def shipped_module(tc: TaskContext, digest: str, filename: str) -> Path:
    """The shipped source ``digest`` as a file under ``$MAINSAIL_HOME/code/<digest>/`` (fetched once
    through the task's client, verified by its digest), so its imports and tracebacks work as usual."""
    from mainsail.core.settings import Settings

    name = Path(filename).name if filename.endswith(".py") else "module.py"
    path = Settings.from_env().home / "code" / digest / name
    if not path.is_file():
        data = tc.client.get_pipeline_code(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"shipped code {digest[:12]} does not match its digest")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


@operator("python", PythonParams)
def python(tc: TaskContext, p: PythonParams) -> Any:
    """Call a Python function with ``kwargs`` (and ``context`` if it takes one); its return is the output.
    With ``code``, the function comes from the source shipped with the definition, not a local file."""
    ref = p.callable
    if p.code:
        target, _, qualname = ref.rpartition(":")
        ref = f"{shipped_module(tc, p.code, target)}:{qualname}"
    fn = resolve_callable(ref)
    kwargs = dict(p.kwargs)
    if "context" in inspect.signature(fn).parameters:
        kwargs["context"] = tc
    return fn(**kwargs)


class NotifyParams(OpParams):
    message: str = Field(min_length=1, max_length=10_000)
    channel: Literal["log", "webhook"] = "log"
    url: str | None = Field(None, pattern=r"^https?://", description="The webhook URL (channel 'webhook').")
    timeout: float = Field(10.0, gt=0, le=300)


@operator("notify", NotifyParams)
def notify(tc: TaskContext, p: NotifyParams) -> dict[str, Any]:
    """Send a message to the task log or POST it as JSON to a webhook."""
    print(f"[notify] {p.message}", flush=True)
    if p.channel == "webhook":
        import httpx

        if not p.url:
            raise ValueError("params.url is required for channel 'webhook'")
        resp = httpx.post(p.url, json={"message": p.message, "pipeline": tc.pipeline, "run_id": tc.run_id,
                                       "task": tc.task}, timeout=p.timeout)
        resp.raise_for_status()
        return {"sent": True, "channel": "webhook", "status": resp.status_code}
    return {"sent": True, "channel": "log"}


class SqlQueryParams(OpParams):
    query: str = Field(min_length=1, max_length=100_000)
    url: str | None = Field(None, description="A SQLAlchemy URL, or 'secret:NAME' (a stored secret holding one, "
                            "so no password sits in the definition); default: DuckDB in-process.")
    datasets: dict[str, str] = Field(default_factory=dict, description="DuckDB views: name -> 'dataset@version'.")
    max_rows: int = Field(1000, ge=0, le=100_000, description="Rows returned in the output (all are counted).")
    output_dataset: str | None = Field(None, description="Store the whole result as a version of this dataset.")

    _no_password = field_validator("url")(classmethod(lambda cls, v: no_inline_password(v)))


def _local_parquet(tc: TaskContext, ref: str) -> Any:
    """A dataset version as a local Parquet path (store file or verified cache copy) or a pyarrow dataset."""
    name, _, version = ref.partition("@")
    return tc.client.dataset_path(name, version or None)


def _jsonable(rows: list[Any]) -> list[Any]:
    return orjson.loads(orjson.dumps(rows, default=str, option=orjson.OPT_SERIALIZE_NUMPY))


@operator("sql_query", SqlQueryParams)
def sql_query(tc: TaskContext, p: SqlQueryParams) -> dict[str, Any]:
    """Run SQL on DuckDB (over dataset versions) or on a SQLAlchemy URL; output rows or a dataset version."""
    if p.url:
        from sqlalchemy import create_engine, text

        url = tc.client.resolve_secret(p.url.removeprefix("secret:")) if p.url.startswith("secret:") else p.url
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                result = conn.execute(text(p.query))
                columns = list(result.keys())
                import pandas as pd

                frame = pd.DataFrame(result.fetchall(), columns=columns)
        finally:
            engine.dispose()
    else:
        from mainsail.core.sandbox import duckdb_sandbox
        from mainsail.data.storage import scan_sql

        # The SQL sees the named dataset versions and nothing else: no files, no network, no extensions.
        paths = {view: _local_parquet(tc, ref) for view, ref in p.datasets.items()}
        con = duckdb_sandbox([x for x in paths.values() if isinstance(x, str)])
        for view, src in paths.items():
            if isinstance(src, str):
                con.execute(f'CREATE VIEW "{view.replace(chr(34), chr(34) * 2)}" AS SELECT * FROM {scan_sql(src)}')
            else:
                con.register(view, src)
        frame = con.execute(p.query).df()
        columns = list(frame.columns)
    out: dict[str, Any] = {"columns": columns, "row_count": len(frame),
                           "rows": _jsonable(frame.head(p.max_rows).values.tolist())}
    if p.output_dataset:
        v = tc.client.ingest_dataset(frame, p.output_dataset)
        out["dataset_version"] = v.ref
    print(f"[sql_query] {count(len(frame), 'row')}, columns {columns}", flush=True)
    return out
