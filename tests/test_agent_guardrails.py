"""Guardrails on the agent call path: nothing sensitive reaches the Router, logs or cache; answers restored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loomllm import GuardrailViolation
from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer

AWS_KEY = "AKIA" + "Q3EGRVLMZ7TPKX2N"
GITHUB_TOKEN = "ghp_" + "R8s2KfQ0pLx7VwN3bYc5Hd9JmT1eZa4Ug6Io"
EMAIL = "jane.doe@acme-corp.com"

SECTION = """
agents:
  gpt: {model: smart, max_tokens: 50}
  budgeted: {model: smart, max_tokens: 50, budget: b}
budgets:
  policies:
    b: {limits: [{tokens: 100000, per: day}]}
guardrails:
  default: standard
"""


class TestInput:
    @pytest.mark.parametrize("secret", [AWS_KEY, GITHUB_TOKEN])
    async def test_secret_blocked_before_sending(self, make_loom: Any, wire_server: WireServer,
                                                 secret: str) -> None:
        """A prompt with a credential raises GuardrailViolation; nothing is sent; the error holds no value."""
        loom = make_loom(SECTION)
        with pytest.raises(GuardrailViolation) as caught:
            await loom.agent("gpt").chat(f"deploy with key {secret} please")
        assert [] == wire_server.requests
        error = caught.value
        assert secret not in str(error) and secret not in repr(error.args) and secret not in repr(error.findings)
        assert "input" == error.direction and any(f.entity_type.startswith("SECRET_") for f in error.findings)

    def test_sync_api_blocks_too(self, make_loom: Any, wire_server: WireServer) -> None:
        """The sync twin applies the same input guardrail."""
        loom = make_loom(SECTION)
        with pytest.raises(GuardrailViolation):
            loom.agent("gpt").chat_sync(f"key {AWS_KEY}")
        assert [] == wire_server.requests

    async def test_blocked_call_reserves_nothing(self, make_loom: Any, wire_server: WireServer) -> None:
        """A blocked call never reaches the budget step: nothing spent or held."""
        loom = make_loom(SECTION)
        agent = loom.agent("budgeted")
        with pytest.raises(GuardrailViolation):
            await agent.chat(f"key {AWS_KEY}")
        row = (await agent.budget_status())[0]
        assert (0, 0) == (row.spent, row.reserved)


class TestRedactAndRestore:
    async def test_email_redacted_for_provider_and_restored_for_caller(self, make_loom: Any,
                                                                       wire_server: WireServer) -> None:
        """The provider sees a placeholder; the caller gets the original value back in the answer."""
        loom = make_loom(SECTION)
        answer = await loom.agent("gpt").chat(f"Write to {EMAIL} about the launch")
        sent = repr(wire_server.requests[0].body)
        assert EMAIL not in sent and "<EMAIL_ADDRESS_1>" in sent
        assert EMAIL in answer  # the echo reply carried the placeholder back, restored

    async def test_stream_restores_split_placeholder(self, make_loom: Any, wire_server: WireServer) -> None:
        """In a stream, a placeholder split across chunks is restored too."""
        loom = make_loom(SECTION)
        wire_server.route(Reply.echo(prefix="Sure: "))
        chunks = [c.choices[0].delta.content or "" async for c in loom.agent("gpt").stream(f"mail {EMAIL}")]
        assert EMAIL in "".join(chunks)
        assert EMAIL not in repr(wire_server.requests[0].body)

    async def test_logging_callbacks_and_cache_never_see_originals(self, make_loom: Any,
                                                                   wire_server: WireServer) -> None:
        """Redaction happens before the Router: LiteLLM's callbacks and the response cache hold placeholders."""
        from litellm.integrations.custom_logger import CustomLogger

        seen: list[str] = []

        class Spy(CustomLogger):  # type: ignore[misc]
            async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                              end_time: Any) -> None:
                seen.append(repr(kwargs.get("messages")) + repr(kwargs.get("standard_logging_object")))

        litellm = litellm_module()
        spy = Spy()
        litellm.callbacks.append(spy)
        try:
            loom = make_loom(SECTION, extra="litellm_settings: {cache: true, cache_params: {type: local}}\n")
            await loom.agent("gpt").chat(f"Write to {EMAIL}")
            for _ in range(100):  # LiteLLM's logging worker runs in the background
                if seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            _hooks.unregister(spy)  # from every LiteLLM list, or the next test's spy is de-duplicated away
        assert seen and all(EMAIL not in s for s in seen)
        assert "<EMAIL_ADDRESS_1>" in "".join(seen)
        cached = repr(litellm.cache.cache.cache_dict)
        assert EMAIL not in cached


class TestOutput:
    async def test_secret_in_answer_blocked_and_charged(self, make_loom: Any, wire_server: WireServer) -> None:
        """An answer carrying a credential is blocked, and the tokens it cost are still settled."""
        loom = make_loom(SECTION)
        wire_server.route(Reply.text(f"use {GITHUB_TOKEN}"))
        agent = loom.agent("budgeted")
        with pytest.raises(GuardrailViolation) as caught:
            await agent.chat("what token?")
        assert "output" == caught.value.direction and GITHUB_TOKEN not in str(caught.value)
        row = (await agent.budget_status())[0]
        assert row.spent > 0 and 0 == row.reserved

    async def test_secret_in_stream_blocked(self, make_loom: Any, wire_server: WireServer) -> None:
        """A streamed answer carrying a credential raises before the secret is yielded."""
        loom = make_loom(SECTION)
        wire_server.route(Reply.text(f"the key is {AWS_KEY} ok"))
        received: list[str] = []
        with pytest.raises(GuardrailViolation):
            async for chunk in loom.agent("gpt").stream("key?"):
                received.append(chunk.choices[0].delta.content or "")
        assert AWS_KEY not in "".join(received)


class TestWholeRequest:
    async def test_secret_in_tool_description_blocked(self, make_loom: Any, wire_server: WireServer) -> None:
        """Tool definitions are scanned like messages: a key in a description is blocked."""
        loom = make_loom(SECTION)
        tools = [{"type": "function", "function": {"name": "deploy", "description": f"uses key {AWS_KEY}",
                                                   "parameters": {"type": "object", "properties": {}}}}]
        with pytest.raises(GuardrailViolation):
            await loom.agent("gpt").complete("deploy", tools=tools)
        assert [] == wire_server.requests

    async def test_email_in_user_param_redacted(self, make_loom: Any, wire_server: WireServer) -> None:
        """Free-text parameters get the same redaction as messages."""
        loom = make_loom(SECTION)
        await loom.agent("gpt").complete("hi", user=EMAIL)
        assert EMAIL not in repr(wire_server.requests[0].body)

    async def test_message_objects_are_scanned_whole(self, make_loom: Any, wire_server: WireServer) -> None:
        """A response message passed back as an object (tool calls inside) is scanned like a dict."""
        loom = make_loom(SECTION)
        wire_server.route(Reply.tool_call("deploy", {"key": AWS_KEY}))
        agent = loom.agent("gpt")
        with pytest.raises(GuardrailViolation):  # the answer itself carries the key
            await agent.complete("deploy")
        wire_server.reset()
        wire_server.route(Reply.tool_call("deploy", {"key": "none"}))
        response = await agent.complete("deploy")
        message = response.choices[0].message
        message.tool_calls[0].function.arguments = '{"key": "' + AWS_KEY + '"}'
        with pytest.raises(GuardrailViolation):
            await agent.complete([{"role": "user", "content": "deploy"}, message])
        assert 1 == len(wire_server.requests)

    async def test_blocked_output_logged_as_such(self, make_loom: Any, wire_server: WireServer) -> None:
        """The call event of an answer blocked by the output guardrail says so."""
        events: list[dict[str, Any]] = []
        loom = make_loom(SECTION, on_event=events.append)
        wire_server.route(Reply.text(f"use {GITHUB_TOKEN}"))
        with pytest.raises(GuardrailViolation):
            await loom.agent("gpt").chat("token?")
        assert ["GuardrailViolation"] == [e["outcome"] for e in events if e["event"] == "llm.call"]
