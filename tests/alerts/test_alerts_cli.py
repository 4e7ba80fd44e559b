"""``mainsail alerts …`` as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _alerts_support import emit_completed, result


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_alerts_commands(tmp_path: Path, receiver) -> None:
    uri, art = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art")
    env = {**os.environ, "MAINSAIL_URI": uri, "MAINSAIL_ARTIFACT_ROOT": art, "MAINSAIL_HOME": str(tmp_path),
           "COLUMNS": "200"}
    cli("alerts", "channels", "add", "hook", "webhook", "--url", receiver.url + "/T0/B0/very-secret", env=env)
    listed = cli("alerts", "channels", env=env).stdout
    assert "hook" in listed and "very-secret" not in listed
    assert "sent" in cli("alerts", "channels", "test", "hook", env=env).stdout
    cli("alerts", "rules", "add", "age-drift", "value > 0.2", "--select", "kind=drift", "--select", "feature=age",
        "--severity", "critical", "--label", "team=risk", env=env)
    rules = json.loads(cli("alerts", "rules", "--json", env=env).stdout)
    assert {k: v for k, v in rules[0]["selector"].items() if v} == {"kind": "drift", "feature": "age"} and rules[0]["labels"] == {"team": "risk"}
    bad = cli("alerts", "rules", "add", "bad", "valu > 1", env=env, check=False)
    assert bad.returncode == 1 and "unknown field 'valu'" in bad.stderr
    emit_completed(uri, art, [result("drift", "age", "psi", 0.5, "drift")])
    out = cli("alerts", "evaluate", env=env).stdout
    assert "1 fired" in out and "1 sent" in out
    assert receiver.bodies[-1]["rule"] == "age-drift"
    [alert] = json.loads(cli("alerts", "list", "--json", env=env).stdout)
    assert "age-drift" in cli("alerts", "list", env=env).stdout
    assert "acknowledged" in cli("alerts", "ack", alert["id"][:10], env=env).stdout
    assert "silence" in cli("alerts", "silence", "deployment=churn", "--for", "2h", "--comment", "retrain", env=env).stdout
    [silence] = json.loads(cli("alerts", "silences", "--json", env=env).stdout)
    assert silence["matchers"] == {"deployment": "churn"} and silence["active"]
    cli("alerts", "silences", "expire", silence["id"], env=env)
    assert json.loads(cli("alerts", "silences", "--json", env=env).stdout) == []
    deliveries = json.loads(cli("alerts", "deliveries", "--json", env=env).stdout)
    assert [d["status"] for d in deliveries] == ["sent"]
    cli("alerts", "rules", "remove", "age-drift", env=env)
    cli("alerts", "channels", "remove", "hook", env=env)
    assert json.loads(cli("alerts", "list", "--json", env=env).stdout) == []
