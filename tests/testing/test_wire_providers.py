"""LiteLLM's real provider translation against the wire server: JSON, streaming, tools, embeddings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loomllm._litellm import litellm_module
from loomllm.testing import DEFAULT_EMBEDDING_DIM, Reply, WireServer, embedding_vector

OPENAI_MODEL = "openai/gpt-4o-mini"
ANTHROPIC_MODEL = "anthropic/claude-3-5-haiku-20241022"
GEMINI_MODEL = "gemini/gemini-1.5-flash"
PROMPT = [{"role": "user", "content": "what is the weather in Paris"}]
# LiteLLM drops a bare {"type": "json_object"} for Anthropic, so JSON-mode tests send a schema.
ECHO_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "echo", "schema": {"type": "object", "properties": {"echo": {"type": "string"}}}},
}
# litellm 1.106.2 imports its MCP gateway (which needs the optional `mcp` package, absent here) whenever
# `tools` is passed, and fails with "No module named 'mcp'"; its private `_skip_mcp_handler` flag skips that.
SKIP_MCP = {"_skip_mcp_handler": True}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _deployment(name: str, model: str, server: WireServer) -> dict[str, Any]:
    bases = {"openai": server.openai_base, "anthropic": server.anthropic_base, "gemini": server.gemini_base}
    api_base = bases[model.split("/", 1)[0]]
    return {"model_name": name, "litellm_params": {"model": model, "api_base": api_base, "api_key": "sk-test-secret"}}


def _router(server: WireServer, *models: str) -> Any:
    litellm = litellm_module()
    return litellm.Router(model_list=[_deployment(m, m, server) for m in models], num_retries=0)


async def _collect(stream: Any) -> tuple[str, Any, list[Any]]:
    """Drain a LiteLLM stream: joined text, the last usage seen, and every chunk."""
    text, usage, chunks = [], None, []
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if getattr(chunk, "usage", None) is not None:
            usage = chunk.usage
    return "".join(text), usage, chunks


@pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL, GEMINI_MODEL])
class TestChat:
    async def test_json_reply_echoes_with_usage(self, wire_server: WireServer, model: str) -> None:
        """A non-streaming call is echoed and reports word-count usage."""
        response = await _router(wire_server, model).acompletion(model=model, messages=PROMPT)
        assert response.choices[0].message.content == "echo: what is the weather in Paris"
        assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (6, 7)

    async def test_scripted_text_streams_with_usage(self, wire_server: WireServer, model: str) -> None:
        """A streamed scripted reply arrives in several chunks, with a usage chunk when asked for."""
        wire_server.script(Reply.text("sunny and mild today"))
        router = _router(wire_server, model)
        stream = await router.acompletion(
            model=model, messages=PROMPT, stream=True, stream_options={"include_usage": True}
        )
        text, usage, chunks = await _collect(stream)
        assert text == "sunny and mild today"
        assert len(chunks) > 2
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (6, 4)
        assert wire_server.requests[0].stream

    async def test_reply_uses_requested_model_name(self, wire_server: WireServer, model: str) -> None:
        """The server answers in the name of the model the request asked for."""
        await _router(wire_server, model).acompletion(model=model, messages=PROMPT)
        assert model.split("/", 1)[1] == wire_server.requests[0].model

    async def test_json_reply_for_response_format(self, wire_server: WireServer, model: str) -> None:
        """``Reply.json`` satisfies a ``response_format`` request with parseable JSON content."""
        wire_server.script(Reply.json({"a": 1, "b": ["x"]}))
        response = await _router(wire_server, model).acompletion(
            model=model, messages=PROMPT, response_format={"type": "json_object"}
        )
        assert json.loads(response.choices[0].message.content) == {"a": 1, "b": ["x"]}

    async def test_default_reply_to_json_request_is_json(self, wire_server: WireServer, model: str) -> None:
        """Unscripted, a JSON-schema request gets ``{"echo": <prompt>}``."""
        response = await _router(wire_server, model).acompletion(
            model=model, messages=PROMPT, response_format=ECHO_SCHEMA
        )
        # For older Gemini models LiteLLM appends the schema to the prompt, so only the start is fixed.
        assert json.loads(response.choices[0].message.content)["echo"].startswith("what is the weather in Paris")


@pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL, GEMINI_MODEL])
class TestToolCalls:
    async def test_tool_call_round_trip(self, wire_server: WireServer, model: str) -> None:
        """A scripted tool call parses, and the tool result sent back reaches the server."""
        wire_server.script(Reply.tool_call("get_weather", {"city": "Paris"}), Reply.text("It is sunny."))
        router = _router(wire_server, model)
        first = await router.acompletion(model=model, messages=PROMPT, tools=[WEATHER_TOOL], **SKIP_MCP)
        message = first.choices[0].message
        call = message.tool_calls[0]
        assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
        assert first.choices[0].finish_reason == "tool_calls"
        follow_up = [
            *PROMPT,
            message.model_dump(),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ]
        second = await router.acompletion(model=model, messages=follow_up, tools=[WEATHER_TOOL], **SKIP_MCP)
        assert second.choices[0].message.content == "It is sunny."
        if model != GEMINI_MODEL:  # Gemini pairs function responses with calls by name, not id
            assert call.id in json.dumps(wire_server.requests[1].body)
        assert "sunny, 21 C" in json.dumps(wire_server.requests[1].body)

    async def test_streamed_tool_call_arguments_parse(self, wire_server: WireServer, model: str) -> None:
        """Tool-call arguments streamed as deltas reassemble into the scripted arguments."""
        wire_server.script(Reply.tool_call("get_weather", {"city": "Paris", "days": 3}))
        router = _router(wire_server, model)
        stream = await router.acompletion(model=model, messages=PROMPT, tools=[WEATHER_TOOL], stream=True, **SKIP_MCP)
        _, _, chunks = await _collect(stream)
        name, arguments = "", ""
        for chunk in chunks:
            for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                name += delta_call.function.name or ""
                arguments += delta_call.function.arguments or ""
        assert (name, json.loads(arguments)) == ("get_weather", {"city": "Paris", "days": 3})


class TestEmbeddings:
    async def test_embeddings_are_deterministic_with_usage(self, wire_server: WireServer) -> None:
        """Embeddings are the documented hash vectors of each input, with word-count usage."""
        router = _router(wire_server, "openai/text-embedding-3-small")
        response = await router.aembedding(model="openai/text-embedding-3-small", input=["a b", "c"])
        vectors = [item["embedding"] for item in response.data]
        assert [embedding_vector("a b"), embedding_vector("c")] == vectors
        assert len(vectors[0]) == DEFAULT_EMBEDDING_DIM
        assert response.usage.prompt_tokens == 3

    async def test_embeddings_honour_dimensions(self, wire_server: WireServer) -> None:
        """``dimensions`` sets the vector length."""
        router = _router(wire_server, "openai/text-embedding-3-small")
        response = await router.aembedding(model="openai/text-embedding-3-small", input="hello", dimensions=5)
        assert len(response.data[0]["embedding"]) == 5


def test_sync_completion(wire_server: WireServer) -> None:
    """The synchronous ``litellm.completion`` works against the server."""
    litellm = litellm_module()
    response = litellm.completion(
        model=OPENAI_MODEL, messages=PROMPT, api_base=wire_server.openai_base, api_key="sk-test-secret"
    )
    assert response.choices[0].message.content == "echo: what is the weather in Paris"


def test_sync_anthropic_streaming(wire_server: WireServer) -> None:
    """The synchronous streaming path of the Anthropic translation works too."""
    litellm = litellm_module()
    wire_server.script(Reply.text("one two three"))
    stream = litellm.completion(
        model=ANTHROPIC_MODEL, messages=PROMPT, api_base=wire_server.anthropic_base, api_key="k", stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two three"
