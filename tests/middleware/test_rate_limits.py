"""Rate limits that wait: a token bucket per deployment in the state store, queued up to max_wait_s.

No test here times anything: the clock is frozen (or stepped) and sleeping is recorded, so each
test counts refills and checks their order.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from loomllm import RateLimited
from loomllm._budget import open_store
from loomllm._budget._ratelimit import Bucket, TokenBuckets, open_buckets
from loomllm._middleware import DeploymentLimit, RateGate, deployment_limit
from loomllm.testing import WireServer

T0 = 1_800_000_000.0


class Events:
    """Collects emitted events."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        self.seen.append({"event": event, **fields})


class Sleeps:
    """A recording ``sleep``: returns at once (after yielding to the loop), or blocks until released."""

    def __init__(self, *, block: bool = False) -> None:
        self.slept: list[float] = []
        self.block = asyncio.Event() if block else None

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.block is not None:
            await self.block.wait()
        await asyncio.sleep(0)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("redis_url") + f"?prefix=loomllm-test-bucket-{uuid.uuid4().hex}:"


def rpm_bucket(rpm: int, key: str = "bucket/d/rpm") -> Bucket:
    return Bucket(key, float(rpm), rpm / 60.0, 1.0)


def gate(buckets: TokenBuckets, events: Events, sleep: Sleeps, clock: Any = lambda: T0) -> RateGate:
    return RateGate(buckets, events, bucket_type=Bucket, clock=clock, sleep=sleep)


class TestDeploymentLimit:
    @pytest.mark.parametrize(("entry", "expected"), [
        ({"model_name": "a", "litellm_params": {"model": "openai/x", "rpm": 60}}, DeploymentLimit(60, None)),
        ({"model_name": "a", "litellm_params": {"model": "x"}, "model_info": {"tpm": 900}}, DeploymentLimit(None, 900)),
        ({"model_name": "a", "litellm_params": {"model": "x"}, "rpm": 5, "tpm": 50}, DeploymentLimit(5, 50)),
        ({"model_name": "a", "litellm_params": {"model": "x"}}, None),
    ])
    def test_limits_come_from_the_entry(self, entry: dict[str, Any], expected: DeploymentLimit | None) -> None:
        """rpm and tpm are read per model_list entry, where LiteLLM reads them (never summed per group)."""
        assert expected == deployment_limit(entry)


class TestTokenBuckets:
    async def test_burst_then_one_place_per_refill(self, state_url: str) -> None:
        """rpm 3 on a frozen clock: three go now, each next caller's place is one refill (20 s) further."""
        buckets = open_buckets(open_store(state_url))
        takes = [await buckets.take([rpm_bucket(3)], T0, max_wait_s=1000) for _ in range(7)]
        assert all(t.taken for t in takes)
        assert [0, 0, 0, 20, 40, 60, 80] == [round(t.wait_s, 6) for t in takes]

    async def test_a_place_too_far_takes_nothing(self, state_url: str) -> None:
        """A take whose wait exceeds max_wait_s is refused and leaves the queue as it was."""
        buckets = open_buckets(open_store(state_url))
        await buckets.take([rpm_bucket(1)], T0, max_wait_s=0)
        refused = await buckets.take([rpm_bucket(1)], T0, max_wait_s=59)
        assert (False, 60.0) == (refused.taken, round(refused.wait_s, 6))
        assert 60.0 == round((await buckets.take([rpm_bucket(1)], T0, max_wait_s=60)).wait_s, 6)

    async def test_refill_follows_the_clock(self, state_url: str) -> None:
        """After 20 s of rpm 3 one request is back; the bucket never holds more than a minute's allowance."""
        buckets = open_buckets(open_store(state_url))
        for _ in range(3):
            await buckets.take([rpm_bucket(3)], T0, max_wait_s=0)
        assert (await buckets.take([rpm_bucket(3)], T0 + 20, max_wait_s=0)).taken
        assert not (await buckets.take([rpm_bucket(3)], T0 + 20, max_wait_s=0)).taken
        later = [await buckets.take([rpm_bucket(3)], T0 + 3600, max_wait_s=0) for _ in range(4)]
        assert [True, True, True, False] == [t.taken for t in later]

    async def test_give_back_frees_the_place(self, state_url: str) -> None:
        """A caller that gives up returns its tokens: the next caller gets its place."""
        buckets = open_buckets(open_store(state_url))
        await buckets.take([rpm_bucket(1)], T0, max_wait_s=0)
        second = [rpm_bucket(1)]
        assert 60.0 == round((await buckets.take(second, T0, max_wait_s=100)).wait_s, 6)
        await buckets.give_back(second, T0)
        assert 60.0 == round((await buckets.take([rpm_bucket(1)], T0, max_wait_s=100)).wait_s, 6)

    async def test_rpm_and_tpm_are_taken_together(self, state_url: str) -> None:
        """A take over two buckets waits for the slower one and takes from both, or from neither."""
        buckets = open_buckets(open_store(state_url))
        pair = [rpm_bucket(60, "bucket/d/rpm"), Bucket("bucket/d/tpm", 1000.0, 1000 / 60, 600.0)]
        assert 0.0 == (await buckets.take(pair, T0, max_wait_s=0)).wait_s
        second = await buckets.take(pair, T0, max_wait_s=100)  # tokens: 400 left, 200 short = 12 s
        assert (True, 12.0) == (second.taken, round(second.wait_s, 6))
        refused = await buckets.take(pair, T0, max_wait_s=1)
        assert not refused.taken
        # The refused take left the rpm bucket alone: 58 requests remain for calls without tokens.
        for _ in range(58):
            assert (await buckets.take([pair[0]], T0, max_wait_s=0)).taken
        assert not (await buckets.take([pair[0]], T0, max_wait_s=0)).taken


class TestRateGate:
    async def test_fifty_callers_are_served_in_arrival_order(self) -> None:
        """50 concurrent callers on rpm 5: 5 go now, the others wait 12 s more each, first come first served."""
        events, sleeps = Events(), Sleeps()
        rates = gate(open_buckets(open_store("memory://")), events, sleeps)
        limit = DeploymentLimit(rpm=5, tpm=None)
        waits = await asyncio.gather(*(rates.acquire("d", limit, 0, agent=f"a{i}", call_id=str(i), group="g",
                                                     max_wait_s=3600) for i in range(50)))
        assert [12.0 * max(0, i - 4) for i in range(50)] == [round(w, 6) for w in waits]
        assert 45 == len(sleeps.slept)
        acquired = [e for e in events.seen if e["outcome"] == "acquired"]
        assert [str(i) for i in range(5, 50)] == [e["call_id"] for e in acquired]

    async def test_shared_queue_across_stores_has_no_duplicate_place(self, redis_url: str) -> None:
        """Two gates on separate Redis clients (as two processes would be): every place is handed out once."""
        url = redis_url + f"?prefix=loomllm-test-bucket-{uuid.uuid4().hex}:"
        limit = DeploymentLimit(rpm=4, tpm=None)
        first, second = (gate(open_buckets(open_store(url)), Events(), Sleeps()) for _ in range(2))
        waits = await asyncio.gather(*(g.acquire("d", limit, 0, agent="a", call_id=None, group="g", max_wait_s=3600)
                                       for _ in range(10) for g in (first, second)))
        assert [0.0] * 4 + [15.0 * k for k in range(1, 17)] == sorted(round(w, 6) for w in waits)

    async def test_refused_at_once_when_the_place_is_beyond_max_wait(self) -> None:
        """RateLimited comes without sleeping when the caller's place is further than max_wait_s."""
        events, sleeps = Events(), Sleeps()
        rates = gate(open_buckets(open_store("memory://")), events, sleeps)
        limit = DeploymentLimit(rpm=1, tpm=None)
        await rates.acquire("d", limit, 0, agent="a", call_id="1", group="g", max_wait_s=0)
        with pytest.raises(RateLimited, match="max_wait_s"):
            await rates.acquire("d", limit, 0, agent="a", call_id="2", group="g", max_wait_s=30)
        assert [] == sleeps.slept
        assert ("refused", "queue_too_long") == (events.seen[-1]["outcome"], events.seen[-1]["reason"])

    async def test_tokens_over_tpm_are_refused(self) -> None:
        """A call estimated above the deployment's tpm can never fit: refused whatever max_wait_s is."""
        rates = gate(open_buckets(open_store("memory://")), Events(), Sleeps())
        with pytest.raises(RateLimited, match="exceeds"):
            await rates.acquire("d", DeploymentLimit(None, 1000), 5000, agent="a", call_id=None, group="g",
                                max_wait_s=3600)

    async def test_a_caller_that_gives_up_hands_its_place_on(self) -> None:
        """Cancelled while it waits, a caller returns its place, and the next caller gets it."""
        events, sleeps = Events(), Sleeps(block=True)
        rates = gate(open_buckets(open_store("memory://")), events, sleeps)
        limit = DeploymentLimit(rpm=1, tpm=None)
        await rates.acquire("d", limit, 0, agent="a", call_id="1", group="g", max_wait_s=0)
        waiting = asyncio.ensure_future(rates.acquire("d", limit, 0, agent="a", call_id="2", group="g",
                                                      max_wait_s=120))
        while not sleeps.slept:
            await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert "abandoned" == events.seen[-1]["outcome"]
        sleeps.block = None
        assert 60.0 == round(await rates.acquire("d", limit, 0, agent="a", call_id="3", group="g",
                                                 max_wait_s=120), 6)


def _head(server: WireServer, rpm: int, dep_id: str) -> str:
    return f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", api_key: sk-test, rpm: {rpm},
                     max_parallel_requests: 100}}  # LiteLLM derives a cap on calls in flight from rpm
    model_info: {{id: "{dep_id}"}}
router_settings: {{num_retries: 0}}
"""


def freeze(loom: Any, sleeps: Sleeps) -> None:
    loom.middleware.rate_gate._clock = lambda: T0
    loom.middleware.rate_gate._sleep = sleeps


class TestThroughTheAgent:
    async def test_calls_queue_per_deployment(self, make_loom: Any, wire_server: WireServer) -> None:
        """rpm 2 and a long max_wait_s: five calls all reach the provider, three after one refill each."""
        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {a: {model: smart}}\nmiddleware: {rate_limits: {max_wait_s: 600}}",
                         head=_head(wire_server, 2, uuid.uuid4().hex), on_event=events.append)
        sleeps = Sleeps()
        freeze(loom, sleeps)
        agent = loom.agent("a")
        for i in range(5):
            await agent.chat(f"call {i}")
        assert 5 == len(wire_server.requests)
        assert [30.0, 60.0, 90.0] == [round(s, 6) for s in sleeps.slept]

    async def test_unused_tokens_go_back_to_the_tpm_bucket(self, make_loom: Any, wire_server: WireServer) -> None:
        """A take charges the worst case (prompt + max_tokens); the provider's usage is far smaller, and the
        difference goes back: calls that each reserve most of the minute's tpm all go at once."""
        head = _head(wire_server, 1000, uuid.uuid4().hex).replace("rpm: 1000,", "tpm: 3000,")
        loom = make_loom("agents: {a: {model: smart, max_tokens: 2000}}\nmiddleware: {rate_limits: {max_wait_s: 600}}",
                         head=head)
        sleeps = Sleeps()
        freeze(loom, sleeps)
        agent = loom.agent("a")
        for i in range(4):
            await agent.chat(f"call {i}")
        assert 4 == len(wire_server.requests)
        assert [] == sleeps.slept  # without the refund the second call would wait for ~2,000 tokens

    async def test_max_wait_zero_refuses_at_once(self, make_loom: Any, wire_server: WireServer) -> None:
        """With enforce_model_rate_limits and no wait, the third call is RateLimited; the provider saw two."""
        head = _head(wire_server, 2, uuid.uuid4().hex).replace(
            "router_settings: {num_retries: 0}",
            "router_settings: {num_retries: 0, optional_pre_call_checks: [enforce_model_rate_limits]}")
        loom = make_loom("agents: {a: {model: smart}}", head=head)
        agent = loom.agent("a")
        await agent.chat("one")
        await agent.chat("two")
        with pytest.raises(RateLimited):
            await agent.chat("three")
        assert 2 == len(wire_server.requests)
        # One limiter: LiteLLM's own rpm check is not in the Router.
        names = [type(c).__name__ for c in loom._litellm_router().optional_callbacks or []]
        assert not any("RateLimit" in name for name in names), names

    async def test_rpm_stays_a_routing_weight_unless_enforced(self, make_loom: Any, wire_server: WireServer) -> None:
        """Without a wait or enforce_model_rate_limits, rpm is what the proxy makes of it: a routing input."""
        loom = make_loom("agents: {a: {model: smart}}", head=_head(wire_server, 1, uuid.uuid4().hex))
        for i in range(3):
            await loom.agent("a").chat(f"call {i}")
        assert 3 == len(wire_server.requests)

    async def test_waits_are_counted_in_the_metrics(self, make_loom: Any, wire_server: WireServer,
                                                    registry: Any) -> None:
        """Each call that waited counts once in llm_rate_limit_waits_total and the wait histogram."""
        from loomllm import instrument

        loom = make_loom("agents: {a: {model: smart}}\nmiddleware: {rate_limits: {agents: {a: {max_wait_s: 90}}}}",
                         head=_head(wire_server, 1, uuid.uuid4().hex))
        freeze(loom, Sleeps())
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("a").chat("first")
        await loom.agent("a").chat("second")  # waits 60 s (recorded, not slept)
        with pytest.raises(RateLimited):
            await loom.agent("a").chat("third")  # would wait 120 s
        telemetry.flush()
        assert 1.0 == registry.get_sample_value("llm_rate_limit_waits_total", {"provider": "openai"})
        assert 60.0 == registry.get_sample_value("llm_rate_limit_wait_seconds_sum", {"provider": "openai"})
        assert 2 == len(wire_server.requests)


_WORKER = textwrap.dedent("""
    import asyncio, json, sys
    from loomllm import Loom

    async def main() -> None:
        loom = Loom(sys.argv[1])
        slept = []

        async def sleep(seconds):
            slept.append(seconds)

        loom.middleware.rate_gate._clock = lambda: float(sys.argv[2])
        loom.middleware.rate_gate._sleep = sleep
        agent = loom.agent("a")
        await asyncio.gather(*(agent.chat(f"call {i}") for i in range(int(sys.argv[3]))))
        print(json.dumps(slept))
        await loom.aclose()

    asyncio.run(main())
""")


class TestAcrossProcesses:
    def test_two_processes_share_one_bucket(self, tmp_path: Path, wire_server: WireServer, redis_url: str) -> None:
        """Two processes, one Loom each, 4 calls each on rpm 3 through Redis: 3 go now, 5 wait a refill each."""
        url = redis_url + f"?prefix=loomllm-test-bucket-{uuid.uuid4().hex}:"
        config = tmp_path / "loom.yaml"
        config.write_text(_head(wire_server, 3, uuid.uuid4().hex) + textwrap.dedent(f"""
            loomllm:
              state: "{url}"
              agents: {{a: {{model: smart}}}}
              middleware: {{rate_limits: {{max_wait_s: 600}}, single_flight: {{enabled: false}}}}
        """))
        worker = tmp_path / "worker.py"
        worker.write_text(_WORKER)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        procs = [subprocess.Popen([sys.executable, str(worker), str(config), str(T0), "4"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
        slept = sorted(round(s, 6) for out, _ in outputs for s in json.loads(out.strip().splitlines()[-1]))
        assert [20.0, 40.0, 60.0, 80.0, 100.0] == slept
        assert 8 == len(wire_server.requests)
