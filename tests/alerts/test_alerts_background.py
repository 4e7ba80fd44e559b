"""The server's alert services: the rule evaluator as an event subscriber (at-least-once delivery, so
idempotent per event id) and the delivery loop that sends notifications off the evaluating transaction."""

from __future__ import annotations

import time

from _alerts_support import Receiver, emit_completed, result
from sqlalchemy import update

from mainsail import Client
from mainsail.core.events import Dispatcher, EventCursor, list_events


def _wait(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_subscriber_fires_once_and_the_loop_delivers(sqlite_settings, receiver: Receiver) -> None:
    from mainsail.alerts.host import SUBSCRIBER, start_background
    from mainsail.core.runtime import Runtime

    client = Client(sqlite_settings.uri, artifact_root=sqlite_settings.artifact_root)
    runtime = Runtime.for_settings(sqlite_settings)
    client.create_alert_channel("hook", "webhook", url=receiver.url + "/hook")
    broken = Receiver(fail=10_000)
    client.create_alert_channel("broken", "webhook", url=broken.url)
    client.create_alert_rule("drift", "status == drift", selector={"kind": "drift"})
    stop = start_background(runtime, interval=0.1)
    dispatcher = Dispatcher(runtime, interval=0.1)
    dispatcher.start()
    try:
        emit_completed(sqlite_settings.uri, sqlite_settings.artifact_root, [result("drift", "age", "ks", 0.3, "drift")])
        _wait(lambda: len(receiver.bodies) == 1)  # delivered although another channel keeps failing
        assert receiver.bodies[0]["status"] == "firing"
        emit_completed(sqlite_settings.uri, sqlite_settings.artifact_root, [result("drift", "age", "ks", 0.01, "ok")])
        _wait(lambda: len(receiver.bodies) == 2)
        assert receiver.bodies[1]["status"] == "resolved"
        dispatcher.stop()
        # at-least-once: the subscriber sees every event again, and nothing new happens
        with runtime.transaction() as ctx:
            ctx.session.execute(update(EventCursor).where(EventCursor.subscriber == SUBSCRIBER).values(last_event_id=0))
        Dispatcher(runtime).run_once()
        with runtime.transaction() as ctx:
            alert_events = [e.type for e in list_events(ctx.session, limit=1000) if e.type.startswith("alert.")]
        assert alert_events == ["alert.fired", "alert.resolved"]
        assert len(client.list_alerts("all").items) == 1
        time.sleep(0.3)
        assert len(receiver.bodies) == 2
        assert {d.channel for d in client.list_alert_deliveries(status="pending").items} <= {"broken"}
    finally:
        dispatcher.stop()
        stop()
        broken.close()
        client.close()


def test_concurrent_evaluators_of_one_event_fire_once(pg_url: str, tmp_path) -> None:
    import threading

    from mainsail.alerts import service

    client = Client(pg_url, artifact_root=str(tmp_path / "art"))
    client.create_alert_rule("drift", "value > 0.1")
    emit_completed(pg_url, str(tmp_path / "art"), [result("drift", "age", "psi", 0.5, "drift")])
    runtime = client._backend.runtime
    with runtime.transaction() as ctx:
        [event] = list_events(ctx.session, limit=10)
    reports, errors = [], []

    def evaluate() -> None:
        try:
            with runtime.transaction() as ctx:
                reports.append(service.handle_event(ctx, event))
        except Exception as exc:  # noqa: BLE001 - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(len(r.fired) for r in reports) == [0, 0, 0, 1]
    assert len(client.list_alerts().items) == 1
    client.close()
