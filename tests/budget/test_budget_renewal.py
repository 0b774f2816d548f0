"""Lease renewal: a live call keeps its hold past reservation_ttl_s; a crashed process's hold still expires."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from budget_support import make_ledger, store_url

from loomllm._budget import BudgetStore, Estimate, Usage, open_store

USD_DAY = {"limits": [{"usd": 1.0, "per": "day"}]}
EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)
TTL = 0.6


class TestHeartbeat:
    async def test_live_call_keeps_its_hold(self, store: BudgetStore) -> None:
        """A reservation held three TTLs long is still there: the heartbeat renewed it."""
        import time

        ledger = make_ledger(store, time.time, [], policies={"p": USD_DAY}, agents={"a": "p"},
                             reservation_ttl_s=TTL)
        held = await ledger.reserve("a", EST)
        await asyncio.sleep(TTL * 3)
        (row,) = await ledger.status("a")
        assert 0.3 == row.reserved
        await held.settle(Usage(1, 1, 0.1))
        (row,) = await ledger.status("a")
        assert (0.1, 0.0) == (row.spent, row.reserved)

    async def test_heartbeat_stops_at_max_call_s(self, store: BudgetStore) -> None:
        """After max_call_s the heartbeat stops and the lease expires on its own."""
        import time

        ledger = make_ledger(store, time.time, [], policies={"p": USD_DAY}, agents={"a": "p"},
                             reservation_ttl_s=TTL, max_call_s=TTL)
        held = await ledger.reserve("a", EST)
        await asyncio.sleep(TTL * 3)
        (row,) = await ledger.status("a")
        assert 0.0 == row.reserved
        await held.release()


_CRASH = """
import asyncio, os, sys
sys.path.insert(0, {support!r})
from budget_support import make_ledger
from loomllm._budget import Estimate, open_store
import time

async def main():
    ledger = make_ledger(open_store({url!r}), time.time, [], policies={{"p": {policy!r}}}, agents={{"a": "p"}},
                         reservation_ttl_s={ttl!r})
    await ledger.reserve("a", Estimate(100, 100, 0.3))
    print("held", flush=True)
    os._exit(0)  # crash: no settle, no release, no heartbeat any more

asyncio.run(main())
"""


class TestCrashedProcess:
    @pytest.mark.parametrize("kind", ["sqlite", "redis"])
    async def test_crashed_holder_expires(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        """A process that dies holding a reservation stops renewing it, so it expires after the TTL."""
        import time

        prefix = request.getfixturevalue("redis_prefix") if kind == "redis" else ""
        url = store_url(kind, tmp_path, prefix)
        code = textwrap.dedent(_CRASH).format(support=str(Path(__file__).parent), url=url, policy=USD_DAY, ttl=TTL)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "held" in out.stdout, out.stderr
        ledger = make_ledger(open_store(url), time.time, [], policies={"p": USD_DAY}, agents={"a": "p"},
                             reservation_ttl_s=TTL)
        (row,) = await ledger.status("a")
        reserved_right_after = row.reserved
        await asyncio.sleep(TTL * 1.5)
        (row,) = await ledger.status("a")
        assert (0.3, 0.0) == (reserved_right_after, row.reserved)


class TestAgentStream:
    async def test_slow_stream_keeps_its_hold(self, make_loom: Any, wire_server: Any) -> None:
        """A stream slower than reservation_ttl_s stays reserved until it ends, then settles."""
        from loomllm.testing import Reply

        loom = make_loom(f"""
            agents:
              slow: {{model: smart, max_tokens: 20, budget: p}}
            budgets:
              reservation_ttl_s: {TTL}
              policies:
                p: {{limits: [{{tokens: 100000, per: day}}]}}
            """)
        wire_server.route(Reply.text(" ".join(["token"] * 8)).with_chunk_delay(0.25).with_usage(30, 8))
        agent = loom.agent("slow")
        reserved_mid_stream: list[float] = []
        chunks = 0
        async for _ in agent.stream("Tell me slowly."):
            chunks += 1
            if chunks == 6:  # ~1.5 s in: 2.5 TTLs
                (row,) = await agent.budget_status()
                reserved_mid_stream.append(row.reserved)
        (row,) = await agent.budget_status()
        assert reserved_mid_stream[0] > 0
        assert (38, 0) == (row.spent, row.reserved)
