"""Budgets: reserve a call's worst case before it is sent, settle its actual cost after.

Limits are hard (the call is refused before it leaves the process) or soft (allowed, with a
warning event). State lives in a :class:`BudgetStore`: in memory, in SQLite (several processes on
one host) or in Redis (several hosts); :func:`open_store` picks one from a URL.
"""

from __future__ import annotations

from ._ledger import BudgetLedger, LimitStatus, Reservation
from ._pricing import Estimate, Usage, check_prices, deployment_cost, deployment_price, estimate_call
from ._ratelimit import RateLimiter
from ._store import BudgetStore, Charge, Verdict, open_store
from .config import BudgetLimit, BudgetPolicy, BudgetsConfig, TeamConfig

__all__ = [
    "BudgetLedger",
    "BudgetLimit",
    "BudgetPolicy",
    "BudgetStore",
    "BudgetsConfig",
    "Charge",
    "Estimate",
    "LimitStatus",
    "RateLimiter",
    "Reservation",
    "TeamConfig",
    "Usage",
    "Verdict",
    "check_prices",
    "deployment_cost",
    "deployment_price",
    "estimate_call",
    "open_store",
]
