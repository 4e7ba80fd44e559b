"""Alert rules, alerts, silences, channels and deliveries: the only writer of the alert tables.

Rules are evaluated on ``monitor.completed`` events (:func:`handle_event`, idempotent per event id). A
rule's alert goes pending when its condition first holds, fires once it held for ``for_duration``, and
is resolved when the condition clears; one alert is open per rule and label set. A firing or resolved
alert queues one delivery per channel (unless silenced); the delivery loop (:mod:`mainsail.alerts.host`)
sends them outside the evaluating transaction and retries failures with exponential backoff."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.alerts import channels as ch
from mainsail.alerts.conditions import parse_condition, selector_matches
from mainsail.alerts.models import (
    AlertRow,
    AlertRuleRow,
    ChannelRow,
    DeliveryRow,
    EvaluatedEventRow,
    SilenceRow,
)
from mainsail.alerts.schemas import (
    SEVERITIES,
    Alert,
    AlertState,
    Channel,
    ChannelCreate,
    ChannelKind,
    Delivery,
    DeliveryReport,
    EvaluationReport,
    Rule,
    RuleSpec,
    Severity,
    Silence,
    SilenceCreate,
)
from mainsail.core.db import new_id, utcnow
from mainsail.core.errors import Conflict, InvalidInput, not_found
from mainsail.core.events import Event, EventRow, emit
from mainsail.core.pagination import Limit, Page, cursor_offset, offset_page
from mainsail.core.projects import owned, project_of
from mainsail.core.runtime import Ctx

log = logging.getLogger("mainsail.alerts")
EVENT = "monitor.completed"
PERFORMANCE_KINDS = ("performance", "estimated_performance")
LABEL_KEYS = ("monitor", "deployment", "dataset", "kind", "feature", "test", "variant", "metric")
RANK = {s: i for i, s in enumerate(SEVERITIES)}


# ---------------------------------------------------------------- rules

def _rule(row: AlertRuleRow) -> Rule:
    return Rule(id=row.id, name=row.name, description=row.description, selector=row.selector,
                condition=row.condition, for_duration=row.for_seconds, severity=row.severity, labels=row.labels,
                channels=row.channels, enabled=row.enabled, created_by=row.created_by, created_at=row.created_at,
                updated_at=row.updated_at)


def _named(ctx: Ctx, table: Any, name: str, kind: str) -> Any:
    """The row of ``table`` called ``name``, or NotFound naming the ``kind``."""
    row = ctx.session.scalar(select(table).where(table.project == project_of(ctx), table.name == name))
    if row is None:
        raise not_found(kind, name)
    return row


def _rule_row(ctx: Ctx, name: str) -> AlertRuleRow:
    return _named(ctx, AlertRuleRow, name, "alert rule")


def _check_channels(ctx: Ctx, names: list[str] | None) -> None:
    if not names:
        return
    known = set(ctx.session.scalars(select(ChannelRow.name).where(ChannelRow.project == project_of(ctx))))
    errors = [{"loc": ["body", "channels", i], "msg": f"unknown channel {n!r} (known: {', '.join(sorted(known)) or 'none'})"}
              for i, n in enumerate(names) if n not in known]
    if errors:
        raise InvalidInput(f"invalid request: {errors[0]['msg']}", code="unknown_channel", errors=errors)


def _apply_spec(row: AlertRuleRow, body: RuleSpec) -> None:
    row.description, row.condition, row.for_seconds = body.description, body.condition, float(body.for_duration)
    row.selector = body.selector.model_dump(exclude_none=True)
    row.severity, row.labels, row.channels, row.enabled = body.severity, body.labels, body.channels, body.enabled
    row.updated_at = utcnow()


def create_rule(ctx: Ctx, body: RuleSpec) -> Rule:
    """Create an alert rule on monitor results (409 if the name is taken)."""
    if ctx.session.scalar(select(AlertRuleRow.id).where(AlertRuleRow.project == project_of(ctx),
                                                        AlertRuleRow.name == body.name)):
        raise Conflict(f"alert rule {body.name!r} already exists; update it with PUT", code="rule_exists")
    _check_channels(ctx, body.channels)
    row = AlertRuleRow(id=new_id(), project=project_of(ctx), name=body.name, created_by=ctx.actor, created_at=utcnow())
    _apply_spec(row, body)
    ctx.session.add(row)
    ctx.session.flush()
    return _rule(row)


def update_rule(ctx: Ctx, name: str, body: RuleSpec) -> Rule:
    """Replace a rule's definition (its open alerts stay and follow the new condition)."""
    if body.name != name:
        raise InvalidInput(f"the body names rule {body.name!r} but the path names {name!r}",
                           errors=[{"loc": ["body", "name"], "msg": f"must equal the path's name {name!r}"}])
    row = _rule_row(ctx, name)
    _check_channels(ctx, body.channels)
    _apply_spec(row, body)
    ctx.session.flush()
    return _rule(row)


def list_rules(ctx: Ctx) -> list[Rule]:
    """Every alert rule of the project, by name."""
    return [_rule(r) for r in ctx.session.scalars(select(AlertRuleRow).where(AlertRuleRow.project == project_of(ctx))
                                                  .order_by(AlertRuleRow.name))]


def get_rule(ctx: Ctx, name: str) -> Rule:
    """One alert rule."""
    return _rule(_rule_row(ctx, name))


def delete_rule(ctx: Ctx, name: str) -> None:
    """Delete a rule; its open alerts are resolved (without notification)."""
    row = _rule_row(ctx, name)
    now = utcnow()
    for alert in ctx.session.scalars(select(AlertRow).where(AlertRow.rule_id == row.id, AlertRow.open_key.is_not(None))):
        alert.state, alert.open_key, alert.resolved_at = AlertState.resolved.value, None, now
    ctx.session.delete(row)


# ---------------------------------------------------------------- silences

def _silence(row: SilenceRow, now: dt.datetime) -> Silence:
    return Silence(id=row.id, matchers=row.matchers, comment=row.comment, created_by=row.created_by,
                   starts_at=row.starts_at, ends_at=row.ends_at, active=row.starts_at <= now < row.ends_at)


def create_silence(ctx: Ctx, body: SilenceCreate) -> Silence:
    """Mute notifications of matching alerts for a time (they still fire and resolve, and are listed)."""
    now = utcnow()
    ends = body.ends_at or now + dt.timedelta(seconds=float(body.duration or 0))
    if ends <= now:
        raise InvalidInput("ends_at is in the past", errors=[{"loc": ["body", "ends_at"], "msg": "must be in the future"}])
    row = SilenceRow(id=new_id(), project=project_of(ctx), matchers=body.matchers, comment=body.comment, created_by=ctx.actor,
                     starts_at=now, ends_at=ends)
    ctx.session.add(row)
    ctx.session.flush()
    return _silence(row, now)


def list_silences(ctx: Ctx, expired: bool = False) -> list[Silence]:
    """The project's active silences (and expired ones with ``expired=true``), newest first."""
    now = utcnow()
    q = select(SilenceRow).where(SilenceRow.project == project_of(ctx)).order_by(SilenceRow.starts_at.desc(), SilenceRow.id)
    if not expired:
        q = q.where(SilenceRow.ends_at > now)
    return [_silence(r, now) for r in ctx.session.scalars(q)]


def expire_silence(ctx: Ctx, id: str) -> None:
    """End a silence now."""
    row = owned(ctx, ctx.session.get(SilenceRow, id), "silence", id)
    row.ends_at = min(row.ends_at, utcnow())


def _match_labels(alert: AlertRow) -> dict[str, Any]:
    return {**alert.labels, "rule": alert.rule, "severity": alert.severity, "alert": alert.id}


def _silenced_by(silences: Iterable[SilenceRow], alert: AlertRow) -> str | None:
    labels = _match_labels(alert)
    return next((s.id for s in silences if selector_matches(s.matchers, labels)), None)


def _active_silences(ctx: Ctx, project: str | None = None) -> list[SilenceRow]:
    """The silences active now in ``project`` (default the call's): a silence mutes its own project's alerts only."""
    now = utcnow()
    return list(ctx.session.scalars(select(SilenceRow).where(SilenceRow.project == (project or project_of(ctx)),
                                                             SilenceRow.starts_at <= now, SilenceRow.ends_at > now)))


# ---------------------------------------------------------------- alerts

def _alert(row: AlertRow, silences: list[SilenceRow]) -> Alert:
    return Alert(id=row.id, rule=row.rule, state=row.state, severity=row.severity, labels=row.labels, value=row.value,
                 threshold=row.threshold, status=row.status, summary=row.summary, started_at=row.started_at,
                 fired_at=row.fired_at, resolved_at=row.resolved_at, last_seen_at=row.last_seen_at,
                 acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
                 silenced_by=_silenced_by(silences, row) if row.state != AlertState.resolved.value else None)


def list_alerts(ctx: Ctx, state: Literal["open", "pending", "firing", "resolved", "all"] = "open",
                rule: str | None = None, severity: Severity | None = None, cursor: str | None = None,
                limit: Limit = 100) -> Page[Alert]:
    """Alerts, newest first: open ones (pending and firing) by default."""
    q = select(AlertRow).where(AlertRow.rule_id.in_(_project_rules(ctx)))
    if state == "open":
        q = q.where(AlertRow.open_key.is_not(None))
    elif state != "all":
        q = q.where(AlertRow.state == state)
    if rule:
        q = q.where(AlertRow.rule == rule)
    if severity:
        q = q.where(AlertRow.severity == severity)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(AlertRow.started_at.desc(), AlertRow.id).offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    silences = _active_silences(ctx)
    return Page[Alert](items=[_alert(r, silences) for r in page.items], next_cursor=page.next_cursor)


def _alert_row(ctx: Ctx, id: str) -> AlertRow:
    row = ctx.session.get(AlertRow, id)
    if row is None or ctx.session.get(AlertRuleRow, row.rule_id) is None or \
            ctx.session.get(AlertRuleRow, row.rule_id).project != project_of(ctx):  # type: ignore[union-attr]
        raise not_found("alert", id)
    return row


def _project_rules(ctx: Ctx) -> Any:
    """The ids of the project's rules (a subquery): an alert belongs to its rule's project."""
    return select(AlertRuleRow.id).where(AlertRuleRow.project == project_of(ctx)).scalar_subquery()


def get_alert(ctx: Ctx, id: str) -> Alert:
    """One alert."""
    return _alert(_alert_row(ctx, id), _active_silences(ctx))


def ack_alert(ctx: Ctx, id: str) -> Alert:
    """Acknowledge an open alert: someone is on it (it stays open until its condition clears)."""
    row = _alert_row(ctx, id)
    if row.open_key is None:
        raise Conflict(f"alert {id} is already resolved", code="alert_resolved")
    if row.acknowledged_at is None:
        row.acknowledged_by, row.acknowledged_at = ctx.actor or "local", utcnow()
    return _alert(row, _active_silences(ctx))


# ---------------------------------------------------------------- evaluation

def _samples(ev: Event) -> list[dict[str, Any]]:
    """One labelled sample per result of a ``monitor.completed`` event (malformed results skipped)."""
    p = ev.payload or {}
    out = []
    for r in p.get("results") or []:
        if not isinstance(r, dict):
            continue
        kind = r.get("kind")
        sample = {"monitor": p.get("monitor") or ev.subject, "deployment": p.get("deployment"),
                  "dataset": p.get("dataset"), "kind": kind, "feature": r.get("feature"), "test": r.get("test"),
                  "variant": r.get("variant"), "value": r.get("value"), "threshold": r.get("threshold"),
                  "status": r.get("status"), "estimated": bool(r.get("estimated") or kind == "estimated_performance")}
        sample["metric"] = (r.get("test") or r.get("feature")) if kind in PERFORMANCE_KINDS else None
        out.append(sample)
    return out


def _labels(rule: AlertRuleRow, sample: dict[str, Any]) -> dict[str, str]:
    labels = {k: str(sample[k]) for k in LABEL_KEYS if sample.get(k) is not None}
    return {**labels, **rule.labels}


def _fingerprint(rule_id: str, labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps([rule_id, labels], sort_keys=True).encode()).hexdigest()


def _number(v: Any) -> float | None:
    try:
        return None if v is None or isinstance(v, bool) else float(v)
    except (TypeError, ValueError):
        return None


def _summary(rule: AlertRuleRow, s: dict[str, Any]) -> str:
    what = " ".join(str(x) for x in (s.get("kind"), s.get("metric") or s.get("feature"),
                                     s.get("test") if not s.get("metric") else None) if x)
    where = s.get("deployment") or s.get("dataset") or s.get("monitor")
    value = _number(s.get("value"))
    shown = f"{value:.4g}" if value is not None else str(s.get("status"))
    variant = f" [{s['variant']}]" if s.get("variant") else ""
    return f"{what} of {where}{variant} = {shown} ({rule.condition})"


def handle_event(ctx: Ctx, ev: Event) -> EvaluationReport:
    """Evaluate every enabled rule on one ``monitor.completed`` event; an event already evaluated does
    nothing (the event id is the idempotency key)."""
    report = EvaluationReport()
    if ev.type != EVENT or ctx.session.get(EvaluatedEventRow, ev.id) is not None:
        return report
    try:
        with ctx.session.begin_nested():  # another evaluator (the subscriber, an API call) may take it first
            ctx.session.add(EvaluatedEventRow(event_id=ev.id, evaluated_at=utcnow()))
    except SAIntegrityError:
        return report
    report.events = 1
    samples = _samples(ev)
    project = str((ev.payload or {}).get("project") or "default")  # the monitor's project: its rules, its channels
    rules = list(ctx.session.scalars(select(AlertRuleRow).where(AlertRuleRow.project == project,
                                                                AlertRuleRow.enabled.is_(True))))
    if not samples or not rules:
        return report
    open_rows = {a.open_key: a for a in ctx.session.scalars(
        select(AlertRow).where(AlertRow.rule_id.in_([r.id for r in rules]), AlertRow.open_key.is_not(None)))}
    silences = _active_silences(ctx, project)
    channels = list(ctx.session.scalars(select(ChannelRow).where(ChannelRow.project == project,
                                                                 ChannelRow.enabled.is_(True)).order_by(ChannelRow.name)))
    at = ev.created_at
    for rule in rules:
        cond = parse_condition(rule.condition)
        series: dict[str, tuple[dict[str, str], dict[str, Any], bool]] = {}
        for s in samples:
            if not selector_matches(rule.selector, s):
                continue
            labels = _labels(rule, s)
            fp = _fingerprint(rule.id, labels)
            holds = cond.holds(s)
            if fp not in series or (holds and not series[fp][2]):
                series[fp] = (labels, s, holds)
        for fp, (labels, s, holds) in series.items():
            _transition(ctx, rule, fp, labels, s, holds, open_rows.get(fp), at, ev.id, (silences, channels),
                        report)
    ctx.session.flush()  # one flush per event: the updates of every series go out together
    return report


def _transition(ctx: Ctx, rule: AlertRuleRow, fp: str, labels: dict[str, str], s: dict[str, Any], holds: bool,
                row: AlertRow | None, at: dt.datetime, event_id: int,
                targets: tuple[list[SilenceRow], list[ChannelRow]], report: EvaluationReport) -> None:
    if not holds:
        if row is None:
            return
        if row.state == AlertState.pending.value:  # never fired: nothing to resolve
            ctx.session.delete(row)
            return
        row.state, row.open_key, row.resolved_at, row.last_seen_at = AlertState.resolved.value, None, at, at
        row.value, row.status, row.last_event_id = _number(s.get("value")), s.get("status"), event_id
        report.resolved.append(row.id)
        _notify(ctx, rule, row, "resolved", *targets, announce=not row.muted)  # nobody heard it fire: no "resolved"
        return
    if row is None:
        row = AlertRow(id=new_id(), rule_id=rule.id, rule=rule.name, fingerprint=fp, open_key=fp, labels=labels,
                       severity=rule.severity, state=AlertState.pending.value, summary="", started_at=at,
                       last_seen_at=at, muted=False)
        ctx.session.add(row)
        report.pending.append(row.id)
    row.value, row.threshold, row.status = _number(s.get("value")), _number(s.get("threshold")), s.get("status")
    row.summary, row.severity, row.last_seen_at, row.last_event_id = _summary(rule, s), rule.severity, at, event_id
    if row.state == AlertState.pending.value and (at - row.started_at).total_seconds() >= rule.for_seconds:
        row.state, row.fired_at = AlertState.firing.value, at
        report.fired.append(row.id)
        _notify(ctx, rule, row, "fired", *targets)
    elif row.muted and _silenced_by(targets[0], row) is None:  # its silence ended while it still fires
        _queue(ctx, rule, row, "fired", targets[1])
        row.muted = False


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def _payload(row: AlertRow, transition: str) -> dict[str, Any]:
    iso = _iso
    return {"status": "firing" if transition == "fired" else transition, "alert_id": row.id, "rule": row.rule,
            "severity": row.severity, "summary": row.summary, "labels": row.labels, "value": row.value,
            "threshold": row.threshold, "result_status": row.status, "started_at": iso(row.started_at),
            "fired_at": iso(row.fired_at), "resolved_at": iso(row.resolved_at)}


def _notify(ctx: Ctx, rule: AlertRuleRow, row: AlertRow, transition: str, silences: list[SilenceRow],
            channels: list[ChannelRow], announce: bool = True) -> None:
    """Emit ``alert.fired``/``alert.resolved`` and, unless silenced (then the alert is marked ``muted``
    and notified when it still fires after the silence ends), queue its deliveries."""
    payload = _payload(row, transition)
    silenced = _silenced_by(silences, row)
    emit(ctx.session, f"alert.{transition}", rule.name, {**payload, "project": rule.project, "silenced_by": silenced},
         actor="alerts")
    log.info("alert %s: %s%s", transition, ch.headline(payload), f" (silenced by {silenced})" if silenced else "")
    row.muted = bool(silenced) and transition == "fired"
    if not silenced and announce:
        _queue(ctx, rule, row, transition, channels)


def _queue(ctx: Ctx, rule: AlertRuleRow, row: AlertRow, transition: str, channels: list[ChannelRow]) -> None:
    """One delivery per enabled channel the rule names (every one when it names none) that takes the
    alert's severity."""
    payload = _payload(row, transition)
    now = utcnow()
    for channel in channels:
        if (rule.channels is None or channel.name in rule.channels) \
                and RANK[row.severity] >= RANK.get(channel.min_severity, 0):
            ctx.session.add(DeliveryRow(id=new_id(), alert_id=row.id, channel_id=channel.id, channel=channel.name,
                                        transition=transition, payload=payload, status="pending", attempts=0,
                                        next_attempt_at=now, created_at=now))


def evaluate_pending(ctx: Ctx, limit: Limit = 500) -> EvaluationReport:
    """Evaluate the rules on ``monitor.completed`` events not evaluated yet (what the server's event
    subscriber does continuously), oldest first, at most ``limit`` events."""
    rows = ctx.session.scalars(
        select(EventRow).outerjoin(EvaluatedEventRow, EvaluatedEventRow.event_id == EventRow.id)
        .where(EventRow.type == EVENT, EvaluatedEventRow.event_id.is_(None)).order_by(EventRow.id).limit(limit))
    total = EvaluationReport()
    for r in list(rows):
        report = handle_event(ctx, Event(r.id, r.type, r.subject, r.payload, r.actor, r.created_at, r.project))
        total.events += report.events
        total.pending += report.pending
        total.fired += report.fired
        total.resolved += report.resolved
    return total


# ---------------------------------------------------------------- channels

def _channel(row: ChannelRow) -> Channel:
    secret = ch.unpack_secret(row.secret)
    cfg = dict(row.config)
    target = ch.mask_url(secret.get("url"))
    if row.kind == ChannelKind.email.value:
        target = f"smtp://{cfg.get('host')}:{cfg.get('port')} → {', '.join(cfg.get('to', []))}"
    return Channel(id=row.id, name=row.name, kind=row.kind, target=target, config=cfg, has_secret=bool(secret),
                   min_severity=row.min_severity, enabled=row.enabled, created_at=row.created_at,
                   updated_at=row.updated_at)


def _channel_row(ctx: Ctx, name: str) -> ChannelRow:
    return _named(ctx, ChannelRow, name, "channel")


def create_channel(ctx: Ctx, body: ChannelCreate) -> Channel:
    """Add a notification channel; its URL, headers and password are stored as its secret, never shown."""
    if ctx.session.scalar(select(ChannelRow.id).where(ChannelRow.project == project_of(ctx),
                                                      ChannelRow.name == body.name)):
        raise Conflict(f"channel {body.name!r} already exists", code="channel_exists")
    config: dict[str, Any] = {"timeout": body.timeout} if body.kind in (ChannelKind.webhook, ChannelKind.slack) else {}
    password = None
    if body.email is not None:
        config = body.email.model_dump(exclude={"password"})
        password = body.email.password
    now = utcnow()
    row = ChannelRow(id=new_id(), project=project_of(ctx), name=body.name, kind=body.kind.value, config=config,
                     secret=ch.pack_secret(body.url, body.headers, password), min_severity=body.min_severity,
                     enabled=body.enabled, created_by=ctx.actor, created_at=now, updated_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    return _channel(row)


def list_channels(ctx: Ctx) -> list[Channel]:
    """Notification channels (secrets masked)."""
    return [_channel(r) for r in ctx.session.scalars(select(ChannelRow).where(ChannelRow.project == project_of(ctx))
                                                     .order_by(ChannelRow.name))]


def get_channel(ctx: Ctx, name: str) -> Channel:
    """One channel (secrets masked)."""
    return _channel(_channel_row(ctx, name))


def delete_channel(ctx: Ctx, name: str) -> None:
    """Delete a channel; its pending deliveries are dropped (marked failed)."""
    row = _channel_row(ctx, name)
    for d in ctx.session.scalars(select(DeliveryRow).where(DeliveryRow.channel_id == row.id,
                                                           DeliveryRow.status == "pending")):
        d.status, d.last_error = "failed", "channel deleted"
    ctx.session.delete(row)


def send_test_message(ctx: Ctx, name: str) -> Delivery:
    """Send a test message through a channel now and say how it went (nothing is queued or retried)."""
    row = _channel_row(ctx, name)
    now = utcnow()
    payload = {"status": "test", "alert_id": "test", "rule": "test", "severity": "info", "labels": {"channel": name},
               "summary": f"test message from Mainsail to channel {name}", "value": None, "threshold": None}
    error = None
    try:
        ch.send(row.kind, row.config, ch.unpack_secret(row.secret), payload)
    except Exception as exc:  # noqa: BLE001 - reported to the caller
        error = str(exc)[:2000]
    return Delivery(id=new_id(), alert_id="test", channel=name, transition="test", status="failed" if error else "sent",
                    attempts=1, next_attempt_at=now, last_error=error, created_at=now, sent_at=None if error else utcnow())


# ---------------------------------------------------------------- deliveries

def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(id=row.id, alert_id=row.alert_id, channel=row.channel, transition=row.transition,
                    status=row.status, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
                    last_error=row.last_error, created_at=row.created_at, sent_at=row.sent_at)


def queue_message(ctx: Ctx, channel: str, payload: dict[str, Any], ref: str) -> bool:
    """Queue a notification that is not an alert transition (a mention, a review, …; ``payload`` shaped as
    :func:`_payload`'s) to ``channel``, sent by the delivery loop with the same retries; ``ref`` is what
    :func:`list_deliveries` shows as its ``alert_id``. False when the channel is missing or disabled."""
    row = ctx.session.scalar(select(ChannelRow).where(ChannelRow.name == channel))
    if row is None or not row.enabled:
        return False
    now = utcnow()
    ctx.session.add(DeliveryRow(id=new_id(), alert_id=ref[:32], channel_id=row.id, channel=row.name,
                                transition="notification", payload=payload, status="pending", attempts=0,
                                next_attempt_at=now, created_at=now))
    return True


def list_deliveries(ctx: Ctx, status: Literal["pending", "sent", "failed"] | None = None,
                    alert_id: str | None = None, channel: str | None = None, cursor: str | None = None,
                    limit: Limit = 100) -> Page[Delivery]:
    """Notifications queued, sent or given up on, newest first."""
    q = select(DeliveryRow)
    if status:
        q = q.where(DeliveryRow.status == status)
    if alert_id:
        q = q.where(DeliveryRow.alert_id == alert_id)
    if channel:
        q = q.where(DeliveryRow.channel == channel)
    offset = cursor_offset(cursor)
    rows = list(ctx.session.scalars(q.order_by(DeliveryRow.created_at.desc(), DeliveryRow.id)
                                    .offset(offset).limit(limit + 1)))
    page = offset_page(rows, offset, limit)
    return Page[Delivery](items=[_delivery(r) for r in page.items], next_cursor=page.next_cursor)


def retry_policy() -> tuple[float, float, int]:
    """(first backoff seconds, cap seconds, attempts) from MAINSAIL_ALERT_RETRY_{BASE,CAP,ATTEMPTS}."""
    env = os.environ.get
    return (float(env("MAINSAIL_ALERT_RETRY_BASE", "2")), float(env("MAINSAIL_ALERT_RETRY_CAP", "300")),
            int(env("MAINSAIL_ALERT_RETRY_ATTEMPTS", "6")))


def claim_deliveries(ctx: Ctx, limit: int = 50, lease: float = 120) -> list[dict[str, Any]]:
    """Take up to ``limit`` due deliveries (skipping rows another process holds) and push their next
    attempt ``lease`` seconds out, so a crashed sender's work is retried later, never lost."""
    now = utcnow()
    q = (select(DeliveryRow).where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
         .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id).limit(limit))
    if ctx.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = list(ctx.session.scalars(q))
    channels = {c.id: c for c in ctx.session.scalars(select(ChannelRow).where(
        ChannelRow.id.in_({r.channel_id for r in rows})))} if rows else {}
    out = []
    for r in rows:
        c = channels.get(r.channel_id)
        if c is None or not c.enabled:
            r.status, r.last_error = "failed", "channel deleted or disabled"
            continue
        r.next_attempt_at = now + dt.timedelta(seconds=lease)
        out.append({"id": r.id, "kind": c.kind, "config": c.config, "secret": ch.unpack_secret(c.secret),
                    "payload": r.payload, "channel": c.name})
    return out


def record_delivery(ctx: Ctx, id: str, error: str | None) -> str:
    """Record one attempt: sent, or retried after an exponential backoff, or failed after the last attempt."""
    row = ctx.session.get(DeliveryRow, id)
    if row is None or row.status != "pending":
        return "gone"
    row.attempts += 1
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", utcnow(), None
        return "sent"
    base, cap, attempts = retry_policy()
    row.last_error = error[:2000]
    if row.attempts >= attempts:
        row.status = "failed"
        log.error("alert delivery to %s failed for good after %d attempts: %s", row.channel, row.attempts, error)
        return "failed"
    row.next_attempt_at = utcnow() + dt.timedelta(seconds=min(cap, base * 2 ** (row.attempts - 1)))
    return "retried"


def process_deliveries(ctx: Ctx) -> DeliveryReport:
    """Send the deliveries that are due now (what the server's delivery loop does every second). Runs
    outside the caller's transaction: claims, sends, then records each result in its own transaction."""
    runtime = ctx.runtime
    assert runtime is not None
    from mainsail.alerts.delivery import deliver_due

    return deliver_due(runtime)


def active_by_severity(ctx: Ctx) -> dict[str, int]:
    """Firing alerts per severity (every severity present, zero included)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for severity, n in ctx.session.execute(select(AlertRow.severity, func.count()).where(
            AlertRow.state == AlertState.firing.value).group_by(AlertRow.severity)):
        counts[severity] = n
    return counts


def reseal_secrets(ctx: Ctx) -> int:
    """Re-seal every channel's secrets with the newest key (``mainsail secrets rotate`` calls this)."""
    from mainsail.core.secrets import reseal

    rows = [r for r in ctx.session.scalars(select(ChannelRow).with_for_update()) if r.secret]
    for row in rows:
        row.secret = reseal(row.secret)
    return len(rows)
