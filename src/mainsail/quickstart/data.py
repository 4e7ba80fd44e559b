"""Quickstart stage: the generated churn data becomes a version of dataset ``churn`` (profiled on the way
in) and is validated by :data:`SUITE` before any model trains on it (the pipeline's validate task)."""

from __future__ import annotations

from mainsail.data.suites import (
    Suite,
    allowed_values,
    column_type,
    in_range,
    not_null,
    row_count,
    unique,
)

DATASET = "churn"
SUITE = Suite.of(
    "churn-quickstart",
    row_count(min=100),
    column_type("customer_id", "string"),
    column_type("event_timestamp", "timestamp"),
    column_type("monthly_charges", "float"),
    column_type("churned", "integer"),
    not_null("customer_id"),
    unique("customer_id"),
    not_null("churned"),
    in_range("age", 18, 100),
    in_range("tenure_months", 0, 120),
    in_range("monthly_charges", 0, 500),
    allowed_values("contract_monthly", [0, 1]),
    allowed_values("discount_pct", [0, 5, 10, 20]),
    allowed_values("churned", [0, 1]),
)
