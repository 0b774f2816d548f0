"""Store outages lose nothing: settles go to the journal and are replayed once the store is back."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from budget_support import FakeClock, make_ledger
from redis_servers import RedisServer

from loomllm import Loom
from loomllm._budget import Charge, Estimate, Usage, open_store
from loomllm.errors import BudgetStoreUnavailable
from loomllm.testing import Reply, WireServer

USD_DAY = {"limits": [{"usd": 1.0, "per": "day"}]}
EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)


@pytest.fixture(params=["redis", "valkey"])
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A private redis-server (or valkey-server) with an fsync-always AOF, stopped after the test."""
    server = RedisServer(tmp_path / request.param, flavor=request.param).start()
    yield server
    server.stop()


class TestIdempotentCommit:
    async def test_second_commit_of_a_lease_changes_nothing(self, store: Any) -> None:
        """A replayed settle (same lease) is applied once."""
        charge = Charge("idem", 100, 10, True, 60.0)
        assert (await store.reserve("lease-1", [charge], 0.0, 30.0)).ok
        await store.commit("lease-1", [charge], [7], 1.0)
        await store.commit("lease-1", [charge], [7], 2.0)
        assert [(7, 0)] == await store.read(["idem"], 3.0)


class TestJournalReplay:
    async def test_replay_releases_the_lease_and_records_spend(self, tmp_path: Path, clock: FakeClock,
                                                               redis_server: RedisServer) -> None:
        """A settle made while Redis is down is journaled; after the restart it is replayed once."""
        url = f"{redis_server.url}?prefix=t:"
        ledger = make_ledger(open_store(url), clock, [], policies={"p": USD_DAY}, agents={"a": "p"},
                             journal_path=str(tmp_path / "j.db"))
        held = await ledger.reserve("a", EST)
        redis_server.kill()
        await held.settle(Usage(10, 10, 0.25))
        assert ledger.journal is not None and 1 == ledger.journal.count()
        with pytest.raises(BudgetStoreUnavailable):
            await ledger.reserve("a", EST)
        redis_server.start()
        assert 1 == await ledger.replay_journal()
        assert 0 == await ledger.replay_journal()
        (row,) = await ledger.status("a")
        assert (0.25, 0.0) == (row.spent, row.reserved)
        assert 0 == ledger.journal.count()

    async def test_journal_only_replays_into_its_own_store(self, tmp_path: Path, clock: FakeClock) -> None:
        """Two stores sharing one journal file never get each other's settles."""
        from loomllm._budget import Journal

        journal = Journal(tmp_path / "j.db", "redis://a#x")
        journal.append("l1", [Charge("k", 1, 1)], [1], 0.0)
        assert 0 == Journal(tmp_path / "j.db", "redis://b#x").count()
        assert 1 == journal.count()


def _outage_yaml(server: WireServer, state: str, journal: Path) -> str:
    return textwrap.dedent(f"""
        model_list:
          - model_name: smart
            litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", api_key: sk-test}}
        router_settings: {{num_retries: 0}}
        loomllm:
          state: "{state}"
          agents:
            writer: {{model: smart, max_tokens: 20, budget: daily}}
          budgets:
            journal_path: "{journal}"
            policies:
              daily: {{limits: [{{tokens: 1000000, per: day}}, {{usd: 100, per: day}}]}}
        """)


class TestRedisKilledMidRun:
    async def test_sigkill_and_restart_lose_no_spend_and_hold_no_lease(
        self, tmp_path: Path, wire_server: WireServer, redis_server: RedisServer
    ) -> None:
        """20 calls in flight when Redis is SIGKILLed, 10 after its restart: all 30 are recorded, 0 leases held."""
        import redis

        path = tmp_path / "loom.yaml"
        path.write_text(_outage_yaml(wire_server, f"{redis_server.url}?prefix=outage:", tmp_path / "journal.db"))
        with Loom(path) as loom:
            agent = loom.agent("writer")
            await agent.chat("warm-up: imports LiteLLM and builds the Router before the timed part")
            await loom.ledger.reset("writer")
            held = threading.Event()  # the provider answers only once Redis is dead: 20 calls are in flight

            def answer_when_released(request: Any) -> Reply:
                held.wait(timeout=60)
                return Reply.text("ok").with_usage(50, 5)

            wire_server.route(answer_when_released)
            start = len(wire_server.requests)
            in_flight = [asyncio.create_task(agent.chat(f"Summarise ticket {i} for the on-call engineer."))
                         for i in range(20)]
            for _ in range(6000):  # every call has reserved and sent its request (bounded: 60 s)
                if len(wire_server.requests) - start >= 20:
                    break
                await asyncio.sleep(0.01)
            redis_server.kill()
            held.set()
            wire_server.route(Reply.text("ok").with_usage(50, 5))
            await asyncio.gather(*in_flight)  # the calls themselves succeed
            refused = await asyncio.gather(*(agent.chat("while down") for _ in range(5)), return_exceptions=True)
            assert all(isinstance(e, BudgetStoreUnavailable) for e in refused)
            assert loom.ledger.journal is not None and 20 == loom.ledger.journal.count()
            redis_server.start()
            await asyncio.gather(*(agent.chat(f"After the restart, ticket {i}.") for i in range(10)))
            await loom.ledger.replay_journal()
            tokens, usd = await agent.budget_status()
            journal_left = loom.ledger.journal.count()
        client = redis.Redis(port=redis_server.port)
        leases = sum(client.zcard(k) for k in client.scan_iter(match="{outage:}*|l"))
        print(f"\nRedis SIGKILL mid-run: {tokens.spent:.0f} of {30 * 55} tokens recorded, "
              f"lost {30 * 55 - tokens.spent:.0f}, leases held {leases}, journal left {journal_left}")
        assert (30 * 55, 0.0) == (tokens.spent, tokens.reserved)
        assert 0.0 == usd.reserved and usd.spent == pytest.approx(30 * (50 * 1.5e-07 + 5 * 6e-07))
        assert (0, 0) == (leases, journal_left)
