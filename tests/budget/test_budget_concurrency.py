"""Concurrent reservations never overshoot a hard limit, and settled calls free what they did not use."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from budget_support import REDIS_URL

from loomllm._budget import BudgetLedger, BudgetsConfig, Estimate, Usage, open_store
from loomllm.errors import BudgetExceeded

CAP_USD = 2.0
EST_USD = 0.01  # the cap fits 200 worst-case reservations
CALLS = 1000
PROCESSES = 4
CONFIG = {"policies": {"cap": {"limits": [{"usd": CAP_USD, "per": "lifetime"}]}}}
ESTIMATE = Estimate(input_tokens=1000, output_tokens=500, cost_usd=EST_USD)


def _ledger(url: str) -> BudgetLedger:
    return BudgetLedger(BudgetsConfig.model_validate(CONFIG), {"agent": "cap"}, open_store(url))


async def _calls(ledger: BudgetLedger, n: int, rng: random.Random) -> list[float]:
    async def one() -> float:
        await asyncio.sleep(rng.uniform(0, 0.5))  # arrivals spread over half a second
        try:
            reservation = await ledger.reserve("agent", ESTIMATE)
        except BudgetExceeded:
            return 0.0
        await asyncio.sleep(rng.uniform(0.001, 0.01))  # the "provider call"
        cost = round(EST_USD * rng.uniform(0.8, 0.95), 6)  # actual somewhat below the estimate
        await reservation.settle(Usage(input_tokens=900, output_tokens=400, cost_usd=cost))
        return cost

    return await asyncio.gather(*(one() for _ in range(n)))


def _worker(url: str, n: int, seed: int, barrier: Any, results: Any) -> None:
    ledger = _ledger(url)
    barrier.wait()
    costs = asyncio.run(_calls(ledger, n, random.Random(seed)))
    results.put((sum(costs), sum(1 for c in costs if c)))


def run_processes(url: str) -> tuple[float, float, int]:
    """Run the scenario in PROCESSES spawned processes; return (settled spend, reserved left, calls admitted)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, CALLS // PROCESSES, seed, barrier, results)) for seed in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    (row,) = asyncio.run(_ledger(url).status("agent"))
    assert pytest.approx(sum(o[0] for o in outcomes)) == row.spent
    return row.spent, row.reserved, sum(o[1] for o in outcomes)


def _check(kind: str, spent: float, reserved: float, admitted: int) -> None:
    print(
        f"\n{kind}: settled ${spent:.4f} of ${CAP_USD:.2f} limit ({spent / CAP_USD:.1%} used), "
        f"{admitted}/{CALLS} calls admitted, overshoot ${max(0.0, spent - CAP_USD):.4f}"
    )
    assert spent <= CAP_USD
    assert spent >= 0.9 * CAP_USD
    assert reserved == 0


@pytest.mark.slow
class TestMultiProcess:
    def test_redis(self, redis_prefix: str) -> None:
        """1,000 calls from 4 processes sharing Redis: no overshoot, at least 90% of the limit used."""
        _check("redis", *run_processes(f"{REDIS_URL}?prefix={redis_prefix}"))

    def test_sqlite(self, tmp_path: Path) -> None:
        """1,000 calls from 4 processes sharing one SQLite file: no overshoot, at least 90% used."""
        _check("sqlite", *run_processes(f"sqlite:///{tmp_path}/budget.db"))


class TestInProcess:
    async def test_memory_threads_and_tasks(self) -> None:
        """Threads and asyncio tasks sharing one in-memory store never overshoot."""
        ledger = _ledger("memory://")
        spent: list[float] = []

        async def own_loop_calls(rng: random.Random) -> None:
            for _ in range(100):
                try:
                    reservation = await ledger.reserve("agent", ESTIMATE)
                except BudgetExceeded:
                    continue
                cost = round(EST_USD * rng.uniform(0.8, 0.95), 6)
                await reservation.settle(Usage(1, 1, cost))
                spent.append(cost)

        def thread_calls(seed: int) -> None:
            asyncio.run(own_loop_calls(random.Random(seed)))

        threads = [threading.Thread(target=thread_calls, args=(seed,)) for seed in range(5)]
        for t in threads:
            t.start()
        costs = await _calls(ledger, 500, random.Random(99))
        for t in threads:
            t.join()
        (row,) = await ledger.status("agent")
        assert pytest.approx(sum(spent) + sum(costs)) == row.spent
        _check("memory", row.spent, row.reserved, len(spent) + sum(1 for c in costs if c))
