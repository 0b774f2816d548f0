"""Budget engine benchmark: reserve+settle cost per store, the journal path, and the overshoot scenario.

Run: PYTHONPATH=. .venv/bin/python bench/budget.py
     (Redis rows need Redis on 127.0.0.1:6379; the private-Redis, cluster and journal rows start
     their own redis-server processes on free ports and are skipped if redis-server is missing; the
     Valkey row starts a valkey-server with the same settings, if scripts/valkey installed one)

Per-call rows time one reserve followed by one settle against three limits (the agent's usd/day and
tokens/hour, a global usd/month) plus the per-day spend record, each with new amounts. The journal
rows reserve with Redis up, SIGKILL it, time each settle going to the journal, restart Redis and
time the replay. A bare ``litellm.Router.acompletion`` against the local wire server, measured in
the same run, gives the ratio. The scenario rows run 1,000 concurrent calls from 4 spawned
processes against a limit that fits 200 worst-case reservations; each call settles 80-95%.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
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


def _amounts(rng: random.Random) -> tuple[Estimate, Usage]:
    """A new worst case and actual use per call (prompt sizes of 0.5-3 KB of text)."""
    tokens_in = rng.randint(150, 900)
    est = Estimate(tokens_in, 1024, round(tokens_in * 2.5e-6 + 1024 * 1e-5, 9))
    out = rng.randint(20, 1024)
    return est, Usage(tokens_in, out, round(tokens_in * 2.5e-6 + out * 1e-5, 9))


def bench_async(ledger: BudgetLedger, n: int) -> tuple[float, float]:
    """p50/p99 microseconds of await reserve + await settle."""
    rng = random.Random(7)

    async def run() -> list[float]:
        out: list[float] = []
        for _ in range(n):
            est, usage = _amounts(rng)
            t0 = time.perf_counter()
            await (await ledger.reserve("a", est)).settle(usage)
            out.append((time.perf_counter() - t0) * 1e6)
        await ledger.store.aclose()
        return out

    out = asyncio.run(run())
    return _pct(out[n // 10 :])


def bench_journal(config: BudgetsConfig, tmp: str, n: int) -> tuple[tuple[float, float], float, int]:
    """Settle-to-journal p50/p99 µs with Redis SIGKILLed, replay µs per settle, settles lost."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "budget"))
    from redis_servers import RedisServer

    server = RedisServer(Path(tmp) / "journal-redis").start()
    journaled = config.model_copy(update={"journal_path": f"{tmp}/journal.db"})
    ledger = BudgetLedger(journaled, {"a": "agent"}, open_store(f"{server.url}?prefix=bench:"))
    rng = random.Random(11)

    async def run() -> tuple[list[float], float, int]:
        held = [(await ledger.reserve("a", est), usage) for est, usage in (_amounts(rng) for _ in range(n))]
        server.kill()
        out: list[float] = []
        for reservation, usage in held:
            t0 = time.perf_counter()
            await reservation.settle(usage)
            out.append((time.perf_counter() - t0) * 1e6)
        server.start()
        t0 = time.perf_counter()
        replayed = await ledger.replay_journal()
        per_settle = (time.perf_counter() - t0) * 1e6 / max(1, replayed)
        await ledger.store.aclose()
        return out, per_settle, n - replayed

    try:
        out, replay, lost = asyncio.run(run())
    finally:
        server.stop()
    return _pct(out), replay, lost


def bench_router(n: int) -> tuple[float, float]:
    """p50/p99 µs of a bare litellm.Router.acompletion against the local wire server, new prompt per call."""
    from loomllm._litellm import litellm_module
    from loomllm.testing import WireServer

    litellm = litellm_module()
    rng = random.Random(3)
    with WireServer() as server:
        router = litellm.Router(model_list=[{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": server.openai_base, "api_key": "sk-bench"}}])

        async def run() -> list[float]:
            out: list[float] = []
            for i in range(n):
                text = f"Invoice {i}: " + " ".join(f"line {rng.randint(1, 999)} EUR {rng.random() * 900:.2f}"
                                                   for _ in range(120))
                t0 = time.perf_counter()
                await router.acompletion(model="m", messages=[{"role": "user", "content": text}], max_tokens=64)
                out.append((time.perf_counter() - t0) * 1e6)
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
    journal = os.path.join(tempfile.gettempdir(), "loombench-scenario-journal.db")
    config = BudgetsConfig.model_validate({**SCENARIO_CONFIG, "journal_path": journal})
    return BudgetLedger(config, {"agent": "cap"}, open_store(url))


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
    (row,) = asyncio.run(_scenario_ledger(url).status("agent"))
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
    keys = list(client.scan_iter(match=f"{{{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def _private_stores(tmp: str) -> tuple[dict[str, tuple[str, int]], list[Any]]:
    """A private redis-server and a 3-node cluster (started here), if redis-server is installed."""

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        print("(redis-server/redis-cli not installed: private Redis, cluster and journal rows skipped)",
              file=sys.stderr)
        return {}, []
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "budget"))
    from redis_servers import RedisServer, start_cluster

    private = RedisServer(Path(tmp) / "private").start()
    nodes = start_cluster(Path(tmp) / "cluster")
    stores = {
        "redis-aof": (f"{private.url}?prefix=bench:", 5_000),
        "cluster": (f"redis://127.0.0.1:{nodes[0].port}/0?cluster=true&prefix=bench:", 5_000),
    }
    servers = [private, *nodes]
    from redis_servers import _valkey_binary

    if _valkey_binary("valkey-server") is None:
        print("(valkey-server not installed, see scripts/valkey: Valkey row skipped)", file=sys.stderr)
    else:
        valkey = RedisServer(Path(tmp) / "valkey", None, flavor="valkey").start()
        stores["valkey-aof"] = (f"valkey://127.0.0.1:{valkey.port}/0?prefix=bench:", 5_000)
        servers.append(valkey)
    return stores, servers


def main() -> int:
    """Run everything and print the tables."""
    tmp = tempfile.mkdtemp(prefix="loombench-")
    prefix = f"loombench:{uuid.uuid4().hex}:"
    redis_up = _redis_up()
    config = BudgetsConfig.model_validate({**CONFIG, "journal_path": f"{tmp}/unused-journal.db"})
    stores = {"memory": ("memory://", 20_000), "sqlite": (f"sqlite:///{tmp}/bench.db", 3_000)}
    if redis_up:
        stores["redis"] = (f"{REDIS_URL}?prefix={prefix}", 5_000)
    else:
        print("(Redis not reachable on 127.0.0.1:6379: shared-Redis rows skipped)", file=sys.stderr)
    private, servers = _private_stores(tmp)
    stores.update(private)

    rows: list[tuple[str, float, float]] = []
    try:
        router = bench_router(300)
        for name, (url, n) in stores.items():
            rows.append((name, *bench_async(BudgetLedger(config, {"a": "agent"}, open_store(url)), n)))
        journal = bench_journal(config, tmp, 500) if servers else None

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

        print(f"\nbare litellm.Router.acompletion (local wire server, ~2 KB prompt): p50 {router[0]:.0f} µs, "
              f"p99 {router[1]:.0f} µs")
        print("\nreserve + settle per call (3 limits + spend record, one atomic op each), microseconds")
        print(f"{'store':<10} {'p50 µs':>10} {'p99 µs':>10} {'p50 / Router':>13}")
        for store, p50, p99 in rows:
            print(f"{store:<10} {p50:>10.1f} {p99:>10.1f} {p50 / router[0]:>12.1%}")
        if journal is not None:
            (j50, j99), replay, lost = journal
            print(f"{'journal':<10} {j50:>10.1f} {j99:>10.1f} {j50 / router[0]:>12.1%}   (settle with Redis "
                  f"SIGKILLed; replay {replay:.0f} µs per settle; settles lost: {lost})")
        print(
            f"\nestimate_call (2 deployments, ~230 prompt tokens): p50 {est[0]:.1f} µs, p99 {est[1]:.1f} µs; "
            f"bare litellm.token_counter p50 {bare[0]:.1f} µs (ratio {est[0] / bare[0]:.2f}x)"
        )

        scen_urls = {"sqlite": f"sqlite:///{tmp}/scenario.db"}
        if redis_up:
            scen_urls["redis"] = f"{REDIS_URL}?prefix={prefix}scenario:"
        if servers:
            scen_urls["cluster"] = f"redis://127.0.0.1:{servers[1].port}/0?cluster=true&prefix=scenario:"
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
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
