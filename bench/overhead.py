"""What UnifiedAgent costs over a bare litellm.Router, measured in the same run.

The same workload (N chat calls against the local wire server, at concurrency 1 and 50) goes
through a bare ``litellm.Router`` and through a ``UnifiedAgent`` with no policies configured, in
alternating rounds. Every path sends the same request (max_tokens=64: a budget needs a bounded
output, and LiteLLM's pre-call checks do more work when it is set). Prints p50/p99 latency and
throughput of each, and the ratio. With
``--policies`` a third path runs too: an agent with a budget (in-memory store), the standard
guardrail profile and an egress allowlist, so the cost of all three policies shows in the same run.

    .venv/bin/python bench/overhead.py [--calls 1000] [--rounds 3] [--policies]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from loomllm import Loom
from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer

CONFIG = """
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{base}", api_key: sk-bench}}
router_settings: {{num_retries: 0}}
loomllm:
  logging: {{format: json, level: info}}
  agents:
    bench: {{model: smart, max_tokens: 64}}
    guarded: {{model: smart, max_tokens: 64, budget: roomy, guardrails: standard, egress: local}}
  budgets:
    policies:
      roomy: {{limits: [{{usd: 1000, per: day}}, {{tokens: 100000000, per: day}}]}}
  egress:
    policies:
      local: {{allow: ["http://127.0.0.1:*"]}}
"""
MESSAGES = [{"role": "user", "content": "Summarize the launch plan in one sentence."}]


async def run(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies (ms) of ``calls`` calls made ``concurrency`` at a time, and the wall time (s)."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            start = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return latencies, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policies", action="store_true", help="also measure an agent with all policies on")
    args = parser.parse_args()
    # Events are rendered as JSON and written, as in production, but to /dev/null.
    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")))  # noqa: SIM115
    with WireServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.route(Reply.text("The launch ships a beta, gathers objections, then publishes."))
        path = Path(tmp) / "bench.yaml"
        path.write_text(CONFIG.format(base=server.openai_base))
        quiet = Path(tmp) / "quiet.yaml"  # the same, without the per-attempt events
        quiet.write_text(CONFIG.format(base=server.openai_base).replace("level: info", "level: info, attempts: false"))
        loom, quiet_loom = Loom(path), Loom(quiet)
        agent = loom.agent("bench")
        quiet_agent = quiet_loom.agent("bench")
        guarded = loom.agent("guarded")
        loom._litellm_router()  # builds the Router and registers its callback
        quiet_loom._litellm_router()
        # The bare path: a Router of its own over the same deployments (loomllm's Router refuses
        # requests that do not come from an agent call).
        router = litellm_module().Router(model_list=loom.config.model_list, num_retries=0)
        callbacks = {loom: loom._callback, quiet_loom: quiet_loom._callback}

        async def bare() -> object:
            return await router.acompletion(model="smart", messages=MESSAGES, max_tokens=64)

        async def unified() -> object:
            return await agent.complete(MESSAGES)

        async def without_attempt_events() -> object:
            return await quiet_agent.complete(MESSAGES)

        async def with_policies() -> object:
            return await guarded.complete(MESSAGES)

        # path name -> (call, the Loom whose callback is registered while it runs)
        paths: dict[str, tuple[Callable[[], Awaitable[object]], Loom]] = {
            "UnifiedAgent": (unified, loom),
            "attempts: false": (without_attempt_events, quiet_loom),
            **({"+policies": (with_policies, loom)} if args.policies else {}),
        }
        for _ in range(20):  # warm up connections, LiteLLM's caches, Presidio on every path
            await bare()
            for call, _owner in paths.values():
                await call()
        print(f"{args.calls} calls per run, {args.rounds} alternating rounds; latency over all rounds, "
              "throughput of the best round, ratio = median of the per-round throughput ratios")
        print(f"{'concurrency':>11} {'path':>20} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8}")
        for concurrency in (1, 50):
            results: dict[str, list[tuple[list[float], float]]] = {"litellm.Router": [], **{p: [] for p in paths}}
            # Every path runs once per round; the order rotates from round to round, so that no
            # path always follows the same neighbour (garbage and warm caches carry over).
            order: list[str] = ["litellm.Router", *paths]
            for round_index in range(args.rounds):
                shift = round_index % len(order)
                for name in order[shift:] + order[:shift]:
                    for callback in callbacks.values():  # the bare Router must not pay for loomllm's callbacks
                        _hooks.unregister(callback)
                    if name == "litellm.Router":
                        results[name].append(await run(bare, args.calls, concurrency))
                        continue
                    call, owner = paths[name]
                    _hooks.register(callbacks[owner])
                    results[name].append(await run(call, args.calls, concurrency))
            for name, rounds in results.items():
                latencies = [x for lat, _ in rounds for x in lat]
                best = max(args.calls / wall for _, wall in rounds)
                print(f"{concurrency:>11} {name:>20} {statistics.median(latencies):>8.2f} "
                      f"{pct(latencies, 0.99):>8.2f} {best:>8.0f}")
            for name in paths:
                # Each round runs the paths back to back: the ratio within a round cancels most of
                # the machine's drift; the median over rounds is what is reported.
                ratios = [bare_wall / wall for (_, bare_wall), (_, wall) in zip(results["litellm.Router"],
                                                                                results[name], strict=True)]
                target = "  (target >= 0.95)" if name == "UnifiedAgent" else ""
                print(f"{concurrency:>11} {'ratio ' + name:>20} {'':>8} {'':>8} {statistics.median(ratios):>8.3f}x"
                      f"{target}  rounds: {' '.join(f'{r:.3f}' for r in ratios)}")
        loom.close()
        quiet_loom.close()


if __name__ == "__main__":
    asyncio.run(main())
