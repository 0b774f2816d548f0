"""What metrics plus tracing cost per call, measured in the same run as a bare litellm.Router.

Two measurements:

1. End to end: the same agent in two Looms, one with Prometheus metrics and OpenTelemetry
   tracing attached (SDK tracer provider with a batch span processor, SDK meter provider), one
   without, plus a bare ``litellm.Router``; alternating rounds against the local wire server, a
   new ~2 KB prompt per call (prose from the design seeds, with a fresh invoice number and amounts).
   The difference of the p50 latencies is the end-to-end overhead; it is within the machine's noise.
2. The listeners alone: the events one real call produced (``llm.call.start``, ``llm.attempt``,
   ``llm.call`` and its ``policy.decision`` audit events: parameter and budget allowed) replayed
   through the Prometheus and OpenTelemetry listeners, with a fresh call id
   each time; p50 per call. This is the number the target (<= 50 us p50 per call) is about.

    .venv/bin/python bench/telemetry.py [--calls 500] [--rounds 3] [--replays 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from loomllm import Loom, instrument
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
    bench: {{model: smart, max_tokens: 64, budget: bench}}
  budgets:
    policies:
      bench: {{limits: [{{usd: 1000000, per: day}}]}}
"""
# The design seeds live next to the checkout (../shared/seeds, or ../../shared/seeds from a worktree).
SEEDS = next((p / "shared" / "seeds" for p in Path(__file__).resolve().parents if (p / "shared" / "seeds").is_dir()),
             Path("seeds"))


def prose() -> list[str]:
    """Paragraphs of real prose to build prompts from (the design seeds; a fallback text if absent)."""
    paragraphs: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []:
        paragraphs += [p.strip() for p in path.read_text().split("\n\n") if len(p.strip()) > 200]
    return paragraphs or ["The launch plan covers a beta, a review of objections, and a public release. " * 5]


def prompt_factory(paragraphs: list[str]) -> Callable[[], list[dict[str, str]]]:
    rng = random.Random(7)

    def new() -> list[dict[str, str]]:
        body: list[str] = []
        while sum(len(p) for p in body) < 2000:
            body.append(rng.choice(paragraphs))
        invoice = f"Invoice {rng.randint(10000, 99999)}: {rng.randint(1, 40)} seats at ${rng.randint(9, 99)}.00."
        return [{"role": "user", "content": f"{invoice}\n\n" + "\n\n".join(body) + "\n\nSummarise in one line."}]

    return new


async def run(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    latencies: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - start) * 1e6)
    return latencies


def otel_providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Any) -> Any:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    return tracer_provider, MeterProvider()


async def end_to_end(args: argparse.Namespace, server: WireServer, tmp: Path) -> list[dict[str, Any]]:
    from prometheus_client import CollectorRegistry

    path = tmp / "bench.yaml"
    path.write_text(CONFIG.format(base=server.openai_base))
    captured: list[dict[str, Any]] = []
    plain, traced = Loom(path), Loom(path)
    tracer_provider, meter_provider = otel_providers()
    telemetry = instrument(traced, registry=CollectorRegistry(), tracer_provider=tracer_provider,
                           meter_provider=meter_provider)
    # Every event of the first call (llm.call.start ... llm.call and its audit decisions).
    traced.events.add_listener(lambda e: captured.append(e) if not captured or captured[0]["call_id"] == e.get(
        "call_id") else None)
    plain._litellm_router()  # builds the Routers and registers their callbacks
    traced._litellm_router()
    # The bare path: a Router of its own (loomllm's refuses requests that do not come from an agent call).
    router = litellm_module().Router(model_list=plain.config.model_list, num_retries=0)
    new_messages = prompt_factory(prose())
    callbacks = {"plain": plain._callback, "traced": traced._callback}
    plain_agent, traced_agent = plain.agent("bench"), traced.agent("bench")

    async def bare() -> object:
        return await router.acompletion(model="smart", messages=new_messages(), max_tokens=64)

    paths: dict[str, tuple[Callable[[], Awaitable[object]], str | None]] = {
        "litellm.Router": (bare, None),
        "agent, telemetry off": (lambda: plain_agent.complete(new_messages()), "plain"),
        "agent, metrics+traces": (lambda: traced_agent.complete(new_messages()), "traced"),
    }
    for call, _ in paths.values():
        for _ in range(20):
            await call()
    results: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}  # process CPU per call, per round (us)
    names = list(paths)
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call, owner = paths[name]
            for callback in callbacks.values():
                _hooks.unregister(callback)
            if owner is not None:
                _hooks.register(callbacks[owner])
            cpu_start = time.process_time()
            results[name] += await run(call, args.calls)
            if owner == "traced":
                telemetry.flush()  # the worker's share of this round's CPU is counted in this round
            cpu[name].append((time.process_time() - cpu_start) * 1e6 / args.calls)
    print(f"end to end: {args.calls} calls x {args.rounds} rounds, concurrency 1, new ~2 KB prompt per call")
    for name, latencies in results.items():
        print(f"  {name:>24}: p50 {statistics.median(latencies) / 1000:7.3f} ms")
    off, on = (statistics.median(results[n]) for n in ("agent, telemetry off", "agent, metrics+traces"))
    print(f"  {'metrics+traces - off':>24}: p50 {on - off:+7.0f} us (noise on this machine is larger)")
    print("process CPU per call (time.process_time over each round, worker thread and wire server included):")
    for name, per_round in cpu.items():
        rounds = " ".join(f"{v:6.0f}" for v in per_round)
        print(f"  {name:>24}: {statistics.median(per_round):6.0f} us (rounds: {rounds})")
    deltas = [t - o for t, o in zip(cpu["agent, metrics+traces"], cpu["agent, telemetry off"], strict=True)]
    print(f"  {'metrics+traces - off':>24}: {statistics.median(deltas):+6.0f} us per call (rounds: "
          + " ".join(f"{d:+.0f}" for d in deltas) + ")  (target <= 50 us)")
    plain.close()
    traced.close()
    tracer_provider.shutdown()
    return captured


def listeners_alone(events: list[dict[str, Any]], replays: int) -> None:
    from prometheus_client import CollectorRegistry

    from loomllm._telemetry import _Worker
    from loomllm._telemetry.config import TelemetryConfig
    from loomllm._telemetry.deployments import Deployments
    from loomllm._telemetry.prometheus import PrometheusMetrics
    from loomllm._telemetry.tracing import Tracing

    model_list = [{"model_name": "smart", "litellm_params": {"model": "openai/gpt-4o-mini",
                                                             "api_base": "http://127.0.0.1:1/v1"}}]
    deployments, config = Deployments(model_list), TelemetryConfig()
    tracer_provider, meter_provider = otel_providers()
    metrics = PrometheusMetrics(deployments, config, registry=CollectorRegistry())
    tracing = Tracing(deployments, config, tracer_provider=tracer_provider, meter_provider=meter_provider)

    def replay(handle: Callable[[dict[str, Any]], None]) -> list[float]:
        per_call: list[float] = []
        for _ in range(replays):
            call_id = uuid.uuid4().hex[:16]
            batch = [{**e, "call_id": call_id} for e in events]
            start = time.perf_counter()
            for event in batch:
                handle(event)
            per_call.append((time.perf_counter() - start) * 1e6)
            time.sleep(0)  # let the worker thread run, as the gaps between real calls do
        return per_call

    def exporters(event: dict[str, Any]) -> None:
        at = time.time_ns()
        metrics(event, at)
        tracing(event, at)

    def cpu_per_call(run: Callable[[], object]) -> float:
        start = time.process_time()
        run()
        return (time.process_time() - start) * 1e6 / replays

    harness = cpu_per_call(lambda: replay(lambda event: None))  # ids, dicts, timing: not the exporters'
    worker = _Worker([metrics, tracing])
    on_path: list[float] = []
    worker_cpu = cpu_per_call(lambda: (on_path.extend(replay(worker)), worker.flush(timeout=60)))
    worker.stop()
    inline: list[float] = []
    inline_cpu = cpu_per_call(lambda: inline.extend(replay(exporters)))
    tracer_provider.shutdown()
    kinds = ", ".join(str(e["event"]) for e in events)
    print(f"listeners alone: {replays} calls replayed ({kinds}), Prometheus + OpenTelemetry SDK")

    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p50, p99 = ordered[len(ordered) // 2], ordered[int(0.99 * len(ordered))]
        return f"  {name:>38}: p50 {p50:6.1f} us, p99 {p99:6.1f} us"

    print(line("on the call path (background: true)", on_path) + "  (target <= 50 us p50)")
    print(line("exporter CPU per call (background: false)", inline))
    print(f"  {'process CPU per call, background: true':>38}: {worker_cpu - harness:6.1f} us "
          f"(replay harness, {harness:.1f} us, subtracted)")
    print(f"  {'process CPU per call, background: false':>38}: {inline_cpu - harness:6.1f} us")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replays", type=int, default=20000)
    args = parser.parse_args()
    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")))  # noqa: SIM115
    with WireServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.route(Reply.text("Seats and amounts noted; the plan stands as written."))
        captured = await end_to_end(args, server, Path(tmp))
    listeners_alone(captured, args.replays)


if __name__ == "__main__":
    asyncio.run(main())
