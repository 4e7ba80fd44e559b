"""Audit and secrets API operations, declared once. Every one needs the admin role."""

from mainsail.audit import service as s
from mainsail.core.ops import OpSet

ops = OpSet("audit", auth=True)
ops.add("GET", "/audit", s.list_audit)
ops.add("GET", "/audit/verify", s.verify_audit)
ops.add("GET", "/secrets", s.list_secrets)
ops.add("PUT", "/secrets/{name}", s.set_secret)
ops.add("DELETE", "/secrets/{name}", s.delete_secret)
ops.add("POST", "/secrets-rotation", s.rotate_secrets)
