"""Cache policy: only deterministic calls reach LiteLLM's cache; per-agent TTL; hits and misses counted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loomllm import instrument
from loomllm._middleware import CachePolicy
from loomllm._middleware.config import CachePolicyConfig
from loomllm.testing import Reply, WireServer

CACHE = "litellm_settings: {cache: true, cache_params: {type: local}}\n"
QUESTION = "What were the three largest line items in the March 2025 cloud invoice?"


class TestCachePolicy:
    @pytest.mark.parametrize(("params", "expected"), [
        ({"temperature": 0}, True),
        ({"temperature": 0.0, "n": 1}, True),
        ({}, False),  # unset: the provider default of 1.0 samples
        ({"temperature": 0.2}, False),
        ({"temperature": 0, "n": 3}, False),
    ])
    def test_default_caches_deterministic_calls_only(self, params: dict[str, Any], expected: bool) -> None:
        """By default only temperature-0, single-choice calls are cacheable."""
        assert expected == CachePolicy(CachePolicyConfig()).cacheable("a", params)

    def test_agent_overrides(self) -> None:
        """An agent can raise its threshold, switch caching off, and have its own TTL."""
        config = CachePolicyConfig.model_validate({"ttl_s": 3600, "agents": {
            "lenient": {"max_temperature": 0.3, "ttl_s": 60}, "never": {"enabled": False}}})
        policy = CachePolicy(config)
        assert policy.cacheable("lenient", {"temperature": 0.3})
        assert not policy.cacheable("never", {"temperature": 0})
        assert (60, 3600) == (policy.ttl_s("lenient"), policy.ttl_s("other"))
        assert {"namespace": "x", "ttl": 60} == policy.cache_control("lenient", {"temperature": 0}, {"namespace": "x"})
        assert {"no-cache": True, "no-store": True} == policy.cache_control("never", {"temperature": 0}, {})


async def ask(loom: Any, agent: str, **params: Any) -> Any:
    response = await loom.agent(agent).complete(QUESTION, **params)
    await asyncio.sleep(0.05)  # LiteLLM writes the cache in a background task
    return response


class TestThroughTheRouter:
    async def test_sampled_calls_are_not_cached(self, make_loom: Any, wire_server: WireServer) -> None:
        """Two identical calls at temperature 0.7 both reach the provider."""
        loom = make_loom("agents: {a: {model: smart}}", extra=CACHE)
        await ask(loom, "a", temperature=0.7)
        await ask(loom, "a", temperature=0.7)
        assert 2 == len(wire_server.requests)

    async def test_deterministic_calls_hit_and_are_counted(self, make_loom: Any, wire_server: WireServer,
                                                           registry: Any) -> None:
        """At temperature 0 the second call is a hit; hit and miss counters say so."""
        loom = make_loom("agents: {a: {model: smart, temperature: 0}}", extra=CACHE)
        telemetry = instrument(loom, traces=False, registry=registry)
        await ask(loom, "a")
        second = await ask(loom, "a")
        telemetry.flush()
        assert second._hidden_params.get("cache_hit") is True
        assert 1 == len(wire_server.requests)
        assert 1.0 == registry.get_sample_value("llm_cache_hits_total", {"agent": "a"})
        assert 1.0 == registry.get_sample_value("llm_cache_misses_total", {"agent": "a"})

    async def test_agent_ttl_expires_answers(self, make_loom: Any, wire_server: WireServer) -> None:
        """An agent's ttl_s is passed to the cache: after it the provider is asked again."""
        wire_server.route(Reply.text("Compute 41%, storage 22%, egress 9%."))
        loom = make_loom("""
            agents: {a: {model: smart, temperature: 0}}
            middleware: {cache_policy: {agents: {a: {ttl_s: 0.3}}}}
        """, extra=CACHE)
        await ask(loom, "a")
        await ask(loom, "a")
        assert 1 == len(wire_server.requests)
        await asyncio.sleep(0.4)
        await ask(loom, "a")
        assert 2 == len(wire_server.requests)
