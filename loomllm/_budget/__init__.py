"""Budgets: reserve a call's worst case before it is sent, settle its actual cost after.

Limits are hard (the call is refused before it leaves the process) or soft (allowed, with a
warning event). State lives in a :class:`BudgetStore`: in memory, in SQLite (several processes on
one host) or in Redis / Redis Cluster / Valkey (several hosts); :func:`open_store` picks one from a
URL. Settles the store cannot take wait in a local :class:`Journal` until it is back.
"""

from __future__ import annotations

from ._journal import Journal
from ._ledger import BudgetLedger, LimitStatus, Reservation, SpendRow
from ._pricing import (
    Estimate,
    Price,
    PricingPlan,
    Usage,
    check_prices,
    deployment_cost,
    deployment_price,
    estimate_call,
    price_table,
    pricing_plan,
    quick_estimate,
)
from ._ratelimit import RateLimiter
from ._reports import spend_report
from ._scopes import display_key, looks_secret
from ._store import BudgetStore, Charge, Verdict, open_store
from .config import BudgetLimit, BudgetPolicy, BudgetsConfig, KeyScope, TeamConfig

__all__ = [
    "BudgetLedger",
    "BudgetLimit",
    "BudgetPolicy",
    "BudgetStore",
    "BudgetsConfig",
    "Charge",
    "Estimate",
    "Journal",
    "KeyScope",
    "LimitStatus",
    "Price",
    "PricingPlan",
    "RateLimiter",
    "Reservation",
    "SpendRow",
    "TeamConfig",
    "Usage",
    "Verdict",
    "check_prices",
    "deployment_cost",
    "deployment_price",
    "display_key",
    "estimate_call",
    "looks_secret",
    "open_store",
    "price_table",
    "pricing_plan",
    "quick_estimate",
    "spend_report",
]
