"""A channel's URL and password are sealed at rest and follow a key rotation."""

from __future__ import annotations

import sqlite3

from cryptography.fernet import Fernet

from mainsail import Client
from mainsail.alerts.channels import unpack_secret


def test_channel_secrets_are_sealed_and_rotated(tmp_path, monkeypatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", old)
    db = tmp_path / "a.db"
    c = Client(f"sqlite:///{db}", artifact_root=str(tmp_path / "art"))
    url = "https://hooks.example.com/services/T000/B000/planted-token-4711"
    c.create_alert_channel("team", "slack", url=url)
    stored = sqlite3.connect(db).execute("SELECT secret FROM alert_channels").fetchone()[0]
    assert "planted-token-4711" not in stored and "hooks.example.com" not in stored
    assert unpack_secret(stored)["url"] == url
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", f"{new},{old}")
    assert c.rotate_secrets().rotated.get("alert_channels") == 1
    monkeypatch.setenv("MAINSAIL_SECRET_KEY", new)  # the old key is gone: the channel still opens
    rotated = sqlite3.connect(db).execute("SELECT secret FROM alert_channels").fetchone()[0]
    assert rotated != stored and unpack_secret(rotated)["url"] == url
    assert c.get_alert_channel("team").target == "https://hooks.example.com/…"
