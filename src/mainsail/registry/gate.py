"""Quality gates: thresholds such as ``{"accuracy": ">= 0.85", "latency_ms": "< 50"}``."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping

from mainsail.core.errors import InvalidInput
from mainsail.registry.schemas import GateFailure, GateResult

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_RULE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def parse_threshold(metric: str, rule: str) -> tuple[str, float]:
    """``">= 0.85"`` → ``(">=", 0.85)``; anything else is a 422 naming the metric."""
    m = _RULE.match(rule)
    if not m or not math.isfinite(float(m.group(2))):
        raise InvalidInput(f"gate threshold for {metric!r} must look like '>= 0.85' (operators {', '.join(OPS)}), "
                           f"not {rule!r}", code="invalid_gate",
                           errors=[{"loc": ["gate", metric], "msg": "expected '<op> <number>'"}])
    return m.group(1), float(m.group(2))


def evaluate_gate(metrics: Mapping[str, float | None], thresholds: Mapping[str, str]) -> GateResult:
    """Check every threshold; a missing or NaN metric fails its threshold."""
    failures = []
    for metric, rule in thresholds.items():
        op, limit = parse_threshold(metric, rule)
        actual = metrics.get(metric)
        if actual is None or (isinstance(actual, float) and math.isnan(actual)) or not OPS[op](actual, limit):
            failures.append(GateFailure(metric=metric, op=op, threshold=limit, actual=actual))
    return GateResult(passed=not failures, failures=failures)


def enforce_gate(metrics: Mapping[str, float | None], thresholds: Mapping[str, str] | None, what: str) -> None:
    """Raise a 422 (code ``quality_gate_failed``) listing every failed threshold."""
    if not thresholds:
        return
    result = evaluate_gate(metrics, thresholds)
    if result.passed:
        return
    msgs = [f"{f.metric} = {'missing' if f.actual is None else f'{f.actual:.6g}'} is not {f.op} {f.threshold:g}"
            for f in result.failures]
    raise InvalidInput(f"quality gate failed for {what}: " + "; ".join(msgs), code="quality_gate_failed",
                       errors=[{"loc": ["metrics", f.metric], "msg": m} for f, m in zip(result.failures, msgs,
                                                                                         strict=True)])
