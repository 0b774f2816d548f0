"""A second round of attacks (an independent review of the first fixes): each one once got through."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field
from security_support import AWS_KEY, DEPLOYMENT_KEY, GITHUB_TOKEN, priced_config, sent_bodies

from loomllm import (
    AuthenticationFailed,
    ConfigError,
    GuardrailViolation,
    Loom,
    LoomError,
    PolicyViolation,
    UnifiedAgent,
)
from loomllm.testing import Reply, WireServer

SecureLoom = Callable[..., Loom]


async def _refused_or_sent(call: Coroutine[Any, Any, Any]) -> None:
    """Run ``call``; a policy refusal is a fine outcome (the test then checks what was sent)."""
    with contextlib.suppress(PolicyViolation):
        await call


class TestScannedAsSent:
    @pytest.mark.parametrize("field", ["user", "stop", "tool description", "schema description"])
    @pytest.mark.parametrize("secret", [AWS_KEY, GITHUB_TOKEN], ids=["aws", "github"])
    async def test_secret_after_a_newline_in_a_parameter(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                         field: str, secret: str) -> None:
        """A parameter string is scanned as sent, not as a JSON dump (where "\\n" hid the key's start)."""
        value = "\n" + secret
        params: dict[str, Any] = {
            "user": {"user": value},
            "stop": {"stop": [value]},
            "tool description": {"tools": [{"type": "function", "function": {
                "name": "f", "description": value, "parameters": {"type": "object"}}}]},
            "schema description": {"response_format": {"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object", "description": value}}}},
        }[field]
        await _refused_or_sent(secure_loom().agent("worker").complete("hi", **params))
        assert secret not in sent_bodies(wire_server)

    async def test_secret_after_an_escape_in_a_json_tool_result(self, secure_loom: SecureLoom,
                                                                wire_server: WireServer) -> None:
        """A tool result holding JSON: the key behind an escaped newline is still found."""
        messages = [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read_env", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"stdout": "keys:\n" + GITHUB_TOKEN})},
        ]
        await _refused_or_sent(secure_loom().agent("worker").complete(messages))
        assert GITHUB_TOKEN not in sent_bodies(wire_server)

    async def test_pydantic_response_format_schema(self, secure_loom: SecureLoom, wire_server: WireServer) -> None:
        """A pydantic ``response_format`` is scanned as the schema LiteLLM sends, descriptions included."""

        class Leaky(BaseModel):
            answer: str = Field(description=f"context: {AWS_KEY}")

        await _refused_or_sent(secure_loom().agent("worker").complete("hi", response_format=Leaky))
        assert AWS_KEY not in sent_bodies(wire_server)

    async def test_mapping_that_prints_empty(self, secure_loom: SecureLoom, wire_server: WireServer) -> None:
        """A non-dict mapping is scanned for what it holds, not for what its repr says."""

        class Quiet(Mapping[str, Any]):
            def __init__(self, data: dict[str, Any]) -> None:
                self._data = data

            def __getitem__(self, key: str) -> Any:
                return self._data[key]

            def __iter__(self) -> Iterator[str]:
                return iter(self._data)

            def __len__(self) -> int:
                return len(self._data)

            def __repr__(self) -> str:
                return "{}"

        prediction = Quiet({"type": "content", "content": f"ctx {GITHUB_TOKEN}"})
        await _refused_or_sent(secure_loom().agent("worker").complete("hi", prediction=prediction))
        assert GITHUB_TOKEN not in sent_bodies(wire_server)

    async def test_str_subclass_cannot_fake_being_scanned(self, secure_loom: SecureLoom,
                                                          wire_server: WireServer) -> None:
        """A str subclass equal to everything cannot pass for a string the guardrail already saw."""

        class Sneaky(str):
            def __hash__(self) -> int:
                return hash("hi")

            def __eq__(self, other: object) -> bool:
                return True

        message = {"role": "user", "content": "hi", "name": Sneaky(GITHUB_TOKEN)}
        await _refused_or_sent(secure_loom().agent("worker").complete([message]))
        assert GITHUB_TOKEN not in sent_bodies(wire_server)

    @pytest.mark.parametrize("model", ["mistral/mistral-small-latest", "moonshot/moonshot-v1-8k", "openai/gpt-4o-mini"])
    async def test_text_parts_joined_by_the_adapter(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                    model: str) -> None:
        """Two text parts too short to be a key alone, joined with no separator by some adapters: blocked."""
        primary = f'{{model: {model}, api_base: "{wire_server.openai_base}", api_key: {DEPLOYMENT_KEY}}}'
        parts = [{"type": "text", "text": AWS_KEY[:10]}, {"type": "text", "text": AWS_KEY[10:]}]
        await _refused_or_sent(secure_loom(primary=primary).agent("worker").complete([{"role": "user",
                                                                                        "content": parts}]))
        assert AWS_KEY not in sent_bodies(wire_server)

    @pytest.mark.parametrize("media_type", ["text/plain", "application/json", "text/csv"])
    async def test_textual_data_url_is_decoded(self, secure_loom: SecureLoom, wire_server: WireServer,
                                               media_type: str) -> None:
        """A base64 ``data:text/...`` document is read as text by the provider: it is decoded and scanned."""
        primary = (f'{{model: anthropic/claude-haiku-4-5, api_base: "{wire_server.anthropic_base}", '
                   f'api_key: {DEPLOYMENT_KEY}}}')
        payload = base64.b64encode(f"creds: {AWS_KEY}".encode()).decode()
        part = {"type": "file", "file": {"file_data": f"data:{media_type};base64,{payload}", "filename": "n.txt"}}
        with pytest.raises(GuardrailViolation):
            await secure_loom(primary=primary).agent("worker").complete(
                [{"role": "user", "content": [{"type": "text", "text": "summarize"}, part]}])
        assert [] == wire_server.requests


class TestAgentDefaults:
    def test_class_defaults_meet_the_allowlist(self, secure_loom: SecureLoom, wire_server: WireServer) -> None:
        """A subclass's ``defaults`` cannot carry keys a caller could not pass: ConfigError at construction."""

        class Worker(UnifiedAgent):
            name = "worker"
            model = "primary"
            defaults = {"service_tier": "priority", "web_search_options": {}}

        with pytest.raises(ConfigError, match="service_tier"):
            Worker(secure_loom())
        assert [] == wire_server.requests

    def test_yaml_params_meet_the_allowlist(self, secure_loom: SecureLoom) -> None:
        """Same for YAML ``params``: named with its key path."""
        loom = secure_loom(agent_extra=", params: {extra_body: {max_tokens: 5000}}")
        with pytest.raises(ConfigError, match=r"agents\.worker\.params\.extra_body"):
            loom.agent("worker")


class TestWorstCase:
    @pytest.mark.parametrize("extra_body", [{"max_tokens": None}, {"max_tokens": 5000.0}, {"n": 20.0},
                                            {"max_completion_tokens": None}, {"max_tokens": 0},
                                            {"generationConfig": {"max_output_tokens": 5000}},
                                            {"generationConfig": {"candidateCount": 8}}])
    async def test_caps_inside_an_allowed_extra_body(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                     extra_body: dict[str, Any]) -> None:
        """Caps and choice counts that are not positive integers, or nested, are counted or refused."""
        agent = secure_loom(agent_extra=", allow_params: [extra_body]").agent("worker")
        with pytest.raises(PolicyViolation):
            await agent.complete("hi", extra_body=extra_body)
        assert [] == wire_server.requests

    async def test_timed_out_calls_are_charged(self, tmp_path: Path, wire_server: WireServer) -> None:
        """A call that timed out after its request was delivered is charged its reserved worst case."""
        path = tmp_path / "c.yaml"
        path.write_text(priced_config(wire_server))
        wire_server.route(Reply.text("word " * 20).with_latency(0.3))
        with Loom(path) as loom:
            agent = loom.agent("spender")
            for _ in range(30):
                with contextlib.suppress(LoomError):
                    await agent.complete("plan the launch", timeout=0.1)
            [status] = [s for s in await agent.budget_status() if s.unit == "usd"]
        worst_per_call = 5 * 2.5e-6 + 20 * 1e-5  # gpt-4o, a few prompt tokens, 20 output tokens
        assert len(wire_server.requests) * worst_per_call <= 0.001 + worst_per_call
        assert status.spent > 0


class TestErrorBodies:
    @pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
    async def test_key_not_in_the_response_stream_of_the_chain(self, secure_loom: SecureLoom,
                                                                wire_server: WireServer, provider: str) -> None:
        """The response kept by a chained HTTP error replays scrubbed bytes, not the key the body echoed."""
        base, model = {
            "openai": (wire_server.openai_base, "openai/gpt-4o-mini"),
            "anthropic": (wire_server.anthropic_base, "anthropic/claude-haiku-4-5"),
            "gemini": (wire_server.gemini_base, "gemini/gemini-2.0-flash"),
        }[provider]
        wire_server.route(Reply.status(401, message=f"Incorrect API key provided: {DEPLOYMENT_KEY}."))
        loom = secure_loom(primary=f'{{model: {model}, api_base: "{base}", api_key: {DEPLOYMENT_KEY}}}')
        with pytest.raises(AuthenticationFailed) as caught:
            await loom.agent("worker").complete("hello")
        seen: set[int] = set()
        pending: list[BaseException | None] = [caught.value]
        while pending:
            error = pending.pop()
            if error is None or id(error) in seen:
                continue
            seen.add(id(error))
            response = getattr(error, "response", None)
            if isinstance(response, httpx.Response) and isinstance(response.stream, httpx.ByteStream):
                assert DEPLOYMENT_KEY.encode() not in b"".join(response.stream)
            pending += [error.__cause__, error.__context__]
