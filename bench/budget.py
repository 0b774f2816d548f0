"""Budget engine benchmark: reserve+settle cost per store, and the multi-process overshoot scenario.

Run: .venv/bin/python bench/budget.py            (needs Redis on 127.0.0.1:6379 for the Redis rows)

Per-call rows time one reserve followed by one settle against three limits (the agent's usd/day and
tokens/hour, a global usd/month), so each operation touches three counters atomically. The
scenario rows run 1,000 concurrent calls from 4 spawned processes against a limit that fits 200
worst-case reservations; each call settles 80-95% of its estimate.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from loomllm._budget import BudgetLedger, BudgetsConfig, Estimate, Usage, estimate_call, open_store
from loomllm.errors import BudgetExceeded

REDIS_URL = "redis://127.0.0.1:6379/0"
CONFIG = {
    "policies": {
        "agent": {"limits": [{"usd": 1e6, "per": "day"}, {"tokens": 10**14, "per": "hour"}]},
        "cap": {"limits": [{"usd": 1e6, "per": "month"}]},
    },
    "global": "cap",
}
ESTIMATE = Estimate(input_tokens=1200, output_tokens=1024, cost_usd=0.0125)
USAGE = Usage(input_tokens=1200, output_tokens=310, cost_usd=0.0049)

SCENARIO_CAP, SCENARIO_EST, SCENARIO_CALLS, SCENARIO_PROCS = 2.0, 0.01, 1000, 4
SCENARIO_CONFIG = {"policies": {"cap": {"limits": [{"usd": SCENARIO_CAP, "per": "lifetime"}]}}}


def _pct(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def bench_sync(ledger: BudgetLedger, n: int) -> tuple[float, float]:
    """p50/p99 microseconds of reserve_sync + settle_sync."""
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        ledger.reserve_sync("a", ESTIMATE).settle_sync(USAGE)
        out.append((time.perf_counter() - t0) * 1e6)
    return _pct(out[n // 10 :])


def bench_async(ledger: BudgetLedger, n: int) -> tuple[float, float]:
    """p50/p99 microseconds of await reserve + await settle."""

    async def run() -> list[float]:
        out: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            await (await ledger.reserve("a", ESTIMATE)).settle(USAGE)
            out.append((time.perf_counter() - t0) * 1e6)
        await ledger.store.aclose()
        return out

    out = asyncio.run(run())
    return _pct(out[n // 10 :])


def bench_callable(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """p50/p99 microseconds of ``fn()``."""
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    return _pct(out[n // 10 :])


# -- scenario (runs in spawned processes) ---------------------------------------------------------


def _scenario_ledger(url: str) -> BudgetLedger:
    return BudgetLedger(BudgetsConfig.model_validate(SCENARIO_CONFIG), {"agent": "cap"}, open_store(url))


async def _scenario_calls(ledger: BudgetLedger, n: int, rng: random.Random) -> list[float]:
    est = Estimate(1000, 500, SCENARIO_EST)

    async def one() -> float:
        await asyncio.sleep(rng.uniform(0, 0.5))
        try:
            reservation = await ledger.reserve("agent", est)
        except BudgetExceeded:
            return 0.0
        await asyncio.sleep(rng.uniform(0.001, 0.01))
        cost = round(SCENARIO_EST * rng.uniform(0.8, 0.95), 6)
        await reservation.settle(Usage(900, 400, cost))
        return cost

    return await asyncio.gather(*(one() for _ in range(n)))


def _scenario_worker(url: str, n: int, seed: int, barrier: Any, results: Any) -> None:
    ledger = _scenario_ledger(url)
    barrier.wait()
    costs = asyncio.run(_scenario_calls(ledger, n, random.Random(seed)))
    results.put(sum(1 for c in costs if c))


def scenario(url: str) -> tuple[float, int, float]:
    """(settled spend, admitted calls, wall seconds) of the 4-process scenario."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(SCENARIO_PROCS + 1), ctx.Queue()
    n = SCENARIO_CALLS // SCENARIO_PROCS
    procs = [ctx.Process(target=_scenario_worker, args=(url, n, s, barrier, results)) for s in range(SCENARIO_PROCS)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    admitted = sum(results.get(timeout=120) for _ in procs)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    (row,) = _scenario_ledger(url).status_sync("agent")
    return row.spent, admitted, wall


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _drop(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def main() -> int:
    """Run everything and print two tables."""
    tmp = tempfile.mkdtemp(prefix="loombench-")
    prefix = f"loombench:{uuid.uuid4().hex}:"
    redis_up = _redis_up()
    config = BudgetsConfig.model_validate(CONFIG)
    stores = {"memory": ("memory://", 50_000), "sqlite": (f"sqlite:///{tmp}/bench.db", 5_000)}
    if redis_up:
        stores["redis"] = (f"{REDIS_URL}?prefix={prefix}", 10_000)
    else:
        print("(Redis not reachable on 127.0.0.1:6379: Redis rows skipped)", file=sys.stderr)

    rows: list[tuple[str, str, float, float]] = []
    try:
        for name, (url, n) in stores.items():
            rows.append((name, "sync", *bench_sync(BudgetLedger(config, {"a": "agent"}, open_store(url)), n)))
            rows.append((name, "async", *bench_async(BudgetLedger(config, {"a": "agent"}, open_store(url)), n)))

        messages = [
            {"role": "system", "content": "You are a careful planner."},
            {"role": "user", "content": "Plan a three-step migration of a Postgres database. " * 20},
        ]
        deployments = [
            {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}},
            {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o"}},
        ]
        from loomllm._litellm import litellm_module

        litellm = litellm_module()

        def est_call() -> Any:
            return estimate_call(messages, deployments=deployments, max_tokens=None, default_output_cap=1024)

        est_call()
        bare = bench_callable(lambda: litellm.token_counter(model="openai/gpt-4o", messages=messages), 2000)
        est = bench_callable(est_call, 2000)

        print("\nreserve + settle per call (3 limits, 3 counters), microseconds")
        print(f"{'store':<8} {'api':<6} {'p50 µs':>10} {'p99 µs':>10}")
        for store, api, p50, p99 in rows:
            print(f"{store:<8} {api:<6} {p50:>10.1f} {p99:>10.1f}")
        print(
            f"\nestimate_call (2 deployments, ~230 prompt tokens): p50 {est[0]:.1f} µs, p99 {est[1]:.1f} µs; "
            f"bare litellm.token_counter p50 {bare[0]:.1f} µs (ratio {est[0] / bare[0]:.2f}x)"
        )

        scen_urls = {"sqlite": f"sqlite:///{tmp}/scenario.db"}
        if redis_up:
            scen_urls["redis"] = f"{REDIS_URL}?prefix={prefix}scenario:"
        print(
            f"\nconcurrency: {SCENARIO_CALLS} calls from {SCENARIO_PROCS} processes, limit ${SCENARIO_CAP:.2f} "
            f"(fits {SCENARIO_CAP / SCENARIO_EST:.0f} estimates), actual 80-95% of estimate"
        )
        print(f"{'store':<8} {'settled $':>10} {'used':>7} {'overshoot $':>12} {'admitted':>9} {'wall s':>7}")
        for name, url in scen_urls.items():
            spent, admitted, wall = scenario(url)
            print(
                f"{name:<8} {spent:>10.4f} {spent / SCENARIO_CAP:>7.1%} {max(0.0, spent - SCENARIO_CAP):>12.4f} "
                f"{admitted:>9} {wall:>7.2f}"
            )
    finally:
        if redis_up:
            _drop(prefix)
        for f in os.listdir(tmp):
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
