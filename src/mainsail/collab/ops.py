"""Collaboration API operations, declared once: comments, reviews and the approval policy, activity,
watches and the inbox. Every row carries the call's project, so the set takes any project. Roles: viewers
read, watch and keep their inbox; editors comment and ask for reviews; a named reviewer (any member)
answers; project admins set the policy. Authors (or admins) edit and delete their comments."""

from mainsail.collab import feed as f
from mainsail.collab import service as s
from mainsail.core.ops import OpSet

ops = OpSet("collab", projects=True)
ops.add("POST", "/comments", s.add_comment, status=201)
ops.add("GET", "/comments", s.list_comments)
ops.add("GET", "/comments/{id}", s.get_comment)
ops.add("PATCH", "/comments/{id}", s.edit_comment)  # its author or a project admin (checked by the service)
ops.add("DELETE", "/comments/{id}", s.delete_comment, role="editor")  # likewise
ops.add("POST", "/reviews", s.request_review, status=201)
ops.add("GET", "/reviews", s.list_reviews)
ops.add("GET", "/reviews/{id}", s.get_review)
ops.add("POST", "/reviews/{id}/responses", s.respond_review, role="viewer")  # a named reviewer (checked)
ops.add("POST", "/reviews/{id}/close", s.close_review)
ops.add("GET", "/review-policy", s.get_policy)
ops.add("PUT", "/review-policy", s.set_policy, role="admin")
ops.add("GET", "/approvals", s.get_approvals)
ops.add("GET", "/activity", f.activity)
ops.add("POST", "/activity/sync", f.sync_activity, write=False)
ops.add("GET", "/watches", f.list_watches)
ops.add("POST", "/watches", f.watch, status=201, role="viewer")
ops.add("DELETE", "/watches/{kind}/{ref:path}", f.unwatch, role="viewer")
ops.add("GET", "/inbox", f.inbox)
ops.add("POST", "/inbox/read", f.mark_read, role="viewer")
ops.add("GET", "/inbox/preferences", f.get_preferences)
ops.add("PUT", "/inbox/preferences", f.set_preferences, role="viewer")
