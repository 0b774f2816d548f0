"""Rate limits that wait: a group's rpm/tpm allowance in the state store, queued up to max_wait_s."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from loomllm import RateLimited
from loomllm._budget import RateLimiter, open_store
from loomllm._middleware import GroupLimit, RateGate, group_limits
from loomllm.testing import WireServer


class Events:
    """Collects emitted events."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        self.seen.append({"event": event, **fields})


def fast_clock(minute_every_s: float = 0.4) -> Callable[[], float]:
    """A wall clock on which a minute passes every ``minute_every_s`` real seconds, starting mid-minute."""
    origin, start = time.monotonic(), 1_800_000_000.0 + 30
    return lambda: start + (time.monotonic() - origin) * 60 / minute_every_s


def gate(store: Any, limits: dict[str, GroupLimit], events: Events, clock: Callable[[], float]) -> RateGate:
    return RateGate(RateLimiter(store, clock=clock), limits, events, clock=clock, poll_s=0.02)


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url") + f"?prefix=loomllm-test-ratelimit-{uuid.uuid4().hex}:"


class TestGroupLimits:
    def test_deployment_limits_sum_per_group(self) -> None:
        """rpm and tpm from litellm_params, model_info or the entry itself add up per group."""
        model_list = [
            {"model_name": "smart", "litellm_params": {"model": "openai/gpt-4o", "rpm": 60}},
            {"model_name": "smart", "litellm_params": {"model": "azure/gpt-4o"}, "model_info": {"rpm": 40},
             "tpm": 90000},
            {"model_name": "free", "litellm_params": {"model": "openai/gpt-4o-mini"}},
        ]
        assert {"smart": GroupLimit(rpm=100, tpm=90000)} == group_limits(model_list)


class TestRateGate:
    async def test_third_call_waits_for_the_next_window(self, store_url: str) -> None:
        """With rpm 2, the third call waits for the next minute instead of failing, and the wait is reported."""
        events, clock = Events(), fast_clock()
        rates = gate(open_store(store_url), {"smart": GroupLimit(rpm=2, tpm=None)}, events, clock)
        waits = [await rates.wait("smart", 0, agent="a", max_wait_s=5) for _ in range(3)]
        assert [0.0, 0.0] == waits[:2] and waits[2] > 0
        [wait] = events.seen
        assert ("ratelimit.wait", "acquired", "smart") == (wait["event"], wait["outcome"], wait["model_group"])

    async def test_rate_limited_only_after_max_wait(self, store_url: str) -> None:
        """When the window does not open within max_wait_s, RateLimited comes after waiting that long."""
        events = Events()
        rates = gate(open_store(store_url), {"smart": GroupLimit(rpm=1, tpm=None)}, events, fast_clock(600))
        await rates.wait("smart", 0, agent="a", max_wait_s=0.2)
        started = time.monotonic()
        with pytest.raises(RateLimited, match="max_wait_s"):
            await rates.wait("smart", 0, agent="a", max_wait_s=0.2)
        assert 0.2 <= time.monotonic() - started
        assert "refused" == events.seen[-1]["outcome"]

    async def test_tpm_counts_tokens(self, store_url: str) -> None:
        """A group's tpm is shared by calls' estimated tokens; one call larger than tpm fails at once."""
        rates = gate(open_store(store_url), {"g": GroupLimit(rpm=None, tpm=1000)}, Events(), fast_clock(600))
        await rates.wait("g", 600, agent="a", max_wait_s=0)
        with pytest.raises(RateLimited):
            await rates.wait("g", 600, agent="a", max_wait_s=0)
        with pytest.raises(RateLimited, match="exceeds"):
            await rates.wait("g", 5000, agent="a", max_wait_s=10)

    async def test_allowance_is_shared_through_redis(self, redis_url: str) -> None:
        """Two gates on separate Redis connections (as two processes would be) share one allowance."""
        url = redis_url + f"?prefix=loomllm-test-ratelimit-{uuid.uuid4().hex}:"
        clock = fast_clock(600)
        limits = {"smart": GroupLimit(rpm=2, tpm=None)}
        first, second = (gate(open_store(url), limits, Events(), clock) for _ in range(2))
        await first.wait("smart", 0, agent="a", max_wait_s=0)
        await second.wait("smart", 0, agent="b", max_wait_s=0)
        with pytest.raises(RateLimited):
            await first.wait("smart", 0, agent="a", max_wait_s=0)

    async def test_queued_callers_all_get_through(self, store_url: str) -> None:
        """Six concurrent callers on rpm 2 all pass within three windows."""
        rates = gate(open_store(store_url), {"smart": GroupLimit(rpm=2, tpm=None)}, Events(), fast_clock(0.3))
        waits = await asyncio.gather(*(rates.wait("smart", 0, agent="a", max_wait_s=5) for _ in range(6)))
        assert 2 == sum(1 for w in waits if w == 0.0)


class TestThroughTheAgent:
    async def test_agent_waits_then_raises_rate_limited(self, make_loom: Any, wire_server: WireServer) -> None:
        """rpm 2 and max_wait_s 0.3: the third call waits 0.3 s, then RateLimited; the provider saw two calls."""
        head = f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test, rpm: 2}}
    model_info: {{id: "{uuid.uuid4().hex}"}}  # LiteLLM counts rpm per deployment id, across Routers
router_settings: {{num_retries: 0}}
"""
        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {a: {model: smart}}\nmiddleware: {rate_limits: {max_wait_s: 0.3}}", head=head,
                         on_event=events.append)
        agent = loom.agent("a")
        await agent.chat("first")
        await agent.chat("second")
        started = time.monotonic()
        with pytest.raises(RateLimited):
            await agent.chat("third")
        assert 0.3 <= time.monotonic() - started
        assert 2 == len(wire_server.requests)
        [wait] = [e for e in events if e["event"] == "ratelimit.wait"]
        assert ("refused", "a") == (wait["outcome"], wait["agent"])

    async def test_waits_are_counted_in_the_metrics(self, make_loom: Any, wire_server: WireServer,
                                                    registry: Any) -> None:
        """A wait that ends in RateLimited counts in llm_rate_limit_waits_total and the wait histogram."""
        from loomllm import instrument

        head = f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test, rpm: 1}}
    model_info: {{id: "{uuid.uuid4().hex}"}}
"""
        loom = make_loom("agents: {a: {model: smart}}\nmiddleware: {rate_limits: {agents: {a: {max_wait_s: 0.1}}}}",
                         head=head)
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("a").chat("first")
        with pytest.raises(RateLimited):
            await loom.agent("a").chat("second")
        telemetry.flush()
        assert 1.0 == registry.get_sample_value("llm_rate_limit_waits_total", {"provider": "openai"})
        assert 1.0 == registry.get_sample_value("llm_rate_limit_wait_seconds_count", {"provider": "openai"})
