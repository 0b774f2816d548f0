"""The response cache: hits work on a plain install, are namespaced per agent, and long chats cache."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from loomllm.testing import Reply, WireServer
from tests.conftest import deployments_yaml

CACHE = """
litellm_settings:
  cache: true
  cache_params: {type: local}
"""
AGENTS = """
agents:
  alice: {model: smart, temperature: 0}  # only deterministic calls are cached
  bob: {model: smart, temperature: 0}
"""


async def _ask(loom: Any, agent: str, messages: Any = "same question") -> Any:
    response = await loom.agent(agent).complete(messages)
    await asyncio.sleep(0.05)  # LiteLLM writes the cache in a background task
    return response


class TestCacheHits:
    def test_fastapi_is_not_installed(self) -> None:
        """The cache-hit patch is exercised for real: LiteLLM's proxy dependency is absent (issue 42195)."""
        assert importlib.util.find_spec("fastapi") is None

    async def test_second_identical_call_is_a_hit(self, make_loom: Any, wire_server: WireServer) -> None:
        """An identical request from the same agent is answered from the cache, not the provider."""
        loom = make_loom(AGENTS, extra=CACHE)
        wire_server.route(Reply.text("cached answer"))
        await _ask(loom, "alice")
        second = await _ask(loom, "alice")
        assert "cached answer" == second.choices[0].message.content
        assert second._hidden_params.get("cache_hit") is True
        assert 1 == len(wire_server.requests)

    async def test_agents_do_not_share_answers(self, make_loom: Any, wire_server: WireServer) -> None:
        """By default the cache is namespaced per agent: bob never gets alice's cached answer."""
        loom = make_loom(AGENTS, extra=CACHE)
        await _ask(loom, "alice")
        await _ask(loom, "bob")
        assert 2 == len(wire_server.requests)

    async def test_shared_scope_is_opt_in(self, make_loom: Any, wire_server: WireServer) -> None:
        """With cache.scope: shared, agents share cached answers."""
        loom = make_loom(AGENTS + "cache: {scope: shared}\n", extra=CACHE)
        await _ask(loom, "alice")
        await _ask(loom, "bob")
        assert 1 == len(wire_server.requests)

    async def test_long_conversations_are_cached(self, make_loom: Any, wire_server: WireServer) -> None:
        """Conversations longer than LiteLLM's default max_messages=4 are still cached."""
        loom = make_loom(AGENTS, extra=CACHE)
        history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(9)]
        await _ask(loom, "alice", history)
        await _ask(loom, "alice", history)
        assert 1 == len(wire_server.requests)

    async def test_agent_can_opt_out(self, make_loom: Any, wire_server: WireServer) -> None:
        """An agent with cache: false always reaches the provider."""
        loom = make_loom("agents: {alice: {model: smart, cache: false}}", extra=CACHE)
        await _ask(loom, "alice")
        await _ask(loom, "alice")
        assert 2 == len(wire_server.requests)

    async def test_disk_cache_hit(self, make_loom: Any, wire_server: WireServer, tmp_path: Any) -> None:
        """The disk cache backend serves hits too."""
        loom = make_loom(AGENTS, extra="litellm_settings:\n  cache: true\n  cache_params: {type: disk, "
                                       f"disk_cache_dir: '{tmp_path}/cache'}}\n")
        await _ask(loom, "alice")
        second = await _ask(loom, "alice")
        assert second._hidden_params.get("cache_hit") is True

    async def test_redis_cache_hit(self, make_loom: Any, wire_server: WireServer, redis_url: str) -> None:
        """The Redis cache backend (host taken from loomllm.state) serves hits too."""
        loom = make_loom(AGENTS + f"state: {redis_url}\n",
                         extra="litellm_settings:\n  cache: true\n  cache_params: {type: redis, ttl: 60, "
                               f"namespace: loomllm-test-{id(wire_server)}-{asyncio.get_running_loop().time()}}}\n")
        await _ask(loom, "alice")
        second = await _ask(loom, "alice")
        assert second._hidden_params.get("cache_hit") is True
        assert 1 == len(wire_server.requests)


def test_deployments_yaml_is_valid(wire_server: WireServer) -> None:
    """The shared test deployments parse (guards the fixtures themselves)."""
    from loomllm.config import parse_config

    assert 4 == len(parse_config(deployments_yaml(wire_server)).model_list)
