"""Costs: measured usage, price sheets, budgets, recommendations and retention."""
