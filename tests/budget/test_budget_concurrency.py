"""Concurrent reservations never overshoot a hard limit, and settled calls free what they did not use.

How much of the limit a concurrent run uses depends on timing (calls refused while others hold their
worst case, and nobody arriving after those settle), so it is printed, not asserted. What is asserted
cannot depend on timing: 0 overshoot, 0 reserved once every call has settled, at least cap/estimate
calls admitted (a refusal needs that many reservations before it), and afterwards sequential calls are
admitted until less than one estimate is left: the run leaked no budget.
"""

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


async def drain(ledger: BudgetLedger) -> tuple[float, int]:
    """One call at a time until one is refused; return (settled spend, calls admitted)."""
    admitted = 0
    for _ in range(CALLS):
        try:
            reservation = await ledger.reserve("agent", ESTIMATE)
        except BudgetExceeded:
            break
        await reservation.settle(Usage(input_tokens=900, output_tokens=400, cost_usd=EST_USD * 0.85))
        admitted += 1
    (row,) = await ledger.status("agent")
    assert 0 == row.reserved
    return row.spent, admitted


def _check(kind: str, spent: float, reserved: float, admitted: int, drained: tuple[float, int]) -> None:
    print(
        f"\n{kind}: settled ${spent:.4f} of ${CAP_USD:.2f} limit ({spent / CAP_USD:.1%} used), "
        f"{admitted}/{CALLS} calls admitted, overshoot ${max(0.0, spent - CAP_USD):.4f}; "
        f"then {drained[1]} sequential calls: ${drained[0]:.4f} ({drained[0] / CAP_USD:.1%} used)"
    )
    assert spent <= CAP_USD
    assert reserved == 0
    assert admitted >= round(CAP_USD / EST_USD)  # no call was refused before the limit was full of worst cases
    # Every reservation was released or settled: sequential calls fill the limit to within one estimate.
    assert CAP_USD - EST_USD < drained[0] <= CAP_USD


@pytest.mark.slow
class TestMultiProcess:
    def test_redis(self, redis_prefix: str) -> None:
        """1,000 calls from 4 processes sharing Redis: no overshoot, nothing left reserved or leaked."""
        url = f"{REDIS_URL}?prefix={redis_prefix}"
        _check("redis", *run_processes(url), asyncio.run(drain(_ledger(url))))

    def test_sqlite(self, tmp_path: Path) -> None:
        """1,000 calls from 4 processes sharing one SQLite file: no overshoot, nothing left reserved or leaked."""
        url = f"sqlite:///{tmp_path}/budget.db"
        _check("sqlite", *run_processes(url), asyncio.run(drain(_ledger(url))))


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
        _check("memory", row.spent, row.reserved, len(spent) + sum(1 for c in costs if c), await drain(ledger))
