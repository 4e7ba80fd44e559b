"""Tokens and login against an auth-on server: wrong, expired and revoked tokens are 401s saying which;
revocation takes effect within the cache TTL; login is rate-limited per user and address; the embedded
Client obeys the same role rules when given a narrower principal; non-derived routes (MLflow, online
features) are protected too."""

from __future__ import annotations

import time

import httpx
import pytest
from _auth_support import AuthWorld

from mainsail import Client
from mainsail.core.errors import Forbidden, TooManyRequests, Unauthorized


def _code(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r.json()["code"]


def test_wrong_and_malformed_tokens_are_401_saying_so(world: AuthWorld) -> None:
    for header in ("Bearer garbage", "Bearer msk_" + "A" * 43, "Token abc", "Basic !!!"):
        r = httpx.get(world.url + "/api/v1/experiments", headers={"authorization": header}, timeout=60)
        assert r.status_code == 401, header
        assert _code(r) == "token_invalid"
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(world.url + "/api/v1/experiments", timeout=60)
    assert r.status_code == 401 and _code(r) == "authentication_required"
    for path in ("/health", "/ready", "/metrics", "/openapi.json"):  # stay open, even with a bad token
        r = httpx.get(world.url + path, headers={"authorization": "Bearer garbage"}, timeout=120)
        assert r.status_code == 200, path


def test_expired_token_is_401_token_expired(world: AuthWorld) -> None:
    t = world.local.create_token("short", user="svc-viewer", role="viewer", expires_in_days=4 / 86400)
    headers = {"authorization": f"Bearer {t.token}"}
    assert httpx.get(world.url + "/api/v1/experiments", headers=headers, timeout=60).status_code == 200
    time.sleep(4.1)  # the cache (TTL 5 s) never trusts a token past its expiry
    r = httpx.get(world.url + "/api/v1/experiments", headers=headers, timeout=60)
    assert r.status_code == 401 and _code(r) == "token_expired", r.text
    assert "expired at" in r.json()["detail"]


def test_revoked_token_stops_working_within_the_cache_ttl(world: AuthWorld) -> None:
    t = world.local.create_token("doomed", user="svc-editor", role="editor")
    with Client(world.url, token=t.token) as c:
        c.create_experiment("before-revoke")
        assert [x.name for x in c.list_tokens()] and c.whoami().name == "svc-editor"
        info = c.revoke_token(t.id)  # the owner revokes its own token
        assert info.revoked_at is not None
        started = time.monotonic()
        while True:
            try:
                c.list_experiments()
            except Unauthorized as exc:
                assert exc.code == "token_revoked" and "revoked at" in exc.detail
                break
            assert time.monotonic() - started < 6, "revocation not in effect within MAINSAIL_AUTH_CACHE_TTL (5 s)"
            time.sleep(0.25)
    listed = {x.id: x for x in world.local.list_tokens("svc-editor", include_revoked=True)}
    assert listed[t.id].revoked_at is not None and listed[t.id].last_used_at is not None
    assert all(not hasattr(x, "token") for x in listed.values())  # secrets are never shown again


def test_tokens_are_stored_hashed_and_shown_once(world: AuthWorld) -> None:
    import sqlalchemy as sa

    t = world.local.create_token("hashed", user="svc-viewer")
    engine = sa.create_engine(world.uri)
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.text("SELECT token_hash, prefix FROM auth_tokens"))]
    engine.dispose()
    assert all(t.token not in row for row in stored)
    import hashlib

    assert (hashlib.sha256(t.token.encode()).hexdigest(), t.token[:10]) in stored
    with Client(world.url, token=world.tokens["editor"]) as c:  # sends an Idempotency-Key with every write
        secret = c.create_token("remote").token
    engine = sa.create_engine(world.uri)
    with engine.connect() as conn:  # a response holding a secret is never stored for replay
        replies = [str(r[0]) for r in conn.execute(sa.text("SELECT response FROM idempotency_keys"))]
    engine.dispose()
    assert not any(secret in r for r in replies)  # (a token prefix, msk_ and 6 characters, may be)


def test_login_gives_a_session_token_and_is_rate_limited(world: AuthWorld) -> None:
    world.local.create_user("carol", password="carol-secret-pw", role="editor")
    with Client(world.url, token="") as anon:
        with pytest.raises(Unauthorized) as err:
            anon.list_experiments()
        assert err.value.code == "authentication_required"
        session = anon.login("carol", "carol-secret-pw")
    with Client(world.url, token=session.token) as c:
        me = c.whoami()
        assert me.name == "carol" and me.roles == {"default": "editor"}
        c.create_experiment("carols")
        with pytest.raises(Forbidden) as denied:
            c.delete_run("nope")
        assert denied.value.code == "role_required" and "'admin'" in denied.value.detail
    with Client(world.url, token="") as anon:
        for _ in range(5):
            with pytest.raises(Unauthorized) as bad:
                anon.login("carol", "wrong-password")
            assert bad.value.code == "login_failed"
        with pytest.raises(TooManyRequests) as limited:  # even the right password, until the window passes
            anon.login("carol", "carol-secret-pw")
        assert "try again in" in limited.value.detail
        with pytest.raises(TooManyRequests):  # the address is limited too, whatever the user
            anon.login("nobody", "whatever")
        with pytest.raises(Unauthorized):  # an unknown user fails the same way as a wrong password
            from mainsail.auth.passwords import LIMITER

            LIMITER._failures.clear()
            anon.login("nobody", "whatever")


def test_embedded_client_obeys_the_same_roles(world: AuthWorld) -> None:
    from mainsail.client.backends import LocalBackend
    from mainsail.core.principal import Principal
    from mainsail.core.settings import Settings
    from mainsail.tracking.ops import ops

    settings = Settings.from_env().with_uri(world.uri, world.root)
    viewer = LocalBackend(settings, principal=Principal("v", roles={"default": "viewer"}))
    assert viewer.call(ops.list_experiments, {}).items is not None
    with pytest.raises(Forbidden, match="'editor'"):
        viewer.call(ops.create_experiment, {"body": {"name": "nope"}})
    outsider = LocalBackend(settings, principal=Principal("o", roles={"other": "admin"}))
    with pytest.raises(Forbidden, match="project 'default'"):
        outsider.call(ops.list_experiments, {})
    assert LocalBackend(settings).call(ops.list_experiments, {}) is not None  # the local admin: as before


def test_mlflow_and_online_feature_routes_are_protected(world: AuthWorld) -> None:
    search = ("POST", "/api/2.0/mlflow/experiments/search", {"json": {"max_results": 5}})
    online = ("POST", "/api/v1/feature-sets/online", {"json": {"entity_rows": [{"k": 1}], "features": ["v:f"]}})
    for method, path, kw in (search, online):
        with world.http("anonymous") as http:
            assert http.request(method, path, **kw).status_code == 401, path
        with world.http("outsider") as http:
            assert http.request(method, path, **kw).status_code == 403, path
        with world.http("viewer") as http:
            assert http.request(method, path, **kw).status_code not in (401, 403), path
    with world.http("viewer") as http:  # an MLflow write needs editor
        r = http.post("/api/2.0/mlflow/experiments/create", json={"name": "mlf"})
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    with world.http("editor") as http:
        assert http.post("/api/2.0/mlflow/experiments/create", json={"name": "mlf"}).status_code == 200
        r = http.post("/api/2.0/mlflow/runs/delete", json={"run_id": "x"})  # deletes need admin
        assert r.status_code == 403 and "'admin'" in r.json()["message"]
    with world.http("admin") as http:
        assert http.post("/api/2.0/mlflow/runs/delete", json={"run_id": "x"}).status_code == 404


def test_tokens_never_exceed_their_owner(world: AuthWorld) -> None:
    with Client(world.url, token=world.tokens["viewer"]) as viewer:
        with pytest.raises(Forbidden):  # predict is granted by editors
            viewer.create_token("p", role="viewer", permissions=["predict"])
        big = viewer.create_token("big", role="admin")  # asks for admin: acts as its owner's viewer
    with Client(world.url, token=big.token) as c:
        assert c.whoami().roles == {"default": "viewer"}
        with pytest.raises(Forbidden):
            c.create_experiment("escalated")
    with Client(world.url, token=world.tokens["editor"]) as editor, pytest.raises(Forbidden):
        editor.create_token("for-someone", user="svc-viewer")  # another account's token: project admins


def test_each_project_holds_its_own_objects(world: AuthWorld) -> None:
    """An admin of project 'other' works in 'other' (never seeing default's data), over the API, the
    MLflow API and the Client; a malformed project header is a 422 naming it."""
    world.local.create_experiment("default-only")
    with world.http("outsider", headers={"mainsail-project": "other"}) as http:
        r = http.get("/api/v1/experiments")
        assert r.status_code == 200 and "default-only" not in r.text
        assert http.get("/api/v1/projects/other/members").status_code == 200
        r = http.post("/api/2.0/mlflow/experiments/search", json={"max_results": 5})
        assert r.status_code == 200 and "default-only" not in r.text
    with world.http("outsider") as http:
        assert http.post("/api/2.0/mlflow/experiments/search", json={"max_results": 5}).status_code == 403
    with world.http("outsider", headers={"mainsail-project": "../x"}) as http:
        r = http.get("/api/v1/experiments")
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["mainsail-project"]
    with Client(world.url, token=world.tokens["outsider"], project="other") as other:
        assert other.create_experiment("default-only").project == "other"
    with Client(world.url, token=world.tokens["outsider"]) as default, pytest.raises(Forbidden):
        default.list_experiments()


def test_metrics_can_require_a_token(world: AuthWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from _services import serve_in_thread

    from mainsail.api.app import create_app
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    monkeypatch.setenv("MAINSAIL_METRICS_AUTH", "1")
    settings = Settings.from_env().with_uri(world.uri, world.root)
    with serve_in_thread(create_app(runtime=Runtime(settings), auth=True)) as url:
        assert httpx.get(url + "/metrics", timeout=60).status_code == 401
        ok = httpx.get(url + "/metrics", headers={"authorization": f"Bearer {world.tokens['viewer']}"}, timeout=60)
        assert ok.status_code == 200 and b"# HELP" in ok.content
        assert httpx.get(url + "/health", timeout=60).status_code == 200
