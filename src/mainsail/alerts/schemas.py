"""Alert pydantic types: rules, alerts, silences, channels and deliveries."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from mainsail.alerts.conditions import parse_condition, parse_duration
from mainsail.core.types import ObjectName, UtcDatetime

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
LabelValue = Annotated[str, StringConstraints(max_length=500)]
DurationText = Annotated[str, StringConstraints(max_length=40, pattern=r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$")]
Duration = Annotated[Annotated[float, Field(ge=0, le=366 * 86400)] | DurationText,
                     Field(description="Seconds, or a number with ms, s, m, h, d or w: '5m' (at most 366 days).")]


class AlertState(StrEnum):
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


class ChannelKind(StrEnum):
    webhook = "webhook"
    slack = "slack"
    email = "email"
    log = "log"


class Selector(BaseModel):
    """Which monitor results a rule watches: each given key must match the result's label (globs
    ``*``, ``?`` allowed). ``metric`` is the performance metric (the result's ``test``)."""

    model_config = ConfigDict(extra="forbid")

    monitor: Pattern | None = None
    deployment: Pattern | None = None
    dataset: Pattern | None = None
    kind: Pattern | None = Field(None, examples=["drift", "quality", "performance", "*performance"])
    feature: Pattern | None = None
    test: Pattern | None = None
    variant: Pattern | None = None
    metric: Pattern | None = None


class RuleSpec(BaseModel):
    """An alert rule: when a monitor result matching ``selector`` meets ``condition`` for ``for_duration``,
    an alert fires (one per rule and label set) and is resolved when the condition clears."""

    model_config = ConfigDict(extra="forbid")

    name: ObjectName
    description: str | None = Field(None, max_length=5000)
    selector: Selector = Field(default_factory=Selector)
    condition: str = Field(min_length=1, max_length=500, examples=["value > 0.2", "status == drift"])
    for_duration: Duration = Field(0, description="How long the condition must hold before the alert fires "
                                                  "(seconds or '5m'); 0 fires at once.")
    severity: Severity = "warning"
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)
    channels: list[ObjectName] | None = Field(None, max_length=50, description="Channels to notify; "
                                              "default: every enabled channel that takes this severity.")
    enabled: bool = True

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        parse_condition(v)  # ValueError names what is wrong
        return v.strip()

    @field_validator("for_duration")
    @classmethod
    def _duration(cls, v: float | str) -> float:
        return parse_duration(v)


class Rule(BaseModel):
    id: str
    name: str
    description: str | None = None
    selector: Selector
    condition: str
    for_duration: float = Field(description="Seconds.")
    severity: Severity
    labels: dict[str, str]
    channels: list[str] | None = None
    enabled: bool
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class Alert(BaseModel):
    id: str
    rule: str
    state: AlertState
    severity: Severity
    labels: dict[str, str]
    value: float | None = None
    threshold: float | None = None
    status: str | None = Field(None, description="The monitor result's status (ok, drift, breach, …).")
    summary: str
    started_at: dt.datetime
    fired_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    last_seen_at: dt.datetime
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    silenced_by: str | None = Field(None, description="The active silence muting this alert, if any.")


class SilenceCreate(BaseModel):
    """Mute notifications of alerts whose labels match every matcher (globs allowed; ``rule``,
    ``severity`` and ``alert`` (an id) are matchable too) for ``duration`` or until ``ends_at``."""

    model_config = ConfigDict(extra="forbid")

    matchers: dict[LabelKey, Pattern] = Field(min_length=1, max_length=50, examples=[{"deployment": "churn"}])
    duration: Duration | None = Field(None, examples=["2h"])
    ends_at: UtcDatetime | None = None
    comment: str | None = Field(None, max_length=2000)

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: float | str | None) -> float | None:
        if v is None:
            return None
        secs = parse_duration(v)
        if secs <= 0:
            raise ValueError("a silence lasts longer than 0 seconds")
        return secs

    @model_validator(mode="after")
    def _one_end(self) -> SilenceCreate:
        if (self.duration is None) == (self.ends_at is None):
            raise ValueError("give either duration (e.g. '2h') or ends_at")
        return self


class Silence(BaseModel):
    id: str
    matchers: dict[str, str]
    comment: str | None = None
    created_by: str | None = None
    starts_at: dt.datetime
    ends_at: dt.datetime
    active: bool


class EmailSettings(BaseModel):
    """SMTP settings of an email channel (``password`` is kept secret and never returned)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-\[\]]+$")
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    to: list[Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s<>,]+@[^@\s<>,]+$")]] \
        = Field(min_length=1, max_length=100)
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=1000)
    starttls: bool = False
    ssl: bool = False
    timeout: float = Field(10, gt=0, le=120)


HttpUrl = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s/?#]+\S*$")]


class ChannelCreate(BaseModel):
    """A notification channel: ``webhook`` (JSON POST to ``url``), ``slack`` (a Slack-compatible incoming
    webhook ``url``), ``email`` (SMTP ``email`` settings) or ``log`` (the server's log)."""

    model_config = ConfigDict(extra="forbid")

    name: ObjectName
    kind: ChannelKind
    url: HttpUrl | None = Field(None, description="webhook and slack: where to POST (kept secret).")
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9\-_]+$")],
                  Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\r\n]*$")]] = Field(
        default_factory=dict, max_length=20, description="webhook: extra request headers (kept secret).")
    email: EmailSettings | None = None
    min_severity: Severity = "info"
    enabled: bool = True
    timeout: float = Field(10, gt=0, le=120, description="Seconds to wait for the webhook to answer.")

    @model_validator(mode="after")
    def _kind_fields(self) -> ChannelCreate:
        needs_url = self.kind in (ChannelKind.webhook, ChannelKind.slack)
        if needs_url and not self.url:
            raise ValueError(f"a {self.kind.value} channel needs url")
        if not needs_url and self.url:
            raise ValueError(f"a {self.kind.value} channel takes no url")
        if (self.kind == ChannelKind.email) != (self.email is not None):
            raise ValueError("an email channel needs email settings" if self.kind == ChannelKind.email
                             else f"a {self.kind.value} channel takes no email settings")
        if self.headers and self.kind != ChannelKind.webhook:
            raise ValueError("only a webhook channel takes headers")
        return self


class Channel(BaseModel):
    """A channel as the API shows it: secrets masked (``target`` keeps only the URL's scheme and host)."""

    id: str
    name: str
    kind: ChannelKind
    target: str | None = Field(None, description="Masked destination: 'https://hooks.slack.com/…', "
                                                 "'smtp://host:port → a@b.c'.")
    config: dict[str, Any] = Field(default_factory=dict, description="Settings that are not secret.")
    has_secret: bool = False
    min_severity: Severity
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class Delivery(BaseModel):
    id: str
    alert_id: str
    channel: str
    transition: Literal["fired", "resolved", "test", "notification"]
    status: Literal["pending", "sent", "failed"]
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None = None
    created_at: dt.datetime
    sent_at: dt.datetime | None = None


class EvaluationReport(BaseModel):
    """What one evaluation did: events read, alerts that went pending, fired and resolved."""

    events: int = 0
    pending: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)
    resolved: list[str] = Field(default_factory=list)


class DeliveryReport(BaseModel):
    sent: int = 0
    retried: int = 0
    failed: int = 0
