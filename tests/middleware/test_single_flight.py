"""Single-flight: identical concurrent calls of one agent share one provider call and one charge."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loomllm import RateLimited
from loomllm._middleware import SingleFlight
from loomllm.testing import Reply, WireServer

QUESTION = "List the open action items from Monday's architecture review."


class TestSingleFlight:
    async def test_concurrent_callers_share_one_run_and_get_copies(self) -> None:
        """Five callers with one key run the function once; followers get equal, distinct copies."""
        flights = SingleFlight()
        runs: list[int] = []

        async def work() -> dict[str, list[int]]:
            runs.append(1)
            await asyncio.sleep(0.05)
            return {"items": [1, 2, 3]}

        results = await asyncio.gather(*(flights.run("k", work) for _ in range(5)))
        assert 1 == len(runs)
        assert [False, True, True, True, True] == [shared for _, shared in results]
        values = [value for value, _ in results]
        assert all(v == {"items": [1, 2, 3]} for v in values)
        assert 5 == len({id(v) for v in values})
        assert 0 == flights.in_flight()

    async def test_errors_are_shared(self) -> None:
        """When the leader fails, every follower sees the same error type."""
        flights = SingleFlight()

        async def fail() -> None:
            await asyncio.sleep(0.02)
            raise RateLimited("provider kept answering 429")

        results = await asyncio.gather(*(flights.run("k", fail) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, RateLimited) for r in results)

    async def test_cancelled_leader_hands_over(self) -> None:
        """A follower of a cancelled leader runs the call itself."""
        flights = SingleFlight()
        started = asyncio.Event()

        async def slow() -> str:
            started.set()
            await asyncio.sleep(0.05)
            return "done"

        leader = asyncio.create_task(flights.run("k", slow))
        await started.wait()
        follower = asyncio.create_task(flights.run("k", slow))
        await asyncio.sleep(0)
        leader.cancel()
        assert ("done", False) == await follower
        with pytest.raises(asyncio.CancelledError):
            await leader


class TestThroughTheAgent:
    async def test_identical_calls_make_one_request_and_one_charge(self, make_loom: Any,
                                                                   wire_server: WireServer) -> None:
        """Four identical deterministic calls in flight: one provider request, the budget charged once."""
        wire_server.route(Reply.text("1. Pick a queue. 2. Write the ADR. 3. Load-test the gateway.",
                                     latency=0.2))
        events: list[dict[str, Any]] = []
        loom = make_loom("""
            agents: {reviewer: {model: smart, temperature: 0, budget: b}}
            budgets: {default_output_cap: 64, policies: {b: {limits: [{tokens: 100000, per: day}]}}}
        """, on_event=events.append)
        agent = loom.agent("reviewer")
        answers = await asyncio.gather(*(agent.complete(QUESTION) for _ in range(4)))
        assert 1 == len(wire_server.requests)
        assert 1 == len({a.choices[0].message.content for a in answers})
        assert 4 == len({id(a) for a in answers})
        calls = [e for e in events if e["event"] == "llm.call"]
        assert [False, True, True, True] == sorted(c["shared"] for c in calls)
        charged = next(c for c in calls if not c["shared"])
        [row] = await agent.budget_status()
        assert charged["tokens_in"] + charged["tokens_out"] == row.spent
        assert 0 == row.reserved

    async def test_callers_under_different_budget_scopes_each_pay(self, make_loom: Any,
                                                                  wire_server: WireServer) -> None:
        """Two tenants asking the same thing at once: two requests, each charged to its own scope
        (a shared answer would be free for one tenant and paid by the other)."""
        wire_server.route(Reply.text("Rotate the signing key, then re-issue tokens.", latency=0.2))
        loom = make_loom("""
            agents: {reviewer: {model: smart, temperature: 0, budget: b}}
            budgets:
              default_output_cap: 64
              policies:
                b: {limits: [{tokens: 100000, per: day}]}
                per_tenant: {limits: [{tokens: 100000, per: day}]}
              scopes: {tenant: {default: per_tenant}}
        """)
        agent = loom.agent("reviewer")
        await asyncio.gather(agent.complete(QUESTION, budget_keys={"tenant": "acme"}),
                             agent.complete(QUESTION, budget_keys={"tenant": "globex"}),
                             agent.complete(QUESTION, budget_keys={"tenant": "acme"}))
        assert 2 == len(wire_server.requests)

    async def test_sampled_calls_are_not_coalesced(self, make_loom: Any, wire_server: WireServer) -> None:
        """At temperature 0.9 each caller wants its own sample: no coalescing."""
        wire_server.route(Reply.echo(latency=0.1))
        loom = make_loom("agents: {writer: {model: smart, temperature: 0.9}}")
        await asyncio.gather(*(loom.agent("writer").complete(QUESTION) for _ in range(3)))
        assert 3 == len(wire_server.requests)

    async def test_different_agents_are_not_coalesced(self, make_loom: Any, wire_server: WireServer) -> None:
        """The same request from two agents makes two provider calls."""
        wire_server.route(Reply.echo(latency=0.1))
        loom = make_loom("agents: {a: {model: smart, temperature: 0}, b: {model: smart, temperature: 0}}")
        await asyncio.gather(loom.agent("a").complete(QUESTION), loom.agent("b").complete(QUESTION))
        assert 2 == len(wire_server.requests)

    async def test_sync_and_async_callers_share(self, make_loom: Any, wire_server: WireServer) -> None:
        """A call from the sync API (the Loom's loop thread) joins an async caller's flight."""
        wire_server.route(Reply.echo(latency=0.3))
        loom = make_loom("agents: {a: {model: smart, temperature: 0}}")
        agent = loom.agent("a")
        first = asyncio.create_task(agent.complete(QUESTION))
        await asyncio.sleep(0.1)
        second = await asyncio.to_thread(agent.complete_sync, QUESTION)
        assert (await first).choices[0].message.content == second.choices[0].message.content
        assert 1 == len(wire_server.requests)

    async def test_shared_failure_releases_every_reservation(self, make_loom: Any, wire_server: WireServer) -> None:
        """When the shared call fails, every caller gets the error and nothing stays reserved."""
        from loomllm import ProviderUnavailable

        wire_server.route(Reply.status(503, latency=0.1))
        loom = make_loom("""
            agents: {a: {model: smart, temperature: 0, budget: b}}
            budgets: {policies: {b: {limits: [{tokens: 100000, per: day}]}}}
        """)
        agent = loom.agent("a")
        results = await asyncio.gather(*(agent.complete(QUESTION) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, ProviderUnavailable) for r in results)
        [row] = await agent.budget_status()
        assert (0, 0) == (row.spent, row.reserved)


class TestGuardrailsPerCaller:
    async def test_each_caller_gets_its_own_restore(self, make_loom: Any, wire_server: WireServer) -> None:
        """Shared answers carry placeholders; each caller's own vault restores the original address."""
        email = "jane.doe@acme-corp.com"
        wire_server.route(Reply.echo(prefix="Draft sent to: ", latency=0.2))
        loom = make_loom("agents: {mailer: {model: smart, temperature: 0}}\nguardrails: {default: standard}")
        agent = loom.agent("mailer")
        answers = await asyncio.gather(*(agent.chat(f"Write to {email} about the launch") for _ in range(3)))
        [request] = wire_server.requests
        assert email not in repr(request.body) and "<EMAIL_ADDRESS_1>" in repr(request.body)
        assert all(email in a for a in answers)
