"""The budget ledger: reserve a call's worst case before it is sent, settle its actual cost after.

A hard limit refuses before any byte leaves the process; the reservation is atomic across every
limit that applies (the agent's, its teams', the global one), so concurrent calls cannot overshoot.
LiteLLM's own budget does not do this (``max_budget`` never increments for chat, 40020; the proxy
overshoots under concurrency, 34732/40095).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog

from loomllm.errors import BudgetExceeded, BudgetStoreUnavailable

from ._pricing import NANO, Estimate, Usage, usage_amount
from ._store import BudgetStore, Charge, Verdict
from ._windows import Windows
from .config import BudgetsConfig, Unit

__all__ = ["BudgetLedger", "LimitStatus", "Reservation"]

EventHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class _Limit:
    """One configured limit, bound to the scope whose counters it uses."""

    scope: str  # agent | team | global
    scope_name: str
    policy: str
    name: str
    per: str
    hard: bool
    warn_at: float | None
    meters: tuple[tuple[Unit, int], ...]  # (unit, cap in store units)
    key_base: str


@dataclass(frozen=True)
class LimitStatus:
    """Where one limit (one unit of it) stands in its current window."""

    scope: str
    """``agent``, ``team`` or ``global``."""
    scope_name: str
    """The agent or team name (``*`` for global)."""
    policy: str
    limit: str
    unit: str
    """``usd``, ``tokens``, ``input_tokens`` or ``output_tokens``."""
    window: str
    """``minute``, ``hour``, ``day``, ``month`` or ``lifetime``."""
    mode: str
    cap: float
    spent: float
    reserved: float
    remaining: float
    window_start: datetime | None
    window_end: datetime | None


def _scaled(unit: str, value: int) -> float:
    return value / NANO if unit == "usd" else value


class Reservation:
    """Budget held for one call. Settle it with the actual usage, or release it if the call failed.

    Settle and release are idempotent: only the first of them has an effect.
    """

    __slots__ = ("_charges", "_done", "_lease", "_ledger", "_limits", "_lock", "agent", "estimate")

    def __init__(
        self,
        ledger: BudgetLedger | None,
        agent: str,
        estimate: Estimate,
        lease: str | None = None,
        charges: Sequence[Charge] = (),
        limits: Sequence[_Limit] = (),
    ) -> None:
        self._ledger = ledger
        self.agent = agent
        self.estimate = estimate
        self._lease = lease
        self._charges = charges
        self._limits = limits  # limits[i] owns charges[i]
        self._done = ledger is None
        self._lock = threading.Lock()

    def _claim(self) -> BudgetLedger | None:
        with self._lock:
            if self._done:
                return None
            self._done = True
            return self._ledger

    async def settle(self, usage: Usage) -> None:
        """Replace the reservation by what the call actually used."""
        ledger = self._claim()
        if ledger is not None:
            amounts = ledger.charged_amounts(self._charges, self._limits, usage)
            try:
                crossed = await ledger.store.commit(self._lease, self._charges, amounts, ledger.now())
            except BudgetStoreUnavailable as exc:
                ledger.commit_failed(self.agent, "settle", exc)
                return
            ledger.threshold_events(self.agent, self._charges, self._limits, crossed)

    def settle_sync(self, usage: Usage) -> None:
        """Blocking twin of :meth:`settle`."""
        ledger = self._claim()
        if ledger is not None:
            amounts = ledger.charged_amounts(self._charges, self._limits, usage)
            try:
                crossed = ledger.store.commit_sync(self._lease, self._charges, amounts, ledger.now())
            except BudgetStoreUnavailable as exc:
                ledger.commit_failed(self.agent, "settle", exc)
                return
            ledger.threshold_events(self.agent, self._charges, self._limits, crossed)

    async def release(self) -> None:
        """Give the whole reservation back (the call failed before costing anything)."""
        ledger = self._claim()
        if ledger is not None:
            try:
                await ledger.store.commit(self._lease, self._charges, [0] * len(self._charges), ledger.now())
            except BudgetStoreUnavailable as exc:
                ledger.commit_failed(self.agent, "release", exc)

    def release_sync(self) -> None:
        """Blocking twin of :meth:`release`."""
        ledger = self._claim()
        if ledger is not None:
            try:
                ledger.store.commit_sync(self._lease, self._charges, [0] * len(self._charges), ledger.now())
            except BudgetStoreUnavailable as exc:
                ledger.commit_failed(self.agent, "release", exc)


class BudgetLedger:
    """Applies a :class:`BudgetsConfig` to agents, on top of a :class:`BudgetStore`."""

    def __init__(
        self,
        config: BudgetsConfig,
        agent_policies: Mapping[str, str | None],
        store: BudgetStore,
        *,
        clock: Callable[[], float] = time.time,
        on_event: EventHook | None = None,
    ) -> None:
        config.check_agents(agent_policies)
        self.config = config
        self.store = store
        self.now = clock
        # Kept by reference: the runtime may register code-defined agents after the ledger exists.
        self._agent_policies = agent_policies
        self._on_event = on_event
        self._windows = Windows(config.timezone)
        self._plans: dict[str, tuple[str | None, tuple[_Limit, ...]]] = {}
        self._ttl = config.reservation_ttl_s
        self._grace = config.reservation_ttl_s + 60.0
        self._free_cache_hits = config.cache_hit_cost == "free"
        self._log = structlog.get_logger("loomllm.budget")

    # -- plan ----------------------------------------------------------------------------------

    def _plan(self, agent: str) -> tuple[_Limit, ...]:
        policy = self._agent_policies.get(agent)
        cached = self._plans.get(agent)
        if cached is not None and cached[0] == policy:
            return cached[1]
        if policy is not None:
            self.config.check_agents({agent: policy})
        plan = tuple(self._build_plan(agent, policy))
        self._plans[agent] = (policy, plan)
        return plan

    def _build_plan(self, agent: str, agent_policy: str | None) -> list[_Limit]:
        out: list[_Limit] = []
        for scope, scope_name, policy_name in self.config.policies_for(agent, agent_policy):
            policy = self.config.policies[policy_name]
            for index, limit in enumerate(policy.limits):
                name = limit.name or f"{policy_name}[{index}]"
                if scope != "agent":
                    name = f"{scope} {scope_name}: {name}" if scope == "team" else f"global: {name}"
                meters = tuple(
                    (unit, round(cap * NANO) if unit == "usd" else int(cap)) for unit, cap in limit.caps().items()
                )
                key_base = f"{scope}/{quote(scope_name, safe='')}/{quote(policy_name, safe='')}/{index}/"
                out.append(
                    _Limit(
                        scope,
                        scope_name,
                        policy_name,
                        name,
                        limit.per,
                        policy.mode == "hard",
                        policy.warn_at,
                        meters,
                        key_base,
                    )
                )
        return out

    def applies_to(self, agent: str) -> bool:
        """Whether any limit applies to ``agent`` (if not, callers can skip budgeting entirely)."""
        return bool(self._plan(agent))

    def _window_key(self, limit: _Limit, unit: str, now: float) -> tuple[str, float, float]:
        start, end = self._windows.bounds(limit.per, now)
        label = "life" if limit.per == "lifetime" else str(int(start))
        return f"{limit.key_base}{unit}@{label}", start, end

    def _charges(self, plan: Sequence[_Limit], estimate: Estimate, now: float) -> tuple[list[Charge], list[_Limit]]:
        charges: list[Charge] = []
        owners: list[_Limit] = []
        for limit in plan:
            first = len(charges)
            for unit, cap in limit.meters:
                key, _, end = self._window_key(limit, unit, now)
                warn = -1 if limit.warn_at is None else int(cap * limit.warn_at)
                expire = None if limit.per == "lifetime" else end - now + self._grace
                charges.append(Charge(key, cap, estimate.amount(unit), limit.hard, expire, warn, first))
                owners.append(limit)
        return charges, owners

    # -- reserve -------------------------------------------------------------------------------

    async def reserve(self, agent: str, estimate: Estimate) -> Reservation:
        """Hold ``estimate`` against every limit of ``agent``, or raise and hold nothing.

        Raises :class:`BudgetExceeded` (a hard limit cannot hold it) or
        :class:`BudgetStoreUnavailable` (store down and the budget fails closed).
        """
        plan = self._plan(agent)
        if not plan:
            return Reservation(None, agent, estimate)
        now = self.now()
        charges, owners = self._charges(plan, estimate, now)
        lease = os.urandom(12).hex()
        try:
            verdict = await self.store.reserve(lease, charges, now, now + self._ttl)
        except BudgetStoreUnavailable as exc:
            return self._store_down(agent, estimate, plan, exc)
        return self._admit(agent, estimate, lease, charges, owners, verdict)

    def reserve_sync(self, agent: str, estimate: Estimate) -> Reservation:
        """Blocking twin of :meth:`reserve`."""
        plan = self._plan(agent)
        if not plan:
            return Reservation(None, agent, estimate)
        now = self.now()
        charges, owners = self._charges(plan, estimate, now)
        lease = os.urandom(12).hex()
        try:
            verdict = self.store.reserve_sync(lease, charges, now, now + self._ttl)
        except BudgetStoreUnavailable as exc:
            return self._store_down(agent, estimate, plan, exc)
        return self._admit(agent, estimate, lease, charges, owners, verdict)

    def _admit(
        self,
        agent: str,
        estimate: Estimate,
        lease: str,
        charges: list[Charge],
        owners: list[_Limit],
        verdict: Verdict,
    ) -> Reservation:
        if not verdict.ok:
            charge, limit = charges[verdict.failed], owners[verdict.failed]
            unit = limit.meters[verdict.failed - charge.flag][0]
            raise BudgetExceeded(
                agent=agent,
                limit=limit.name,
                unit=unit,
                remaining=_scaled(unit, max(0, charge.cap - verdict.used[verdict.failed])),
                requested=_scaled(unit, charge.amount),
                window=limit.per,
            )
        warned: set[int] = set()
        for i, charge in enumerate(charges):
            if not charge.hard and charge.flag not in warned and verdict.used[i] + charge.amount > charge.cap:
                warned.add(charge.flag)
                unit = owners[i].meters[i - charge.flag][0]
                self._emit(
                    "budget.soft_limit_exceeded",
                    agent,
                    owners[i],
                    unit,
                    used=_scaled(unit, verdict.used[i] + charge.amount),
                    cap=_scaled(unit, charge.cap),
                )
        return Reservation(self, agent, estimate, lease, charges, owners)

    def _store_down(
        self, agent: str, estimate: Estimate, plan: Sequence[_Limit], exc: BudgetStoreUnavailable
    ) -> Reservation:
        hard = any(limit.hard for limit in plan)
        if hard and self.config.on_store_unavailable == "fail_closed":
            raise BudgetStoreUnavailable(f"agent {agent!r}: {exc} (budget fails closed)", agent=agent) from exc
        # Fail open: the call goes ahead unmetered. Say so loudly, every time.
        self._log.error("budget.store_unavailable", agent=agent, action="fail_open", error=str(exc))
        self._notify({"event": "budget.store_unavailable", "agent": agent, "action": "fail_open"})
        return Reservation(None, agent, estimate)

    # -- settle helpers (called by Reservation) --------------------------------------------------

    def charged_amounts(self, charges: Sequence[Charge], owners: Sequence[_Limit], usage: Usage) -> list[int]:
        """What a settled call costs on each counter (nothing for a free cache hit)."""
        if usage.cache_hit and self._free_cache_hits:
            return [0] * len(charges)
        return [usage_amount(usage, owners[i].meters[i - c.flag][0]) for i, c in enumerate(charges)]

    def threshold_events(
        self, agent: str, charges: Sequence[Charge], owners: Sequence[_Limit], crossed: Sequence[int]
    ) -> None:
        """Emit one ``budget.threshold`` event per limit whose warn flag this settle set."""
        for i in crossed:
            charge, limit = charges[i], owners[i]
            unit = limit.meters[i - charge.flag][0]
            self._emit("budget.threshold", agent, limit, unit, warn_at=limit.warn_at, cap=_scaled(unit, charge.cap))

    def commit_failed(self, agent: str, action: str, exc: BudgetStoreUnavailable) -> None:
        """The call already happened; do not fail it. The lease will expire on its own."""
        self._log.error(f"budget.{action}_failed", agent=agent, error=str(exc))
        self._notify({"event": f"budget.{action}_failed", "agent": agent})

    # -- events --------------------------------------------------------------------------------

    def _emit(self, event: str, agent: str, limit: _Limit, unit: str, **fields: Any) -> None:
        data = {
            "event": event,
            "agent": agent,
            "scope": limit.scope,
            "scope_name": limit.scope_name,
            "policy": limit.policy,
            "limit": limit.name,
            "unit": unit,
            "window": limit.per,
            **fields,
        }
        self._log.warning(event, **{k: v for k, v in data.items() if k != "event"})
        self._notify(data)

    def _notify(self, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(dict(data))
        except Exception:  # a broken hook must not break the call it reports on
            self._log.exception("budget.on_event_failed", event_name=data.get("event"))

    # -- status / reset ------------------------------------------------------------------------

    def _limits_for_status(self, agent: str | None) -> list[_Limit]:
        agents = (
            [agent]
            if agent is not None
            else sorted({*self._agent_policies, *(a for team in self.config.teams.values() for a in team.agents)})
        )
        seen: set[str] = set()
        out: list[_Limit] = []
        for name in agents:
            for limit in self._plan(name):
                if limit.key_base not in seen:
                    seen.add(limit.key_base)
                    out.append(limit)
        return out

    def _status_rows(self, limits: Sequence[_Limit], now: float) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        rows: list[Any] = []
        for limit in limits:
            for unit, cap in limit.meters:
                key, start, end = self._window_key(limit, unit, now)
                keys.append(key)
                rows.append((limit, unit, cap, start, end))
        return keys, rows

    def _to_status(self, rows: Sequence[Any], values: Sequence[tuple[int, int]]) -> list[LimitStatus]:
        tz = self._windows.tz
        out: list[LimitStatus] = []
        for (limit, unit, cap, start, end), (spent, reserved) in zip(rows, values, strict=True):
            lifetime = limit.per == "lifetime"
            out.append(
                LimitStatus(
                    scope=limit.scope,
                    scope_name=limit.scope_name,
                    policy=limit.policy,
                    limit=limit.name,
                    unit=unit,
                    window=limit.per,
                    mode="hard" if limit.hard else "soft",
                    cap=_scaled(unit, cap),
                    spent=_scaled(unit, spent),
                    reserved=_scaled(unit, reserved),
                    remaining=_scaled(unit, max(0, cap - spent - reserved)),
                    window_start=None if lifetime else datetime.fromtimestamp(start, tz),
                    window_end=None if lifetime else datetime.fromtimestamp(end, tz),
                )
            )
        return out

    async def status(self, agent: str | None = None) -> list[LimitStatus]:
        """Spent, reserved and remaining per limit and unit in the current window (all agents if ``None``)."""
        now = self.now()
        keys, rows = self._status_rows(self._limits_for_status(agent), now)
        return self._to_status(rows, await self.store.read(keys, now) if keys else [])

    def status_sync(self, agent: str | None = None) -> list[LimitStatus]:
        """Blocking twin of :meth:`status`."""
        now = self.now()
        keys, rows = self._status_rows(self._limits_for_status(agent), now)
        return self._to_status(rows, self.store.read_sync(keys, now) if keys else [])

    def _reset_keys(self, agent: str, shared: bool) -> list[str]:
        now = self.now()
        limits = [limit for limit in self._plan(agent) if shared or limit.scope == "agent"]
        return self._status_rows(limits, now)[0]

    async def reset(self, agent: str, *, shared: bool = False) -> None:
        """Zero ``agent``'s own limits in their current windows (with ``shared``, its teams' and global too)."""
        await self.store.delete(self._reset_keys(agent, shared))

    def reset_sync(self, agent: str, *, shared: bool = False) -> None:
        """Blocking twin of :meth:`reset`."""
        self.store.delete_sync(self._reset_keys(agent, shared))
