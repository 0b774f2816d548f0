"""Every legacy wrapper gets loomllm's policies: secrets are blocked, budgets refuse, PII is redacted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from loomllm import BudgetExceeded, GuardrailViolation, Loom
from loomllm.legacy import (
    ChatGPTProvider,
    ClaudeOpusAgent,
    ClaudeProvider,
    FunctionDefinition,
    GPT_4_0125_Agent,
    LiteLLMAgent,
    LLMClient,
    LLMManager,
    Message,
    Role,
    create_litellm_agent,
)
from loomllm.testing import WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")

AWS_KEY = "AKIA" + "Q3ZT7WXR2M9K4PLD"
GITHUB_TOKEN = "ghp_" + "x7Kq2LmN9pR4sT6vW8yZ1aB3cD5eF0gH2jK4"

LegacyCall = Callable[[Loom, str, str], Any]
"""(loom, agent name, prompt) -> the wrapper's answer, called the legacy way."""


async def _drain(pieces: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in pieces])


WRAPPERS: list[Any] = [
    pytest.param(lambda loom, agent, prompt: LLMManager({"llm_provider": "chatgpt", "agent": agent}, loom=loom)
                 .generate_response(prompt), id="LLMManager-chatgpt"),
    pytest.param(lambda loom, agent, prompt: LLMManager({"llm_provider": "claude", "agent": agent}, loom=loom)
                 .generate_response(prompt), id="LLMManager-claude"),
    pytest.param(lambda loom, agent, prompt: ChatGPTProvider(loom=loom, agent=agent).generate_response(prompt),
                 id="ChatGPTProvider"),
    pytest.param(lambda loom, agent, prompt: ClaudeProvider(loom=loom, agent=agent).generate_response(prompt),
                 id="ClaudeProvider"),
    pytest.param(lambda loom, agent, prompt: LiteLLMAgent("gpt-4o", loom=loom, agent=agent).run(prompt),
                 id="LiteLLMAgent.run"),
    pytest.param(lambda loom, agent, prompt: create_litellm_agent("gpt-4o", loom=loom, agent=agent)
                 .chat([{"role": "user", "content": prompt}]), id="create_litellm_agent.chat"),
    pytest.param(lambda loom, agent, prompt: "".join(GPT_4_0125_Agent(loom=loom, agent=agent).stream(prompt)),
                 id="GPT_4_0125_Agent.stream"),
    pytest.param(lambda loom, agent, prompt: ClaudeOpusAgent(loom=loom, agent=agent).run(prompt),
                 id="ClaudeOpusAgent.run"),
    pytest.param(lambda loom, agent, prompt: loom.run_sync(LLMClient("gpt-4o", loom=loom, agent=agent)
                 .chat(prompt)), id="LLMClient.chat"),
    pytest.param(lambda loom, agent, prompt: loom.run_sync(LLMClient("claude", loom=loom, agent=agent)
                 .complete([Message(role=Role.USER, content=prompt)])), id="LLMClient.complete"),
    pytest.param(lambda loom, agent, prompt: loom.run_sync(_drain(LLMClient("gpt-4o", loom=loom, agent=agent)
                 .stream(prompt))), id="LLMClient.stream"),
    pytest.param(lambda loom, agent, prompt: loom.run_sync(LLMClient("gpt-4o", loom=loom, agent=agent)
                 .json(prompt)), id="LLMClient.json"),
    pytest.param(lambda loom, agent, prompt: loom.run_sync(LLMClient("gpt-4o", loom=loom, agent=agent)
                 .function_call(prompt, [FunctionDefinition("noop")])), id="LLMClient.function_call"),
]


@pytest.mark.parametrize("call", WRAPPERS)
@pytest.mark.parametrize("secret", [pytest.param(AWS_KEY, id="aws-key"), pytest.param(GITHUB_TOKEN, id="github")])
def test_secret_is_blocked_before_sending(loom: Loom, wire_server: WireServer, call: LegacyCall, secret: str) -> None:
    """A legacy call with a credential in the prompt raises GuardrailViolation; the server receives nothing."""
    with pytest.raises(GuardrailViolation) as caught:
        call(loom, "legacy", f"Deploy with key {secret} please")

    assert [] == wire_server.requests
    assert secret not in str(caught.value)


@pytest.mark.parametrize("call", WRAPPERS)
def test_over_budget_is_refused_before_sending(loom: Loom, wire_server: WireServer, call: LegacyCall) -> None:
    """A legacy call as an agent whose budget cannot hold it raises BudgetExceeded; the server receives nothing."""
    with pytest.raises(BudgetExceeded) as caught:
        call(loom, "broke", "Plan the launch")

    assert [] == wire_server.requests
    assert "broke" == caught.value.agent


@pytest.mark.parametrize("call", WRAPPERS[:2])
def test_email_is_redacted_and_restored(loom: Loom, wire_server: WireServer, call: LegacyCall) -> None:
    """An email address never reaches the provider, and the answer shows it restored."""
    answer = call(loom, "legacy", "Write to jane.doe@corp-mail.com today")

    assert "jane.doe@corp-mail.com" in answer
    assert "jane.doe@corp-mail.com" not in str(wire_server.requests[0].body)
