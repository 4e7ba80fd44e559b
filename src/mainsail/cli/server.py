"""``mainsail server``: API, docs and background services in one process."""

from __future__ import annotations

import typer

from mainsail.cli import common
from mainsail.cli.common import console, handle_errors


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, *, auth: bool, insecure: bool) -> None:
    """Refuse to serve a non-loopback address without auth unless ``--insecure`` says so."""
    from mainsail.core.errors import InvalidInput

    if not auth and not insecure and not is_loopback(host):
        raise InvalidInput(
            f"refusing to serve {host} without authentication: anyone who can reach it could read and change "
            "everything. Start with --auth (MAINSAIL_AUTH=1), or pass --insecure to accept the risk",
            code="insecure_refused")


def first_admin(runtime: object) -> None:
    """On the first start with auth on: create user 'admin' and print its password once (or take
    MAINSAIL_ADMIN_PASSWORD)."""
    import os

    from mainsail.auth.service import bootstrap_admin

    given = os.environ.get("MAINSAIL_ADMIN_PASSWORD") or None
    with runtime.transaction() as ctx:  # type: ignore[attr-defined]
        password = bootstrap_admin(ctx.session, given)
    if password and not given:
        console.print(f"created user [bold]admin[/] (admin of every project); one-time password: "
                      f"[bold]{password}[/]\n  sign in with: mainsail login --url URL --username admin "
                      "(then change it: mainsail users passwd admin)", soft_wrap=True)
    elif password:
        console.print("created user [bold]admin[/] with the password in MAINSAIL_ADMIN_PASSWORD")


@handle_errors
def server(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8080, help="Port to listen on."),
    background: bool = typer.Option(True, "--background/--no-background",
                                     help="Run the event dispatcher and other background services."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
    deployments: str = typer.Option(
        None, "--deployments", help="Host deployments in this process at /deployments/NAME/predict and OIP "
                                    "/v2/models/NAME/…: 'all', 'none' or NAME,NAME (default: all when the "
                                    "metadata store is embedded SQLite and background services run)."),
    auth: bool = typer.Option(None, "--auth/--no-auth",
                              help="Every request must authenticate (default: MAINSAIL_AUTH). The first start "
                                   "creates user 'admin' (password: MAINSAIL_ADMIN_PASSWORD, else printed once)."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Allow a non-loopback address without auth (anyone who can reach it can "
                                       "do anything)."),
    ssl_certfile: str = typer.Option(None, "--ssl-certfile", help="TLS certificate (PEM): serve HTTPS."),
    ssl_keyfile: str = typer.Option(None, "--ssl-keyfile", help="TLS private key (PEM) of --ssl-certfile."),
) -> None:
    """Serve the REST API (/api/v1), /docs, /health, /ready and /metrics (and hosted deployments)."""
    import uvicorn

    from mainsail.api.app import create_app
    from mainsail.core.errors import InvalidInput, redact
    from mainsail.core.events import Dispatcher
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings
    from mainsail.serving.host import DeploymentHost, parse_names

    if common._uri and common._uri.startswith(("http://", "https://")):
        raise InvalidInput(f"the server needs a database URI (sqlite:///…, postgresql+psycopg://…), not a server "
                           f"URL ({common._uri})", code="database_uri_required")
    settings = Settings.from_env().with_uri(common._uri)  # --uri, else MAINSAIL_URI, else the embedded home
    auth = settings.auth if auth is None else auth
    check_exposure(host, auth=auth, insecure=insecure)
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise InvalidInput("--ssl-certfile and --ssl-keyfile go together", code="tls_incomplete")
    runtime = Runtime.for_settings(settings)
    if auth:
        first_admin(runtime)
    app = create_app(runtime=runtime, auth=auth)
    dispatcher = Dispatcher(runtime) if background else None
    rollouts = None
    stop_pipelines = None
    stop_reaper = None
    stop_monitors = None
    stop_alerts = None
    stop_budgets = None
    stop_collab = None
    stop_loops = None
    if dispatcher:
        from mainsail.client.client import Client
        from mainsail.serving.rollout import RolloutController

        dispatcher.start()
        # time-based canary steps advance even when no replica reports
        rollouts = RolloutController(Client(settings.uri, artifact_root=settings.artifact_root)).start()
        from mainsail.pipelines.host import start_background

        stop_pipelines = start_background(runtime)  # cron schedules, event triggers, local task executor
        from mainsail.tracking.heartbeat import start_reaper

        stop_reaper = start_reaper(runtime)  # runs whose process died (no heartbeat) are marked killed
        from mainsail.monitoring.host import start_background as start_monitors

        stop_monitors = start_monitors(runtime)  # monitors on their cron schedule and on new dataset versions
        from mainsail.alerts.host import start_background as start_alerts

        stop_alerts = start_alerts(runtime)  # alert rules on monitor results, notification deliveries
        from mainsail.costs.host import start_background as start_budgets

        stop_budgets = start_budgets(runtime)  # budget thresholds into the alert rules, every 5 minutes
        from mainsail.collab.host import start_background as start_collab

        stop_collab = start_collab(runtime)  # the activity feed and watchers' notifications, as events arrive
        from mainsail.loops.host import start_background as start_loops

        stop_loops = start_loops(runtime)  # closed loops: drift/alert → retrain → gate → canary → promote
    hosting = None
    enabled, hosted = parse_names(deployments, embedded=settings.uri.startswith("sqlite"), background=background)
    if enabled:
        from mainsail.client.client import Client

        hosting = DeploymentHost(Client(settings.uri, artifact_root=settings.artifact_root), hosted).start()
        hosting.mount(app)
        console.print(f"hosting deployments: {', '.join(hosted) if hosted else 'all'} "
                      f"(now {', '.join(f'{p}/{n}' for p, n in sorted(hosting.apps)) or 'none'}) at "
                      "/deployments/NAME/predict and /projects/PROJECT/deployments/NAME/predict")
    from mainsail.core.heap import settle

    settle()  # imports, the app and hosted models out of the full collections' way (see core/heap.py)
    scheme = "https" if ssl_certfile else "http"
    console.print(f"Mainsail server on [bold]{scheme}://{host}:{port}[/]  (UI at /, API docs at /docs)  "
                  f"metadata: {redact(settings.uri)}  auth: {'on' if auth else 'off'}")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                    ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    finally:
        if hosting:
            hosting.stop()
        if stop_pipelines:
            stop_pipelines()
        if stop_reaper:
            stop_reaper()
        if stop_monitors:
            stop_monitors()
        if stop_alerts:
            stop_alerts()
        if stop_budgets:
            stop_budgets()
        if stop_collab:
            stop_collab()
        if stop_loops:
            stop_loops()
        if rollouts:
            rollouts.stop()
        if dispatcher:
            dispatcher.stop()
