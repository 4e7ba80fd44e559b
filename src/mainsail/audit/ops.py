"""Audit and secrets API operations, declared once. Every one needs the admin role."""

from mainsail.audit import service as s
from mainsail.core.ops import OpSet

# declared, so 403 comes before input and the OpenAPI says so. Audit rows carry their project; named
# secrets are global (one per name, shared by every project's connectors): default project only.
ops = OpSet("audit", role="admin", projects=True)
ops.add("GET", "/audit", s.list_audit)
ops.add("GET", "/audit/verify", s.verify_audit)
ops.add("GET", "/secrets", s.list_secrets, projects=False)
ops.add("PUT", "/secrets/{name}", s.set_secret, projects=False)
ops.add("DELETE", "/secrets/{name}", s.delete_secret, projects=False)
ops.add("POST", "/secrets-rotation", s.rotate_secrets, projects=False)
