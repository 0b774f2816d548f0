"""The budget ledger over every store: reserve, settle, release, windows, modes, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from budget_support import CLOSED_PORT_URL, FakeClock, make_ledger
from structlog.testing import capture_logs

from loomllm._budget import BudgetStore, Estimate, Usage, open_store
from loomllm.errors import BudgetExceeded, BudgetStoreUnavailable

USD_DAY = {"limits": [{"usd": 1.0, "per": "day"}]}
EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)


def _spent(rows: list[Any], unit: str = "usd") -> list[tuple[str, float, float]]:
    return [(r.limit, r.spent, r.reserved) for r in rows if r.unit == unit]


class TestReserveSettle:
    async def test_settle_replaces_reservation_by_actual(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """After settle, the limit shows the actual spend and nothing reserved."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"})
        r = await ledger.reserve("a", EST)
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.3)]
        await r.settle(Usage(input_tokens=80, output_tokens=20, cost_usd=0.12))
        assert _spent(await ledger.status("a")) == [("p[0]", 0.12, 0.0)]

    async def test_release_gives_everything_back(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """A failed call's reservation is returned in full."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"})
        r = await ledger.reserve("a", EST)
        await r.release()
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0)]

    async def test_settle_and_release_are_idempotent(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """Only the first settle or release of a reservation counts."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"})
        r = await ledger.reserve("a", EST)
        await r.settle(Usage(1, 1, 0.1))
        await r.settle(Usage(1, 1, 0.1))
        await r.release()
        r2 = await ledger.reserve("a", EST)
        await r2.release()
        await r2.release()
        assert _spent(await ledger.status("a")) == [("p[0]", 0.1, 0.0)]

    async def test_refusal_reserves_nothing(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """When one limit refuses, no other limit keeps a reservation (all-or-nothing)."""
        policy = {"limits": [{"usd": 10.0, "per": "day"}, {"tokens": 150, "per": "hour"}]}
        ledger = make_ledger(store, clock, events, policies={"p": policy}, agents={"a": "p"})
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", EST)
        err = info.value
        assert (
            err.agent,
            err.limit,
            err.unit,
            err.remaining,
            err.requested,
            err.window,
        ) == ("a", "p[1]", "tokens", 150, 200, "hour")
        assert all(row.reserved == 0 for row in await ledger.status("a"))

    async def test_usd_and_token_limits_together(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Each unit is checked: dollars can run out before tokens and the other way round."""
        policy = {"limits": [{"usd": 0.5, "tokens": 1000, "per": "day"}]}
        ledger = make_ledger(store, clock, events, policies={"p": policy}, agents={"a": "p"})
        await (await ledger.reserve("a", EST)).settle(Usage(100, 100, 0.3))
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", EST)
        assert info.value.unit == "usd"
        assert info.value.remaining == pytest.approx(0.2)
        await (await ledger.reserve("a", Estimate(300, 300, 0.1))).settle(Usage(300, 300, 0.1))
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", Estimate(150, 100, 0.01))
        assert (info.value.unit, info.value.remaining) == ("tokens", 200)

    async def test_input_and_output_token_limits(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Input and output tokens are capped separately."""
        policy = {"limits": [{"input_tokens": 1000, "output_tokens": 150, "per": "month"}]}
        ledger = make_ledger(store, clock, events, policies={"p": policy}, agents={"a": "p"})
        await ledger.reserve("a", EST)
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", EST)
        assert (info.value.unit, info.value.remaining, info.value.requested) == ("output_tokens", 50, 100)

    async def test_cache_hit_free(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """With cache_hit_cost free, a cache hit costs nothing."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"})
        await (await ledger.reserve("a", EST)).settle(Usage(100, 100, 0.25, cache_hit=True))
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0)]

    async def test_cache_hit_full(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """With cache_hit_cost full, a cache hit is charged like the call it replays."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"}, cache_hit_cost="full")
        await (await ledger.reserve("a", EST)).settle(Usage(100, 100, 0.25, cache_hit=True))
        assert _spent(await ledger.status("a")) == [("p[0]", 0.25, 0.0)]


class TestScopes:
    async def test_store_satisfies_protocol(self, store: BudgetStore) -> None:
        """Every store is a BudgetStore."""
        assert isinstance(store, BudgetStore)

    async def test_agent_registered_later(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """An agent added to the mapping after the ledger was built gets its policy."""
        agents: dict[str, str | None] = {}
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents=agents)
        assert not ledger.applies_to("late")
        agents["late"] = "p"
        assert ledger.applies_to("late")
        await ledger.reserve("late", EST)
        assert _spent(await ledger.status("late")) == [("p[0]", 0.0, 0.3)]

    async def test_team_limit_is_shared(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Spend by one team member counts against the team limit of the others."""
        ledger = make_ledger(
            store,
            clock,
            events,
            policies={"own": USD_DAY, "team": {"limits": [{"usd": 0.5, "per": "month"}]}},
            agents={"planner": "own", "critic": None},
            teams={"research": {"agents": ["planner", "critic"], "policy": "team"}},
        )
        await (await ledger.reserve("critic", EST)).settle(Usage(1, 1, 0.3))
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("planner", EST)
        assert info.value.limit == "team research: team[0]"
        assert _spent(await ledger.status("planner")) == [("own[0]", 0.0, 0.0), ("team research: team[0]", 0.3, 0.0)]

    async def test_global_limit_applies_to_everyone(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """The global policy binds agents that have no policy of their own."""
        ledger = make_ledger(store, clock, events, policies={"cap": USD_DAY}, agents={"a": None}, **{"global": "cap"})
        assert ledger.applies_to("a") and ledger.applies_to("unlisted")
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.9))
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("unlisted", EST)

    async def test_no_policy_no_budget(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """An agent without any policy is not budgeted and its reservations are no-ops."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": None})
        assert not ledger.applies_to("a")
        r = await ledger.reserve("a", Estimate(10**9, 10**9, 10**6))
        await r.settle(Usage(1, 1, 1.0))
        assert await ledger.status("a") == []

    async def test_reset_zeroes_the_agent(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """reset() clears the agent's own limits and leaves shared ones unless asked."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"}, **{"global": "p"})
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.2))
        await ledger.reset("a")
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0), ("global: p[0]", 0.2, 0.0)]
        await ledger.reset("a", shared=True)
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0), ("global: p[0]", 0.0, 0.0)]


class TestModesAndEvents:
    async def test_soft_mode_allows_and_warns(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """A soft limit lets the call through and emits budget.soft_limit_exceeded."""
        ledger = make_ledger(
            store,
            clock,
            events,
            policies={"p": {"mode": "soft", "limits": [{"usd": 0.5, "per": "day"}]}},
            agents={"a": "p"},
        )
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.3))
        assert events == []
        with capture_logs() as logs:
            await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.3))
        assert [e["event"] for e in events] == ["budget.soft_limit_exceeded"]
        assert (events[0]["agent"], events[0]["limit"], events[0]["unit"]) == ("a", "p[0]", "usd")
        assert [entry["event"] for entry in logs] == ["budget.soft_limit_exceeded"]
        assert logs[0]["log_level"] == "warning"
        assert _spent(await ledger.status("a")) == [("p[0]", 0.6, 0.0)]

    async def test_warn_at_once_per_window(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Crossing warn_at emits exactly one budget.threshold per limit and window."""
        policy = {"warn_at": 0.5, "limits": [{"usd": 1.0, "tokens": 1000, "per": "hour"}]}
        ledger = make_ledger(store, clock, events, policies={"p": policy}, agents={"a": "p"})
        for _ in range(3):
            await (await ledger.reserve("a", EST)).settle(Usage(200, 200, 0.3))
        assert [e["event"] for e in events] == ["budget.threshold"]
        clock.advance(3600)
        for _ in range(3):
            await (await ledger.reserve("a", EST)).settle(Usage(200, 200, 0.3))
        assert [e["event"] for e in events] == ["budget.threshold"] * 2

    async def test_broken_hook_does_not_break_calls(self, store: BudgetStore, clock: FakeClock) -> None:
        """An exception in on_event is logged, not raised."""
        from loomllm._budget import BudgetLedger, BudgetsConfig

        def hook(event: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        config = BudgetsConfig.model_validate(
            {"policies": {"p": {"mode": "soft", "limits": [{"usd": 0.1, "per": "day"}]}}}
        )
        ledger = BudgetLedger(config, {"a": "p"}, store, clock=clock, on_event=hook)
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.3))


BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")


def _local(tz: ZoneInfo, fields: tuple[int, ...]) -> datetime:
    year, month, day, hour, minute, second = fields
    return datetime(year, month, day, hour, minute, second, tzinfo=tz)


def _ts(tz: ZoneInfo, fields: tuple[int, ...]) -> float:
    return _local(tz, fields).timestamp()


class TestWindows:
    @pytest.mark.parametrize(
        ("per", "zone", "before", "after"),
        [
            ("minute", "Asia/Kolkata", (2026, 3, 10, 17, 29, 59), (2026, 3, 10, 17, 30, 0)),
            # Kolkata is UTC+5:30: its hours start at :30 UTC.
            ("hour", "Asia/Kolkata", (2026, 3, 10, 17, 59, 59), (2026, 3, 10, 18, 0, 0)),
            # Berlin switches to summer time on 2026-03-29; its day starts at 22:00 UTC the night before.
            ("day", "Europe/Berlin", (2026, 3, 29, 23, 59, 59), (2026, 3, 30, 0, 0, 0)),
            ("month", "Europe/Berlin", (2026, 1, 31, 23, 59, 59), (2026, 2, 1, 0, 0, 0)),
        ],
    )
    async def test_rollover(
        self,
        store: BudgetStore,
        events: list[Any],
        per: str,
        zone: str,
        before: tuple[int, ...],
        after: tuple[int, ...],
    ) -> None:
        """A full limit stays full until the local calendar window ends, then starts empty."""
        tz = ZoneInfo(zone)
        clock = FakeClock(_ts(tz, before) - 1)
        ledger = make_ledger(
            store,
            clock,
            events,
            policies={"p": {"limits": [{"usd": 0.3, "per": per}]}},
            agents={"a": "p"},
            timezone=zone,
        )
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.3))
        clock.t = _ts(tz, before)
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("a", EST)
        clock.t = _ts(tz, after)
        (row,) = await ledger.status("a")
        assert (0.0, _local(tz, after)) == (row.spent, row.window_start)
        await ledger.reserve("a", EST)

    async def test_lifetime_never_rolls(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """A lifetime limit has no window and never resets by itself."""
        ledger = make_ledger(
            store, clock, events, policies={"p": {"limits": [{"usd": 0.3, "per": "lifetime"}]}}, agents={"a": "p"}
        )
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.3))
        clock.advance(400 * 86400)
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("a", EST)
        (row,) = await ledger.status("a")
        assert (row.window_start, row.window_end, row.spent) == (None, None, 0.3)


    @pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
    async def test_spend_is_recorded_on_the_local_day_either_side_of_midnight(
        self, store: BudgetStore, events: list[Any], zone: str
    ) -> None:
        """Settles a second before and a second after local midnight land on two days (key prefixes are remembered)."""
        tz = ZoneInfo(zone)
        clock = FakeClock(_ts(tz, (2026, 3, 10, 23, 59, 59)))
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"}, timezone=zone)
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.1))
        clock.advance(0.5)
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.1))
        clock.advance(1.0)
        await (await ledger.reserve("a", EST)).settle(Usage(1, 1, 0.1))
        rows = await ledger.spend(["day"])
        assert [("2026-03-10", 2), ("2026-03-11", 1)] == [(row.group["day"], row.calls) for row in rows]


class TestLeases:
    async def test_expired_reservation_no_longer_counts(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """A reservation whose holder crashed stops counting once its TTL has passed (in the memory store, which
        dies with its holder, once the longest call could have ended: ``max_call_s`` more)."""
        ledger = make_ledger(
            store,
            clock,
            events,
            policies={"p": {"limits": [{"usd": 0.3, "per": "day"}]}},
            agents={"a": "p"},
            reservation_ttl_s=5,
            max_call_s=30,
        )
        lease_s = 5 + (30 if getattr(store, "process_local", False) else 0)
        await ledger.reserve("a", EST)  # never settled: the process "crashed"
        clock.advance(lease_s - 0.1)
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("a", EST)
        clock.advance(0.2)
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0)]
        await ledger.reserve("a", EST)

    async def test_a_process_local_store_needs_no_renewal(self, clock: FakeClock, events: list[Any]) -> None:
        """The memory store's lease covers the whole call when it is taken: no renewal timer per call."""
        ledger = make_ledger(open_store("memory://"), clock, events, policies={"p": {"limits": [{"usd": 1.0,
                             "per": "day"}]}}, agents={"a": "p"}, reservation_ttl_s=5, max_call_s=30)
        held = await ledger.reserve("a", EST)
        assert held._heartbeat is None
        clock.advance(34.9)
        assert [0.3] == [row.reserved for row in await ledger.status("a")]
        await held.settle(Usage(1, 1, 0.1))
        assert [(0.1, 0.0)] == [(row.spent, row.reserved) for row in await ledger.status("a")]

    async def test_late_settle_still_records_spend(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """A call that outlives its lease is still charged when it settles."""
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"}, reservation_ttl_s=5)
        r = await ledger.reserve("a", EST)
        clock.advance(10)
        await ledger.status("a")  # purges the expired lease
        await r.settle(Usage(1, 1, 0.2))
        assert _spent(await ledger.status("a")) == [("p[0]", 0.2, 0.0)]


class TestStoreUnavailable:
    def _ledger(self, clock: FakeClock, events: list[Any], **budgets: Any) -> Any:
        return make_ledger(
            open_store(CLOSED_PORT_URL),
            clock,
            events,
            policies={"p": USD_DAY, **budgets.pop("extra", {})},
            agents={"a": "p"},
            **budgets,
        )

    async def test_hard_budget_fails_closed(self, clock: FakeClock, events: list[Any]) -> None:
        """With the store down, a hard budget refuses the call."""
        ledger = self._ledger(clock, events)
        with pytest.raises(BudgetStoreUnavailable) as info:
            await ledger.reserve("a", EST)
        assert info.value.agent == "a"

    async def test_fail_open_logs_loudly(self, clock: FakeClock, events: list[Any]) -> None:
        """fail_open lets the call through unmetered, with an error log and an event."""
        ledger = self._ledger(clock, events, on_store_unavailable="fail_open")
        with capture_logs() as logs:
            r = await ledger.reserve("a", EST)
            await r.settle(Usage(1, 1, 0.1))
        assert [(e["event"], e["log_level"]) for e in logs] == [("budget.store_unavailable", "error")]
        assert [e["event"] for e in events] == ["budget.store_unavailable"]

    async def test_soft_only_budget_fails_open(self, clock: FakeClock, events: list[Any]) -> None:
        """A soft budget never blocks a call, not even when its store is down."""
        ledger = make_ledger(
            open_store(CLOSED_PORT_URL),
            clock,
            events,
            policies={"p": {"mode": "soft", "limits": [{"usd": 1, "per": "day"}]}},
            agents={"a": "p"},
        )
        await (await ledger.reserve("a", EST)).release()

    async def test_settle_failure_is_journaled_not_raised(
        self, tmp_path: Any, clock: FakeClock, events: list[Any]
    ) -> None:
        """A store outage after the call does not fail the call: its settle waits in the journal."""
        store = open_store(f"sqlite:///{tmp_path}/b.db")
        journal = str(tmp_path / "journal.db")
        ledger = make_ledger(store, clock, events, policies={"p": USD_DAY}, agents={"a": "p"}, journal_path=journal)
        r = await ledger.reserve("a", EST)
        await store.aclose()
        with capture_logs() as logs:
            await r.settle(Usage(1, 1, 0.1))
        assert [e["event"] for e in logs] == ["budget.settle_journaled"]
        assert ledger.journal is not None and 1 == ledger.journal.count()
        reopened = make_ledger(open_store(f"sqlite:///{tmp_path}/b.db"), clock, events, policies={"p": USD_DAY},
                               agents={"a": "p"}, journal_path=journal)
        assert 1 == await reopened.replay_journal()
        assert _spent(await reopened.status("a")) == [("p[0]", 0.1, 0.0)]


BOUND = Estimate(input_tokens=400, output_tokens=100, cost_usd=0.6)  # a quick upper bound of EST


def _never() -> Estimate:
    raise AssertionError("the exact estimate was counted far from every limit")


class TestQuickBoundFirst:
    """``reserve(bound, exact=...)``: the bound is held far from the limits, the exact estimate near them."""

    async def test_far_from_the_limit_the_bound_is_held_and_nothing_is_counted(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 10.0, "per": "day"}]}},
                             agents={"a": "p"})
        r = await ledger.reserve("a", BOUND, exact=_never)
        assert r.estimate is BOUND
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.6)]
        await r.settle(Usage(80, 20, 0.12))
        assert _spent(await ledger.status("a")) == [("p[0]", 0.12, 0.0)]

    async def test_a_bound_that_does_not_fit_gives_way_to_the_exact_estimate(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """The bound ($0.6) exceeds the $0.5 cap, the call ($0.3) fits: it is admitted, holding $0.3 only."""
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 0.5, "per": "day"}]}},
                             agents={"a": "p"})
        r = await ledger.reserve("a", BOUND, exact=lambda: EST)
        assert r.estimate is EST
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.3)]
        assert events == []

    async def test_past_half_the_cap_the_exact_estimate_is_held(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """Near a limit, bounds held by concurrent calls would refuse calls that fit: the bound gives way early."""
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 1.0, "per": "day"}]}},
                             agents={"a": "p"})
        r = await ledger.reserve("a", BOUND, exact=lambda: EST)  # 0.6 > half of 1.0
        assert r.estimate is EST
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.3)]

    async def test_the_refusal_reports_the_exact_request(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 0.2, "per": "day"}]}},
                             agents={"a": "p"})
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", BOUND, exact=lambda: EST)
        assert (info.value.requested, info.value.remaining) == (0.3, 0.2)
        assert _spent(await ledger.status("a")) == [("p[0]", 0.0, 0.0)]

    async def test_a_soft_limit_warns_of_the_exact_estimate_only(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """The bound would cross the soft $0.5 limit, the call does not: no warning."""
        ledger = make_ledger(store, clock, events,
                             policies={"p": {"mode": "soft", "limits": [{"usd": 0.5, "per": "day"}]}},
                             agents={"a": "p"})
        r = await ledger.reserve("a", BOUND, exact=lambda: EST)
        assert r.estimate is EST and events == []
        await r.release()
        over = Estimate(input_tokens=300, output_tokens=300, cost_usd=0.55)
        await ledger.reserve("a", Estimate(input_tokens=900, output_tokens=300, cost_usd=0.9), exact=lambda: over)
        assert [e["event"] for e in events] == ["budget.soft_limit_exceeded"]
