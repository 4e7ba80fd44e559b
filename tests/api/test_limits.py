"""The server as a hostile or unlucky HTTP client meets it: a request that hits an internal error
leaves the keep-alive connection usable, and an oversized body is answered 413 problem+json before the
server reads it whole. Real uvicorn, in a thread of the test process so a fault can be injected."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import orjson
import pytest
from _services import serve_in_thread

from mainsail.api.app import create_app
from mainsail.core.runtime import Runtime
from mainsail.tracking.ops import ops


@pytest.fixture
def server(sqlite_settings) -> Iterator[str]:
    """An in-process uvicorn on a fresh SQLite store, 1 MiB JSON limit and 3 MiB upload limit."""
    settings = replace(sqlite_settings, max_json_body=2**20, max_upload_body=3 * 2**20)
    with serve_in_thread(create_app(runtime=Runtime.for_settings(settings))) as url:
        yield url


def _raw(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on ``sock``; read one response (status, body) by Content-Length."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed by the server after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v) for k, _, v in (h.partition(b":") for h in lines[1:]) if k.lower() == b"content-length")
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: t\r\n\r\n".encode()


def test_keep_alive_connection_survives_an_internal_error(server: str, monkeypatch) -> None:
    def broken(*_a, **_k):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(ops.get_experiment, "handler", broken)
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):  # the same connection: a 500, then a good request, again and again
            status, body = _raw(sock, _get("/api/v1/experiments/x"))
            assert status == 500
            assert orjson.loads(body)["code"] == "internal_error"
            status, _ = _raw(sock, _get("/health"))
            assert status == 200
    with httpx.Client(base_url=server, timeout=10) as c:  # what the SDK does: one pooled connection
        for _ in range(10):
            assert c.get("/api/v1/experiments/x").status_code == 500
            assert c.get("/api/v1/experiments").status_code == 200
            assert c.post("/api/v1/experiments", json={"name": f"e{time.monotonic_ns()}"}).status_code == 201
    text = httpx.get(server + "/metrics").text
    assert 'route="/api/v1/experiments/{experiment_id}",status="500"' in text  # still counted as a 500


def test_json_body_over_the_limit_is_413_before_it_is_read(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # announce 100 MB, send 64 KiB of it: the answer comes without the rest
        head = (b"POST /api/v1/experiments HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                b"content-length: 100000000\r\n\r\n")
        status, body = _raw(sock, head + b"[" + b"1," * 32768)
        assert status == 413
        problem = orjson.loads(body)
        assert problem["code"] == "body_too_large" and problem["limit"] == 2**20
        assert "MAINSAIL_MAX_JSON_BODY" in problem["detail"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # chunked, no length: counted while it streams; answered once past the limit
        sock.sendall(b"POST /api/v1/experiments HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        piece = b"1," * 65536
        for _ in range(10):  # 1.25 MiB
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        status, body = _raw(sock, b"")
        assert status == 413 and orjson.loads(body)["code"] == "body_too_large"
    with httpx.Client(base_url=server, timeout=30) as c:  # a client that sends it all still gets the 413
        r = c.post("/api/v1/experiments", content=b" " * (3 * 2**20), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert c.post("/api/v1/experiments", json={"name": "fits"}).status_code == 201  # same connection works


def test_upload_routes_take_larger_bodies(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        exp = c.post("/api/v1/experiments", json={"name": "u"}).json()
        run = c.post("/api/v1/tracking-runs", json={"experiment_id": exp["id"]}).json()
        url = f"/api/v1/tracking-runs/{run['id']}/artifacts/big.bin"
        two_mb = b"x" * (2 * 2**20)  # over the JSON limit, under the upload limit
        r = c.put(url, content=two_mb, headers={"content-type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        r = c.put(url, content=b"x" * (4 * 2**20), headers={"content-type": "application/octet-stream"})
        assert r.status_code == 413 and "MAINSAIL_MAX_UPLOAD_BODY" in r.json()["detail"]
        assert c.get(url).content == two_mb  # the refused upload left the stored artifact as it was
        mlflow = f"/api/2.0/mlflow-artifacts/artifacts/{exp['id']}/{run['id']}/artifacts/m.bin"
        assert c.put(mlflow, content=two_mb).status_code == 200  # MLflow's upload route is an upload too
        assert c.get(f"/api/v1/tracking-runs/{run['id']}/artifacts/m.bin").content == two_mb


def test_huge_metric_batches_are_split_into_short_transactions(server: str) -> None:
    from mainsail import Client

    with httpx.Client(base_url=server, timeout=60) as c:
        exp = c.post("/api/v1/experiments", json={"name": "b"}).json()
        run = c.post("/api/v1/tracking-runs", json={"experiment_id": exp["id"]}).json()
        n = 10_001  # one past the default MAINSAIL_MAX_BATCH_POINTS
        body = {"metrics": {"key": ["m"] * n, "value": [0.5] * n, "step": list(range(n)), "timestamp": [1.0] * n}}
        r = c.post(f"/api/v1/tracking-runs/{run['id']}/log-batch", json=body)
        assert r.status_code == 413 and r.json()["code"] == "batch_too_large"
        assert "10,000" in r.json()["detail"]
        r = c.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run["id"], "metrics": [
            {"key": "m", "value": 0.5, "step": i, "timestamp": 1000} for i in range(n)]})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"  # not a 500
    client = Client(server)  # the SDK splits instead: every point stored, params with the first chunk
    client.log_batch(run["id"], [("m", float(i), i, 1.0) for i in range(25_000)], params={"p": 1})
    assert client.get_metric_history(run["id"], "m").step == list(range(25_000))
    assert client.get_run(run["id"]).params == {"p": "1"}
