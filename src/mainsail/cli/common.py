"""Shared CLI pieces: the client from ``--uri``/``MAINSAIL_URI``, error display, JSON output."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from mainsail.core.errors import MainsailError
from mainsail.core.text import count

__all__ = ["client", "console", "count", "err_console", "fmt_num", "handle_errors", "live", "print_json", "set_uri",
           "threshold"]

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
_uri: str | None = None


def set_uri(uri: str | None) -> None:
    global _uri
    _uri = uri


def client() -> Any:
    from mainsail.client import Client

    return Client(_uri)


def handle_errors(fn: F) -> F:
    """Print a Mainsail error as one clear line (with its field list) and exit 1, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MainsailError as exc:
            # soft_wrap: an error stays one line however long its paths are (scripts grep it);
            # escape: details may hold brackets, e.g. a list of allowed values
            err_console.print(f"[bold red]error[/] ({exc.code}): {escape(str(exc.detail))}", soft_wrap=True)
            for e in exc.errors[:10]:
                loc = ".".join(str(p) for p in e.get("loc", []))
                err_console.print(f"  [red]•[/] {escape(loc)}: {escape(str(e.get('msg', '')))}", soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def live(renderable: Any, *, refresh_per_second: float = 4, out: Console | None = None) -> Iterator[Any]:
    """A rich ``Live`` view whose last frame ends with a line end also when output is not a terminal (rich
    leaves it open, so the next line printed would start on the table's last line)."""
    from rich.live import Live

    target = out or console
    try:
        with Live(renderable, console=target, refresh_per_second=refresh_per_second) as view:
            yield view
    finally:
        if not target.is_terminal:
            target.line()


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def threshold(text: str) -> tuple[str, str]:
    """``auc>=0.8`` → ``("auc", ">= 0.8")``: a metric guard as the gate and rollout options take it."""
    for op in (">=", "<=", "==", "!=", ">", "<"):
        if op in text:
            metric, _, value = text.partition(op)
            return metric.strip(), f"{op} {value.strip()}"
    raise typer.BadParameter(f"{text!r}: expected METRIC OP NUMBER, e.g. auc>=0.8")


def fmt_num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
