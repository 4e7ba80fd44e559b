"""Collaboration as users rely on it, embedded (sqlite, postgres) and over HTTP with auth on."""

from __future__ import annotations

from pathlib import Path

import pytest
from _collab_support import Receiver, World

from mainsail.core.errors import Conflict, Forbidden, InvalidInput, NotFound


def test_mentions_resolved_against_users_and_inbox(world: World, model_file: Path) -> None:
    alice, bob = world.as_("alice"), world.as_("bob")
    alice.register_model("churn", framework="custom", artifacts=[model_file])
    with pytest.raises(InvalidInput) as err:
        alice.add_comment("model_version", "churn/1", "ping @bob and @zed and @nobody.")
    assert "'zed'" in err.value.detail and "'nobody'" in err.value.detail and "'bob'" not in err.value.detail
    assert [e["user"] for e in err.value.errors] == ["zed", "nobody"]
    assert alice.list_comments("model_version", "churn/1").items == []  # nothing stored
    with pytest.raises(NotFound, match="registered model 'nope'"):
        alice.add_comment("model", "nope", "hello")
    with pytest.raises(NotFound, match="churn/9"):
        alice.add_comment("model_version", "churn/9", "hello")

    c = alice.add_comment("model_version", "churn/1", "**Looks good** @bob; `@zed` in code is no mention.")
    assert c.mentions == ["bob"] and c.author == "alice" and c.object.label == "churn v1"
    [note] = bob.inbox(unread=True).items
    assert note.kind == "mention" and note.actor == "alice" and "churn v1" in note.title
    assert note.data["comment_id"] == c.id and not note.read
    assert alice.inbox().items == []  # no notification of one's own comment
    assert bob.mark_read([note.id]).unread == 0
    assert bob.inbox(unread=True).items == [] and bob.inbox().items[0].read

    # edit and delete: the author, or a project admin; on an auth-on server nobody else
    if world.auth:
        with pytest.raises(Forbidden, match="only its author 'alice'"):
            bob.edit_comment(c.id, "hijacked")
        with pytest.raises(Forbidden):
            world.as_("dave").add_comment("model", "churn", "viewers only read")
    edited = alice.edit_comment(c.id, "now also @carol")
    assert edited.edited and edited.mentions == ["carol"]
    assert world.as_("carol").inbox().items[0].kind == "mention"
    world.as_("admin").delete_comment(c.id)
    with pytest.raises(NotFound, match="comment"):
        alice.get_comment(c.id)


def test_stage_change_needs_approvals_of_that_version(world: World, model_file: Path) -> None:
    alice, bob, admin = world.as_("alice"), world.as_("bob"), world.as_("admin")
    admin.set_review_policy(1, count_author=False, protected_aliases=["champion"])
    v1 = alice.register_model("churn", framework="custom", artifacts=[model_file])
    assert v1.created_by == "alice"
    with pytest.raises(Conflict) as err:
        admin.set_model_stage("churn", 1, "production")
    assert err.value.code == "approvals_required" and "churn v1 cannot enter production" in err.value.detail
    assert "1 is missing" in err.value.detail

    with pytest.raises(InvalidInput, match="'zed'"):
        alice.request_review("model_version", "churn/1", ["bob", "zed"])
    review = alice.request_review("model_version", "churn/1", ["alice", "bob"], "please check the AUC")
    assert bob.inbox().items[0].kind == "review_request"
    with pytest.raises(Forbidden, match="not a reviewer"):
        world.as_("carol").approve_review(review.id)

    # the author approves her own version: it does not count under this policy
    assert alice.approve_review(review.id, "mine").approved_by == ["alice"]
    standing = alice.get_approvals("model_version", "churn/1")
    assert standing.counted == [] and standing.not_counted == ["alice"] and standing.missing == 1
    with pytest.raises(Conflict) as err:
        admin.set_model_stage("churn", 1, "production")
    assert "not counted: alice" in err.value.detail and "awaiting bob" in err.value.detail
    assert err.value.errors[0]["required"] == 1 and err.value.errors[0]["not_counted"] == ["alice"]
    assert admin.get_model_version("churn", 1).stage == "development"  # refused: nothing changed

    bob.request_changes(review.id, "retrain with the fixed labels")
    with pytest.raises(Conflict, match="changes requested by bob"):
        admin.set_model_stage("churn", 1, "production")
    after = bob.approve_review(review.id, "fine now")
    assert after.status == "approved" and after.approved_by == ["alice", "bob"]
    kinds = [n.kind for n in alice.inbox().items]
    assert kinds.count("review") >= 2  # bob's verdicts reach the requester
    assert admin.set_model_stage("churn", 1, "production").stage == "production"

    # an approval belongs to one version: v2 needs its own, for production and the protected alias
    alice.register_model("churn", framework="custom", artifacts=[model_file])
    with pytest.raises(Conflict, match="churn v2 cannot take alias 'champion'"):
        admin.set_model_alias("churn", "champion", 2)
    with pytest.raises(Conflict, match="churn v2 cannot enter production"):
        admin.set_model_stage("churn", 2, "production")
    assert admin.set_model_alias("churn", "champion", 1).aliases == ["champion"]
    assert admin.set_model_alias("churn", "candidate", 2).aliases == ["candidate"]  # not protected

    # with count_author the author's approval is enough
    admin.set_review_policy(1, count_author=True)
    r2 = alice.request_review("model_version", "churn/2", ["alice"])
    alice.approve_review(r2.id)
    assert admin.set_model_stage("churn", 2, "production").stage == "production"
    assert [r.id for r in alice.list_reviews("model_version", "churn/1").items] == [review.id]
    assert [r.id for r in alice.list_reviews(reviewer="bob").items] == [review.id]


def test_activity_feed_cursors_and_watchers(world: World, model_file: Path, receiver: Receiver) -> None:
    alice, carol, admin = world.as_("alice"), world.as_("carol"), world.as_("admin")
    admin.create_alert_channel("carol-hook", "webhook", url=receiver.url)
    carol.set_notification_preferences(["carol-hook"], kinds=["stage_change", "model_ready"])
    with pytest.raises(InvalidInput, match="unknown channel 'nope'"):
        carol.set_notification_preferences(["nope"])
    alice.register_model("churn", framework="custom", artifacts=[model_file])
    carol.watch("model", "churn")
    assert [w.object.label for w in carol.list_watches()] == ["model churn"]
    world.as_("bob").watch("project", "default")  # every model ready for production
    with pytest.raises(NotFound):
        carol.watch("deployment", "missing")

    admin.set_model_stage("churn", 1, "staging")
    admin.set_model_stage("churn", 1, "production")
    alice.add_comment("model", "churn", "shipped")
    carol_notes = carol.inbox().items
    assert [n.kind for n in carol_notes] == ["comment", "stage_change", "stage_change"]
    assert "from staging to production" in carol_notes[1].title
    [ready] = world.as_("bob").inbox().items
    assert ready.kind == "model_ready" and "churn v1 is ready for production" in ready.title
    assert admin.inbox().items == []  # the actor is not told of its own change

    # carol's preference: her stage changes also go to her webhook, through the alert delivery loop
    assert admin.process_alert_deliveries().sent == 2
    bodies = sorted(receiver.bodies, key=lambda b: b["notification"]["id"])
    assert [b["notification"]["kind"] for b in bodies] == ["stage_change", "stage_change"]
    assert bodies[1]["notification"]["user"] == "carol" and "production" in bodies[1]["summary"]

    # the feed: newest first, pages by cursor without gaps or repeats, per object and per user
    everything = []
    cursor = None
    while True:
        page = carol.activity(limit=2, cursor=cursor)
        everything += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [a.id for a in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert ids == [a.id for a in carol.activity(limit=1000).items]
    types = [a.type for a in everything]
    assert {"registered_model.created", "model_version.registered", "stage.changed", "comment.created"} <= set(types)
    model_feed = carol.activity("model", "churn").items
    assert {a.type for a in model_feed} >= {"stage.changed", "model_version.registered", "comment.created"}
    assert all(a.object.key == "churn" or (a.parent and a.parent.key == "churn") for a in model_feed)
    assert {a.actor for a in carol.activity(user="admin").items} == {"admin"}
    mine = carol.activity("model", "churn", user="alice", limit=1)  # filters apply before the page is cut
    assert mine.items[0].type == "comment.created" and mine.next_cursor is not None
    assert carol.activity("model", "churn", user="alice", cursor=mine.next_cursor).items[0].actor == "alice"
    assert [a.summary for a in carol.activity(type="stage.*").items][0] == \
        "admin moved churn v1 from staging to production"
    with pytest.raises(InvalidInput, match="cursor"):
        carol.activity(cursor="not-a-cursor")

    carol.unwatch("model", "churn")
    assert carol.list_watches() == []
    with pytest.raises(NotFound, match="does not watch"):
        carol.unwatch("model", "churn")


def test_alert_on_a_watched_deployment_reaches_its_watchers(world: World, model_file: Path) -> None:
    from mainsail.core.events import emit
    from mainsail.core.runtime import Runtime
    from mainsail.core.settings import Settings

    alice, carol, admin = world.as_("alice"), world.as_("carol"), world.as_("admin")
    alice.register_model("churn", framework="custom", artifacts=[model_file])
    admin.create_deployment("churn", "models:/churn/1")
    carol.watch("deployment", "churn")
    admin.create_alert_rule("drift-high", "value > 0.2", selector={"kind": "drift"}, severity="critical")
    rt = Runtime.for_settings(Settings.from_env().with_uri(world.uri, world.root))
    with rt.transaction() as ctx:  # what a monitor run writes
        emit(ctx.session, "monitor.completed", "churn-drift", {
            "monitor": "churn-drift", "deployment": "churn", "dataset": None,
            "results": [{"kind": "drift", "feature": "age", "test": "psi", "value": 0.5, "threshold": 0.2,
                         "status": "drift"}]})
    [alert_id] = admin.evaluate_alerts().fired
    [note] = carol.inbox().items
    assert note.kind == "alert" and note.object.kind == "alert" and note.object.key == alert_id
    assert "drift-high" in note.title and "churn" in note.title
    assert alice.inbox().items == []  # not watching
    feed = carol.activity("deployment", "churn").items
    assert feed[0].type == "alert.fired" and feed[0].parent.key == "churn"
