"""Dependency faults: the artifact store (S3) becomes unreachable mid-traffic. The server answers 503
problem+json for what needs the store while it is gone (never a 500), recovers by itself when it is back, and
every artifact it acknowledged reads back byte for byte.

The store is moto's S3 server behind a TCP proxy of this test's own; cutting the proxy is a network outage
that loses no data (a restarted moto would start empty)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _services import ServerProcess, free_port, require_service
from _suite import record
from _traffic import Traffic

from mainsail import Client

OUTAGE = 8.0  # seconds: longer than the store's bounded retries (MAINSAIL_S3_RETRIES, _CONNECT_TIMEOUT)


class CuttableProxy:
    """A TCP proxy to ``target``: ``cut()`` closes every connection and refuses new ones until ``restore()``."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, free_port()
        self.up = threading.Event()
        self.up.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _listen(self) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        return s

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.up.is_set():
                time.sleep(0.05)
                continue
            if self._listener is None:
                self._listener = self._listen()
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        if self._listener is not None:  # refuse new connections: connect() gets ECONNREFUSED
            self._listener.close()
            self._listener = None
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()


@pytest.fixture
def s3_behind_proxy(tmp_path: Path) -> Iterator[tuple[str, CuttableProxy]]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        require_service("moto S3 server", f"moto[server] or boto3 not importable ({exc})")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log would drown the report
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    bucket = f"mainsail-fault-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    proxy = CuttableProxy(("127.0.0.1", port))
    try:
        yield f"s3://{bucket}/artifacts", proxy
    finally:
        proxy.close()
        server.stop()


def test_artifact_store_outage_mid_traffic(s3_behind_proxy: tuple[str, CuttableProxy], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root, proxy = s3_behind_proxy
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "MAINSAIL_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}.items():
        monkeypatch.setenv(key, value)
    srv = ServerProcess(f"sqlite:///{tmp_path / 'meta.db'}", root, tmp_path).start()
    acked: dict[str, str] = {}  # artifact path -> sha256 of what was sent
    traffic = None
    try:
        client = Client(srv.url)
        run = client.create_run(client.create_experiment("artifact-faults").id)
        base = f"{srv.url}/api/v1/tracking-runs/{run.id}/artifacts"

        def send(http: httpx.Client, w: int, i: int):
            path, body = f"w{w}/a{i}.bin", os.urandom(2048) + f"{w}-{i}".encode()
            r = http.put(f"{base}/{path}", content=body, headers={"Content-Type": "application/octet-stream"})
            return r, lambda: acked.__setitem__(path, hashlib.sha256(body).hexdigest())

        traffic = Traffic(send, pause=0.02, timeout=30).start()
        time.sleep(2)
        before = len(acked)
        down = time.monotonic()
        proxy.cut()
        time.sleep(OUTAGE)
        during = dict(traffic.statuses)
        proxy.restore()
        up = len(acked)
        traffic.wait_acked(up + 20, 60)
        recovered = time.monotonic() - down - OUTAGE
        traffic.stop()
        with httpx.Client(timeout=30) as http:
            lost = sum(1 for p, digest in acked.items()
                       if hashlib.sha256(http.get(f"{base}/{p}").content).hexdigest() != digest)
        statuses, bodies, failures = traffic.statuses, traffic.bodies, traffic.failures()
        ok = before > 0 and len(acked) > up + 20 and lost == 0 and not failures and statuses[503] > 0
        record("artifact store (S3) outage mid-traffic (4 clients)", "sqlite+s3", ok, acknowledged=len(acked),
               answered_503=statuses[503], other_errors=sum(failures.values()), lost=lost,
               recovered_s=round(recovered, 1))
        assert statuses[503] > 0, f"no 503 while the artifact store was gone: {during} {bodies}"
        assert not failures, f"answers other than 503 while the store was gone: {failures} {bodies}"
        assert all("application/problem+json" in b for b in bodies if b.startswith("503")), bodies
        assert len(acked) > up + 20, "uploads did not resume after the store came back"
        assert lost == 0, f"{lost} acknowledged artifacts do not read back"
        assert client.get_run(run.id).status == "running"
    finally:
        if traffic is not None:
            traffic.stop()
        srv.stop()
