"""What counts as an @mention in a markdown comment."""

from __future__ import annotations

from mainsail.collab.service import mentioned


def test_mentions_skip_code_emails_and_punctuation() -> None:
    text = ("Thanks @alice, @bob. Ask @carol-x! Mail a@b.com; `@inline` and\n```\n@fenced\n```\n"
            "@alice again, (@dave) and @@double")
    assert mentioned(text) == ["alice", "bob", "carol-x", "dave"]
    assert mentioned("no mentions here") == []
