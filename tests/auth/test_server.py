"""``mainsail server`` secure by default: a non-loopback address without auth is refused; with auth the
first start creates an admin and prints its password once; ``mainsail login`` saves a 0600 token that
the CLI and SDK use, as they use MAINSAIL_TOKEN; TLS with --ssl-certfile/--ssl-keyfile; hosted predict
routes need the ``predict`` permission unless the deployment is public."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _auth_support import make_callers
from _services import ServerProcess, free_port, stop_process

from mainsail import Client
from mainsail.core.errors import Unauthorized

MAINSAIL = [sys.executable, "-m", "mainsail.cli.main"]


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAINSAIL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_non_loopback_without_auth_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    out = _cli("--uri", uri, "server", "--host", "0.0.0.0", "--port", str(free_port()), "--no-background")
    assert out.returncode == 1
    assert "insecure_refused" in out.stderr and "--auth" in out.stderr and "--insecure" in out.stderr
    assert not (tmp_path / "meta.db").exists()  # refused before touching anything


def test_first_start_prints_a_one_time_admin_password_and_login_saves_a_private_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = ServerProcess(f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts"), tmp_path, "--auth")
    srv.start(timeout=120)
    try:
        found = re.search(r"one-time password: (\S+)", srv.log.read_text())
        assert found, srv.log.read_text()
        password = found.group(1)
        home = tmp_path / "cli-home"
        env = {"MAINSAIL_HOME": str(home), "MAINSAIL_URI": srv.url}
        out = _cli("tokens", "list", env=env)
        assert out.returncode == 1 and "authentication_required" in out.stderr
        out = _cli("login", "--url", srv.url, "--username", "admin", "--password", "wrong-one", env=env)
        assert out.returncode == 1 and "login_failed" in out.stderr
        out = _cli("login", "--url", srv.url, "--username", "admin", "--password", password, env=env)
        assert out.returncode == 0, out.stderr
        creds = home / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        out = _cli("users", "create", "ci-bot", "--service", "--role", "editor", env=env)
        assert out.returncode == 0, out.stderr
        out = _cli("tokens", "create", "--user", "ci-bot", "--role", "editor", "--permission", "predict", env=env)
        assert out.returncode == 0, out.stderr
        token = next(line for line in out.stdout.splitlines() if line.startswith("msk_"))
        listed = _cli("tokens", "list", "--user", "ci-bot", "--json", env=env)
        assert listed.returncode == 0 and token not in listed.stdout and '"ci-bot"' in listed.stdout
        with Client(srv.url, token="") as anon, pytest.raises(Unauthorized):
            anon.list_experiments()
        monkeypatch.setenv("MAINSAIL_TOKEN", token)  # the SDK reads MAINSAIL_TOKEN
        with Client(srv.url) as c:
            assert c.whoami().name == "ci-bot"
            c.create_experiment("from-ci")
        monkeypatch.delenv("MAINSAIL_TOKEN")
        out = _cli("experiments", "list", env={**env, "MAINSAIL_TOKEN": token})
        assert out.returncode == 0 and "from-ci" in out.stdout
        out = _cli("logout", env=env)
        assert out.returncode == 0 and _cli("tokens", "list", env=env).returncode == 1
    finally:
        srv.stop()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "tls.log"
    env = {**os.environ, "MAINSAIL_URI": f"sqlite:///{tmp_path / 'meta.db'}", "MAINSAIL_ADMIN_PASSWORD": "tls-admin-pw",
           "MAINSAIL_HOME": str(tmp_path)}
    proc = subprocess.Popen([*MAINSAIL, "server", "--port", str(port), "--no-background", "--auth",
                             "--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/ready", verify=ssl.create_default_context(cafile=str(certfile)), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "https://" in log.read_text() and "one-time password" not in log.read_text()
        with pytest.raises(httpx.ConnectError):  # an unverified certificate is refused by default
            httpx.get(url + "/health", timeout=5)
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets nothing useful
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).raise_for_status()
        os.environ["MAINSAIL_CA_BUNDLE"] = str(certfile)
        try:
            with Client(url, token="") as anon:
                session = anon.login("admin", "tls-admin-pw")
            with Client(url, token=session.token) as c:
                assert c.whoami().name == "admin" and c.create_experiment("over-tls").name == "over-tls"
        finally:
            del os.environ["MAINSAIL_CA_BUNDLE"]
    finally:
        stop_process(proc)


def test_hosted_and_replica_predict_need_the_predict_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
    from _serving_support import ReplicaProcess, churn_data, register
    from sklearn.linear_model import LogisticRegression

    uri, root = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    local = Client(uri, artifact_root=root)
    tokens = make_callers(local)
    x, y = churn_data(50)
    register(local, tmp_path, LogisticRegression().fit(x.to_numpy(), y))
    local.set_model_alias("churn", "champion", 1)
    for name in ("api", "open"):
        local.create_deployment(name, [{"name": "a", "model": "models:/churn@champion"}])
    monkeypatch.setenv("MAINSAIL_PUBLIC_DEPLOYMENTS", "open")
    srv = ServerProcess(uri, root, tmp_path, "--auth", "--deployments", "all").start(timeout=120)
    records = {"records": x.head(1).to_dict("records")}
    try:
        def post(who: str | None, path: str, base: str = srv.url) -> httpx.Response:
            headers = {"authorization": f"Bearer {tokens[who]}"} if who else {}
            for _ in range(100):  # the hosted app loads the model in the background
                r = httpx.post(base + path, json=records, headers=headers, timeout=30)
                if r.status_code != 503:
                    return r
                time.sleep(0.2)
            return r

        assert post(None, "/deployments/api/predict").status_code == 401
        assert post("viewer", "/deployments/api/predict").status_code == 403  # no predict permission
        assert "'predict'" in post("viewer", "/deployments/api/predict").json()["detail"]
        assert post("outsider", "/deployments/api/predict").status_code == 403  # predict, but another project
        assert post("editor", "/deployments/api/predict").status_code == 200
        assert post(None, "/deployments/open/predict").status_code == 200  # declared public
        oip = {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(x[c].iloc[0])]}
                          for c in x.columns]}
        r = httpx.post(srv.url + "/v2/models/api/infer", json=oip, timeout=30)
        assert r.status_code == 401
        # a serve replica whose control plane is the server: it signs in with its own token, and checks
        # callers' tokens through the server (cached)
        monkeypatch.setenv("MAINSAIL_TOKEN", tokens["editor"])
        replica = ReplicaProcess(srv.url, "api", tmp_path, "--auth").start(timeout=120)
        monkeypatch.delenv("MAINSAIL_TOKEN")
        try:
            assert httpx.get(replica.url + "/health").status_code == 200
            assert post(None, "/predict", replica.url).status_code == 401
            r = post("viewer", "/predict", replica.url)
            assert r.status_code == 403 and "'predict'" in r.json()["detail"]
            assert post("outsider", "/predict", replica.url).status_code == 403
            assert post("editor", "/predict", replica.url).status_code == 200
            bad = httpx.post(replica.url + "/predict", json=records, headers={"authorization": "Bearer nope"})
            assert bad.status_code == 401 and bad.json()["code"] == "token_invalid"
        finally:
            replica.stop()
    finally:
        srv.stop()
        local.close()
