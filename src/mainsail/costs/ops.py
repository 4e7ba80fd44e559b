"""Costs API operations, declared once: ``/costs/…`` (per project: the ``Mainsail-Project`` header)."""

from mainsail.core.ops import OpSet
from mainsail.costs import recommend as r
from mainsail.costs import retention as ret
from mainsail.costs import service as s

ops = OpSet("costs", projects=True)
ops.add("GET", "/costs/prices", s.get_prices)
ops.add("PUT", "/costs/prices", s.set_prices, role="admin")
ops.add("POST", "/costs/usage", s.record_usage, status=201)
ops.add("GET", "/costs/usage", s.list_usage)
ops.add("GET", "/costs/report", s.cost_report)
ops.add("GET", "/costs/recommendations", r.recommend)
ops.add("POST", "/costs/budgets", s.create_budget, status=201)
ops.add("GET", "/costs/budgets", s.list_budgets)
ops.add("GET", "/costs/budgets/{name}", s.get_budget)
ops.add("DELETE", "/costs/budgets/{name}", s.delete_budget)
ops.add("POST", "/costs/budgets/check", s.check_budgets)
ops.add("GET", "/costs/retention", ret.get_retention)
ops.add("PUT", "/costs/retention", ret.set_retention, role="admin")
ops.add("GET", "/costs/storage", ret.storage, role="admin")  # the whole store: see ret.storage
ops.add("POST", "/costs/gc", ret.run_gc, role="admin")
