"""``mainsail pipelines …`` and ``mainsail worker``: define, run, follow and schedule pipelines."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from typing import Any

import typer
from rich.table import Table

from mainsail.cli.common import client, console, count, err_console, handle_errors, live, print_json

pipelines_app = typer.Typer(help="Pipelines: apply definitions, run, follow, logs, cancel, schedule.",
                            no_args_is_help=True)
STATE_STYLE = {"pending": "dim", "queued": "cyan", "running": "bold yellow", "succeeded": "green",
               "failed": "bold red", "skipped": "dim", "cancelled": "magenta"}


def _kv(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        # a number JSON cannot carry (a 40-digit git SHA, '12e4567' -> inf) stays the text it was
        if (isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63) or (
                isinstance(value, float) and not math.isfinite(value)):
            value = raw
        out[key] = value
    return out


def _secs(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def dag_table(run: Any) -> Table:
    """The run's tasks with state, attempts, time and output (or error) — the CLI's view of a DAG."""
    title = (f"{run.pipeline} v{run.version} · run {run.id} · [{STATE_STYLE.get(run.status, '')}]{run.status}[/]")
    table = Table("task", "operator", "after", "state", "try", "time", "output / error", title=title,
                  title_justify="left")
    for t in run.tasks:
        state = f"[{STATE_STYLE.get(t.status, '')}]{t.status}[/]" + (" (cached)" if t.cached else "")
        detail = t.error if t.error else ("" if t.output is None else json.dumps(t.output, default=str))
        table.add_row(t.name, t.operator, ", ".join(t.depends_on) or "—", state, str(t.attempt or "—"),
                      _secs(t.seconds), (detail or "")[:80])
    return table


@pipelines_app.command("apply")
@handle_errors
def apply(file: str = typer.Argument(..., help="A .json, .yaml or .py (with @pipeline) definition.")) -> None:
    """Register (or update: a changed definition is a new version) the pipelines in FILE."""
    out = client().apply_pipeline(file)
    for v in out if isinstance(out, list) else [out]:
        state = "[green]new version[/]" if v.created else "[dim]unchanged[/]"
        console.print(f"{v.name} v{v.version}  {state}  {count(len(v.spec.tasks), 'task')}  id {v.pipeline_id}")


@pipelines_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List pipelines."""
    items = client().list_pipelines(limit=1000).items
    if as_json:
        print_json(items)
        return
    table = Table("name", "version", "tasks", "description", "updated", title=count(len(items), "pipeline"))
    for p in items:
        table.add_row(p.name, str(p.latest_version), str(p.tasks), (p.description or "")[:60],
                      p.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@pipelines_app.command("show")
@handle_errors
def show(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a pipeline's tasks and its recent runs."""
    c = client()
    p = c.get_pipeline(name)
    if as_json:
        print_json(p)
        return
    console.print(f"[bold]{p.name}[/] v{p.latest_version}  id {p.id}  params {json.dumps(p.spec.params)}")
    from mainsail.pipelines.dag import validate

    upstream = validate(p.spec, prefix=(), defer=True).upstream  # explicit and from ${tasks.…} references
    table = Table("task", "operator", "depends on", "retries", "timeout", "cache", "resources", "params")
    for t in p.spec.tasks:
        table.add_row(t.name, t.operator, ", ".join(upstream[t.name]) or "—", str(t.retries),
                      _secs(t.timeout) if t.timeout else "—", "—" if t.cache is None else str(t.cache).lower(),
                      _resources(t.resources), json.dumps(t.params)[:60])
    console.print(table)
    _runs_table(c.list_pipeline_runs(pipeline=p.name, limit=10).items)


def _resources(r: Any) -> str:
    if r is None:
        return "—"
    parts = [f"{v:g} {unit}" for v, unit in ((r.cpus, "cpu"), (r.memory_gb, "GiB"), (r.gpus, "gpu")) if v]
    return " ".join(parts + (["spot"] if r.spot else [])) or "—"


def _runs_table(runs: list[Any]) -> None:
    table = Table("run", "pipeline", "version", "status", "tasks", "trigger", "started", "took")
    for r in runs:
        took = (r.finished_at - r.started_at).total_seconds() if r.finished_at and r.started_at else None
        table.add_row(r.id, r.pipeline, str(r.version), f"[{STATE_STYLE.get(r.status, '')}]{r.status}[/]",
                      " ".join(f"{k}:{v}" for k, v in sorted(r.counts.items())), r.trigger.get("kind", "—"),
                      r.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), _secs(took))
    console.print(table)


@pipelines_app.command("runs")
@handle_errors
def runs(name: str = typer.Argument(None, help="Only this pipeline's runs."),
         status: str = typer.Option(None, help="queued, running, succeeded, failed or cancelled."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List pipeline runs, newest first."""
    items = client().list_pipeline_runs(pipeline=name, status=status, limit=100).items
    if as_json:
        print_json(items)
        return
    _runs_table(items)


def _follow(c: Any, run_id: str, executing: threading.Thread | None) -> Any:
    run = c.get_pipeline_run(run_id)
    with live(dag_table(run)) as view:
        while not run.done and (executing is None or executing.is_alive()):
            time.sleep(0.25)
            run = c.get_pipeline_run(run_id)
            view.update(dag_table(run))
        if executing is not None:
            executing.join()
        run = c.get_pipeline_run(run_id)
        view.update(dag_table(run))
    return run


def _finish(run: Any) -> None:
    if run.status == "succeeded":
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else 0
        console.print(f"[green]run {run.id} succeeded[/] in {_secs(took)}")
        return
    if run.done:
        err_console.print(f"[bold red]run {run.id} {run.status}[/]: {run.error or ''}  "
                          f"(logs: mainsail pipelines logs {run.id} TASK)")
    else:
        err_console.print(f"run {run.id} is still {run.status}; resume with: mainsail pipelines resume {run.id}")
    raise typer.Exit(1)


EXECUTOR_HELP = "Where tasks run (embedded): 'local' processes or 'ray' (default MAINSAIL_PIPELINE_EXECUTOR or local)."
RAY_HELP = "The Ray cluster for --executor ray (default MAINSAIL_RAY_ADDRESS, else a local one)."


def _executor_args(executor: str | None, ray_address: str | None) -> dict[str, Any]:
    if executor not in (None, "local", "ray"):
        raise typer.BadParameter(f"{executor!r}: expected local or ray", param_hint="--executor")
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise typer.BadParameter("the Ray executor needs Ray: pip install 'mainsail[ray]'", param_hint="--executor")
    return {"executor": executor, "ray_address": ray_address}


def _execute(c: Any, run_id: str, processes: int | None, resume: bool = False,
             executor: dict[str, Any] | None = None) -> Any:
    if not c.is_remote:
        fn = c.resume_pipeline_run if resume else c.wait_pipeline_run
        failure: list[BaseException] = []

        def target() -> None:
            try:
                fn(run_id, processes=processes, **(executor or {}))
            except BaseException as exc:  # noqa: BLE001 - reported after the live view ends
                failure.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        run = _follow(c, run_id, thread)
        if failure:
            raise failure[0]
        return run
    return _follow(c, run_id, None)


@pipelines_app.command("run")
@handle_errors
def run(name: str, param: list[str] = typer.Option(None, "--param", "-p", help="KEY=VALUE (JSON or text)."),
        version: int = typer.Option(None, help="Run this version (default: latest)."),
        detach: bool = typer.Option(False, "--detach", "-d", help="Start it and return at once."),
        processes: int = typer.Option(None, help="Local processes, or concurrent Ray tasks (embedded; default: "
                                      "CPU count)."),
        executor: str = typer.Option(None, help=EXECUTOR_HELP),
        ray_address: str = typer.Option(None, "--ray-address", help=RAY_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON.")) -> None:
    """Run a pipeline and follow its DAG live (or --detach)."""
    ex = _executor_args(executor, ray_address)
    c = client()
    r = c.run_pipeline(name, _kv(param, "--param"), version=version, wait=False)
    if detach:
        if not c.is_remote:  # embedded: a background worker process executes it
            home = c._backend.runtime.settings.home
            out = open(os.path.join(home, f"pipeline-run-{r.id}.log"), "ab")  # noqa: SIM115
            extra = [*(["--executor", executor] if executor else []),
                     *(["--ray-address", ray_address] if ray_address else [])]
            subprocess.Popen([sys.executable, "-m", "mainsail.cli.main", "--uri", c.uri, "worker", "--run", r.id,
                              *extra], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        console.print(f"started run {r.id}  (follow: mainsail pipelines status {r.id})")
        return
    if as_json:
        if not c.is_remote:
            c.wait_pipeline_run(r.id, processes=processes, **ex)
        print_json(c.wait_pipeline_run(r.id, execute=False))
        return
    _finish(_execute(c, r.id, processes, executor=ex))


@pipelines_app.command("resume")
@handle_errors
def resume(run_id: str, processes: int = typer.Option(None, help="Local processes."),
           executor: str = typer.Option(None, help=EXECUTOR_HELP),
           ray_address: str = typer.Option(None, "--ray-address", help=RAY_HELP)) -> None:
    """Finish a run whose process died; finished tasks are never run again (RUN_ID or a unique prefix)."""
    c = client()
    _finish(_execute(c, c.get_pipeline_run(run_id).id, processes, resume=True,
                     executor=_executor_args(executor, ray_address)))


@pipelines_app.command("status")
@handle_errors
def status(run_id: str, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           watch: bool = typer.Option(False, "--watch", "-w", help="Follow until it ends.")) -> None:
    """A run's DAG: each task's state, attempts, time and output (RUN_ID or a unique prefix)."""
    c = client()
    run = c.get_pipeline_run(run_id)
    if as_json:
        print_json(run)
        return
    if watch:
        _follow(c, run.id, None)
        return
    console.print(dag_table(run))


@pipelines_app.command("logs")
@handle_errors
def logs(run_id: str, task: str = typer.Argument(None, help="One task (default: every task with a log)."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing TASK's output until it ends.")
         ) -> None:
    """Print a task's captured stdout and stderr (tracebacks included), also while it runs
    (RUN_ID or a unique prefix)."""
    from mainsail.core.errors import NotFound

    c = client()
    run = c.get_pipeline_run(run_id)
    if task:
        if follow:
            _follow_log(c, run.id, task)
        else:
            sys.stdout.write(c.pipeline_task_log(run.id, task))
        return
    for t in run.tasks:
        if t.has_log or t.status == "running":
            with contextlib.suppress(NotFound):  # a running task on another host, or one that wrote nothing
                text = c.pipeline_task_log(run.id, t.name)
                console.rule(f"{t.name} · {t.status}")
                sys.stdout.write(text)


def _follow_log(c: Any, run_id: str, task: str, poll: float = 0.5) -> None:
    """Print a task's log as it grows, until the task is no longer queued or running."""
    from mainsail.core.errors import NotFound

    shown = 0
    while True:
        state = next((t.status for t in c.get_pipeline_run(run_id).tasks if t.name == task), None)
        if state is None:
            raise typer.BadParameter(f"run {run_id} has no task {task!r}", param_hint="TASK")
        text = ""
        with contextlib.suppress(NotFound):
            text = c.pipeline_task_log(run_id, task)
        if len(text) < shown:  # a new attempt started: its log starts over
            sys.stdout.write("\n--- new attempt ---\n")
            shown = 0
        sys.stdout.write(text[shown:])
        sys.stdout.flush()
        shown = len(text)
        if state not in ("pending", "queued", "running"):
            return
        time.sleep(poll)


@pipelines_app.command("cancel")
@handle_errors
def cancel(run_id: str) -> None:
    """Cancel a run (running tasks are killed); RUN_ID or a unique prefix."""
    r = client().cancel_pipeline_run(run_id)
    console.print(f"run {r.id}: {r.status}" + (" (running tasks are being stopped)" if not r.done else ""))


@pipelines_app.command("schedule")
@handle_errors
def schedule(name: str, cron: str = typer.Option(None, help="Cron expression, e.g. '0 3 * * *' (UTC)."),
             event: str = typer.Option(None, help="Event type, e.g. drift.detected or dataset.*"),
             filter: list[str] = typer.Option(None, "--filter", "-f", help="KEY=VALUE on the event payload."),
             param: list[str] = typer.Option(None, "--param", "-p", help="Run param KEY=VALUE; "
                                             "'${event.KEY}' takes it from the event.")) -> None:
    """Run a pipeline on a cron schedule or on matching events."""
    s = client().schedule_pipeline(name, cron=cron, event=event, filter=_kv(filter, "--filter"),
                                   params=_kv(param, "--param"))
    when = f"cron {s.cron} (next {s.next_fire_at:%Y-%m-%d %H:%M} UTC)" if s.cron else f"on {s.event}"
    console.print(f"schedule {s.id}: {s.pipeline} {when}")


@pipelines_app.command("schedules")
@handle_errors
def schedules(name: str = typer.Argument(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """List schedules and event triggers."""
    items = client().list_pipeline_schedules(name)
    if as_json:
        print_json(items)
        return
    table = Table("id", "pipeline", "kind", "when", "filter", "params", "last fired")
    for s in items:
        table.add_row(s.id, s.pipeline, s.kind, s.cron or s.event or "", json.dumps(s.filter), json.dumps(s.params),
                      s.last_fired_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if s.last_fired_at else "—")
    console.print(table)


@pipelines_app.command("unschedule")
@handle_errors
def unschedule(schedule_id: str) -> None:
    """Delete a schedule or event trigger."""
    client().delete_pipeline_schedule(schedule_id)
    console.print(f"deleted schedule {schedule_id}")


@handle_errors
def worker(processes: int = typer.Option(None, help="Task processes (default: CPU count)."),
           lease: float = typer.Option(None, help="Lease seconds (default MAINSAIL_TASK_LEASE or 30)."),
           run_id: str = typer.Option(None, "--run", help="Only this run; exit when it ends."),
           executor: str = typer.Option(None, help="Run tasks on 'local' processes or on 'ray' (default "
                                        "MAINSAIL_PIPELINE_EXECUTOR or local)."),
           ray_address: str = typer.Option(None, "--ray-address", help=RAY_HELP),
           health_port: int = typer.Option(None, "--health-port", envvar="MAINSAIL_WORKER_HEALTH_PORT",
                                           help="Answer /health, /ready and /metrics on this port (0: any free "
                                                "port; default: no endpoint)."),
           health_host: str = typer.Option("127.0.0.1", "--health-host", envvar="MAINSAIL_WORKER_HEALTH_HOST",
                                           help="Address of the health endpoint (0.0.0.0 in a container).")) -> None:
    """Take pipeline tasks from the database queue and run them (several workers share one queue), on local
    processes or on a Ray cluster."""
    import signal

    from mainsail.core.errors import InvalidInput
    from mainsail.core.runtime import Runtime
    from mainsail.pipelines.worker import Worker

    c = client()
    if c.is_remote:
        raise InvalidInput("a worker takes tasks from the database: set MAINSAIL_URI (or --uri) to the metadata "
                           "database, not the server URL", errors=[{"loc": ["uri"], "msg": "a database URL"}])
    runtime: Runtime = c._backend.runtime
    if run_id:
        run_id = c.get_pipeline_run(run_id).id
    w = Worker(runtime, processes=processes, lease=lease, run_id=run_id, **_executor_args(executor, ray_address))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    where = f"Ray cluster {w.ray_address}, {w.pool.size} at once" if w.executor == "ray" else count(w.pool.size, "process", "processes")
    console.print(f"worker {w.owner}: {where}, lease {w.lease:g}s, queue {c.uri}")
    if health_port is not None:
        from mainsail.pipelines.health import serve

        host, port = serve(w.health, health_host, health_port).server_address[:2]
        console.print(f"health endpoint http://{host}:{port}/health (/ready, /metrics)")
    with contextlib.suppress(KeyboardInterrupt):
        w.run(stop)
