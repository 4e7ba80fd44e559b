"""``mainsail alerts …``: open alerts, acknowledge, silence; rules and notification channels."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from mainsail.cli.common import client, console, count, fmt_num, handle_errors, print_json

alerts_app = typer.Typer(help="Alerts: open alerts, acknowledge, silence; alert rules and notification channels.",
                         no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules: list, add, remove.", no_args_is_help=False, invoke_without_command=True)
channels_app = typer.Typer(help="Notification channels: list, add, test, remove.", invoke_without_command=True)
silences_app = typer.Typer(help="Silences: list, expire.", invoke_without_command=True)
alerts_app.add_typer(rules_app, name="rules")
alerts_app.add_typer(channels_app, name="channels")
alerts_app.add_typer(silences_app, name="silences")
STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green", "critical": "bold red", "warning": "yellow",
         "info": "cyan", "sent": "green", "failed": "bold red"}
JSON = typer.Option(False, "--json", help="Print JSON.")


def _style(v: str) -> str:
    return f"[{STYLE.get(v, '')}]{v}[/]" if v in STYLE else v


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
        out[key.strip()] = value.strip()
    return out


@alerts_app.command("list")
@handle_errors
def list_(state: str = typer.Option("open", help="open (pending and firing), pending, firing, resolved or all."),
          rule: str = typer.Option(None, help="Only this rule's alerts."),
          limit: int = typer.Option(100, help="At most this many."), as_json: bool = JSON) -> None:
    """List alerts, newest first (open ones by default)."""
    items = client().list_alerts(state, rule=rule, limit=limit).items
    if as_json:
        print_json(items)
        return
    table = Table("id", "state", "severity", "rule", "summary", "since", "ack", title=count(len(items), "alert"),
                  title_justify="left")
    for a in items:
        state_text = _style(a.state.value) + (" [dim](silenced)[/]" if a.silenced_by else "")
        table.add_row(a.id[:12], state_text, _style(a.severity), a.rule, a.summary[:70],
                      (a.fired_at or a.started_at).astimezone().strftime("%m-%d %H:%M:%S"),
                      a.acknowledged_by or "")
    console.print(table)


def _full_id(c: Any, prefix: str) -> str:
    if len(prefix) >= 32:
        return prefix
    matches = [a.id for a in c.list_alerts("all", limit=1000).items if a.id.startswith(prefix)]
    return matches[0] if len(matches) == 1 else prefix


@alerts_app.command("ack")
@handle_errors
def ack(alert_id: str = typer.Argument(..., help="The alert's id (or a unique prefix, as listed).")) -> None:
    """Acknowledge an open alert."""
    c = client()
    a = c.ack_alert(_full_id(c, alert_id))
    console.print(f"acknowledged {a.id} ({a.rule}: {a.summary}) by {a.acknowledged_by}")


@alerts_app.command("silence")
@handle_errors
def silence(matchers: list[str] = typer.Argument(..., help="LABEL=PATTERN, e.g. deployment=churn rule='drift-*'."),
            duration: str = typer.Option("1h", "--for", help="How long: 30m, 2h, 1d."),
            comment: str = typer.Option(None, help="Why.")) -> None:
    """Mute notifications of alerts whose labels match every LABEL=PATTERN, for a time."""
    s = client().silence_alerts(_pairs(matchers, "MATCHERS"), duration=duration, comment=comment)
    console.print(f"silence {s.id} until {s.ends_at.astimezone():%Y-%m-%d %H:%M:%S}: {_labels(s.matchers)}")


@alerts_app.command("evaluate")
@handle_errors
def evaluate() -> None:
    """Evaluate the rules on monitor results not evaluated yet and send due notifications now."""
    c = client()
    r = c.evaluate_alerts()
    d = c.process_alert_deliveries()
    console.print(f"{count(r.events, 'monitor result event')}: {len(r.fired)} fired, {len(r.resolved)} resolved, "
                  f"{len(r.pending)} pending; notifications: {d.sent} sent, {d.retried} to retry, {d.failed} failed")


@silences_app.callback()
def silences_list(ctx: typer.Context, expired: bool = typer.Option(False, help="Include expired silences."),
                  as_json: bool = JSON) -> None:
    """List active silences."""
    if ctx.invoked_subcommand:
        return
    handle_errors(_silences)(expired, as_json)


def _silences(expired: bool, as_json: bool) -> None:
    items = client().list_silences(expired=expired)
    if as_json:
        print_json(items)
        return
    table = Table("id", "matchers", "until", "active", "comment", title=count(len(items), "silence"),
                  title_justify="left")
    for s in items:
        table.add_row(s.id, _labels(s.matchers), s.ends_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                      "yes" if s.active else "no", s.comment or "")
    console.print(table)


@silences_app.command("expire")
@handle_errors
def silences_expire(silence_id: str) -> None:
    """End a silence now."""
    client().expire_silence(silence_id)
    console.print(f"silence {silence_id} expired")


@rules_app.callback()
def rules(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List alert rules (or add/remove them)."""
    if ctx.invoked_subcommand:
        return
    handle_errors(_rules)(as_json)


def _rules(as_json: bool) -> None:
    items = client().list_alert_rules()
    if as_json:
        print_json(items)
        return
    table = Table("name", "selector", "condition", "for", "severity", "channels", "enabled",
                  title=count(len(items), "rule"), title_justify="left")
    for r in items:
        table.add_row(r.name, _labels(r.selector.model_dump(exclude_none=True)) or "any result", r.condition,
                      f"{fmt_num(r.for_duration)} s", _style(r.severity), ", ".join(r.channels or ["all"]),
                      "yes" if r.enabled else "no")
    console.print(table)


@rules_app.command("add")
@handle_errors
def rules_add(name: str, condition: str = typer.Argument(..., help="e.g. 'value > 0.2' or 'status == drift'."),
              select: list[str] = typer.Option(None, "--select", "-s", help="KEY=PATTERN on monitor, deployment, "
                                               "kind, feature, test, variant, metric (repeatable)."),
              for_: str = typer.Option("0", "--for", help="How long the condition must hold: 0, 5m, 1h."),
              severity: str = typer.Option("warning", help="info, warning or critical."),
              label: list[str] = typer.Option(None, "--label", "-l", help="KEY=VALUE added to the alert."),
              channel: list[str] = typer.Option(None, "--channel", "-c", help="Notify only these channels."),
              replace: bool = typer.Option(False, help="Update the rule if it exists.")) -> None:
    """Add an alert rule on monitor results."""
    r = client().create_alert_rule(name, condition, selector=_pairs(select, "--select"), for_duration=for_,
                                   severity=severity, labels=_pairs(label, "--label"), channels=channel or None,
                                   replace=replace)
    console.print(f"rule {r.name}: {r.condition} on {_labels(r.selector.model_dump(exclude_none=True)) or 'any result'}")


@rules_app.command("remove")
@handle_errors
def rules_remove(name: str) -> None:
    """Delete an alert rule (its open alerts are resolved)."""
    client().delete_alert_rule(name)
    console.print(f"rule {name} removed")


@channels_app.callback()
def channels(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List notification channels (secrets masked)."""
    if ctx.invoked_subcommand:
        return
    handle_errors(_channels)(as_json)


def _channels(as_json: bool) -> None:
    items = client().list_alert_channels()
    if as_json:
        print_json(items)
        return
    table = Table("name", "kind", "target", "min severity", "enabled", title=count(len(items), "channel"),
                  title_justify="left")
    for c in items:
        table.add_row(c.name, c.kind.value, c.target or "—", c.min_severity, "yes" if c.enabled else "no")
    console.print(table)


@channels_app.command("add")
@handle_errors
def channels_add(name: str, kind: str = typer.Argument(..., help="webhook, slack, email or log."),
                 url: str = typer.Option(None, help="webhook/slack: the URL to POST to (kept secret)."),
                 email: str = typer.Option(None, help="email: JSON settings {host, port, sender, to, username, "
                                                      "password, starttls, ssl}."),
                 min_severity: str = typer.Option("info", help="Only alerts of this severity or higher.")) -> None:
    """Add a notification channel."""
    settings = json.loads(email) if email else None
    c = client().create_alert_channel(name, kind, url=url, email=settings, min_severity=min_severity)
    console.print(f"channel {c.name} ({c.kind.value}) → {c.target or 'the log'}")


@channels_app.command("test")
@handle_errors
def channels_test(name: str) -> None:
    """Send a test message through a channel now."""
    d = client().test_alert_channel(name)
    if d.status == "sent":
        console.print(f"[green]sent[/] a test message to {name}")
    else:
        console.print(f"[bold red]failed[/]: {d.last_error}")
        raise typer.Exit(1)


@channels_app.command("remove")
@handle_errors
def channels_remove(name: str) -> None:
    """Delete a channel."""
    client().delete_alert_channel(name)
    console.print(f"channel {name} removed")


@alerts_app.command("deliveries")
@handle_errors
def deliveries(status: str = typer.Option(None, help="pending, sent or failed."), as_json: bool = JSON) -> None:
    """List notifications: queued, sent, retried, failed."""
    items = client().list_alert_deliveries(status=status).items
    if as_json:
        print_json(items)
        return
    table = Table("alert", "channel", "transition", "status", "tries", "error", title=count(len(items), "delivery"),
                  title_justify="left")
    for d in items:
        table.add_row(d.alert_id[:12], d.channel, d.transition, _style(d.status), str(d.attempts),
                      (d.last_error or "")[:60])
    console.print(table)
