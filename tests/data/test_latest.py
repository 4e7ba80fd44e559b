"""``latest`` is the version most recently ingested: ingesting bytes equal to an older version makes that
version the latest again (numbers never change), embedded, on PostgreSQL and over HTTP."""

from __future__ import annotations

import pandas as pd
import pytest

from mainsail import Client


@pytest.fixture
def client(backend: str):
    c = Client(backend)
    yield c
    c.close()


def test_reingesting_an_older_version_makes_it_latest(client: Client) -> None:
    a = pd.DataFrame({"x": [1, 2, 3]})
    b = pd.DataFrame({"x": [4, 5, 6]})
    v1 = client.ingest_dataset(a, "d")
    v2 = client.ingest_dataset(b, "d")
    assert client.get_dataset_version("d").id == v2.id
    again = client.ingest_dataset(a, "d")  # the same bytes as v1
    assert again.id == v1.id and again.number == 1 and again.deduplicated
    assert client.get_dataset_version("d").id == v1.id  # latest moved back to v1
    assert client.get_dataset("d").latest_version == v1.id
    assert client.load_dataset("d")["x"].tolist() == [1, 2, 3]
    assert [v.number for v in client.list_dataset_versions("d")] == [2, 1]  # no new version row
    assert client.ingest_dataset(a, "d").id == v1.id and client.get_dataset_version("d").id == v1.id
    v3 = client.ingest_dataset(pd.DataFrame({"x": [7]}), "d")
    assert v3.number == 3 and client.get_dataset_version("d").id == v3.id


def test_cli_says_which_version_is_latest(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MAINSAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}

    def cli(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "mainsail.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    (tmp_path / "a.csv").write_text("x\n1\n2\n")
    (tmp_path / "b.csv").write_text("x\n3\n4\n")
    for f in ("a.csv", "b.csv"):
        cli("data", "ingest", str(tmp_path / f), "--name", "d")
    again = " ".join(cli("data", "ingest", str(tmp_path / "a.csv"), "--name", "d").split())
    assert "unchanged" in again and "(version #1)" in again and "it is the latest version" in again
    table = cli("data", "versions", "d")
    row1 = next(line for line in table.splitlines() if "│ 1 " in line)
    assert "(latest)" in row1 and "(latest)" not in next(ln for ln in table.splitlines() if "│ 2 " in ln)
