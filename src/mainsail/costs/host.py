"""What ``mainsail server`` hosts for costs: a budget check of every project with budgets every
``MAINSAIL_BUDGET_CHECK_INTERVAL`` seconds (300 by default; 0 switches it off). The check emits the
thresholds as monitor results; the alerts subscriber evaluates them (see ``costs.service.check_budgets``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import select

from mainsail.core.background import Periodic
from mainsail.core.runtime import Runtime


def check_all(runtime: Runtime) -> int:
    """Check the budgets of every project that has some; the number of budgets checked."""
    from mainsail.costs import service
    from mainsail.costs.models import BudgetRow

    with runtime.transaction(write=False) as ctx:
        projects = list(ctx.session.scalars(select(BudgetRow.project).distinct()))
    n = 0
    for project in projects:
        with runtime.transaction(actor="costs", project=project) as ctx:
            n += len(service.check_budgets(ctx, evaluate=False))
    return n


def start_background(runtime: Runtime) -> Callable[[], None]:
    """Start the periodic budget check; return a function that stops it."""
    interval = float(os.environ.get("MAINSAIL_BUDGET_CHECK_INTERVAL", "300") or 0)
    if interval <= 0:
        return lambda: None
    loop = Periodic("mainsail-budget-check", lambda: check_all(runtime), interval, "budget check")
    loop.start()
    return lambda: loop.stop(10)
