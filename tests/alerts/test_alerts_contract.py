"""The alerts contract: the same behaviour embedded (sqlite), on postgres and over http."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _alerts_support import Receiver, database_of, emit_completed, result

from mainsail import Client
from mainsail.core.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


@pytest.fixture
def emit(backend: str, tmp_path: Path):
    uri, artifacts = database_of(backend, tmp_path)

    def _emit(results, **kw) -> None:
        emit_completed(uri, artifacts, results, **kw)

    return _emit


def _events(backend: str, tmp_path: Path, prefix: str) -> list:
    from mainsail.core.events import list_events
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    uri, artifacts = database_of(backend, tmp_path)
    with Runtime.for_settings(Settings.from_env().with_uri(uri, artifacts)).transaction() as ctx:
        return [e for e in list_events(ctx.session, limit=1000) if e.type.startswith(prefix)]


def test_fire_dedup_resolve_and_notify(client: Client, emit, backend: str, tmp_path: Path) -> None:
    client.create_alert_channel("ops-log", "log")
    client.create_alert_rule("drift-high", "value > 0.2", selector={"kind": "drift", "deployment": "ch*"},
                             severity="critical", labels={"team": "risk"})
    emit([result("drift", "age", "psi", 0.5, "drift"), result("drift", "income", "psi", 0.1, "ok"),
          result("quality", "age", "null_share", 0.9, "breach")])
    report = client.evaluate_alerts()
    assert report.events == 1 and len(report.fired) == 1 and not report.resolved
    assert client.evaluate_alerts().events == 0  # each event is evaluated once
    [alert] = client.list_alerts().items
    assert alert.state == "firing" and alert.severity == "critical" and alert.value == 0.5
    assert alert.labels == {"monitor": "churn-drift", "deployment": "churn", "kind": "drift", "feature": "age",
                            "test": "psi", "team": "risk"}
    assert "age" in alert.summary and "churn" in alert.summary
    # the same series drifting again: still one open alert, with the new value
    emit([result("drift", "age", "psi", 0.7, "drift")])
    assert client.evaluate_alerts().fired == []
    [again] = client.list_alerts().items
    assert again.id == alert.id and again.value == 0.7
    # the condition clears: resolved, and a new breach later opens a new alert
    emit([result("drift", "age", "psi", 0.05, "ok")])
    assert client.evaluate_alerts().resolved == [alert.id]
    assert client.list_alerts().items == []
    assert client.get_alert(alert.id).state == "resolved"
    emit([result("drift", "age", "psi", 0.9, "drift")])
    [newer] = client.evaluate_alerts().fired
    assert newer != alert.id and len(client.list_alerts("all").items) == 2
    # events for other reactions, and one log notification per transition
    types = [e.type for e in _events(backend, tmp_path, "alert.")]
    assert types == ["alert.fired", "alert.resolved", "alert.fired"]
    assert client.process_alert_deliveries().sent == 3
    deliveries = client.list_alert_deliveries().items
    assert sorted(d.transition for d in deliveries) == ["fired", "fired", "resolved"]
    assert {d.status for d in deliveries} == {"sent"}


def test_for_duration_metric_selector_and_status_condition(client: Client, emit) -> None:
    client.create_alert_rule("accuracy-breach", "status == breach or value < 0.7", for_duration="1s",
                             selector={"kind": "*performance", "metric": "accuracy"})
    emit([result("performance", None, "accuracy", 0.65, "breach", threshold=0.8, variant="champion"),
          result("performance", None, "f1", 0.2, "breach", variant="champion")])
    report = client.evaluate_alerts()
    assert len(report.pending) == 1 and report.fired == []
    [pending] = client.list_alerts("pending").items
    assert pending.labels["metric"] == "accuracy" and pending.labels["variant"] == "champion"
    time.sleep(1.1)
    emit([result("performance", None, "accuracy", 0.6, "breach", threshold=0.8, variant="champion")])
    assert client.evaluate_alerts().fired == [pending.id]
    # a pending alert whose condition clears before its for-duration never fires and leaves nothing open
    client.create_alert_rule("slow", "value > 0.5", for_duration="1h", selector={"kind": "estimated_performance"})
    emit([result("estimated_performance", None, "roc_auc", 0.9, "ok", estimated=True)])
    assert len(client.evaluate_alerts().pending) == 1
    emit([result("estimated_performance", None, "roc_auc", 0.1, "ok", estimated=True)])
    client.evaluate_alerts()
    assert [a.rule for a in client.list_alerts().items] == ["accuracy-breach"]


def test_ack_silence_and_bad_input(client: Client, emit) -> None:
    client.create_alert_channel("ops-log", "log")
    client.create_alert_rule("drift", "status == drift", selector={"kind": "drift"})
    silence = client.silence_alerts({"feature": "inc*"}, duration="1h", comment="known seasonal shift")
    assert silence.active and client.list_silences()[0].id == silence.id
    emit([result("drift", "age", "ks", 0.4, "drift"), result("drift", "income", "ks", 0.4, "drift")])
    fired = client.evaluate_alerts().fired
    assert len(fired) == 2
    by_feature = {a.labels["feature"]: a for a in client.list_alerts().items}
    assert by_feature["income"].silenced_by == silence.id and by_feature["age"].silenced_by is None
    client.process_alert_deliveries()
    assert [d.alert_id for d in client.list_alert_deliveries().items] == [by_feature["age"].id]  # silenced: none
    acked = client.ack_alert(by_feature["age"].id)
    assert acked.acknowledged_by and acked.acknowledged_at and acked.state == "firing"
    client.expire_silence(silence.id)
    assert client.list_silences() == [] and client.list_silences(expired=True)[0].active is False
    assert client.get_alert(by_feature["income"].id).silenced_by is None
    # the silence is over and income still drifts: now it is notified; age clears and is resolved
    emit([result("drift", "age", "ks", 0.01, "ok"), result("drift", "income", "ks", 0.5, "drift")])
    client.evaluate_alerts()
    client.process_alert_deliveries()
    sent = sorted((d.alert_id == by_feature["age"].id, d.transition) for d in client.list_alert_deliveries().items)
    assert sent == [(False, "fired"), (True, "fired"), (True, "resolved")]
    with pytest.raises(Conflict) as ei:
        client.ack_alert(by_feature["age"].id)
    assert ei.value.code == "alert_resolved"
    # bad input names the field and changes nothing
    with pytest.raises(InvalidInput) as ei:
        client.create_alert_rule("bad", "valeu > 2")
    assert "unknown field 'valeu'" in ei.value.detail and ei.value.errors[0]["loc"][:2] == ["body", "condition"]
    with pytest.raises(InvalidInput) as ei:
        client.create_alert_rule("bad", "value >")
    assert "condition" in str(ei.value.errors[0]["loc"])
    with pytest.raises(InvalidInput) as ei:
        client.create_alert_rule("bad", "value > 1", channels=["nowhere"])
    assert ei.value.code == "unknown_channel" and "ops-log" in ei.value.detail
    with pytest.raises(InvalidInput):
        client.create_alert_rule("bad", "value > 1", for_duration="soon")
    with pytest.raises(InvalidInput):
        client.create_alert_rule("../etc", "value > 1")
    with pytest.raises(InvalidInput):
        client.create_alert_rule("bad", "value > 1", selector={"colour": "red"})
    with pytest.raises(Conflict):
        client.create_alert_rule("drift", "value > 1")
    with pytest.raises(InvalidInput):
        client.silence_alerts({"deployment": "churn"})  # neither duration nor ends_at
    with pytest.raises(NotFound):
        client.ack_alert("0" * 32)
    with pytest.raises(NotFound):
        client.get_alert_rule("missing")
    assert [r.name for r in client.list_alert_rules()] == ["drift"]
    updated = client.create_alert_rule("drift", "value > 0.3", selector={"kind": "drift"}, replace=True)
    assert updated.condition == "value > 0.3"
    client.delete_alert_rule("drift")
    assert client.list_alert_rules() == []


def test_channels_keep_secrets(client: Client) -> None:
    secret = "T000/B000/XXXXsecretXXXX"
    client.create_alert_channel("hook", "webhook", url=f"https://hooks.example.com/services/{secret}",
                                headers={"Authorization": "Bearer tok-secret"})
    client.create_alert_channel("mail", "email", min_severity="critical", email={
        "host": "127.0.0.1", "port": 2525, "sender": "mainsail@example.com", "to": ["oncall@example.com"],
        "username": "bot", "password": "hunter2"})
    listed = client.list_alert_channels()
    text = "".join(c.model_dump_json() for c in listed)
    assert secret not in text and "tok-secret" not in text and "hunter2" not in text
    hook = client.get_alert_channel("hook")
    assert hook.target == "https://hooks.example.com/…" and hook.has_secret
    mail = client.get_alert_channel("mail")
    assert mail.target == "smtp://127.0.0.1:2525 → oncall@example.com" and "password" not in mail.config
    with pytest.raises(InvalidInput):
        client.create_alert_channel("nourl", "slack")
    with pytest.raises(InvalidInput):
        client.create_alert_channel("badurl", "webhook", url="file:///etc/passwd")
    with pytest.raises(InvalidInput):
        client.create_alert_channel("nomail", "email")
    with pytest.raises(InvalidInput):
        client.create_alert_channel("crlf", "webhook", url="http://x.example", headers={"X": "a\r\nInjected: 1"})
    with pytest.raises(Conflict):
        client.create_alert_channel("hook", "log")
    client.delete_alert_channel("hook")
    with pytest.raises(NotFound):
        client.get_alert_channel("hook")


def test_every_channel_delivers_and_a_failing_one_blocks_none(client: Client, emit, smtp_server) -> None:
    host, port, box = smtp_server
    hook, slack, broken = Receiver(), Receiver(), Receiver(fail=1000)
    flaky = Receiver(fail=1)
    try:
        client.create_alert_channel("hook", "webhook", url=hook.url + "/alerts?token=abc")
        client.create_alert_channel("slack", "slack", url=slack.url + "/services/T/B/X")
        client.create_alert_channel("broken", "webhook", url=broken.url + "/down")
        client.create_alert_channel("flaky", "webhook", url=flaky.url + "/flaky")
        client.create_alert_channel("mail", "email", email={"host": host, "port": port, "sender": "ms@example.com",
                                                             "to": ["oncall@example.com", "ml@example.com"]})
        client.create_alert_channel("quiet", "log", min_severity="critical")  # warning alerts skip it
        assert client.test_alert_channel("hook").status == "sent"
        failed = client.test_alert_channel("broken")
        assert failed.status == "failed" and "HTTP 500" in failed.last_error
        hook.bodies.clear()
        client.create_alert_rule("drift", "value > threshold", selector={"kind": "drift"})
        emit([result("drift", "age", "psi", 0.5, "drift")])
        [alert_id] = client.evaluate_alerts().fired
        report = client.process_alert_deliveries()
        assert report.sent == 3 and report.retried == 2  # broken and flaky retry; the others are sent anyway
        deadline = time.monotonic() + 10
        while client.list_alert_deliveries(status="pending").items and time.monotonic() < deadline:
            time.sleep(0.1)
            client.process_alert_deliveries()
        status = {d.channel: (d.status, d.attempts) for d in client.list_alert_deliveries(alert_id=alert_id).items}
        assert status == {"hook": ("sent", 1), "slack": ("sent", 1), "mail": ("sent", 1), "flaky": ("sent", 2),
                          "broken": ("failed", 3)}
        failed_delivery = client.list_alert_deliveries(status="failed").items[0]
        assert "HTTP 500" in failed_delivery.last_error and "/down" not in failed_delivery.last_error
        [body] = hook.bodies
        assert body["status"] == "firing" and body["rule"] == "drift" and body["labels"]["feature"] == "age"
        assert body["value"] == 0.5 and body["alert_id"] == alert_id
        [msg] = slack.bodies
        assert msg["text"].startswith(":rotating_light: [FIRING] drift") and msg["blocks"][0]["type"] == "section"
        [(sender, rcpts, mail)] = box.messages
        assert sender == "ms@example.com" and rcpts == ["oncall@example.com", "ml@example.com"]
        assert mail["Subject"].startswith("[FIRING] drift (warning)") and "feature=age" in mail.get_content()
    finally:
        for r in (hook, slack, broken, flaky):
            r.close()
