"""MLflow's free-text names on Mainsail's safe names, for experiments and registered models.

MLflow names are free text (``My Experiment``, ``/Users/me@x.com/churn``, ``Run A Lot (x=1)``); Mainsail
names follow ``core.types.NAME_PATTERN`` (they appear in URLs, CLI arguments and paths). An object created
through the MLflow API keeps the name MLflow gave it in the tag ``mainsail.mlflow.name`` when that name is
not a valid Mainsail name; its Mainsail name is a slug of it (``My-Experiment``, ``Users-me-x.com-churn``),
with ``-2``, ``-3``... appended when that slug is taken. The MLflow name of any object is its tag, or its
Mainsail name without one, so objects made by Mainsail are seen by MLflow under their own names.

A lookup by MLflow name walks the same slug chain (``slug``, ``slug-2``, ...) until an object's MLflow name
matches or a slug is free, then falls back to a scan of the tags (an object renamed through MLflow keeps
its Mainsail name and changes its tag)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from mainsail.core.errors import NotFound
from mainsail.core.types import NAME_PATTERN

NAME_TAG = "mainsail.mlflow.name"
MAX_NAME = 200  # Mainsail's name length
_SLUG_MAX = 180  # room left for a collision suffix
T = TypeVar("T")


def slug(name: str) -> str:
    """A Mainsail name for MLflow name ``name``: itself when valid, else ASCII letters, digits, ``_``, ``.``
    and ``-`` (accents dropped, any other run of characters a single ``-``), starting with a letter, a digit
    or ``_`` (``mlflow`` when nothing is left)."""
    if len(name) <= MAX_NAME and re.fullmatch(NAME_PATTERN, name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = re.sub(r"[^A-Za-z0-9_.\-]+", "-", ascii_name).lstrip(".-").rstrip("-")[:_SLUG_MAX].rstrip("-")
    return out or "mlflow"


def _chain(name: str) -> Iterable[str]:
    base = slug(name)
    yield base
    for i in range(2, 10_000):
        suffix = f"-{i}"
        yield base[:MAX_NAME - len(suffix)] + suffix


def mlflow_name(obj: Any) -> str:
    """The name MLflow knows ``obj`` (an experiment or a registered model) by."""
    return (obj.tags or {}).get(NAME_TAG) or obj.name


def visible_tags(tags: dict[str, str] | None) -> dict[str, str]:
    """``tags`` without the name bookkeeping tag."""
    return {k: v for k, v in (tags or {}).items() if k != NAME_TAG}


def find(name: str, get: Callable[[str], T | None], scan: Callable[[], Iterable[T]]) -> T | None:
    """The object whose MLflow name is ``name``: walk the slug chain, then scan."""
    for candidate in _chain(name):
        obj = get(candidate)
        if obj is None:
            break
        if mlflow_name(obj) == name:
            return obj
    return next((obj for obj in scan() if mlflow_name(obj) == name), None)


def free(name: str, get: Callable[[str], Any | None], own: str | None = None) -> str:
    """The Mainsail name an object with MLflow name ``name`` gets: the first name of its chain that is free
    (or held by the object of id ``own`` itself, when renaming)."""
    for candidate in _chain(name):
        obj = get(candidate)
        if obj is None or (own is not None and obj.id == own):
            return candidate
    raise AssertionError("unreachable: the chain is long")


def tags_for(name: str, mainsail_name: str, tags: dict[str, str] | None = None) -> dict[str, str]:
    """``tags`` plus the name tag when the MLflow name is not the Mainsail name."""
    out = visible_tags(tags)
    if name != mainsail_name:
        out[NAME_TAG] = name
    return out


def getter(fn: Callable[[str], T]) -> Callable[[str], T | None]:
    """``fn`` answering None for a missing object instead of raising NotFound."""
    def get(name: str) -> T | None:
        try:
            return fn(name)
        except NotFound:
            return None
    return get
