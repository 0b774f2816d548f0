"""What UnifiedAgent costs over a bare litellm.Router, measured in the same run.

The same workload goes through a bare ``litellm.Router``, a ``UnifiedAgent`` with no policies and (with
``--policies``) an agent with every policy on: a budget in the in-memory store, the standard guardrail
profile and an egress allowlist. Every call sends a NEW ~2 KB support ticket (``bench/ticket_text.py``:
prose with order numbers, amounts, dates, versions; a quarter carry an e-mail or phone number), so no
content cache helps any path; the texts are made before each run, outside the timing (max_tokens=64: a
budget needs a bounded output, and LiteLLM's pre-call checks do more work when it is set).

Each path runs in a fresh process per round (a subprocess of this script), against one wire server that
runs in a process of its own: no path inherits another's garbage, caches or warm-up, and the fake
provider does not share the measured process's interpreter. A round runs every path once, in an order
that rotates from round to round. In each process: a warm-up, then ``--calls`` chat calls at concurrency 1
and at 50, then ``--stream-calls`` streamed calls one at a time, timing the first content chunk.

Printed: p50/p99 latency (over all rounds) and calls/s (best round) per path and concurrency; the
throughput ratio against the bare Router (median of the per-round ratios, each round's paths run back to
back); the CPU time the measured process spent per call (median over rounds: a figure that other work on
the machine hardly moves, unlike wall time); stream time to first token p50 and what the agent adds to it
(median over rounds).

``--telemetry`` adds the plain agent with Prometheus metrics and OpenTelemetry tracing attached
(``loomllm.instrument`` with its own ``CollectorRegistry``, an SDK ``TracerProvider`` whose batch processor
hands spans to an exporter that drops them, an SDK ``MeterProvider``; exports run on their worker thread, as
by default, and that thread's CPU counts: it is the process's). Printed: the CPU per call and the p50 latency
it adds to the plain agent, from the separate processes (median of the per-round differences: as noisy as the
machine) and interleaved in the +telemetry process, against a plain agent of a second Loom there (blocks of 10
calls, alternately; the steadier figure). Issue 12's target: <= 50 us p50 per call.

``--interleaved`` adds the steadier figure for a noisy machine: one more process in which the bare Router, the
plain agent and (with ``--policies``) the agent with every policy take turns, in blocks of 10 calls at concurrency
1 and of 50 at concurrency 50, the order rotating block by block, so drift in the machine's speed hits every path
alike. Printed: per path the median CPU per call and p50 over the blocks, and the median of the per-rotation CPU
ratios against the bare Router (at concurrency 50 the process is CPU-bound, so this is the throughput ratio);
then stream time to first token the same way (blocks of 5 streams one at a time, the order rotating): per path
the median of the block medians and the median of the per-rotation differences from the bare Router. In
that shared process the bare Router's calls also pass loomllm's LiteLLM callback (registered process-wide by the
Loom), which returns at once for requests not made by an agent.

    .venv/bin/python bench/overhead.py [--calls 300] [--rounds 3] [--policies] [--telemetry] [--interleaved]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
ANSWER = "The launch ships a beta, gathers objections, then publishes."
BARE, AGENT, POLICIES, TELEMETRY = "litellm.Router", "UnifiedAgent", "+policies", "+telemetry"
CONCURRENCIES = (1, 50)
Messages = list[dict[str, str]]


def new_messages(rng: random.Random, count: int) -> list[Messages]:
    """``count`` fresh requests: a new 2 KB ticket each, asking for a summary."""
    return [
        [{"role": "user", "content": "Summarize this ticket in one sentence.\n\n" + make_ticket(rng)}]
        for _ in range(count)
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the wire server's process ----------------------------------------------------------------------------------


def serve() -> None:
    """Run the wire server until stdin closes; print its OpenAI base URL first."""
    from loomllm.testing import Reply, WireServer

    with WireServer() as server:
        server.route(Reply.text(ANSWER))
        print(server.openai_base, flush=True)
        sys.stdin.read()


@contextmanager
def wire_server_process() -> Iterator[str]:
    """The wire server in a process of its own (this script with ``--serve``), for the block: its OpenAI base URL."""
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)


# --- one path in its own process --------------------------------------------------------------------------------


def instrument_for_bench(loom: Any) -> None:
    """Metrics and tracing on ``loom``: its own Prometheus registry, SDK providers, spans dropped on export."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry

    from loomllm import instrument

    class Discard(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Any) -> Any:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    instrument(loom, registry=CollectorRegistry(), tracer_provider=tracer_provider, meter_provider=MeterProvider())


def log_events_to_devnull() -> None:
    """Events rendered as JSON and written, as in production, but to /dev/null, at the config's level (info: the
    debug-level ``policy.decision allowed`` audit events are dropped by the filter, as an app set to info drops
    them)."""
    import structlog

    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                        logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")))  # noqa: SIM115


async def timed_run(
    call: Callable[[Messages], Awaitable[object]], requests: list[Messages], concurrency: int
) -> tuple[list[float], float]:
    """Latencies (ms) of one call per request, ``concurrency`` at a time, and the wall time (s)."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    pending = iter(requests)

    async def one() -> None:
        async with semaphore:
            messages = next(pending)
            start = time.perf_counter()
            await call(messages)
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in requests))
    return latencies, time.perf_counter() - start


def cpu_ms() -> float:
    """CPU time of this process so far (ms): unlike wall time, hardly moved by other work on the machine."""
    return time.process_time() * 1000


async def first_token_times(
    stream: Callable[[Messages], Awaitable[Any]], requests: list[Messages]
) -> list[float]:
    """Milliseconds from each call to its first chunk with content, one streamed call at a time (read to the end)."""
    times: list[float] = []
    for messages in requests:
        start = time.perf_counter()
        first = None
        async for chunk in await stream(messages):
            if first is None and any(getattr(c.delta, "content", None) for c in chunk.choices or ()):
                first = (time.perf_counter() - start) * 1000
        assert first is not None, "the stream carried no content"
        times.append(first)
    return times


async def worker(path: str, base: str, calls: int, stream_calls: int, seed: int) -> dict[str, Any]:
    """Measure one path: throughput runs at each concurrency, then stream time to first token."""
    from loomllm import Loom
    from loomllm._litellm import litellm_module

    log_events_to_devnull()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(CONFIG.format(base=base))
        loom = Loom(config)
        call: Callable[[Messages], Awaitable[object]]
        stream: Callable[[Messages], Awaitable[Any]]
        if path == BARE:
            loom.close()  # only its parsed model list is used: a Router of its own, no loomllm callback
            router = litellm_module().Router(model_list=loom.config.model_list, num_retries=0)

            async def call(messages: Messages) -> object:
                return await router.acompletion(model="smart", messages=messages, max_tokens=64)

            async def stream(messages: Messages) -> Any:
                return await router.acompletion(model="smart", messages=messages, max_tokens=64, stream=True,
                                                stream_options={"include_usage": True})
        else:
            if path == TELEMETRY:
                instrument_for_bench(loom)
            agent = loom.agent("guarded" if path == POLICIES else "bench")

            async def call(messages: Messages) -> object:
                return await agent.complete(messages)

            async def stream(messages: Messages) -> Any:
                return agent.stream(messages)

        warm = new_messages(rng, 30)  # connections, LiteLLM's caches, Presidio's first scans
        await timed_run(call, warm[:20], 1)
        await first_token_times(stream, warm[20:])
        result: dict[str, Any] = {}
        for concurrency in CONCURRENCIES:
            requests = new_messages(rng, calls)
            cpu = cpu_ms()
            latencies, wall = await timed_run(call, requests, concurrency)
            result[str(concurrency)] = {"latencies": latencies, "wall": wall, "cpu": (cpu_ms() - cpu) / calls}
        result["ttft"] = await first_token_times(stream, new_messages(rng, stream_calls))
        if path == TELEMETRY:
            result["telemetry_ab"] = await telemetry_ab(agent, Loom(config).agent("bench"), rng, calls)
        if path != BARE:
            loom.close()
    return result


async def telemetry_ab(traced: Any, plain: Any, rng: random.Random, calls: int, block: int = 10) -> dict[str, Any]:
    """Interleaved in this process: blocks of ``block`` calls, alternately by the plain and the instrumented agent.

    Per block, the process CPU per call (the export thread's included) and the p50 latency; returned are the
    differences (instrumented minus the plain block next to it, us), one per pair of blocks.
    """
    cpu: list[float] = []
    p50: list[float] = []
    for index in range(max(1, calls // block)):
        order = (plain, traced) if index % 2 == 0 else (traced, plain)
        measured: dict[int, tuple[float, float]] = {}
        for agent in order:
            requests = new_messages(rng, block)
            start = cpu_ms()
            latencies, _ = await timed_run(agent.complete, requests, 1)
            measured[id(agent)] = ((cpu_ms() - start) / block, statistics.median(latencies))
        cpu.append((measured[id(traced)][0] - measured[id(plain)][0]) * 1000)
        p50.append((measured[id(traced)][1] - measured[id(plain)][1]) * 1000)
    return {"cpu_us": cpu, "p50_us": p50}


async def interleaved(base: str, paths: list[str], blocks: int, seed: int) -> dict[str, Any]:
    """All ``paths`` in this one process, taking turns block by block: CPU per call and p50 of every block."""
    from loomllm import Loom
    from loomllm._litellm import litellm_module

    log_events_to_devnull()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(CONFIG.format(base=base))
        loom = Loom(config)
        router = litellm_module().Router(model_list=loom.config.model_list, num_retries=0)

        async def bare(messages: Messages) -> object:
            return await router.acompletion(model="smart", messages=messages, max_tokens=64)

        async def bare_stream(messages: Messages) -> Any:
            return await router.acompletion(model="smart", messages=messages, max_tokens=64, stream=True,
                                            stream_options={"include_usage": True})

        def agent_stream(name: str) -> Callable[[Messages], Awaitable[Any]]:
            agent = loom.agent(name)

            async def stream(messages: Messages) -> Any:
                return agent.stream(messages)

            return stream

        calls: dict[str, Callable[[Messages], Awaitable[object]]] = {
            BARE: bare, AGENT: loom.agent("bench").complete, POLICIES: loom.agent("guarded").complete,
        }
        streams = {BARE: bare_stream, AGENT: agent_stream("bench"), POLICIES: agent_stream("guarded")}
        for name in paths:
            await timed_run(calls[name], new_messages(rng, 20), 1)
            await first_token_times(streams[name], new_messages(rng, 5))
        result: dict[str, Any] = {}
        for concurrency in CONCURRENCIES:
            size = 10 if concurrency == 1 else concurrency
            per_path: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "p50": []} for name in paths}
            for index in range(blocks):
                shift = index % len(paths)
                for name in paths[shift:] + paths[:shift]:
                    requests = new_messages(rng, size)
                    start = cpu_ms()
                    latencies, _ = await timed_run(calls[name], requests, concurrency)
                    per_path[name]["cpu"].append((cpu_ms() - start) / size)
                    per_path[name]["p50"].append(statistics.median(latencies))
            result[str(concurrency)] = per_path
        ttft: dict[str, list[float]] = {name: [] for name in paths}
        for index in range(blocks):  # time to first token: blocks of 5 streams one at a time, order rotating
            shift = index % len(paths)
            for name in paths[shift:] + paths[:shift]:
                ttft[name].append(statistics.median(await first_token_times(streams[name], new_messages(rng, 5))))
        result["ttft"] = ttft
        loom.close()
    return result


def report_interleaved(paths: list[str], result: dict[str, Any]) -> None:
    print("interleaved in one process (blocks of 10 calls at concurrency 1, of 50 at 50, order rotating): "
          "medians over blocks; ratio = median of the per-rotation CPU ratios against the bare Router")
    for concurrency in map(str, CONCURRENCIES):
        per_path = result[concurrency]
        bare = per_path[BARE]
        for name in paths:
            ratios = [b / c for b, c in zip(bare["cpu"], per_path[name]["cpu"], strict=True)]
            added = [c - b for b, c in zip(bare["p50"], per_path[name]["p50"], strict=True)]
            cpu, p50 = statistics.median(per_path[name]["cpu"]), statistics.median(per_path[name]["p50"])
            print(f"{concurrency:>11} {name:>16} cpu {cpu:7.2f} ms/call  p50 {p50:8.2f} ms  "
                  f"p50 added {statistics.median(added):6.2f} ms  ratio {statistics.median(ratios):.3f}x  "
                  f"({len(ratios)} rotations)")
    ttft = result["ttft"]
    for name in paths:
        added = [t - b for b, t in zip(ttft[BARE], ttft[name], strict=True)]
        print(f"{'ttft':>11} {name:>16} p50 {statistics.median(ttft[name]):7.2f} ms  "
              f"added {statistics.median(added):6.2f} ms  (median over {len(added)} rotations of 5 streams each)")


def run_worker(path: str, base: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", path, "--base", base, "--calls", str(args.calls),
               "--stream-calls", str(args.stream_calls), "--seed", str(seed)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- the driver -------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, paths: list[str], results: dict[str, list[dict[str, Any]]]) -> None:
    print(f"{args.calls} calls per run, {args.rounds} rounds, each path in a fresh process per round; latency over "
          "all rounds, throughput of the best round, ratio = median of the per-round throughput ratios")
    print(f"{'concurrency':>11} {'path':>16} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} {'cpu ms/call':>12}")
    for concurrency in map(str, CONCURRENCIES):
        for name in paths:
            runs = [r[concurrency] for r in results[name]]
            latencies = [x for run in runs for x in run["latencies"]]
            best = max(args.calls / run["wall"] for run in runs)
            cpu = statistics.median(run["cpu"] for run in runs)
            print(f"{concurrency:>11} {name:>16} {statistics.median(latencies):>8.2f} "
                  f"{pct(latencies, 0.99):>8.2f} {best:>8.0f} {cpu:>12.2f}")
        for name in [p for p in paths[1:] if p != TELEMETRY]:
            ratios = [b[concurrency]["wall"] / r[concurrency]["wall"] for b, r in zip(results[BARE], results[name],
                                                                                   strict=True)]
            target = "  (target >= 0.95)" if name == AGENT else "  (target >= 0.9)"
            print(f"{concurrency:>11} {'ratio ' + name:>16} {'':>8} {'':>8} {statistics.median(ratios):>8.3f}x"
                  f"{target}  rounds: {' '.join(f'{r:.3f}' for r in ratios)}")
    print(f"stream time to first token, {args.stream_calls} streamed calls per run, one at a time")
    print(f"{'':>11} {'path':>16} {'p50 ms':>8} {'p99 ms':>8} {'added ms':>8}")
    for name in paths:
        times = [x for r in results[name] for x in r["ttft"]]
        added = [statistics.median(r["ttft"]) - statistics.median(b["ttft"])
                 for b, r in zip(results[BARE], results[name], strict=True)]
        print(f"{'ttft':>11} {name:>16} {statistics.median(times):>8.2f} {pct(times, 0.99):>8.2f} "
              f"{statistics.median(added):>8.2f}" + ("  (target <= 1 ms)" if name == POLICIES else ""))
    if TELEMETRY in paths:
        report_telemetry(results)


def report_telemetry(results: dict[str, list[dict[str, Any]]]) -> None:
    """What metrics plus tracing add to the plain agent: CPU and p50 per call, median of the per-round differences."""
    print("metrics + tracing over the plain agent (median of per-round differences)")
    for concurrency in map(str, CONCURRENCIES):
        pairs = list(zip(results[AGENT], results[TELEMETRY], strict=True))
        cpu = [(t[concurrency]["cpu"] - a[concurrency]["cpu"]) * 1000 for a, t in pairs]
        p50 = [(statistics.median(t[concurrency]["latencies"]) - statistics.median(a[concurrency]["latencies"])) * 1000
               for a, t in pairs]
        print(f"{concurrency:>11} {'+telemetry':>16} cpu added {statistics.median(cpu):>7.1f} us/call   p50 added "
              f"{statistics.median(p50):>7.1f} us  (target <= 50 us p50)  rounds cpu: "
              + " ".join(f"{c:.0f}" for c in cpu))
    cpu_ab = [x for r in results[TELEMETRY] for x in r["telemetry_ab"]["cpu_us"]]
    p50_ab = [x for r in results[TELEMETRY] for x in r["telemetry_ab"]["p50_us"]]
    print(f"{'interleaved':>11} {'+telemetry':>16} cpu added {statistics.median(cpu_ab):>7.1f} us/call   p50 added "
          f"{statistics.median(p50_ab):>7.1f} us  (same process, alternating blocks of 10 calls at concurrency 1, "
          f"median over {len(cpu_ab)} block pairs)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream-calls", type=int, default=100)
    parser.add_argument("--policies", action="store_true", help="also measure an agent with all policies on")
    parser.add_argument("--telemetry", action="store_true",
                        help="also measure the plain agent with Prometheus metrics and OpenTelemetry tracing on")
    parser.add_argument("--interleaved", action="store_true",
                        help="also run every path in one process, taking turns block by block (steadier)")
    parser.add_argument("--blocks", type=int, default=30, help="rotations for --interleaved, per concurrency")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=2026, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.worker == "interleaved":
        shared = [BARE, AGENT, *([POLICIES] if args.policies else [])]
        print(json.dumps(asyncio.run(interleaved(args.base, shared, args.blocks, args.seed))))
        return
    if args.worker:
        result = asyncio.run(worker(args.worker, args.base, args.calls, args.stream_calls, args.seed))
        print(json.dumps(result))
        return
    paths = [BARE, AGENT, *([POLICIES] if args.policies else []), *([TELEMETRY] if args.telemetry else [])]
    with wire_server_process() as base:
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
        for round_index in range(args.rounds):
            shift = round_index % len(paths)
            for name in paths[shift:] + paths[:shift]:
                # Every path of a round gets the same seed: the same tickets, in the same order.
                results[name].append(run_worker(name, base, args, seed=1000 + round_index))
        report(args, paths, results)
        if args.interleaved:
            shared = [p for p in paths if p != TELEMETRY]
            command = [sys.executable, __file__, "--worker", "interleaved", "--base", base, "--blocks",
                       str(args.blocks), *(["--policies"] if args.policies else [])]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            report_interleaved(shared, json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
