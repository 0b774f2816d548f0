"""Which policy costs what: CPU per call of the agent with each policy alone, and where garbage collection goes.

``bench/overhead.py`` measures the bare Router, the plain agent and the agent with every policy. This splits the
last one: the same workload (a NEW ~2 KB support ticket per call, ``max_tokens=64``) through the plain agent and
through agents with only a budget (in-memory store), only the standard guardrails, only an egress allowlist, and
all three. Each variant runs in a fresh process per round against one wire server in a process of its own.

Printed per variant and concurrency: the process's CPU per call, the main thread's share (the rest is LiteLLM's
logging thread), p50 latency, and the time garbage collection took per call with the number of collections of
each generation (a full collection of the ~470k-object heap costs 0.1-0.2 s: at concurrency 50 it lands in some
runs and not others, so compare the CPU columns net of it).

    .venv/bin/python bench/overhead_breakdown.py [--calls 300] [--rounds 2] [--variants bare,plain,budget,...]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead

PLAIN = "{model: smart, max_tokens: 64}"
VARIANTS: dict[str, str | None] = {
    "bare": None,
    "plain": PLAIN,
    "budget": "{model: smart, max_tokens: 64, budget: roomy}",
    "guardrails": "{model: smart, max_tokens: 64, guardrails: standard}",
    "egress": "{model: smart, max_tokens: 64, egress: local}",
    "all": "{model: smart, max_tokens: 64, budget: roomy, guardrails: standard, egress: local}",
}


class GcClock:
    """Time spent in garbage collection, and collections per generation, since the last :meth:`take`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def take(self) -> tuple[float, list[int]]:
        taken = (self.seconds, self.collections)
        self.seconds, self.collections = 0.0, [0, 0, 0]
        return taken


async def worker(variant: str, base: str, calls: int, seed: int) -> dict[str, Any]:
    """One variant at concurrency 1 and 50, after a warm-up at both."""
    from loomllm import Loom
    from loomllm._litellm import litellm_module

    overhead.log_events_to_devnull()
    rng = random.Random(seed)
    spec = VARIANTS[variant] or PLAIN
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(overhead.CONFIG.format(base=base).replace(f"bench: {PLAIN}", f"bench: {spec}"))
        loom = Loom(config)
        call: Callable[[overhead.Messages], Awaitable[object]]
        if VARIANTS[variant] is None:
            router = litellm_module().Router(model_list=loom.config.model_list, num_retries=0)

            async def call(messages: overhead.Messages) -> object:
                return await router.acompletion(model="smart", messages=messages, max_tokens=64)
        else:
            agent = loom.agent("bench")

            async def call(messages: overhead.Messages) -> object:
                return await agent.complete(messages)

        await overhead.timed_run(call, overhead.new_messages(rng, 60), 1)
        await overhead.timed_run(call, overhead.new_messages(rng, 100), 50)
        clock = GcClock()
        result: dict[str, Any] = {}
        for concurrency in overhead.CONCURRENCIES:
            requests = overhead.new_messages(rng, calls)
            clock.take()
            cpu, main = time.process_time(), time.thread_time()
            latencies, _ = await overhead.timed_run(call, requests, concurrency)
            gc_seconds, collections = clock.take()
            result[str(concurrency)] = {
                "cpu": (time.process_time() - cpu) * 1000 / calls,
                "main": (time.thread_time() - main) * 1000 / calls,
                "p50": statistics.median(latencies),
                "gc": gc_seconds * 1000 / calls,
                "collections": collections,
            }
        loom.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args.worker, args.base, args.calls, args.seed))))
        return
    names = [name for name in args.variants.split(",") if name]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    server = subprocess.Popen([sys.executable, overhead.__file__, "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_index in range(args.rounds):
            for name in names:
                command = [sys.executable, __file__, "--worker", name, "--base", base, "--calls", str(args.calls),
                           "--seed", str(1000 + round_index)]
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    print(f"{args.calls} calls per run, {args.rounds} rounds, medians over rounds (collections: first round)")
    print(f"{'variant':>10} {'conc':>4} {'cpu ms':>7} {'main ms':>7} {'p50 ms':>8} {'gc ms':>6}  collections")
    for name in names:
        for concurrency in map(str, overhead.CONCURRENCIES):
            rows = [run[concurrency] for run in runs[name]]
            figures = [statistics.median(row[key] for row in rows) for key in ("cpu", "main", "p50", "gc")]
            print(f"{name:>10} {concurrency:>4} {figures[0]:>7.2f} {figures[1]:>7.2f} {figures[2]:>8.2f} "
                  f"{figures[3]:>6.2f}  {rows[0]['collections']}")


if __name__ == "__main__":
    main()
