"""``mainsail labels …``: push ground truth from a file, show measured performance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from mainsail.cli.common import client, console, fmt_num, handle_errors, print_json

labels_app = typer.Typer(help="Ground truth by request id and the performance it measures.", no_args_is_help=True)


def read_labels(path: Path, request_id_column: str, label_column: str) -> object:
    """A CSV or Parquet file's two columns as an Arrow table (``typer.BadParameter`` naming the problem)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise typer.BadParameter(f"{path}: no such file", param_hint="FILE")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix in (".csv", ".txt"):
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={request_id_column: pa.string()}))
        else:
            raise typer.BadParameter(f"{path}: expected a .csv or .parquet file", param_hint="FILE")
    except (pa.ArrowInvalid, OSError) as exc:
        raise typer.BadParameter(f"{path}: {str(exc).splitlines()[0]}", param_hint="FILE") from None
    missing = [c for c in (request_id_column, label_column) if c not in table.column_names]
    if missing:
        raise typer.BadParameter(f"{path} has no column {missing[0]!r} (columns: {', '.join(table.column_names)})",
                                 param_hint="--request-id-column/--label-column")
    return table.select([request_id_column, label_column])


@labels_app.command("push")
@handle_errors
def push(file: Path = typer.Argument(..., help="A CSV or Parquet file with a request id and a label column."),
         deployment: str = typer.Option(..., "--deployment", "-d", help="The deployment that served the requests."),
         request_id_column: str = typer.Option("request_id", help="Column of request ids."),
         label_column: str = typer.Option("label", help="Column of true labels."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Push ground truth by request id (replacing earlier labels of the same requests)."""
    table = read_labels(file, request_id_column, label_column)
    res = client().push_labels(deployment, table, request_id_column=request_id_column, label_column=label_column)
    if as_json:
        print_json(res)
        return
    console.print(f"{res.received} labels for [bold]{deployment}[/]: {res.inserted} new, {res.updated} replaced")
    if res.unknown:
        console.print(f"[yellow]{res.unknown} name a request id in no inference log (yet)[/]: "
                      f"{', '.join(res.unknown_sample[:5])}{' …' if res.unknown > 5 else ''}")


@labels_app.command("performance")
@handle_errors
def performance(deployment: str = typer.Argument(..., help="Deployment name."),
                start: dt.datetime = typer.Option(None, help="Window start (default: 24 hours before end)."),
                end: dt.datetime = typer.Option(None, help="Window end (default: now)."),
                window: str = typer.Option(None, help="Window size, e.g. 1h (default: one window)."),
                variant: str = typer.Option(None, help="Only this variant."),
                task: str = typer.Option(None, help="classification or regression (default: guessed)."),
                estimate: bool = typer.Option(False, "--estimate", help="Also CBPE estimates from the logged "
                                              "probabilities (marked estimated)."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Measured performance per window and variant, from the labels joined to the inference logs."""
    rep = client().get_performance(deployment, start=start, end=end, window=window, variant=variant, task=task,
                                   estimate=estimate)
    if as_json:
        print_json(rep)
        return
    metrics = list(dict.fromkeys(f"~{r.test}" if r.estimated else r.test for r in rep.results))
    t = Table("window start", "variant", "rows", "labeled", "metrics",
              title=f"{deployment}: {rep.task}, {rep.labels} labels ({rep.unmatched_labels} unmatched)")
    rows: dict[tuple[object, str], dict[str, object]] = {}
    for r in rep.results:
        row = rows.setdefault((r.window_start, r.variant), {"rows": r.rows, "labeled": r.labeled})
        row[f"~{r.test}" if r.estimated else r.test] = r.value
    for (w0, v), row in rows.items():
        t.add_row(w0.astimezone().strftime("%Y-%m-%d %H:%M"), v, str(row["rows"]), str(row["labeled"]),
                  "  ".join(f"{m} {fmt_num(row.get(m))}" for m in metrics))  # type: ignore[arg-type]
    console.print(t)
    if estimate:
        console.print("~: estimated by CBPE from the predicted probabilities, without labels")
    for note in rep.notes:
        console.print(f"[yellow]{note}[/]")
