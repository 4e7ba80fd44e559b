"""``mainsail data …``: ingest, versions, profile, validate, diff, head."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mainsail.cli.common import client, console, count, err_console, fmt_num, handle_errors, print_json

data_app = typer.Typer(help="Datasets: ingest, versions, profiles, validation suites, diffs.", no_args_is_help=True)


def _when(t: dt.datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else "—"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TB"


def _schema_option(items: list[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    out = {}
    for item in items:
        col, sep, typ = item.partition("=")
        if not sep or not col or not typ:
            raise typer.BadParameter(f"{item!r}: use COLUMN=TYPE, e.g. age=int64", param_hint="--schema")
        out[col] = typ
    return out


class _Bars:
    """Rich progress bars for the stages of an ingest."""

    LABELS = {"load": "read source, write Parquet", "upload": "upload", "profile": "profile and store",
              "store": "store"}

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        for other, task in self.tasks.items():  # a new stage finishes the ones before it
            if other != stage:
                t = self.progress.tasks[task]
                self.progress.update(task, total=t.total or t.completed or 1, completed=t.total or t.completed or 1)
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(self.LABELS.get(stage, stage), total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def finish(self) -> None:
        for task in self.tasks.values():
            t = self.progress.tasks[task]
            self.progress.update(task, total=t.total or t.completed or 1, completed=t.total or t.completed or 1)


@data_app.command("ingest")
@handle_errors
def ingest(
    source: str = typer.Argument(..., help="CSV/Parquet/JSONL path or s3:// URL, or a SQLAlchemy URL with --query."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset to add the version to (created if missing)."),
    query: str = typer.Option(None, "--query", "-q", help="SQL query, for a database source."),
    format: str = typer.Option(None, "--format", "-f", help="csv, parquet or jsonl (default: from the extension)."),
    schema: list[str] = typer.Option(None, "--schema", "-s", help="COLUMN=TYPE cast (repeatable), e.g. age=int64."),
    description: str = typer.Option(None, help="What this version is."),
    no_profile: bool = typer.Option(False, "--no-profile", help="Do not profile the version now."),
    suite: str = typer.Option(None, "--suite", help="Validate the new version with this suite file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Load data as a new version of a dataset (the same data again gives the same version)."""
    c = client()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=as_json or not err_console.is_terminal) as progress:
        bars = _Bars(progress)
        v = c.ingest_dataset(source, name, query=query, format=format, schema=_schema_option(schema),
                             description=description, profile=not no_profile, progress=bars)
        bars.finish()
    result = c.validate_dataset(v.ref, suite) if suite else None
    if as_json:
        print_json({"version": v.model_dump(mode="json"),
                    "validation": result.model_dump(mode="json") if result else None})
    else:
        shape = f"{count(v.row_count, 'row')} × {count(len(v.columns), 'column')}, {_size(v.size)}"
        if v.deduplicated:
            console.print(f"[yellow]unchanged[/]: [bold]{v.ref}[/] (version #{v.number}) already holds this data "
                          f"({shape}); it is the latest version", soft_wrap=True)
        else:
            console.print(f"[green]created[/] [bold]{v.ref}[/] (version #{v.number}): {shape}", soft_wrap=True)
        if result:
            _print_validation(result)
    if result is not None and not result.passed:
        raise typer.Exit(1)


@data_app.command("list")
@handle_errors
def list_datasets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List datasets."""
    items = list(client().iter_datasets())
    if as_json:
        print_json(items)
        return
    table = Table("name", "versions", "latest", "updated", "description", title=count(len(items), "dataset"))
    for d in items:
        table.add_row(d.name, str(d.version_count), d.latest_version or "—", _when(d.updated_at), d.description or "")
    console.print(table)


@data_app.command("versions")
@handle_errors
def versions(name: str, limit: int = typer.Option(50, help="Most versions to show."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A dataset's versions, newest first."""
    c = client()
    page = c.list_dataset_versions(name, limit=limit)
    if as_json:
        print_json(page.items)
        return
    latest = c.get_dataset(name).latest_version if page.items else None
    more = " (more: raise --limit)" if page.next_cursor else ""
    table = Table(title=f"{name}: {len(page.items)} version{'s' if len(page.items) != 1 else ''}{more}")
    table.add_column("#", justify="right")
    table.add_column("version", no_wrap=True, style="bold")
    table.add_column("rows × cols", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold", min_width=12)
    table.add_column("created")
    by = any(v.created_by for v in page.items)
    if by:
        table.add_column("by")
    for v in page.items:
        vid = f"{v.id} (latest)" if v.id == latest and v is not page.items[0] else v.id  # re-ingested older one
        row = [str(v.number), vid, f"{v.row_count:,} × {len(v.columns)}", _size(v.size), _source(v.source),
               _when(v.created_at)]
        table.add_row(*row, *([v.created_by or ""] if by else []))
    console.print(table)


def _source(src: dict[str, Any]) -> str:
    """A short description of where a version came from."""
    kind = str(src.get("kind") or "")
    if kind == "sql":
        query = " ".join(str(src.get("query", "")).split())
        return f"sql: {query[:60]}{'…' if len(query) > 60 else ''}"
    uri = str(src.get("uri") or "")
    if uri:
        tail = uri.rstrip("/").rsplit("/", 1)[-1]
        return f"{kind}: {tail}" if kind and not tail.lower().endswith(kind) else tail
    return kind


@data_app.command("profile")
@handle_errors
def profile(ref: str = typer.Argument(..., metavar="NAME[@VERSION]"),
            refresh: bool = typer.Option(False, help="Recompute even if stored."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per-column statistics of a version (computed and stored on first use)."""
    p = client().profile_dataset(ref, refresh=refresh)
    if as_json:
        print_json(p)
        return
    wide = console.width >= 140
    table = Table(title=f"{p.dataset}@{p.version}: {count(p.row_count, 'row')}, {count(len(p.columns), 'column')}")
    table.add_column("column", no_wrap=True, style="bold")
    table.add_column("type", no_wrap=True)
    for head in ("nulls", "distinct"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("min")
    table.add_column("max")
    table.add_column("mean ± std" if wide else "mean", justify="right", no_wrap=True)
    if wide:
        table.add_column("p50", justify="right")
    table.add_column("top values")
    for col in p.columns:
        tops = [] if all(t.count <= 1 for t in col.top_values) else col.top_values[:3 if wide else 1]
        top = ", ".join(f"{_short(t.value)} ({t.count:,})" for t in tops)
        if col.top_values_approx and top:
            top = "~ " + top
        distinct = "—" if col.distinct is None else ("~" if col.distinct_approx else "") + f"{col.distinct:,}"
        nulls = f"{col.nulls:,}" + (f" ({col.null_fraction:.1%})" if col.nulls else "")
        mean = fmt_num(col.mean) + (f" ± {fmt_num(col.std)}" if wide and col.std is not None else "")
        row = [col.name, _type(col.type), nulls, distinct, _short(col.min), _short(col.max), mean]
        if wide:
            row.append(_short(col.quantiles.get("p50")))
        table.add_row(*row, top)
    console.print(table)


def _type(t: str) -> str:
    return {"double": "float64", "float": "float32"}.get(t, t.replace("timestamp[", "ts[").replace(", tz=", ","))


_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?([+-]00:00|Z)?$")


def _short(v: Any) -> str:
    """A cell: numbers to 4 significant digits, ISO timestamps as ``YYYY-MM-DD HH:MM:SS``, long text cut."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return fmt_num(v)
    s = str(v)
    if m := _ISO.match(s):
        s = f"{m.group(1)} {m.group(2)}" if m.group(2) != "00:00:00" else m.group(1)
    return s if len(s) <= 25 else s[:24] + "…"


def _print_validation(r: Any) -> None:
    table = Table("check", "result", "failing", "details", title=f"suite {r.suite} on {r.dataset}@{r.version}: "
                  + ("[green]passed[/]" if r.passed else "[red]failed[/]"))
    for ch in r.checks:
        rows = ", ".join(f"row {f.row}: {_short(f.value)}" for f in ch.failing_rows[:3])
        details = ch.message + (f"; e.g. {rows}" if rows else "")
        table.add_row(ch.name, "[green]pass[/]" if ch.passed else "[red]FAIL[/]",
                      "—" if ch.failing_count is None else f"{ch.failing_count:,}", details)
    console.print(table)


@data_app.command("validate")
@handle_errors
def validate(ref: str = typer.Argument(..., metavar="NAME[@VERSION]"),
             suite: str = typer.Option(..., "--suite", help="Suite file (YAML)."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Run a validation suite on a version (latest by default); exits 1 if any check fails."""
    r = client().validate_dataset(ref, suite)
    if as_json:
        print_json(r)
    else:
        _print_validation(r)
    if not r.passed:
        raise typer.Exit(1)


@data_app.command("diff")
@handle_errors
def diff(name: str, base: str, other: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What changed between two versions: schema, row count, distributions."""
    d = client().diff_dataset_versions(name, base, other)
    if as_json:
        print_json(d)
        return
    console.print(f"[bold]{d.dataset}[/] {d.base} → {d.other}: rows {d.row_count_base:,} → {d.row_count_other:,} "
                  f"({d.row_count_change:+,})" + ("  [dim](identical data)[/]" if d.same_data else ""))
    for c in d.added:
        console.print(f"  [green]+ {c.name}[/] {c.type}")
    for c in d.removed:
        console.print(f"  [red]- {c.name}[/] {c.type}")
    for t in d.retyped:
        console.print(f"  [yellow]~ {t.column}[/] {t.base_type} → {t.other_type}")
    table = Table(title="distribution shift (yellow: PSI > 0.2 or KS > 0.1)")
    table.add_column("column", no_wrap=True, style="bold")
    table.add_column("kind", no_wrap=True)
    for head in ("mean Δ", "std Δ", "KS", "PSI"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("largest share changes")
    for s in d.shifts:
        tops = ", ".join(f"{_short(v.value)} {v.base_share:.2%}→{v.other_share:.2%}" for v in s.top_values[:3]
                         if abs(v.change) >= 5e-5)
        style = "yellow" if (s.psi or 0) > 0.2 or (s.ks or 0) > 0.1 else None
        table.add_row(s.column, s.kind, _signed(s.mean_change), _signed(s.std_change), _stat(s.ks), _stat(s.psi),
                      tops, style=style)
    console.print(table)


def _signed(v: float | None) -> str:
    return "—" if v is None else f"{v:+.4g}"


def _stat(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


@data_app.command("head")
@handle_errors
def head(ref: str = typer.Argument(..., metavar="NAME[@VERSION]"),
         columns: str = typer.Option(None, "--columns", "-c", help="Comma-separated columns."),
         where: str = typer.Option(None, "--where", "-w", help="SQL condition, e.g. \"age > 60\"."),
         limit: int = typer.Option(10, "--limit", "-l", help="Rows to show."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON records.")) -> None:
    """Show the first rows of a version (projection and filter pushed down to the Parquet scan)."""
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    table = client().load_dataset(ref, columns=cols, where=where, limit=limit, as_="arrow")
    if as_json:
        from mainsail.data.profiles import jsonable

        print_json([{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()])
        return
    out = Table(*table.column_names, title=f"{ref}: {count(table.num_rows, 'row')}")
    for row in table.to_pylist():
        out.add_row(*(_short(v) for v in row.values()))
    console.print(out)
