"""A real ``mainsail server`` with its background services: a watcher hears of a stage change through a
webhook with no call but the change (dispatcher → activity projection → inbox and delivery → the alert
delivery loop); and the CLI as a user types it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from _collab_support import Receiver, _embedded
from _services import ServerProcess, run_cli

from mainsail import Client


def test_watcher_hears_through_webhook_from_a_running_server(tmp_path: Path, receiver: Receiver,
                                                             model_file: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts")
    admin = Client(uri, artifact_root=root)
    for name in ("alice", "carol"):
        admin.create_user(name, service=True, role="editor")
    home = Path(os.environ["MAINSAIL_HOME"])  # the key that sealed the channel's URL is in this home
    srv = ServerProcess(uri, root, home, "--background").start(timeout=120)
    try:
        carol, alice = _embedded(uri, root)("carol"), _embedded(uri, root)("alice")
        admin.create_alert_channel("carol-hook", "webhook", url=receiver.url)
        carol.set_notification_preferences(["carol-hook"])
        alice.register_model("churn", framework="custom", artifacts=[model_file])
        carol.watch("model_version", "churn/1")
        alice.set_model_stage("churn", 1, "staging")
        deadline = time.monotonic() + 60
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.2)
        assert receiver.bodies, srv.log.read_text()[-2000:]
        [body] = receiver.bodies
        assert body["notification"]["kind"] == "stage_change" and body["notification"]["user"] == "carol"
        assert body["summary"] == "alice moved churn v1 from development to staging"
        assert body["rule"] == "stage_change" and body["status"] == "notification"
    finally:
        srv.stop()
        admin.close()


def test_cli_comments_reviews_inbox_activity(tmp_path: Path, model_file: Path) -> None:
    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    admin = Client(uri, artifact_root=root)
    for name in ("alice", "bob"):
        admin.create_user(name, service=True, role="editor")
    admin.register_model("churn", framework="custom", artifacts=[model_file])
    base = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": root, "COLUMNS": "200"}
    alice, bob = {**base, "MAINSAIL_USER": "alice"}, {**base, "MAINSAIL_USER": "bob"}

    out = run_cli("comments", "add", "model_version", "churn/1", "please look @bob", env=alice).stdout
    assert "comment 1 on churn v1 (mentioned bob)" in out
    bad = run_cli("comments", "add", "model", "churn", "hi @ghost", env=alice, check=False)
    assert bad.returncode == 1 and "unknown user in mentions: 'ghost'" in bad.stderr
    assert "please look @bob" in run_cli("comments", "list", "model_version", "churn/1", env=bob).stdout
    out = run_cli("reviews", "request", "model_version", "churn/1", "--reviewer", "bob", env=alice).stdout
    assert "review 1 of churn v1: pending" in out
    inbox = run_cli("inbox", "--unread", env=bob).stdout
    assert "review_request" in inbox and "mention" in inbox
    assert "approved" in run_cli("reviews", "approve", "1", "-m", "ok", env=bob).stdout
    assert "1/1 approvals" not in run_cli("reviews", "status", "model_version", "churn/1", env=bob).stdout
    run_cli("reviews", "policy", "--required", "1", env=base)
    assert "1/1 approvals (satisfied)" in run_cli("reviews", "status", "model_version", "churn/1", env=bob).stdout
    assert "2 marked read, 0 unread" in run_cli("inbox", "read", env=bob).stdout
    run_cli("activity", "watch", "model", "churn", env=bob)
    assert "model churn" in run_cli("activity", "watches", env=bob).stdout
    feed = run_cli("activity", "--kind", "model", "--ref", "churn", env=bob).stdout
    assert "bob approved churn v1" in feed and "alice commented on churn v1" in feed
    assert "bob approved churn v1" in run_cli("activity", "--user", "bob", env=alice).stdout
    admin.close()
