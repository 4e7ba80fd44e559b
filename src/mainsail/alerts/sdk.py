"""Alert methods of :class:`mainsail.Client` (mixed into it), the same embedded or remote."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mainsail.client.backends import Backend
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page

if TYPE_CHECKING:  # for annotations only: building these models at import slows every CLI command
    from mainsail.alerts.schemas import (
        Alert,
        Channel,
        Delivery,
        DeliveryReport,
        EvaluationReport,
        Rule,
        Silence,
    )

ops = LazyOpSet("mainsail.alerts.ops")


class AlertMethods:
    _backend: Backend

    # ------------------------------------------------------------ rules
    def create_alert_rule(self, name: str, condition: str, *, selector: Mapping[str, Any] | None = None,
                          for_duration: float | str = 0, severity: str = "warning",
                          labels: Mapping[str, str] | None = None, channels: Sequence[str] | None = None,
                          description: str | None = None, enabled: bool = True, replace: bool = False) -> Rule:
        """Alert when a monitor result matching ``selector`` (monitor, deployment, kind, feature, test,
        variant, metric; globs allowed) meets ``condition`` (``"value > 0.2"``, ``"status == drift"``)
        for ``for_duration``. ``replace=True`` updates an existing rule of that name."""
        body = {"name": name, "condition": condition, "selector": dict(selector or {}), "for_duration": for_duration,
                "severity": severity, "labels": dict(labels or {}), "description": description, "enabled": enabled,
                "channels": list(channels) if channels is not None else None}
        if replace and any(r.name == name for r in self.list_alert_rules()):
            return self._backend.call(ops.update_rule, {"name": name, "body": body})
        return self._backend.call(ops.create_rule, {"body": body})

    def list_alert_rules(self) -> list[Rule]:
        return self._backend.call(ops.list_rules, {})

    def get_alert_rule(self, name: str) -> Rule:
        return self._backend.call(ops.get_rule, {"name": name})

    def delete_alert_rule(self, name: str) -> None:
        self._backend.call(ops.delete_rule, {"name": name})

    # ------------------------------------------------------------ alerts
    def list_alerts(self, state: str = "open", *, rule: str | None = None, severity: str | None = None,
                    cursor: str | None = None, limit: int = 100) -> Page[Alert]:
        """Alerts newest first; ``state``: open (default: pending and firing), pending, firing, resolved, all."""
        return self._backend.call(ops.list_alerts, {"state": state, "rule": rule, "severity": severity,
                                                    "cursor": cursor, "limit": limit})

    def get_alert(self, alert_id: str) -> Alert:
        return self._backend.call(ops.get_alert, {"id": alert_id})

    def ack_alert(self, alert_id: str) -> Alert:
        """Acknowledge an open alert."""
        return self._backend.call(ops.ack_alert, {"id": alert_id})

    def evaluate_alerts(self, limit: int = 500) -> EvaluationReport:
        """Evaluate the rules on monitor results not evaluated yet (the server does it continuously)."""
        return self._backend.call(ops.evaluate_pending, {"limit": limit})

    # ------------------------------------------------------------ silences
    def silence_alerts(self, matchers: Mapping[str, str], *, duration: float | str | None = None,
                       ends_at: dt.datetime | None = None, comment: str | None = None) -> Silence:
        """Mute notifications of alerts whose labels match (``{"deployment": "churn"}``, ``{"rule": "drift-*"}``)
        for ``duration`` (``"2h"``) or until ``ends_at``."""
        return self._backend.call(ops.create_silence, {"body": {"matchers": dict(matchers), "duration": duration,
                                                                "ends_at": ends_at, "comment": comment}})

    def list_silences(self, *, expired: bool = False) -> list[Silence]:
        return self._backend.call(ops.list_silences, {"expired": expired})

    def expire_silence(self, silence_id: str) -> None:
        self._backend.call(ops.expire_silence, {"id": silence_id})

    # ------------------------------------------------------------ channels and deliveries
    def create_alert_channel(self, name: str, kind: str, *, url: str | None = None,
                             headers: Mapping[str, str] | None = None, email: Mapping[str, Any] | None = None,
                             min_severity: str = "info", enabled: bool = True, timeout: float = 10) -> Channel:
        """Add a channel: ``webhook``/``slack`` (``url``), ``email`` (``email={"host", "port", "sender", "to",
        "username", "password", "starttls", "ssl"}``) or ``log``. Secrets are never returned."""
        return self._backend.call(ops.create_channel, {"body": {
            "name": name, "kind": kind, "url": url, "headers": dict(headers or {}),
            "email": dict(email) if email is not None else None, "min_severity": min_severity, "enabled": enabled,
            "timeout": timeout}})

    def list_alert_channels(self) -> list[Channel]:
        return self._backend.call(ops.list_channels, {})

    def get_alert_channel(self, name: str) -> Channel:
        return self._backend.call(ops.get_channel, {"name": name})

    def delete_alert_channel(self, name: str) -> None:
        self._backend.call(ops.delete_channel, {"name": name})

    def test_alert_channel(self, name: str) -> Delivery:
        """Send a test message now; the result says whether it arrived."""
        return self._backend.call(ops.send_test_message, {"name": name})

    def list_alert_deliveries(self, *, status: str | None = None, alert_id: str | None = None,
                              channel: str | None = None, cursor: str | None = None,
                              limit: int = 100) -> Page[Delivery]:
        return self._backend.call(ops.list_deliveries, {"status": status, "alert_id": alert_id, "channel": channel,
                                                        "cursor": cursor, "limit": limit})

    def process_alert_deliveries(self) -> DeliveryReport:
        """Send the notifications that are due now (the server's delivery loop does it every second)."""
        return self._backend.call(ops.process_deliveries, {})
