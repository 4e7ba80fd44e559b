"""Built-in operators: each declares a pydantic params model (checked when a pipeline is applied and
again, with references filled in, when the task runs) and a function ``fn(context, params) -> output``.
Outputs are small JSON values: references (run ids, dataset versions, model versions), not data."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from mainsail.pipelines.context import TaskContext

BUILTIN_MODULES = ("basic", "ml", "data")


class OpParams(BaseModel):
    """Base of every operator's params: unknown keys are an error naming the key."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


@dataclass(frozen=True)
class Operator:
    name: str
    params: type[BaseModel]
    fn: Callable[[TaskContext, Any], Any]
    deterministic: bool = False
    requires: str | None = None  # a Client method the operator needs (its domain may not be installed)
    capability: str | None = None  # what that method belongs to, for the error message

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or self.name).strip().split("\n")[0]

    def unavailable(self) -> str | None:
        """Why this operator cannot run here, or None."""
        if self.requires is None:
            return None
        from mainsail.client.client import Client

        if hasattr(Client, self.requires):
            return None
        return (f"operator {self.name!r} is unavailable: it needs {self.capability or 'a capability'} "
                f"(Client.{self.requires}), which this installation does not have yet")


_OPERATORS: dict[str, Operator] = {}
_loaded = False


def operator(name: str, params: type[BaseModel], *, deterministic: bool = False, requires: str | None = None,
             capability: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(context, params)`` as operator ``name``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _OPERATORS[name] = Operator(name, params, fn, deterministic, requires, capability)
        return fn

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        for mod in BUILTIN_MODULES:
            importlib.import_module(f"mainsail.pipelines.operators.{mod}")
        _loaded = True


def get(name: str) -> Operator | None:
    _load()
    return _OPERATORS.get(name)


def all_operators() -> dict[str, Operator]:
    _load()
    return dict(sorted(_OPERATORS.items()))
