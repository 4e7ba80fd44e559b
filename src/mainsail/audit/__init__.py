"""Audit trail: every write recorded (who, when, which operation and object, digests of request and
result) in an append-only, hash-chained table; and the rotation of encrypted secrets."""
