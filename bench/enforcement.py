"""What the enforcement on the outgoing request costs: the parameter allowlist and the per-attempt checks.

Issue 9's budget for both together is 100 µs p50 per call. Measured here on their own, on the request
LiteLLM really hands to the per-attempt hook (deployment parameters merged, LiteLLM's bookkeeping keys,
a NEW ~2 KB ticket per call that the input guardrail has already passed), for an agent with all three
policies (budget, standard guardrails, egress allowlist), next to a bare ``litellm.Router`` call against
the local wire server in the same run (for scale):

* ``allowlist``: :func:`loomllm._params.check_call_params` on typical caller parameters;
* ``attempt checks``: :meth:`Attempts._check` (credentials, reach, egress of every base URL and message
  URL, prices, worst case, final-request scan of every string the input guardrail did not pass);
* ``attempt checks, unseen``: the same when the input guardrail's seen-set is empty (a new LiteLLM
  field, or a caller parameter: every string is scanned), the worst case.

    .venv/bin/python bench/enforcement.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loomllm import Loom
from loomllm._attempt import CallState
from loomllm._litellm import litellm_module
from loomllm._params import check_call_params
from loomllm.config import deployment_id
from loomllm.errors import GuardrailViolation
from loomllm.testing import Reply, WireServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import CONFIG  # the agent 'guarded' of the overhead bench: all three policies
from ticket_text import make_ticket

CALLER_PARAMS = {"temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "user": "ticket-bot", "seed": 7}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def timed(work: Callable[[int], Any], calls: int) -> list[float]:
    """Microseconds per call of ``work(i)`` for i in range(calls)."""
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        work(i)
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def final_request(deployment: dict[str, Any], text: str, call_id: str) -> dict[str, Any]:
    """The kwargs LiteLLM passes to the per-attempt hook for one chat call (as logged from 1.106.2)."""
    return {
        **deployment["litellm_params"],
        "messages": [{"role": "system", "content": "You summarise support tickets."},
                     {"role": "user", "content": text}],
        "max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "user": "ticket-bot", "seed": 7,
        "stream": False, "caching": False, "litellm_call_id": call_id, "litellm_trace_id": call_id,
        "metadata": {"loomllm_loom": "x", "loomllm_call": call_id, "model_group": "smart", "deployment": "smart"},
        "model_info": {"id": deployment_id(deployment)}, "timeout": 600.0,
    }


async def bare_router_p50(base: str, texts: list[str]) -> float:
    router = litellm_module().Router(
        model_list=[{"model_name": "smart", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": base,
                                                                "api_key": "sk-bench"}}], num_retries=0)
    samples = []
    for text in texts:
        start = time.perf_counter()
        await router.acompletion(model="smart", messages=[{"role": "user", "content": text}], max_tokens=64)
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples[20:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(2026)
    texts = ["Summarize this ticket in one sentence.\n\n" + make_ticket(rng) for _ in range(args.calls)]
    with WireServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.route(Reply.text("The launch ships a beta, gathers objections, then publishes."))
        path = Path(tmp) / "bench.yaml"
        path.write_text(CONFIG.format(base=server.openai_base))
        loom = Loom(path)
        agent = loom.agent("guarded")
        guard = loom.guard("guarded")
        assert guard is not None
        deployment = loom.config.model_list[0]
        dep_id = deployment_id(deployment)

        def state_for(i: int, *, seen: bool) -> tuple[CallState, dict[str, Any]]:
            state = CallState(loom_id=loom.id, agent="guarded", call_id=f"c{i}", egress=loom.egress_policy("guarded"),
                              guard=guard, reserved_output=64)
            kwargs = final_request(deployment, texts[i], f"c{i}")
            if seen:  # what the input guardrail passed on the call path
                state.seen.update(("You summarise support tickets.", texts[i], "ticket-bot"))
            return state, kwargs

        prepared = [state_for(i, seen=True) for i in range(args.calls)]
        unseen = [state_for(i, seen=False) for i in range(args.calls)]
        for i in range(50):  # warm up Presidio and the prefilter (outside the timing)
            guard.decide(texts[i], "input", message_index=None, agent="guarded")
        allowlist = timed(lambda i: check_call_params(CALLER_PARAMS, agent="guarded", kind="completion",
                                                      max_output_tokens=16384), args.calls)
        checks = timed(lambda i: loom.attempts._check(prepared[i][1], prepared[i][0], dep_id), args.calls)

        def check_unseen(i: int) -> None:
            # A quarter of the tickets carry an e-mail or phone number: unredacted, they block.
            with contextlib.suppress(GuardrailViolation):
                loom.attempts._check(unseen[i][1], unseen[i][0], dep_id)

        checks_unseen = timed(check_unseen, args.calls)
        bare = asyncio.run(bare_router_p50(server.openai_base, texts[: min(args.calls, 300)]))
        del agent
        loom.close()
    print(f"{args.calls} calls, a new 2 KB ticket each; bare litellm.Router call p50 {bare:.0f} µs (same run)")
    print(f"{'':28} {'p50 µs':>8} {'p99 µs':>8} {'% of a bare call':>17}")
    for name, samples in (("allowlist", allowlist), ("attempt checks", checks),
                          ("attempt checks, unseen", checks_unseen)):
        p50, p99 = percentiles(samples)
        print(f"{name:28} {p50:8.1f} {p99:8.1f} {100 * p50 / bare:16.2f}%")
    total = percentiles(allowlist)[0] + percentiles(checks)[0]
    print(f"allowlist + attempt checks: {total:.1f} µs p50 (issue 9's budget: 100 µs)")


if __name__ == "__main__":
    main()
