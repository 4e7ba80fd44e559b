"""Auth API operations, declared once: login, who am I, projects and members, users, tokens.
Operations marked ``authenticated`` take any signed-in caller; their services check the rest
(an admin of every project for users, the project's admin for members, the owner for tokens)."""

from mainsail.auth import service as s
from mainsail.core.ops import AUTHENTICATED, OpSet

ops = OpSet("auth", projects=True)  # tokens and members are per project already
ops.add("POST", "/auth/login", s.login, status=201, public=True, statuses=(401, 429), secret=True)
ops.add("GET", "/auth/whoami", s.whoami, public=True)
ops.add("POST", "/auth/tokens", s.create_token, status=201, role=AUTHENTICATED, secret=True)
ops.add("GET", "/auth/tokens", s.list_tokens, role=AUTHENTICATED)
ops.add("DELETE", "/auth/tokens/{token_id}", s.revoke_token, role=AUTHENTICATED, name="revoke_token")
ops.add("POST", "/projects", s.create_project, status=201, role="admin")
ops.add("GET", "/projects", s.list_projects, role=AUTHENTICATED)
ops.add("GET", "/projects/{project}/members", s.list_members)
ops.add("PUT", "/projects/{project}/members/{user}", s.set_member, role="admin")
ops.add("DELETE", "/projects/{project}/members/{user}", s.remove_member)
ops.add("POST", "/users", s.create_user, status=201, role="admin")
ops.add("GET", "/users", s.list_users, role="admin")
ops.add("PATCH", "/users/{name}", s.update_user, role=AUTHENTICATED)
ops.add("DELETE", "/users/{name}", s.delete_user)
