"""``mainsail quickstart``: the whole loop that exists so far, embedded, on generated churn data."""

from __future__ import annotations

import time

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mainsail.cli.common import console, handle_errors


@handle_errors
def quickstart(
    rows: int = typer.Option(5000, help="Customers to generate."),
    experiment: str = typer.Option("churn-quickstart", help="Experiment to track the runs in."),
) -> None:
    """Generate churn data, ingest, profile and validate it as dataset version churn@…, train and track three
    models on it, register the best through a quality gate (its lineage points at the data)."""
    import mainsail
    from mainsail.cli import common
    from mainsail.core.errors import InvalidInput
    from mainsail.quickstart.churn import make_churn
    from mainsail.quickstart.data import ingest_and_validate
    from mainsail.quickstart.train import CANDIDATES, train_one

    if common._uri:
        mainsail.set_tracking_uri(common._uri)
    client = mainsail.get_client()
    console.print(f"[bold]Mainsail quickstart[/]  metadata: {client.uri}")
    started = time.perf_counter()
    results = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        t = progress.add_task("generate churn data", total=1)
        df = make_churn(rows)
        progress.update(t, completed=1, description=f"generated {len(df):,} customers, churn rate "
                                                    f"{df['churned'].mean():.1%}")
        t = progress.add_task("ingest, profile and validate dataset churn", total=1)
        dataset, validation = ingest_and_validate(client, df)
        passed = sum(c.passed for c in validation.checks)
        progress.update(t, completed=1, description=f"dataset {dataset.ref} (version #{dataset.number}): profiled, "
                                                    f"{passed}/{len(validation.checks)} checks passed")
        if not validation.passed:
            progress.stop()
            failed = "; ".join(f"{c.name}: {c.message}" for c in validation.failed)
            raise InvalidInput(f"the churn data failed suite {validation.suite}, so no model trains on it: {failed}",
                               code="validation_failed")
        df = client.load_dataset(dataset.ref)  # train on exactly the stored version
        mainsail.set_experiment(experiment)
        for name in CANDIDATES:
            steps = CANDIDATES[name][1].get("n_estimators", 1) if name == "gradient_boosting" else 1
            task = progress.add_task(f"train {name}", total=steps)
            res = train_one(name, df, on_step=lambda task=task: progress.advance(task), dataset_version=dataset.ref)
            progress.update(task, completed=steps, description=f"trained {name}: auc {res.metrics['auc']:.3f}")
            results.append(res)
    best = max(results, key=lambda r: r.metrics["auc"])
    table = Table("model", "run", "auc", "accuracy", "f1", "log_loss", title="churn models (test split)")
    for r in sorted(results, key=lambda r: -r.metrics["auc"]):
        style = "bold green" if r is best else None
        table.add_row(r.model_name, r.run_id[:12], f"{r.metrics['auc']:.4f}", f"{r.metrics['accuracy']:.4f}",
                      f"{r.metrics['f1']:.4f}", f"{r.metrics['log_loss']:.4f}", style=style)
    console.print(table)
    from mainsail.quickstart.register import GATE, register_best

    version, champion = register_best(best.run_id)
    gate = ", ".join(f"{k} {v}" for k, v in GATE.items())
    sample = df.head(3)
    predicted = np.asarray(champion.predict(sample)).tolist()
    console.print(f"registered [bold]{version.name} v{version.version}[/] through the gate ({gate}), "
                  f"stage [bold green]{version.stage}[/], aliases {', '.join(version.aliases)}; "
                  f"models:/churn@champion predicts churned={escape(str(predicted))} for customers "
                  f"{escape(str(sample['customer_id'].tolist()))}")
    console.print(f"data: [bold]{dataset.ref}[/] (version #{dataset.number}, {dataset.row_count:,} rows), profiled "
                  f"and validated by suite {validation.suite} ({len(validation.checks)} checks passed); every run "
                  f"is tagged with it, so {version.name} v{version.version}'s lineage points at it")
    console.print(f"best: [bold]{best.model_name}[/] (run {best.run_id}) in {time.perf_counter() - started:.1f}s\n"
                  f"next: [cyan]mainsail runs list -e {experiment} -o 'metrics.auc DESC'[/]   "
                  f"[cyan]mainsail data profile {dataset.ref}[/]   "
                  f"[cyan]mainsail models lineage churn {version.version}[/]   "
                  f"[cyan]mainsail runs compare {' '.join(r.run_id[:12] for r in results)}[/]   "
                  f"[cyan]mainsail models show churn[/]   [cyan]mainsail models card churn {version.version}[/]")
