"""A generated customer-churn dataset with a known, learnable signal."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "contract_monthly",
            "payment_electronic", "num_products", "days_since_login", "discount_pct", "age"]


def make_churn(n: int = 5000, seed: int = 42, era: int = 0) -> pd.DataFrame:
    """``n`` customers with ten features, an event timestamp and a ``churned`` label (~25% positive).
    ``era`` > 0 is the world after a change in the market (see :func:`drifted_churn`)."""
    if era > 0:
        return drifted_churn(n, seed, era)
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    monthly = rng.normal(65, 25, n).clip(15, 150)
    contract_monthly = rng.random(n) < 0.55
    calls = rng.poisson(1.5 + 2.0 * contract_monthly, n)
    electronic = rng.random(n) < 0.4
    products = rng.integers(1, 6, n)
    login = rng.exponential(12, n).round()
    discount = rng.choice([0, 5, 10, 20], n, p=[0.6, 0.2, 0.15, 0.05])
    age = rng.integers(18, 85, n)
    logit = (-1.6 - 0.045 * tenure + 0.018 * monthly + 0.35 * calls + 1.1 * contract_monthly
             + 0.5 * electronic - 0.25 * products + 0.04 * login - 0.03 * discount)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = np.datetime64("2026-01-01T00:00:00")
    return _frame([f"C{i:06d}" for i in range(n)], start + rng.integers(0, 300 * 24 * 3600, n).astype("timedelta64[s]"),
                  tenure, monthly, calls, contract_monthly, electronic, products, login, discount, age, churned)


def drifted_churn(n: int, seed: int, era: int) -> pd.DataFrame:
    """Customers after ``era`` changes in the market: each era brings newer, pricier customers who call
    and log in more (covariate drift), and odd eras change *why* they leave (concept drift: price and
    discounts drive churn, contract and support calls barely), so a model of the earlier era ranks them
    poorly and one retrained on the new data well."""
    rng = np.random.default_rng(seed + 1000 * era)
    tenure = rng.integers(1, max(8, 72 - 24 * era), n)
    monthly = rng.normal(65 + 30 * era, 25, n).clip(15, 400)
    contract_monthly = rng.random(n) < 0.7
    calls = rng.poisson(1.5 + 1.5 * era + 2.0 * contract_monthly, n)
    electronic = rng.random(n) < 0.6
    products = rng.integers(1, 6, n)
    login = rng.exponential(12 + 10 * era, n).round()
    discount = rng.choice([0, 5, 10, 20], n, p=[0.4, 0.2, 0.2, 0.2])
    age = rng.integers(18, 85, n)
    if era % 2:  # price-driven churn: the old drivers barely matter
        logit = (-1.0 + 0.06 * (monthly - monthly.mean()) - 0.15 * discount + 1.2 * electronic
                 + 0.02 * tenure - 0.1 * calls + 0.25 * products)
    else:
        logit = (-1.6 - 0.045 * tenure + 0.012 * (monthly - 30 * era) + 0.25 * (calls - 1.5 * era)
                 + 1.1 * contract_monthly + 0.5 * electronic - 0.25 * products + 0.02 * login - 0.03 * discount)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = np.datetime64("2026-01-01T00:00:00") + np.timedelta64(300 * era, "D")
    return _frame([f"E{era}-{i:06d}" for i in range(n)],
                  start + rng.integers(0, 60 * 24 * 3600, n).astype("timedelta64[s]"),
                  tenure, monthly, calls, contract_monthly, electronic, products, login, discount, age, churned)


def _frame(ids: list[str], ts: np.ndarray, tenure: np.ndarray, monthly: np.ndarray, calls: np.ndarray,
           contract_monthly: np.ndarray, electronic: np.ndarray, products: np.ndarray, login: np.ndarray,
           discount: np.ndarray, age: np.ndarray, churned: np.ndarray) -> pd.DataFrame:
    """The quickstart's customer table from its generated columns."""
    return pd.DataFrame({
        "customer_id": ids,
        "event_timestamp": ts,
        "tenure_months": tenure,
        "monthly_charges": monthly.round(2),
        "total_charges": (monthly * tenure).round(2),
        "support_calls": calls,
        "contract_monthly": contract_monthly.astype(int),
        "payment_electronic": electronic.astype(int),
        "num_products": products,
        "days_since_login": login,
        "discount_pct": discount,
        "age": age,
        "churned": churned.astype(int),
    })
