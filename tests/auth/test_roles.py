"""Generated from the declared operations: every operation of every domain, called over HTTP by an
anonymous caller, a viewer, an editor and an admin of the default project, and an admin of another
project, answers 401, 403 or gets past authorization (any other status: validation, not found, …) as its
declared role says. A 403 names the role needed; a 401 says why."""

from __future__ import annotations

import re

import pytest
from _auth_support import CALLERS, AuthWorld

from mainsail.api.registry import OPSETS
from mainsail.core.ops import AUTHENTICATED, Operation

OPERATIONS = [op for opset in OPSETS for op in opset.ops.values()]
RANK = {"viewer": 0, "editor": 1, "admin": 2}
CALLER_ROLE = {"viewer": "viewer", "editor": "editor", "admin": "admin"}  # in project default


def expected(op: Operation, who: str) -> int | None:
    """401, 403, or None (anything but 401/403)."""
    if op.role is None:
        return None
    if who == "anonymous":
        return 401
    if op.role == AUTHENTICATED:
        return None
    if who == "outsider":
        return 403
    return None if RANK[CALLER_ROLE[who]] >= RANK[op.role] else 403


def request_for(op: Operation) -> dict[str, object]:
    path = op.path
    path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: "default" if m.group(1) == "project" else "x", path)
    kw: dict[str, object] = {"method": op.method, "url": "/api/v1" + path}
    query = {p.name: "x" for p in op.params if p.where == "query" and p.required}
    if query:
        kw["params"] = query
    if any(p.where == "body" for p in op.params):
        kw["json"] = {}
    elif any(p.where == "raw" for p in op.params):
        kw["content"] = b"x"
    return kw


def test_every_operation_declares_a_role() -> None:
    assert len(OPERATIONS) > 90
    public = sorted(op.operation_id for op in OPERATIONS if op.role is None)
    assert public == ["auth_login", "auth_whoami"]
    by_method = {op.method: op.role for op in OPERATIONS if op.tag != "auth"}
    assert by_method["DELETE"] == "admin"


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.operation_id for op in OPERATIONS])
def test_operation_answers_by_role(world: AuthWorld, op: Operation) -> None:
    for who in CALLERS:
        with world.http(who) as http:
            r = http.request(**request_for(op))  # type: ignore[arg-type]
        want = expected(op, who)
        got = r.status_code
        where = f"{op.operation_id} ({op.method} {op.path}, role {op.role}) as {who}: {got} {r.text[:300]}"
        if want is None:
            assert got not in (401, 403), where
            assert got < 500, where
        else:
            assert got == want, where
            body = r.json()
            assert r.headers["content-type"].startswith("application/problem+json"), where
            if want == 403:
                assert body["code"] == "role_required" and repr(op.role) in body["detail"], where
            else:
                assert body["code"] == "authentication_required", where
                assert r.headers["www-authenticate"].startswith("Bearer"), where


def test_openapi_declares_bearer_security_on_every_operation(world: AuthWorld) -> None:
    with world.http("anonymous") as http:
        doc = http.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    ops = [(path, method, o) for path, item in doc["paths"].items() for method, o in item.items()
           if path.startswith("/api/v1")]
    assert len(ops) == len(OPERATIONS)
    for path, method, o in ops:
        if o["operationId"] in ("auth_login", "auth_whoami"):
            assert o["security"] == [], path
        else:
            assert o["security"] == [{"bearerAuth": []}], (method, path)
            assert {"401", "403"} <= set(o["responses"]), (method, path)


def test_a_member_of_another_project_sees_none_of_its_objects(world: AuthWorld, tmp_path) -> None:
    """The outsider (admin of project ``other`` only): 403 on ``default``'s objects and lists, and in its
    own project none of them listed or found by id; it may reuse their names there."""
    blob = tmp_path / "m.bin"
    blob.write_bytes(b"weights")
    exp = world.local.create_experiment("shared-name")
    version = world.local.register_model("shared-model", framework="python", artifacts=[blob])
    world.local.create_dataset("shared-data")
    with world.http("outsider") as http:
        for url in ("/api/v1/experiments", f"/api/v1/experiments/{exp.id}", "/api/v1/datasets/shared-data",
                    f"/api/v1/models/{version.id}", "/api/v1/datasets"):
            r = http.get(url)
            assert r.status_code == 403 and "'viewer' role in project 'default'" in r.json()["detail"], (url, r.text)
    with world.http("outsider", {"mainsail-project": "other"}) as http:
        for url in (f"/api/v1/experiments/{exp.id}", "/api/v1/experiments/by-name/shared-name",
                    "/api/v1/datasets/shared-data", f"/api/v1/models/{version.id}"):
            r = http.get(url)
            assert r.status_code == 404, (url, r.text)
        assert http.get("/api/v1/experiments").json()["items"] == []
        assert http.get("/api/v1/datasets").json()["items"] == []
        assert http.get("/api/v1/registered-models").json()["items"] == []
        mine = http.post("/api/v1/experiments", json={"name": "shared-name"})
        assert mine.status_code == 201 and mine.json()["project"] == "other" and mine.json()["id"] != exp.id
        assert http.post("/api/v1/datasets", json={"name": "shared-data"}).status_code == 201
        assert [e["name"] for e in http.get("/api/v1/experiments").json()["items"]] == ["shared-name"]
    with world.http("admin", {"mainsail-project": "other"}) as http:  # an admin of every project sees it there
        assert [e["id"] for e in http.get("/api/v1/experiments").json()["items"]] == [mine.json()["id"]]
    with world.http("viewer", {"mainsail-project": "other"}) as http:  # a default-project viewer does not
        r = http.get("/api/v1/experiments")
        assert r.status_code == 403 and "project 'other'" in r.json()["detail"]
    assert world.local.get_experiment(exp.id).name == "shared-name"  # default's own stays as it was


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.operation_id for op in OPERATIONS])
def test_operation_in_another_project(world: AuthWorld, op: Operation) -> None:
    """The admin of project ``other``, calling in ``other``: a domain whose objects carry a project serves it
    (loops and alerts included: never 401/403 there); one whose objects do not (audit) answers 422
    ``project_not_supported``."""
    with world.http("outsider", {"mainsail-project": "other"}) as http:
        r = http.request(**request_for(op))  # type: ignore[arg-type]
    body = r.json() if r.headers.get("content-type", "").endswith("json") and r.content else None
    code = body.get("code") if isinstance(body, dict) else None
    if not op.projects:
        assert r.status_code == 422 and code == "project_not_supported", (r.status_code, r.text[:300])
        return
    assert code != "project_not_supported", r.text[:300]
    if op.tag in ("loops", "alerts") and op.role is not None:
        assert r.status_code not in (401, 403), (r.status_code, r.text[:300])
        assert r.status_code < 500, r.text[:300]
