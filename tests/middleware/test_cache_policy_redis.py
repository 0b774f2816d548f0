"""The cache policy against a real Redis cache (test_cache_policy.py uses type: local).

With a Redis cache, LiteLLM puts a process-wide in-memory layer in front of Redis
(``litellm.caching.caching_handler.in_memory_cache_obj``, a DualCache) that outlives a Loom and
ignores the cache's ``namespace``: the agent's namespace carries the cache's identity instead.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from loomllm.testing import Reply, WireServer

QUESTION = "What were the three largest line items in the April 2025 cloud invoice?"


def redis_cache(namespace: str) -> str:
    return ("litellm_settings: {cache: true, cache_params: {type: redis, host: 127.0.0.1, port: 6379, "
            f"namespace: {namespace}}}}}\n")


def loom_with(make_loom: Any, ttl: float, namespace: str) -> Any:
    return make_loom(f"""
        agents: {{support: {{model: smart, temperature: 0}}}}
        middleware: {{cache_policy: {{agents: {{support: {{ttl_s: {ttl}}}}}}}}}
    """, extra=redis_cache(namespace))


async def ask(loom: Any, question: str = QUESTION) -> Any:
    response = await loom.agent("support").complete(question)
    await asyncio.sleep(0.2)  # LiteLLM writes the cache in a background task
    return response


class TestRedisCachePolicy:
    async def test_agent_ttl_is_applied_on_redis(self, make_loom: Any, wire_server: WireServer,
                                                 redis_url: str) -> None:
        """An integer ttl_s reaches Redis and the second call is a hit."""
        import redis

        wire_server.route(Reply.text("Compute 41%, storage 22%, egress 9%."))
        namespace = f"cachepolicy-{uuid.uuid4().hex[:8]}"
        loom = loom_with(make_loom, 2, namespace)
        question = f"{QUESTION} (ticket {uuid.uuid4().hex[:6]})"
        await ask(loom, question)
        second = await ask(loom, question)
        client: Any = redis.Redis.from_url(redis_url)
        keys = client.keys(f"{namespace}:*")
        assert second._hidden_params.get("cache_hit") is True
        assert 1 == len(wire_server.requests)
        assert keys and all(0 < client.pttl(k) <= 2000 for k in keys)
        client.delete(*keys)

    async def test_another_looms_cache_namespace_is_not_served(self, make_loom: Any, wire_server: WireServer,
                                                               redis_url: str) -> None:
        """Two Looms (two tenants) in one process, each with its own Redis cache namespace and an agent
        named ``support``: the second does not get the first one's cached answer (LiteLLM's
        process-wide in-memory layer would serve it if the namespace did not tell them apart)."""
        wire_server.route(Reply.text("Tenant A: your refund of 412.50 EUR was approved."))
        first = loom_with(make_loom, 60, f"tenant-a-{uuid.uuid4().hex[:8]}")
        await ask(first)
        first.close()
        second = loom_with(make_loom, 60, f"tenant-b-{uuid.uuid4().hex[:8]}")
        answer = await ask(second)
        assert answer._hidden_params.get("cache_hit") is not True
        assert 2 == len(wire_server.requests)

    async def test_expired_answer_is_not_served_from_memory(self, make_loom: Any, wire_server: WireServer,
                                                            redis_url: str) -> None:
        """After the agent's ttl_s the provider is asked again (the Redis key expired; the in-memory
        copy must not outlive it)."""
        wire_server.route(Reply.text("Compute 41%, storage 22%, egress 9%."))
        loom = loom_with(make_loom, 1, f"cachepolicy-{uuid.uuid4().hex[:8]}")
        question = f"{QUESTION} (ticket {uuid.uuid4().hex[:6]})"
        await ask(loom, question)
        await asyncio.sleep(1.3)
        await ask(loom, question)
        assert 2 == len(wire_server.requests)

    @pytest.mark.parametrize("ttl", [0.5, 1.5])
    async def test_fractional_ttl_is_honoured_or_refused_on_redis(self, make_loom: Any, wire_server: WireServer,
                                                                  redis_url: str, ttl: float) -> None:
        """Redis SET takes whole seconds (0.5 would fail every write, 1.5 would become 1 s): a fractional
        ttl_s is rounded up on Redis, so an answer is kept at least as long as configured."""
        import redis

        namespace = f"cachepolicy-{uuid.uuid4().hex[:8]}"
        loom = loom_with(make_loom, ttl, namespace)
        await ask(loom, f"{QUESTION} (ticket {uuid.uuid4().hex[:6]})")
        client: Any = redis.Redis.from_url(redis_url)
        keys = client.keys(f"{namespace}:*")
        assert keys, "nothing was written to Redis"
        assert all(client.pttl(k) > (ttl - 0.3) * 1000 for k in keys), [client.pttl(k) for k in keys]
        client.delete(*keys)
