"""The budget ledger: reserve a call's worst case before it is sent, settle its actual cost after.

A hard limit refuses before any byte leaves the process; the reservation is atomic across every
limit that applies (the agent's, its teams', the global one, the call's keys, the model groups it
can reach), so concurrent calls cannot overshoot. LiteLLM's own budget does not do this
(``max_budget`` never increments for chat, 40020; the proxy overshoots under concurrency,
34732/40095). A reservation is renewed while its call runs; a settle the store cannot take goes
to the journal and is replayed when the store is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from loomllm._events import LibraryLogger
from loomllm.errors import BudgetExceeded, BudgetStoreUnavailable

from ._journal import Journal
from ._pricing import NANO, Estimate, Usage, usage_amount
from ._scopes import scoped_keys
from ._store import BudgetStore, Charge, Verdict
from ._windows import Windows
from .config import BudgetsConfig, Unit

__all__ = ["BudgetLedger", "LimitStatus", "Reservation", "SpendRow"]

EventHook = Callable[[dict[str, Any]], None]
SPEND_UNITS = ("usd", "input_tokens", "output_tokens", "calls")
_PLAN_CACHE_SIZE = 4096

#: Spend-record key prefixes remembered (per minute, agent, model and budget keys).
_MAX_SPEND_BASES = 4096


@dataclass(frozen=True, slots=True)
class _Limit:
    """One configured limit, bound to the scope whose counters it uses."""

    scope: str  # agent | team | global | key | model
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
    """``agent``, ``team``, ``global``, ``key`` (a call-time key) or ``model`` (a model group)."""
    scope_name: str
    """The agent, team or model group name (``*`` for global; ``kind=value`` for a key)."""
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


@dataclass(frozen=True)
class SpendRow:
    """Spend of one group of calls (see :meth:`BudgetLedger.spend`)."""

    group: Mapping[str, str | None]
    """The values of the ``by`` dimensions for this row (``team`` is ``None`` for agents in no team)."""
    usd: float
    input_tokens: int
    output_tokens: int
    calls: int


def _scaled(unit: str, value: int) -> float:
    return value / NANO if unit == "usd" else value


class Reservation:
    """Budget held for one call. Settle it with the actual usage, or release it if the call failed.

    Settle and release are idempotent: only the first of them has an effect. While neither has
    happened, a heartbeat renews the hold (long streams, slow reasoning models).
    """

    __slots__ = ("_charges", "_done", "_heartbeat", "_keys", "_lease", "_ledger", "_limits", "agent", "estimate")

    def __init__(
        self,
        ledger: BudgetLedger | None,
        agent: str,
        estimate: Estimate,
        lease: str = "",
        charges: Sequence[Charge] = (),
        limits: Sequence[_Limit] = (),
        keys: Mapping[str, str] | None = None,
    ) -> None:
        self._ledger = ledger
        self.agent = agent
        self.estimate = estimate
        self._lease = lease
        self._charges = charges
        self._limits = limits  # limits[i] owns charges[i]
        self._keys = dict(keys or {})
        self._done = ledger is None
        # A timer until the first renewal is due, then the renewing task: most calls end before it fires.
        self._heartbeat: asyncio.TimerHandle | asyncio.Task[None] | None = None

    def _claim(self) -> BudgetLedger | None:
        if self._done:
            return None
        self._done = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        return self._ledger

    async def settle(self, usage: Usage) -> None:
        """Replace the reservation by what the call actually used."""
        ledger = self._claim()
        if ledger is not None:
            amounts = ledger.charged_amounts(self._charges, self._limits, usage, self.estimate)
            spend, spend_amounts = ledger.spend_charges(self.agent, self.estimate, usage, self._keys, amounts)
            await ledger.commit(self.agent, self._lease, [*self._charges, *spend], [*amounts, *spend_amounts],
                                self._charges, self._limits, "settle")

    async def release(self) -> None:
        """Give the whole reservation back (the call failed before costing anything)."""
        ledger = self._claim()
        if ledger is not None:
            await ledger.commit(self.agent, self._lease, self._charges, [0] * len(self._charges), self._charges,
                                self._limits, "release")


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
        model_groups: Collection[str] | None = None,
        journal: Journal | None = None,
    ) -> None:
        config.check_agents(agent_policies)
        if model_groups is not None:
            config.check_model_groups(model_groups)
        self.config = config
        self.store = store
        self.now = clock
        # Kept by reference: the runtime may register code-defined agents after the ledger exists.
        self._agent_policies = agent_policies
        self._on_event = on_event
        self._windows = Windows(config.timezone)
        self._plans: dict[str, tuple[str | None, tuple[_Limit, ...]]] = {}
        self._scoped: dict[tuple[str, str, str], tuple[_Limit, ...]] = {}
        self._spend_bases: dict[tuple[int, str, str, tuple[tuple[str, str], ...]], str] = {}
        self._ttl = config.reservation_ttl_s
        # A store in this process dies with it, so no lease of it can outlive its holder: it is taken for the
        # whole call at once (what the heartbeat's renewals would add up to) and never renewed.
        self._renews = not getattr(store, "process_local", False)
        self._lease_s = self._ttl + (0.0 if self._renews else max(0.0, config.max_call_s))
        self._grace = config.reservation_ttl_s + 60.0
        self._free_cache_hits = config.cache_hit_cost == "free"
        self._log = LibraryLogger("loomllm.budget")
        self.journal = journal if journal is not None else self._default_journal()
        self._journal_pending = self.journal is not None and self.journal.path.exists()
        self._replay: asyncio.Task[int] | None = None

    def _default_journal(self) -> Journal | None:
        if self.store.name == "memory://":
            return None  # nothing outlives the process anyway
        path = self.config.journal_path or os.path.join(os.getcwd(), "loomllm-budget-journal.db")
        return Journal(Path(path), self.store.name)

    # -- plan ----------------------------------------------------------------------------------

    def _plan(self, agent: str) -> tuple[_Limit, ...]:
        policy = self._agent_policies.get(agent)
        cached = self._plans.get(agent)
        if cached is not None and cached[0] == policy:
            return cached[1]
        if policy is not None:
            self.config.check_agents({agent: policy})
        plan: list[_Limit] = []
        for scope, scope_name, policy_name in self.config.policies_for(agent, policy):
            prefix = f"team {scope_name}: " if scope == "team" else "global: " if scope == "global" else ""
            plan += self._limits(scope, scope_name, policy_name, prefix)
        self._plans[agent] = (policy, tuple(plan))
        return self._plans[agent][1]

    def _limits(self, scope: str, scope_name: str, policy_name: str, label: str) -> list[_Limit]:
        policy = self.config.policies[policy_name]
        out: list[_Limit] = []
        for index, limit in enumerate(policy.limits):
            name = label + (limit.name or f"{policy_name}[{index}]")
            caps = limit.caps().items()
            meters = tuple((unit, round(cap * NANO) if unit == "usd" else int(cap)) for unit, cap in caps)
            key_base = f"{scope}/{quote(scope_name, safe='')}/{quote(policy_name, safe='')}/{index}/"
            hard = policy.mode == "hard"
            out.append(_Limit(scope, scope_name, policy_name, name, limit.per, hard, policy.warn_at, meters, key_base))
        return out

    def _scoped_limits(self, scope: str, name: str, policy: str) -> tuple[_Limit, ...]:
        cache_key = (scope, name, policy)
        cached = self._scoped.get(cache_key)
        if cached is None:
            if len(self._scoped) >= _PLAN_CACHE_SIZE:
                self._scoped.clear()
            label = f"{name}: " if scope == "key" else f"model {name}: "
            cached = self._scoped[cache_key] = tuple(self._limits(scope, name, policy, label))
        return cached

    def _call_plan(self, agent: str, estimate: Estimate, keys: Mapping[str, str]) -> list[_Limit]:
        plan = list(self._plan(agent))
        for kind, value in keys.items():
            scope = self.config.scopes[kind]
            policy = scope.keys.get(value, scope.default)
            if policy is None:
                raise BudgetExceeded(agent=agent, limit=f"{kind}={value}: no budget policy for this key", unit="usd",
                                     remaining=0.0, requested=estimate.cost_usd)
            plan += self._scoped_limits("key", f"{kind}={value}", policy)
        for target in dict.fromkeys([*estimate.groups(), *(dep for dep, _ in estimate.routes)]):
            policy = self.config.models.get(target)  # a model group name or one deployment's id
            if policy is not None:
                plan += self._scoped_limits("model", target, policy)
        return plan

    def applies_to(self, agent: str) -> bool:
        """Whether any limit may apply to ``agent`` (if not, callers can skip budgeting entirely)."""
        return bool(self._plan(agent) or self.config.scopes or self.config.models)

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

    async def reserve(self, agent: str, estimate: Estimate, *, keys: Mapping[str, object] | None = None,
                      exact: Callable[[], Estimate] | None = None) -> Reservation:
        """Hold ``estimate`` against every limit of ``agent`` (and of the call's ``keys``), or raise and hold nothing.

        With ``exact``, ``estimate`` is a quick upper bound of what ``exact()`` returns: where the bound does
        not fit under a hard limit, takes one past half its cap, or would cross a soft one, the bound is given
        back and ``exact()`` is held instead (its refusal, or its warning, is the one reported). Far from every
        limit, no exact count is needed.

        Raises :class:`BudgetExceeded` (a hard limit cannot hold it) or
        :class:`BudgetStoreUnavailable` (store down and the budget fails closed).
        """
        shown = scoped_keys(self.config, keys)
        try:
            self._require_keys(agent, estimate, shown)
            plan = self._call_plan(agent, estimate, shown)
        except BudgetExceeded:
            if exact is None:
                raise
            return await self.reserve(agent, exact(), keys=keys)  # the refusal names the exact request
        if not plan:  # nothing to hold, but the settle still records the call's spend
            return Reservation(self, agent, estimate, os.urandom(12).hex(), keys=shown)
        now = self.now()
        charges, owners = self._charges(plan, estimate, now)
        lease = os.urandom(12).hex()
        try:
            verdict = await self.store.reserve(lease, charges, now, now + self._lease_s)
        except BudgetStoreUnavailable as exc:
            return self._store_down(agent, estimate, plan, exc)
        if exact is not None and _too_close(charges, verdict):
            if verdict.ok:  # a store that fails here keeps the bound's lease until its TTL: held, never spent
                await self.commit(agent, lease, charges, [0] * len(charges), charges, owners, "release")
            return await self.reserve(agent, exact(), keys=keys)
        reservation = self._admit(agent, estimate, lease, charges, owners, verdict, shown)
        self._start_heartbeat(reservation, lease, charges)
        if self._journal_pending and (self._replay is None or self._replay.done()):
            self._replay = asyncio.get_running_loop().create_task(self.replay_journal())
        return reservation

    def _require_keys(self, agent: str, estimate: Estimate, keys: Mapping[str, str]) -> None:
        for kind, scope in self.config.scopes.items():
            if scope.required and kind not in keys:
                raise BudgetExceeded(agent=agent, limit=f"{kind}: this budget key is required", unit="usd",
                                     remaining=0.0, requested=estimate.cost_usd)

    def _admit(
        self,
        agent: str,
        estimate: Estimate,
        lease: str,
        charges: list[Charge],
        owners: list[_Limit],
        verdict: Verdict,
        keys: Mapping[str, str],
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
        return Reservation(self, agent, estimate, lease, charges, owners, keys)

    def _start_heartbeat(self, reservation: Reservation, lease: str, charges: Sequence[Charge]) -> None:
        """Renew ``reservation``'s lease while it is held: the first renewal a third of the TTL from now.

        Until then only a timer waits (cheaper than a task, which most calls would cancel before it renews).
        """
        if not self._renews:
            return
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.config.max_call_s

        def start() -> None:
            if not reservation._done:
                reservation._heartbeat = loop.create_task(self._keep_alive(lease, charges, deadline))

        if self.config.max_call_s > 0:
            reservation._heartbeat = loop.call_later(self._ttl / 3, start)

    async def _keep_alive(self, lease: str, charges: Sequence[Charge], deadline: float) -> None:
        """Renew a live call's lease now, then every third of its TTL, until ``deadline`` (``max_call_s``).

        A crashed process stops renewing, so its leases still expire after ``reservation_ttl_s``.
        """
        while True:
            try:
                await self.store.renew(lease, charges, self.now() + self._ttl)
            except BudgetStoreUnavailable as exc:
                self._log.warning("budget.renew_failed", error=str(exc))
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(self._ttl / 3)

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

    # -- settle (called by Reservation) ----------------------------------------------------------

    def charged_amounts(
        self, charges: Sequence[Charge], owners: Sequence[_Limit], usage: Usage, estimate: Estimate
    ) -> list[int]:
        """What a settled call costs on each counter (nothing for a free cache hit; per-model limits:
        only the group or deployment that answered)."""
        if usage.cache_hit and self._free_cache_hits:
            return [0] * len(charges)
        answered = self._answering(usage, estimate)
        return [
            0 if owners[i].scope == "model" and owners[i].scope_name not in answered
            else usage_amount(usage, owners[i].meters[i - c.flag][0])
            for i, c in enumerate(charges)
        ]

    @staticmethod
    def _answering(usage: Usage, estimate: Estimate) -> tuple[str, str]:
        """``(model group, deployment id)`` that answered; unknown: the primary group's first deployment."""
        for deployment, group in estimate.routes:
            if deployment == usage.deployment:
                return group, deployment
        return (estimate.routes[0][1], estimate.routes[0][0]) if estimate.routes else ("", "")

    def spend_charges(
        self, agent: str, estimate: Estimate, usage: Usage, keys: Mapping[str, str], amounts: Sequence[int]
    ) -> tuple[list[Charge], list[int]]:
        """The per-day spend record of one call (agent, model group, keys), written with its settle."""
        base = self._spend_base(self.now(), agent, self._answering(usage, estimate)[0], keys)
        free = usage.cache_hit and self._free_cache_hits
        values = (
            0 if free else usage_amount(usage, "usd"),
            0 if free else usage.input_tokens,
            0 if free else usage.output_tokens,
            1,
        )
        expire = self.config.spend_retention_days * 86400.0
        first = len(amounts)
        charges = [Charge(base + unit, 0, 0, False, expire, -1, first + i) for i, unit in enumerate(SPEND_UNITS)]
        return charges, [max(0, v) for v in values]

    def _spend_base(self, now: float, agent: str, model: str, keys: Mapping[str, str]) -> str:
        """``spend/<day>/<agent>/<model>/<keys>/``: the key prefix of one call's spend record (remembered)."""
        minute = int(now // 60)  # a day (and a UTC offset) only changes on a minute boundary
        memo_key = (minute, agent, model, tuple(sorted(keys.items())))
        base = self._spend_bases.get(memo_key)
        if base is None:
            day = datetime.fromtimestamp(now, self._windows.tz).date().isoformat()
            scope = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in memo_key[3])
            base = f"spend/{day}/{quote(agent, safe='')}/{quote(model, safe='')}/{scope}/"
            if len(self._spend_bases) >= _MAX_SPEND_BASES:  # keys come from callers: stay bounded
                self._spend_bases.clear()
            self._spend_bases[memo_key] = base
        return base

    async def commit(
        self,
        agent: str,
        lease: str,
        charges: Sequence[Charge],
        amounts: Sequence[int],
        limit_charges: Sequence[Charge],
        owners: Sequence[_Limit],
        action: str,
    ) -> None:
        """Commit a settle or release; if the store is down, journal it (the call already happened)."""
        if not charges:
            return
        try:
            crossed = await self.store.commit(lease, charges, amounts, self.now())
        except BudgetStoreUnavailable as exc:
            self._journal(agent, lease, charges, amounts, action, exc)
            return
        self.threshold_events(agent, limit_charges, owners, crossed)

    def _journal(
        self, agent: str, lease: str, charges: Sequence[Charge], amounts: Sequence[int], action: str,
        exc: BudgetStoreUnavailable,
    ) -> None:
        if self.journal is None:
            self._log.error(f"budget.{action}_failed", agent=agent, error=str(exc))
            self._notify({"event": f"budget.{action}_failed", "agent": agent})
            return
        try:
            self.journal.append(lease, charges, amounts, self.now())
        except Exception as journal_error:  # a full disk must not fail a call that already happened
            self._log.error(f"budget.{action}_lost", agent=agent, error=str(exc), journal_error=str(journal_error))
            self._notify({"event": f"budget.{action}_lost", "agent": agent})
            return
        self._journal_pending = True
        self._log.warning(f"budget.{action}_journaled", agent=agent, error=str(exc))
        self._notify({"event": f"budget.{action}_journaled", "agent": agent})

    async def replay_journal(self) -> int:
        """Apply the journaled settles of this store (idempotently); returns how many were applied.

        Runs by itself after the first successful reservation once the store is back; call it to
        flush the journal now. Stops at the first settle the store cannot take.
        """
        if self.journal is None:
            return 0
        applied = 0
        while True:
            entries = await asyncio.to_thread(self.journal.pending)
            if not entries:
                self._journal_pending = False
                break
            for entry in entries:
                try:
                    await self.store.commit(entry.lease, entry.charges_at(self.now()), entry.amounts, self.now())
                except BudgetStoreUnavailable:
                    return applied
                await asyncio.to_thread(self.journal.forget, entry.id)
                applied += 1
        if applied:
            self._log.info("budget.journal_replayed", settles=applied)
            self._notify({"event": "budget.journal_replayed", "settles": applied})
        return applied

    def threshold_events(
        self, agent: str, charges: Sequence[Charge], owners: Sequence[_Limit], crossed: Sequence[int]
    ) -> None:
        """Emit one ``budget.threshold`` event per limit whose warn flag this settle set."""
        for i in crossed:
            if i >= len(owners):
                continue  # a spend record, not a limit
            charge, limit = charges[i], owners[i]
            unit = limit.meters[i - charge.flag][0]
            self._emit("budget.threshold", agent, limit, unit, warn_at=limit.warn_at, cap=_scaled(unit, charge.cap))

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
        except Exception as exc:  # a broken hook must not break the call it reports on
            self._log.error("budget.on_event_failed", event_name=data.get("event"), error_type=type(exc).__name__)

    # -- status / reset ------------------------------------------------------------------------

    def _limits_for_status(self, agent: str | None, keys: Mapping[str, object] | None) -> list[_Limit]:
        agents = (
            [agent]
            if agent is not None
            else sorted({*self._agent_policies, *(a for team in self.config.teams.values() for a in team.agents)})
        )
        limits = [limit for name in agents for limit in self._plan(name)]
        for kind, value in scoped_keys(self.config, keys).items():
            policy = self.config.scopes[kind].keys.get(value, self.config.scopes[kind].default)
            if policy is not None:
                limits += self._scoped_limits("key", f"{kind}={value}", policy)
        for group, policy in self.config.models.items():
            limits += self._scoped_limits("model", group, policy)
        unique = {limit.key_base: limit for limit in reversed(limits)}
        return [limit for limit in limits if unique.pop(limit.key_base, None) is not None]

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

    async def status(self, agent: str | None = None, *, keys: Mapping[str, object] | None = None) -> list[LimitStatus]:
        """Spent, reserved and remaining per limit and unit in the current window.

        All agents if ``agent`` is ``None``; the limits of call-time ``keys`` (``{"user": "alice"}``)
        and of every model group are included.
        """
        now = self.now()
        keys_, rows = self._status_rows(self._limits_for_status(agent, keys), now)
        return self._to_status(rows, await self.store.read(keys_, now) if keys_ else [])

    async def reset(self, agent: str, *, shared: bool = False) -> None:
        """Zero ``agent``'s own limits in their current windows (with ``shared``, its teams' and global too)."""
        now = self.now()
        limits = [limit for limit in self._plan(agent) if shared or limit.scope == "agent"]
        await self.store.delete(self._status_rows(limits, now)[0])

    # -- reporting -----------------------------------------------------------------------------

    async def spend(
        self,
        by: Sequence[str] = ("agent",),
        *,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> list[SpendRow]:
        """Settled spend grouped ``by`` any of ``agent``, ``team``, ``model``, ``day`` and the
        configured key kinds (``user``, ``tenant``...), for days ``since``..``until`` (inclusive).

        Spend is recorded per day in the configured timezone, atomically with each settle; free
        cache hits count as calls at $0.
        """
        dims = list(by)
        allowed = {"agent", "team", "model", "day", *self.config.scopes}
        unknown = [d for d in dims if d not in allowed]
        if unknown:
            raise ValueError(f"cannot group spend by {unknown[0]!r} (use: {', '.join(sorted(allowed))})")
        first, last = _day(since), _day(until)
        totals: dict[tuple[str | None, ...], list[int]] = {}
        keys = [k for k in await self.store.scan("spend/") if _in_days(k, first, last)]
        values = await self._read_chunked(keys)
        for key, (spent, _) in zip(keys, values, strict=True):
            _, day, agent, model, scope, unit = key.split("/", 5)
            fields = {"day": day, "agent": unquote(agent), "model": unquote(model) or None}
            fields.update({unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in scope.split("&") if p)})
            for team in self._teams_of(fields["agent"] or "") if "team" in dims else [None]:
                row = totals.setdefault(tuple(team if d == "team" else fields.get(d) for d in dims), [0, 0, 0, 0])
                row[SPEND_UNITS.index(unit)] += spent
        return [
            SpendRow(dict(zip(dims, group, strict=True)), usd / NANO, tokens_in, tokens_out, calls)
            for group, (usd, tokens_in, tokens_out, calls) in sorted(totals.items(), key=lambda kv: str(kv[0]))
        ]

    def _teams_of(self, agent: str) -> list[str | None]:
        return [team for team, cfg in self.config.teams.items() if agent in cfg.agents] or [None]

    async def _read_chunked(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        now = self.now()
        out: list[tuple[int, int]] = []
        for start in range(0, len(keys), 500):
            out += await self.store.read(keys[start : start + 500], now)
        return out

    async def aclose(self) -> None:
        """Stop the journal replay, close the journal file."""
        if self._replay is not None:
            self._replay.cancel()
            with contextlib.suppress(BaseException):
                await self._replay
        if self.journal is not None:
            self.journal.close()


def _day(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _in_days(key: str, first: str | None, last: str | None) -> bool:
    day = key.split("/", 2)[1]
    return (first is None or day >= first) and (last is None or day <= last)


def _too_close(charges: Sequence[Charge], verdict: Verdict) -> bool:
    """Whether a quick bound must give way to the exact estimate: it was refused, it would warn of a soft
    limit, or it takes a counter past half its cap (near a limit, bounds held by concurrent calls would
    refuse calls that fit)."""
    return not verdict.ok or any(
        verdict.used[i] + charge.amount > (charge.cap // 2 if charge.hard else charge.cap)
        for i, charge in enumerate(charges)
    )
