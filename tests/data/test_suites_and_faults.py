"""Suite parsing (YAML and Python), and the rule that a failed ingest leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mainsail import Client, datasets
from mainsail.core.errors import IntegrityError, InvalidInput
from mainsail.data.suites import Suite, as_suite, fresh, parse_duration


def test_yaml_round_trip_and_builders(tmp_path: Path) -> None:
    suite = Suite.of("s", datasets.not_null("a"), datasets.in_range("b", 0, 1), fresh("t", "7d"),
                     datasets.distribution("b", metric="ks", threshold=0.05))
    path = tmp_path / "s.yaml"
    path.write_text(suite.to_yaml())
    loaded = as_suite(path)
    assert loaded == suite and loaded.checks[2].max_age == 7 * 86400  # type: ignore[union-attr]
    assert as_suite(str(path)) == suite and as_suite(suite.to_yaml()) == suite
    assert parse_duration("90s") == 90 and parse_duration("1.5h") == 5400 and parse_duration(30) == 30


@pytest.mark.parametrize(("text", "loc", "fragment"), [
    ("name: s\nchecks:\n  - {type: not_null, column: a\n", ["s.yaml", "line 4, column 1"], "YAML syntax error at line 4"),
    ("- just\n- a list\n", ["s.yaml"], "must be a mapping"),
    ("name: s\nchecks: []\n", ["s.yaml", "checks"], "at least 1"),
    ("name: s\nchecks:\n  - {type: nope, column: a}\n", ["s.yaml", "checks", 0], "does not match any of the expected tags"),
    ("name: s\nchecks:\n  - {type: range, column: a}\n", ["s.yaml", "checks", 0, "range"], "give min, max or both"),
    ("name: s\nchecks:\n  - {type: regex, column: a, pattern: '('}\n", ["s.yaml", "checks", 0, "regex", "pattern"],
     "not a valid regular expression"),
    ("name: s\nchecks:\n  - {type: freshness, column: a, max_age: soon}\n",
     ["s.yaml", "checks", 0, "freshness", "max_age"], "is not a duration"),
    ("name: s\nchecks:\n  - {type: not_null, column: a, extra: 1}\n", ["s.yaml", "checks", 0, "not_null", "extra"],
     "Extra inputs"),
])
def test_yaml_errors_name_the_place(tmp_path: Path, text: str, loc: list, fragment: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as ei:
        Suite.load(path)
    assert ei.value.errors[0]["loc"][:len(loc)] == loc
    assert fragment in ei.value.detail
    with pytest.raises(InvalidInput, match="cannot read suite file"):
        Suite.load(tmp_path / "missing.yaml")


def _no_objects(root: Path) -> bool:
    objects = root / "objects"
    return not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_ingest_failing_halfway_leaves_no_version_no_object_no_temp_file(tmp_path: Path) -> None:
    """A CSV whose line 400,002 is malformed: 400,000 rows (three row groups) are already written when the
    reader meets it."""
    c = Client(f"sqlite:///{tmp_path / 'meta.db'}")
    good = "".join(f"{i},{i * 0.5},c{i % 7}\n" for i in range(400_000))
    (tmp_path / "big.csv").write_text("a,b,c\n" + good + "1,2\n" + good[:1000])
    seen: list[tuple[str, int, int | None]] = []
    with pytest.raises(InvalidInput) as ei:
        c.ingest_dataset(tmp_path / "big.csv", "d", progress=lambda *a: seen.append(a))
    assert ei.value.code == "invalid_csv" and "line 400002" in ei.value.detail
    assert max(done for _, done, _ in seen) > 1_000_000  # bytes read before it failed
    assert list(c.iter_datasets()) == []
    assert _no_objects(tmp_path / "artifacts")
    assert not any((Path(os.environ["MAINSAIL_HOME"]) / "tmp").iterdir())  # temp files are gone too
    (tmp_path / "big.csv").write_text("a,b,c\n" + good)
    v = c.ingest_dataset(tmp_path / "big.csv", "d")
    assert v.number == 1 and v.row_count == 400_000 and c.load_dataset("d", columns=["a"])["a"].iloc[-1] == 399_999


def test_killed_ingest_leaves_no_version(tmp_path: Path) -> None:
    """kill -9 while the Parquet is being written: no version, and the next ingest works."""
    import signal
    import subprocess
    import sys
    import time

    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    rows = "".join(f"{i},{i * 0.5},c{i % 7}\n" for i in range(500_000))
    (tmp_path / "big.csv").write_text("a,b,c\n" + rows * 4)
    script = ("import sys, mainsail\n"
              "c = mainsail.Client(sys.argv[1])\n"
              "c.list_datasets()\n"
              "print('ready', flush=True)\n"
              "c.ingest_dataset(sys.argv[2], 'd', progress=lambda *a: print(*a, flush=True))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, uri, str(tmp_path / "big.csv")], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # kill it once a few MB have been read and written
        if line.startswith("load ") and int(line.split()[1]) > 8_000_000 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    c = Client(uri)
    assert list(c.iter_datasets()) == []
    assert _no_objects(tmp_path / "artifacts")
    v = c.ingest_dataset(tmp_path / "big.csv", "d")
    assert v.number == 1 and v.row_count == 2_000_000


def test_sorted_unique_fast_path_sees_duplicates_across_row_groups(tmp_path: Path) -> None:
    from mainsail.data.canonical import ROW_GROUP_ROWS

    c = Client(f"sqlite:///{tmp_path / 'meta.db'}")
    n = 3 * ROW_GROUP_ROWS
    ids = list(range(n))
    c.ingest_dataset(pd.DataFrame({"id": ids, "s": [f"k{i:08d}" for i in ids]}), "d", profile=False)
    assert c.validate_dataset("d", Suite.of("u", datasets.unique("id"), datasets.unique("s"))).passed
    ids[ROW_GROUP_ROWS] = ids[ROW_GROUP_ROWS - 1]  # a duplicate straddling the first row-group boundary
    c.ingest_dataset(pd.DataFrame({"id": ids}), "d", profile=False)
    res = c.validate_dataset("d", Suite.of("u", datasets.unique("id")))
    assert not res.passed and res.checks[0].failing_count == 1
    assert [r.row for r in res.checks[0].failing_rows] == [ROW_GROUP_ROWS - 1, ROW_GROUP_ROWS]


def test_http_upload_rejects_garbage_and_bad_digests(http_server, tmp_path: Path) -> None:
    import httpx

    url = f"{http_server.url}/api/v1/datasets/d/versions"
    r = httpx.post(url, content=b"not parquet", headers={"content-type": "application/octet-stream"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_parquet"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(url, content=b"", headers={"content-type": "application/octet-stream"})
    assert r.status_code == 422
    r = httpx.post(url, params={"source": "[1]"}, content=b"x")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "source"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "foreign.parquet")  # not written by Mainsail
    data = (tmp_path / "foreign.parquet").read_bytes()
    r = httpx.post(url, content=data, params={"digest": "0" * 64})
    assert r.status_code == 409 and r.json()["code"] == "integrity_error"
    r = httpx.post(url, content=data)
    assert r.status_code == 201 and r.json()["row_count"] == 3  # re-written canonically
    c = Client(http_server.url)
    assert c.load_dataset("d")["a"].tolist() == [1, 2, 3]
    assert c.get_dataset("d").version_count == 1
    with pytest.raises(IntegrityError):
        c.call(c_ops().upload_version, name="d", data=data, digest="1" * 64)


def c_ops():  # noqa: ANN201
    from mainsail.data.ops import ops

    return ops
