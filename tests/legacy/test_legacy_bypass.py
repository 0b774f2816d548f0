"""Attempts to walk around the policies through the legacy interfaces: each is refused, nothing is sent,
and no error carries the key it was handed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from loomllm import PolicyViolation
from loomllm.legacy import (
    ChatGPTProvider,
    CompletionRequest,
    LiteLLMAgent,
    LiteLLMAgentWithRouter,
    LLMClient,
    LLMInfraService,
    LLMManager,
    Message,
    OpenAIProvider,
    Role,
)
from loomllm.testing import WireServer

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]

FOREIGN_KEY = "sk-proj-Zq8vN3mK7pL2xR9tW4yB6cD1"


class KeyService:
    def get_api_key(self, key_id: str) -> str:
        return FOREIGN_KEY


ATTEMPTS: list[Any] = [
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", api_key=FOREIGN_KEY),
                 id="generate_response api_key"),
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", api_base="http://127.0.0.1:9/v1"),
                 id="generate_response api_base"),
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", base_url="http://127.0.0.1:9/v1"),
                 id="generate_response base_url"),
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", fallbacks=["gpt-mini"]),
                 id="generate_response fallbacks"),
    pytest.param(lambda: LLMManager({"llm_provider": "chatgpt", "openai_api_key": FOREIGN_KEY}), id="app config key"),
    pytest.param(lambda: OpenAIProvider(api_key=FOREIGN_KEY), id="provider api_key"),
    pytest.param(lambda: OpenAIProvider(base_url="http://127.0.0.1:9/v1"), id="provider base_url"),
    pytest.param(lambda: OpenAIProvider(organization="org-123"), id="provider organization"),
    pytest.param(lambda: asyncio.run(OpenAIProvider().complete(
        CompletionRequest(messages=[Message(role=Role.USER, content="Hi")], metadata={}),
        params={"api_key": FOREIGN_KEY})), id="request params api_key"),
    pytest.param(lambda: asyncio.run(LLMClient().complete("Hi", api_base="http://127.0.0.1:9")), id="client api_base"),
    pytest.param(lambda: LLMClient("gpt-4o", api_key=FOREIGN_KEY), id="client api_key"),
    pytest.param(lambda: LiteLLMAgent("gpt-4o", api_key=FOREIGN_KEY), id="agent api_key"),
    pytest.param(lambda: LiteLLMAgent("gpt-4o", api_base="http://127.0.0.1:9"), id="agent api_base"),
    pytest.param(lambda: LiteLLMAgentWithRouter([{"model_name": "p", "litellm_params": {
        "model": "gpt-4o", "api_base": "http://127.0.0.1:9/v1"}}]), id="router model_config api_base"),
    pytest.param(lambda: LiteLLMAgentWithRouter([{"model_name": "p", "litellm_params": {
        "model": "gpt-4o", "api_key": FOREIGN_KEY}}]), id="router model_config api_key"),
    pytest.param(lambda: asyncio.run(LLMInfraService(KeyService()).complete(
        [{"role": "user", "content": "Hi"}], model="gpt-4o", api_key_id="team_key")), id="dipeo key service"),
    pytest.param(lambda: asyncio.run(LLMInfraService().complete(
        [{"role": "user", "content": "Hi"}], model="gpt-4o", api_base="http://127.0.0.1:9/v1")), id="dipeo api_base"),
    # The legacy layer refuses what the call path never allows (one list: loomllm._params)
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", client_secret=FOREIGN_KEY),
                 id="generate_response client_secret"),
    pytest.param(lambda: ChatGPTProvider().generate_response("Hi", input_cost_per_token=0.0),
                 id="generate_response price"),
    pytest.param(lambda: LiteLLMAgent("gpt-4o", max_retries=9), id="agent max_retries"),
    pytest.param(lambda: LiteLLMAgentWithRouter([{"model_name": "p", "litellm_params": {
        "model": "gpt-4o", "output_cost_per_token": 0.0}}]), id="router model_config price"),
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_refused_before_sending(attempt: Callable[[], Any], wire_server: WireServer) -> None:
    """The attempt raises a ValueError (config) or a policy error; nothing reaches the provider; no key leaks."""
    with pytest.raises(Exception) as caught:
        attempt()
    assert isinstance(caught.value, ValueError | PolicyViolation), type(caught.value)
    assert FOREIGN_KEY not in str(caught.value) and FOREIGN_KEY not in repr(caught.value.args)
    assert [] == wire_server.requests
