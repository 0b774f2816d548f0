"""Caller parameters: only allowlisted, bounded keys pass; the rest is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from security_support import DEPLOYMENT_KEY

from loomllm import ForbiddenParameter, Loom
from loomllm.testing import WireServer

REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("zero input price", {"input_cost_per_token": 0}),
    ("zero output price", {"output_cost_per_token": 0}),
    ("per-second price", {"input_cost_per_second": 0}),
    ("extra_body max_tokens", {"extra_body": {"max_tokens": 5000}}),
    ("extra_body n", {"extra_body": {"n": 20}}),
    ("extra_headers", {"extra_headers": {"X-Leak": "1"}}),
    ("negative max_tokens", {"max_tokens": -10**9}),
    ("zero max_tokens", {"max_tokens": 0}),
    ("float max_tokens", {"max_tokens": 10.5}),
    ("bool max_tokens", {"max_tokens": True}),
    ("max_tokens beyond the model", {"max_tokens": 10**6}),
    ("n above the agent cap", {"n": 9}),
    ("n zero", {"n": 0}),
    ("api_base", {"api_base": "http://127.0.0.1:9/v1"}),
    ("base_url", {"base_url": "http://127.0.0.1:9/v1"}),
    ("api_key", {"api_key": "sk-other"}),
    ("custom provider", {"custom_llm_provider": "openai"}),
    ("fallbacks", {"fallbacks": ["primary"]}),
    ("mock_response", {"mock_response": "free answer"}),
    ("model_list", {"model_list": []}),
    ("num_retries beyond 5", {"num_retries": 50}),
    ("max_retries", {"max_retries": 5}),
    ("litellm_credential_name", {"litellm_credential_name": "other"}),
    ("aws prefix", {"aws_region_name": "us-east-1"}),
    ("litellm prefix", {"litellm_metadata": {}}),
    ("metadata forging the call tag", {"metadata": {"loomllm_agent": "admin"}}),
    ("metadata with objects", {"metadata": {"a": {"nested": 1}}}),
    ("cache namespace", {"cache": {"namespace": "loomllm.agent.other"}}),
    ("stream_options extra", {"stream_options": {"include_usage": False, "x": 1}}),
    ("temperature out of range", {"temperature": 9}),
    ("temperature NaN", {"temperature": float("nan")}),
    ("top_p out of range", {"top_p": 2}),
    ("timeout huge", {"timeout": 10**9}),
    ("unknown key", {"service_tier": "priority"}),
    ("web search (billed extra)", {"web_search_options": {}}),
    ("too many stops", {"stop": [str(i) for i in range(100)]}),
    ("thinking with extra keys", {"thinking": {"type": "enabled", "budget_tokens": 10, "x": 1}}),
]


@pytest.mark.parametrize(("case", "params"), REFUSED, ids=[c for c, _ in REFUSED])
async def test_refused_before_sending(secure_loom: Callable[..., Loom], wire_server: WireServer, case: str,
                                      params: dict[str, Any]) -> None:
    """Each parameter is refused with ForbiddenParameter naming it, nothing is sent, no value is echoed."""
    agent = secure_loom().agent("worker")
    with pytest.raises(ForbiddenParameter) as caught:
        await agent.complete("hello", **params)
    assert [] == wire_server.requests
    assert caught.value.parameter in str(caught.value)
    for value in _strings(params):
        assert value not in str(caught.value) or value in caught.value.parameter


@pytest.mark.parametrize("key", ["model", "messages", "stream"])
async def test_reserved_keys_are_type_errors(secure_loom: Callable[..., Loom], wire_server: WireServer,
                                             key: str) -> None:
    """Keys the call path sets itself are a TypeError (a programming mistake, not a policy)."""
    with pytest.raises(TypeError):
        await secure_loom().agent("worker").complete("hello", **{key: "x"})
    assert [] == wire_server.requests


async def test_allowed_params_pass(secure_loom: Callable[..., Loom], wire_server: WireServer) -> None:
    """The allowlist is not a wall: ordinary parameters reach the provider."""
    await secure_loom().agent("worker").complete("hello", temperature=0.2, top_p=0.9, stop=["\n\n"], seed=7,
                                                 user="u-1", presence_penalty=0.1, max_tokens=10)
    [request] = wire_server.requests
    assert 0.2 == request.body["temperature"] and 10 == request.body["max_tokens"]


async def test_allow_params_opens_extra_body_but_the_attempt_still_counts_it(
    secure_loom: Callable[..., Loom], wire_server: WireServer
) -> None:
    """allow_params lets extra_body through, yet a max_tokens inside it beyond the reservation is refused."""
    agent = secure_loom(agent_extra=", allow_params: [extra_body]").agent("worker")
    await agent.complete("hello", extra_body={"logit_bias": {}})
    assert 1 == len(wire_server.requests)
    with pytest.raises(ForbiddenParameter, match="reservation"):
        await agent.complete("hello", extra_body={"max_tokens": 5000})
    with pytest.raises(ForbiddenParameter, match="reservation"):
        await agent.complete("hello", extra_body={"n": 20})
    assert 1 == len(wire_server.requests)


def test_allow_params_cannot_open_credentials(tmp_path: Any, wire_server: WireServer) -> None:
    """allow_params may never name a key that replaces the deployment, its keys, prices or routing."""
    from security_support import secure_config

    from loomllm import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(secure_config(wire_server, agent_extra=", allow_params: [api_base, input_cost_per_token]"))
    with pytest.raises(ConfigError, match="allow_params"):
        Loom(path)


async def test_prices_in_the_deployment_are_config_not_caller(secure_loom: Callable[..., Loom],
                                                              wire_server: WireServer) -> None:
    """A deployment's own pricing keys are config: calls through it pass."""
    primary = (f'{{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: {DEPLOYMENT_KEY}, '
               "input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}")
    await secure_loom(primary=primary).agent("worker").complete("hello")
    assert 1 == len(wire_server.requests)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) > 3 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
