"""LLMClient, Message, FunctionDefinition and CompletionResponse, used as async legacy code uses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from loomllm import Loom, OutputValidationError
from loomllm.legacy import CompletionResponse, FunctionDefinition, LLMClient, Message, Role
from loomllm.testing import Reply, WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")

WEATHER = FunctionDefinition(
    name="get_weather",
    description="Current weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


class City(BaseModel):
    """A structured answer."""

    name: str
    population: int


class TestLLMClient:
    async def test_complete_returns_a_completion_response(self, loom: Loom, wire_server: WireServer) -> None:
        """complete(messages) returns content, model, finish reason, usage and timing."""
        wire_server.route(Reply.text("four words in reply").with_usage(7, 4))
        client = LLMClient("gpt-4o", loom=loom)

        response = await client.complete([Message(role=Role.SYSTEM, content="Be brief."),
                                          Message(role=Role.USER, content="Hello")], temperature=0)

        assert isinstance(response, CompletionResponse)
        assert ("four words in reply", "stop", None, False) == (response.content, response.finish_reason,
                                                               response.tool_calls, response.cached)
        assert {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11} == response.usage
        assert response.model.endswith("gpt-4o")
        assert response.latency_ms > 0
        assert [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}] == \
            wire_server.requests[0].body["messages"]

    async def test_provider_picks_the_group(self, loom: Loom, wire_server: WireServer) -> None:
        """provider="anthropic" sends to the first Anthropic group."""
        await LLMClient(provider="anthropic", loom=loom).chat("Hi")

        assert "anthropic" == wire_server.requests[0].api

    async def test_stream(self, loom: Loom, wire_server: WireServer) -> None:
        """stream(messages) yields chunks whose deltas add up to the answer."""
        wire_server.route(Reply.text("a b c"))

        chunks = [chunk async for chunk in LLMClient("claude", loom=loom).stream("Go")]
        assert "a b c" == "".join(chunk.delta for chunk in chunks)

    async def test_embed(self, loom: Loom, wire_server: WireServer) -> None:
        """embed(texts) returns one vector per text from the embedding group."""
        client = LLMClient("gpt-4o", embedding_model="text-embedding-3-small", loom=loom)

        vectors = await client.embed(["one", "two"])
        assert 2 == len(vectors)
        assert "embeddings" == wire_server.requests[0].api

    async def test_chat_with_system_message(self, loom: Loom, wire_server: WireServer) -> None:
        """chat(user_message, system_message) sends both and returns the text."""
        assert "echo: Hi" == await LLMClient("gpt-4o", loom=loom).chat("Hi", system_message="Be kind.")
        assert "system" == wire_server.requests[0].body["messages"][0]["role"]

    async def test_json_without_schema(self, loom: Loom, wire_server: WireServer) -> None:
        """json(prompt) asks for JSON mode and returns the parsed object."""
        wire_server.route(Reply.json({"answer": 42}))

        assert {"answer": 42} == await LLMClient("gpt-4o", loom=loom).json("The answer?")
        assert {"type": "json_object"} == wire_server.requests[0].body["response_format"]

    async def test_json_with_pydantic_schema(self, loom: Loom, wire_server: WireServer) -> None:
        """json(prompt, schema=Model) validates and returns a plain dict."""
        wire_server.route(Reply.json({"name": "Lyon", "population": 520000}))

        assert {"name": "Lyon", "population": 520000} == await LLMClient("claude", loom=loom).json(
            "A French city", schema=City)

    @pytest.mark.parametrize(
        ("choice", "sent"),
        [("auto", "auto"), ("get_weather", {"type": "function", "function": {"name": "get_weather"}})],
    )
    async def test_function_call(self, loom: Loom, wire_server: WireServer, choice: str, sent: object) -> None:
        """function_call sends the functions as tools and returns the parsed call."""
        wire_server.route(Reply.tool_call("get_weather", {"city": "Oslo"}))

        response = await LLMClient("gpt-4o", loom=loom).function_call(
            [Message(role=Role.USER, content="Weather in Oslo?")], [WEATHER], function_choice=choice)

        assert "tool_calls" == response.finish_reason
        assert [("get_weather", {"city": "Oslo"})] == [(c.name, c.arguments) for c in response.tool_calls]
        body = wire_server.requests[0].body
        assert ("get_weather", sent) == (body["tools"][0]["function"]["name"], body["tool_choice"])

    async def test_yaml_agent(self, loom: Loom, wire_server: WireServer) -> None:
        """LLMClient(agent=...) with no model uses that YAML agent as configured."""
        await LLMClient(agent="planner", loom=loom).chat("Go")

        assert {"role": "system", "content": "You plan."} == wire_server.requests[0].body["messages"][0]


class TestMessage:
    def test_to_dict(self) -> None:
        """A Message becomes an OpenAI-format dict; optional fields only when set."""
        assert {"role": "tool", "content": "18C", "tool_call_id": "c1"} == Message(
            role=Role.TOOL, content="18C", tool_call_id="c1").to_dict()


class TestJsonErrors:
    @pytest.mark.parametrize("answer", [Reply.text("not json at all"), Reply.json([1, 2])])
    async def test_json_that_is_not_an_object(self, loom: Loom, wire_server: WireServer, answer: Reply) -> None:
        """An answer that is not a JSON object raises OutputValidationError carrying the raw text."""
        wire_server.route(answer)

        with pytest.raises(OutputValidationError) as caught:
            await LLMClient("gpt-4o", loom=loom).json("Give me JSON")
        assert caught.value.raw


class TestLegacyConfigFile:
    """``load_llm_config``: a value that would switch the budget or the cache off by mistake is an error."""

    @pytest.mark.parametrize(("yaml_text", "path"), [
        ("llm:\n  budget: {daily_limit_usd: true}\n", "llm.budget.daily_limit_usd"),
        ("llm:\n  budget: {daily_limit_usd: .nan}\n", "llm.budget.daily_limit_usd"),
        ("llm:\n  budget: {daily_limit_usd: -5}\n", "llm.budget.daily_limit_usd"),
        ("llm:\n  budget: {daily_limit_usd: '${LOOMLLM_TEST_UNSET_DAILY}'}\n", "llm.budget.daily_limit_usd"),
        ("llm:\n  budget: {daily_limit_usd: 5, enabled: maybe}\n", "llm.budget.enabled"),
        ("llm:\n  cache: {enabled: 'nope'}\n", "llm.cache.enabled"),
        ("llm:\n  cache: {ttl_seconds: 1.5}\n", "llm.cache.ttl_seconds"),
        ("llm:\n  max_retries: true\n", "llm.max_retries"),
    ])
    def test_mistakes_name_the_file_and_key(self, tmp_path: Path, yaml_text: str, path: str) -> None:
        from loomllm.legacy import LegacyConfigError
        from loomllm.legacy._client import load_llm_config

        file = tmp_path / "llm_config.yaml"
        file.write_text(yaml_text)
        with pytest.raises(LegacyConfigError) as caught:
            load_llm_config(file)
        assert str(file) in str(caught.value) and path in str(caught.value)

    def test_switches_from_environment_words(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """``${VAR}`` expands to text: 'false' means false (the old loader read any non-empty text as true)."""
        from loomllm.legacy._client import load_llm_config

        monkeypatch.setenv("LOOMLLM_TEST_CACHE", "false")
        monkeypatch.setenv("LOOMLLM_TEST_DAILY", "12.5")
        file = tmp_path / "llm_config.yaml"
        file.write_text("llm:\n  cache: {enabled: '${LOOMLLM_TEST_CACHE}'}\n"
                        "  budget: {daily_limit_usd: '${LOOMLLM_TEST_DAILY}'}\n")
        loaded = load_llm_config(file)
        assert (False, 12.5) == (loaded.client.cache_enabled, loaded.daily_limit_usd)
