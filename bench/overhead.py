"""What UnifiedAgent costs over a bare litellm.Router, measured in the same run.

The same workload (N chat calls against the local wire server, at concurrency 1 and 50) goes
through a bare ``litellm.Router`` and through a ``UnifiedAgent`` with no policies configured, in
alternating rounds. Every call sends a NEW ~2 KB support ticket (``bench/ticket_text.py``: prose with
order numbers, amounts, dates, versions; a quarter carry an e-mail or phone number), so no content
cache helps any path; the texts are made before each run, outside the timing (max_tokens=64: a budget
needs a bounded output, and LiteLLM's pre-call checks do more work when it is set). Prints p50/p99 latency and
throughput of each, and the ratio. With
``--policies`` a third path runs too: an agent with a budget (in-memory store), the standard
guardrail profile and an egress allowlist, so the cost of all three policies shows in the same run.

    .venv/bin/python bench/overhead.py [--calls 1000] [--rounds 3] [--policies]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from loomllm import Loom
from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ticket_text import make_ticket

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
_RNG = random.Random(2026)
Messages = list[dict[str, str]]


def new_messages(count: int) -> list[Messages]:
    """``count`` fresh requests: a new 2 KB ticket each, asking for a summary."""
    return [
        [{"role": "user", "content": "Summarize this ticket in one sentence.\n\n" + make_ticket(_RNG)}]
        for _ in range(count)
    ]


async def run(
    call: Callable[[Messages], Awaitable[object]], calls: int, concurrency: int
) -> tuple[list[float], float]:
    """Latencies (ms) of ``calls`` calls made ``concurrency`` at a time, and the wall time (s)."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    requests = iter(new_messages(calls))

    async def one() -> None:
        async with semaphore:
            messages = next(requests)
            start = time.perf_counter()
            await call(messages)
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

        async def bare(messages: Messages) -> object:
            return await router.acompletion(model="smart", messages=messages, max_tokens=64)

        async def unified(messages: Messages) -> object:
            return await agent.complete(messages)

        async def without_attempt_events(messages: Messages) -> object:
            return await quiet_agent.complete(messages)

        async def with_policies(messages: Messages) -> object:
            return await guarded.complete(messages)

        # path name -> (call, the Loom whose callback is registered while it runs)
        paths: dict[str, tuple[Callable[[Messages], Awaitable[object]], Loom]] = {
            "UnifiedAgent": (unified, loom),
            "attempts: false": (without_attempt_events, quiet_loom),
            **({"+policies": (with_policies, loom)} if args.policies else {}),
        }
        for warm in new_messages(20):  # warm up connections, LiteLLM's caches, Presidio on every path
            await bare(warm)
            for call, _owner in paths.values():
                await call(warm)
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
