"""Pipelines in Python: ``@task`` functions wired inside a ``@pipeline`` function by data flow.

```python
from mainsail.pipelines import pipeline, task, op

@task(retries=2)
def extract(rows: int) -> dict: ...

@task(cache=True)
def train(data: dict, lr: float = 0.1) -> dict: ...

@pipeline(name="churn")
def churn(rows: int = 1000):          # the signature declares the run params and their defaults
    data = extract(rows)                # calls record tasks; results are references to outputs
    model = train(data, lr=0.2)         # passing a result makes a dependency
    op("notify", message="trained", after=[model])   # a built-in operator
```

``churn.spec()`` is the same :class:`PipelineSpec` the JSON form gives; outside a ``@pipeline`` a
``@task`` function is a plain function."""

from __future__ import annotations

import importlib.util
import inspect
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mainsail.pipelines.schemas import PipelineSpec, TaskSpec

_local = threading.local()


class Ref:
    """A reference to a task's output (or a run param) while a pipeline is being traced."""

    def __init__(self, kind: str, name: str, path: tuple[str, ...] = ()):
        self._kind, self._name, self._path = kind, name, path

    def __getitem__(self, key: str | int) -> Ref:
        return Ref(self._kind, self._name, (*self._path, str(key)))

    def __getattr__(self, key: str) -> Ref:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __str__(self) -> str:
        return "${" + ".".join((self._kind, self._name, *self._path)) + "}"

    __repr__ = __str__


class _Builder:
    def __init__(self) -> None:
        self.tasks: list[TaskSpec] = []
        self.names: set[str] = set()

    def unique(self, base: str) -> str:
        name, i = base, 2
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name


def _encode(value: Any, deps: list[str]) -> Any:
    if isinstance(value, Ref):
        if value._kind == "tasks" and value._name not in deps:
            deps.append(value._name)
        return str(value)
    if isinstance(value, dict):
        return {k: _encode(v, deps) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, deps) for v in value]
    return value


def _after(after: Iterable[Ref | str]) -> list[str]:
    return [a._name if isinstance(a, Ref) else str(a) for a in after]


def callable_ref(fn: Callable[..., Any]) -> str:
    """``module:qualname`` when the module imports by that name, else ``/abs/file.py:qualname``."""
    module, qualname = fn.__module__, fn.__qualname__
    file = inspect.getsourcefile(fn)
    try:
        by_path = module == "__main__" or module.startswith("mainsail_task_")  # see operators.basic.import_path
        spec = None if by_path else importlib.util.find_spec(module)
        if spec is not None and file and spec.origin and Path(spec.origin).resolve() == Path(file).resolve():
            return f"{module}:{qualname}"
    except (ImportError, ValueError):
        pass
    return f"{Path(file or '').resolve()}:{qualname}"


_SHIPPED: dict[str, bytes] = {}  # digest -> module source traced in this process, uploaded on apply


def _own_source(fn: Callable[..., Any]) -> Path | None:
    """The file of ``fn``'s module when it is the user's own code: not Mainsail, not an installed
    package, not the standard library (those are installed wherever a worker runs)."""
    import sys

    file = inspect.getsourcefile(fn)
    if not file or not file.endswith(".py"):
        return None
    path = Path(file).resolve()
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    mainsail_dir = Path(__file__).resolve().parent.parent
    if {"site-packages", "dist-packages"} & set(path.parts) or path.is_relative_to(mainsail_dir) \
            or any(path.is_relative_to(p) for p in installed):
        return None
    return path


def ship(fn: Callable[..., Any]) -> dict[str, str] | None:
    """``{"callable": "FILE.py:qualname", "code": digest}`` for a function of the user's own module: its
    source travels with the definition (stored by digest), so a server or a worker on another machine
    runs exactly what was applied. ``None`` for installed code (referenced by ``module:qualname``)."""
    import hashlib

    path = _own_source(fn)
    if path is None or "<locals>" in fn.__qualname__:
        return None
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    _SHIPPED[digest] = data
    return {"callable": f"{path.name}:{fn.__qualname__}", "code": digest}


def shipped_code(spec: dict[str, Any]) -> dict[str, bytes]:
    """The sources a definition's ``python`` tasks name by digest, as traced in this process."""
    out: dict[str, bytes] = {}
    for t in spec.get("tasks") or []:
        code = (t.get("params") or {}).get("code") if isinstance(t, dict) else None
        if t.get("operator") == "python" and isinstance(code, str) and code in _SHIPPED:
            out[code] = _SHIPPED[code]
    return out


class TaskFunction:
    """A function that becomes a ``python`` task when called inside a ``@pipeline``."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, **options: Any):
        self.__wrapped_task__ = fn
        self.fn, self.name, self.options = fn, name or fn.__name__, options
        self.__doc__, self.__name__ = fn.__doc__, fn.__name__

    def __call__(self, *args: Any, after: Iterable[Ref | str] = (), **kwargs: Any) -> Any:
        builder: _Builder | None = getattr(_local, "builder", None)
        if builder is None:
            return self.fn(*args, **kwargs)
        bound = inspect.signature(self.fn).bind_partial(*args, **kwargs)
        deps: list[str] = []
        encoded = _encode(dict(bound.arguments), deps)
        name = builder.unique(self.name)
        target = ship(self.fn) or {"callable": callable_ref(self.fn)}
        builder.tasks.append(TaskSpec(name=name, operator="python", depends_on=[*deps, *_after(after)],
                                      params={**target, "kwargs": encoded}, **self.options))
        return Ref("tasks", name)


def task(fn: Callable[..., Any] | None = None, *, name: str | None = None, retries: int = 0,
         retry_backoff: float = 1.0, timeout: float | None = None, cache: bool | None = None,
         resources: dict[str, Any] | None = None) -> Any:
    """Mark a function as a pipeline task (``retries``, ``retry_backoff``, ``timeout``, ``cache``,
    ``resources``: ``{"cpus", "memory_gb", "gpus", "spot"}``)."""
    options = {"retries": retries, "retry_backoff": retry_backoff, "timeout": timeout, "cache": cache,
               "resources": resources}
    if fn is not None:
        return TaskFunction(fn, name, **options)
    return lambda f: TaskFunction(f, name, **options)


def op(operator: str, *, name: str | None = None, after: Iterable[Ref | str] = (), retries: int = 0,
       retry_backoff: float = 1.0, timeout: float | None = None, cache: bool | None = None, **params: Any) -> Ref:
    """A built-in operator as a task of the pipeline being defined."""
    builder: _Builder | None = getattr(_local, "builder", None)
    if builder is None:
        raise RuntimeError("op() is only meaningful inside a @pipeline function")
    deps: list[str] = []
    encoded = _encode(params, deps)
    task_name = builder.unique(name or operator)
    builder.tasks.append(TaskSpec(name=task_name, operator=operator, params=encoded,
                                  depends_on=[*deps, *_after(after)], retries=retries, retry_backoff=retry_backoff,
                                  timeout=timeout, cache=cache))
    return Ref("tasks", task_name)


class PipelineDefinition:
    """What ``@pipeline`` returns: ``.spec()`` traces the function into a :class:`PipelineSpec`."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, description: str | None = None):
        self.fn, self.name = fn, name or fn.__name__.replace("_", "-")
        self.description = description or (inspect.getdoc(fn) or "").split("\n")[0] or None

    def spec(self) -> PipelineSpec:
        sig = inspect.signature(self.fn)
        params = {n: (None if p.default is inspect.Parameter.empty else p.default) for n, p in sig.parameters.items()}
        builder = _Builder()
        _local.builder = builder
        try:
            self.fn(**{n: Ref("params", n) for n in params})
        finally:
            _local.builder = None
        return PipelineSpec(name=self.name, description=self.description, params=params, tasks=builder.tasks)


def pipeline(fn: Callable[..., Any] | None = None, *, name: str | None = None,
             description: str | None = None) -> Any:
    """Mark a function as a pipeline; its parameters are the run params (defaults kept)."""
    if fn is not None:
        return PipelineDefinition(fn, name, description)
    return lambda f: PipelineDefinition(f, name, description)


def load_definitions(path: str | Path) -> list[Any]:
    """Definitions in a ``.json``, ``.yaml``/``.yml`` or ``.py`` file (every ``@pipeline`` in the module):
    specs from Python, plain mappings from JSON/YAML (validated where they are applied)."""
    from mainsail.core.errors import InvalidInput
    from mainsail.pipelines.operators.basic import import_path

    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p} is not a file", errors=[{"loc": ["file"], "msg": "no such file"}])
    if p.suffix == ".py":
        mod = import_path(p)
        found = [v.spec() for v in vars(mod).values() if isinstance(v, PipelineDefinition)]
        if not found:
            raise InvalidInput(f"{p} defines no @pipeline", errors=[{"loc": ["file"], "msg": "no @pipeline found"}])
        return found
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput(f"{p}: not valid {p.suffix.lstrip('.') or 'JSON'}: {exc}",
                           errors=[{"loc": ["file"], "msg": str(exc)}]) from None
    return data if isinstance(data, list) else [data]
