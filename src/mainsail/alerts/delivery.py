"""The delivery loop's work: claim due deliveries, send them concurrently outside any transaction, then
record each result (sent, retried after a backoff, or failed) through :mod:`mainsail.alerts.service`."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mainsail.alerts import channels as ch
from mainsail.alerts.models import DeliveryRow
from mainsail.alerts.schemas import DeliveryReport
from mainsail.alerts.service import claim_deliveries, record_delivery
from mainsail.core.db import utcnow

log = logging.getLogger("mainsail.alerts")


def send_claimed(claimed: list[dict[str, Any]]) -> dict[str, str | None]:
    """Send claimed deliveries concurrently (a slow channel holds up no other); id → error or None."""
    def one(d: dict[str, Any]) -> tuple[str, str | None]:
        try:
            ch.send(d["kind"], d["config"], d["secret"], d["payload"])
            return d["id"], None
        except Exception as exc:  # noqa: BLE001 - recorded and retried
            log.warning("alert delivery to %s failed: %s", d["channel"], exc)
            return d["id"], str(exc) or type(exc).__name__

    if not claimed:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(claimed)), thread_name_prefix="mainsail-alert-send") as pool:
        return dict(pool.map(one, claimed))


def deliver_due(runtime: Any, limit: int = 50) -> DeliveryReport:
    """One round of the delivery loop over ``runtime``."""
    report = DeliveryReport()
    with runtime.transaction(write=False) as rctx:  # most ticks find nothing due: no write lock taken then
        due = rctx.session.scalar(select(DeliveryRow.id).where(DeliveryRow.status == "pending",
                                                               DeliveryRow.next_attempt_at <= utcnow()).limit(1))
    if due is None:
        return report
    for _ in range(3):  # a conflicting claim (sqlite busy, a unique race) is retried
        try:
            with runtime.transaction() as tctx:
                claimed = claim_deliveries(tctx, limit)
            break
        except SAIntegrityError:
            time.sleep(0.05)
    else:
        return report
    results = send_claimed(claimed)
    with runtime.transaction() as tctx:
        for id, error in results.items():
            outcome = record_delivery(tctx, id, error)
            if outcome in ("sent", "retried", "failed"):
                setattr(report, outcome, getattr(report, outcome) + 1)
    return report
