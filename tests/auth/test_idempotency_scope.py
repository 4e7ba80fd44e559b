"""Idempotency keys are the sender's own, in its project: two principals, or one principal in two
projects, sending the same ``Idempotency-Key`` each get their own write, never the other's response;
the same sender retrying gets its first response again. Over HTTP with auth on."""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa
from _auth_support import AuthWorld


def _create(world: AuthWorld, who: str, key: str, name: str, project: str | None = None) -> tuple[int, dict, bool]:
    headers = {"idempotency-key": key, **({"mainsail-project": project} if project else {})}
    with world.http(who, headers) as http:
        r = http.post("/api/v1/experiments", json={"name": name})
    return r.status_code, r.json(), r.headers.get("idempotent-replay") == "true"


def test_the_same_key_from_two_principals_or_projects_is_two_writes(world: AuthWorld) -> None:
    key = f"retry-{uuid.uuid4().hex[:8]}"
    status, first, replay = _create(world, "editor", key, f"{key}-editor")
    assert status == 201 and not replay and first["name"] == f"{key}-editor"
    status, again, replay = _create(world, "editor", key, f"{key}-editor")  # the sender's retry: replayed
    assert status == 201 and replay and again == first

    status, other, replay = _create(world, "admin", key, f"{key}-admin")  # another user, same key
    assert status == 201 and not replay, other
    assert other["name"] == f"{key}-admin" and other["id"] != first["id"]

    status, moved, replay = _create(world, "admin", key, f"{key}-admin", project="other")  # same user, other project
    assert status == 201 and not replay and moved["id"] not in (first["id"], other["id"]), moved
    status, outsider, replay = _create(world, "outsider", key, f"{key}-outsider", project="other")
    assert status == 201 and not replay and outsider["name"] == f"{key}-outsider"

    names = {e.name for e in world.local.list_experiments()}
    assert {f"{key}-editor", f"{key}-admin"} <= names
    engine = sa.create_engine(world.uri)
    with engine.connect() as conn:  # stored as digests: the raw key is nowhere in the table
        stored = {str(r[0]) for r in conn.execute(sa.text("SELECT key FROM idempotency_keys"))}
    engine.dispose()
    assert key not in stored
    mine = hashlib.sha256("\0".join(("default", "service:svc-editor", key)).encode()).hexdigest()
    assert mine in stored
