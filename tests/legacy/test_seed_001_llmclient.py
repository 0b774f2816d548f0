"""Seed 001 (AGI-HPC "LLM Sprint Plan"): the LLMClient, its providers, types, middleware, prompts and config.

Every test is written the way the seed's own code and acceptance script use the interface, with
only the import changed to ``loomllm.legacy``; the Loom comes from ``$LOOMLLM_CONFIG``.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
import warnings
from pathlib import Path

import litellm
import pytest

from loomllm import BudgetExceeded, GuardrailViolation, ProviderUnavailable
from loomllm.legacy import (
    AnthropicProvider,
    CacheMiddleware,
    CompletionRequest,
    CompletionResponse,
    CostTracker,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionDefinition,
    LegacyConfigWarning,
    LLMClient,
    LLMClientConfig,
    MemoryCacheBackend,
    Message,
    OllamaProvider,
    OpenAIProvider,
    RateLimitConfig,
    RateLimiter,
    RedisCacheBackend,
    RetryConfig,
    RetryMiddleware,
    Role,
    StreamChunk,
)
from loomllm.prompts import PromptRegistry, PromptTemplate
from loomllm.testing import Reply, WireServer

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]

AWS_KEY = "AKIA" + "Q3ZT7WXR2M9K4PLD"
DATA = Path(__file__).resolve().parent.parent / "data" / "legacy"
WEATHER = FunctionDefinition(
    name="get_weather",
    description="Current weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def seed_messages() -> list[Message]:
    """The seed's two-message conversation."""
    return [Message(role=Role.SYSTEM, content="You are a helpful assistant."),
            Message(role=Role.USER, content="What is 2 + 2?")]


class TestAcceptance:
    async def test_acceptance_script(self, wire_server: WireServer) -> None:
        """The seed's acceptance criteria: register AnthropicProvider(), chat with a system message."""
        client = LLMClient()
        client.register_provider("anthropic", AnthropicProvider())

        response = await client.chat("What is 2 + 2?", system_message="You are a helpful assistant.")

        assert "echo: What is 2 + 2?" == response
        request = wire_server.requests[0]
        assert ("anthropic", "claude-sonnet-4-20250514") == (request.api, request.model)
        assert "You are a helpful assistant." in json.dumps(request.body["system"])

    def test_deprecation_warning_names_the_replacement(self) -> None:
        """LLMClient() warns with a DeprecationWarning users see (a UserWarning too) naming the replacement."""
        with pytest.warns(DeprecationWarning, match=r"LLMClient is deprecated.*use loomllm\.UnifiedAgent") as caught:
            LLMClient()
        assert isinstance(caught[0].message, UserWarning)


class TestComplete:
    async def test_complete_response_fields(self, wire_server: WireServer) -> None:
        """complete(messages) returns content, model, finish_reason, usage, latency and LiteLLM's response."""
        wire_server.route(Reply.text("4").with_usage(21, 1))

        response = await LLMClient().complete(seed_messages(), temperature=0.0, max_tokens=50)

        assert isinstance(response, CompletionResponse)
        assert ("4", "stop", None, False) == (response.content, response.finish_reason, response.tool_calls,
                                              response.cached)
        assert {"prompt_tokens": 21, "completion_tokens": 1, "total_tokens": 22} == response.usage
        assert response.latency_ms > 0
        assert isinstance(response.raw, litellm.ModelResponse)
        assert 50 == wire_server.requests[0].body["max_tokens"]

    async def test_tool_calls_are_the_seeds_dicts(self, wire_server: WireServer) -> None:
        """function_call() returns tool calls as dicts: tool_calls[0]["function"]["name"] and JSON arguments."""
        wire_server.route(Reply.tool_call("get_weather", {"city": "Oslo"}))
        client = LLMClient(LLMClientConfig(default_provider="openai"))

        response = await client.function_call([Message(role=Role.USER, content="Weather in Oslo?")], [WEATHER])

        assert "tool_calls" == response.finish_reason
        call = response.tool_calls[0] if response.tool_calls else {}
        assert ("function", "get_weather") == (call["type"], call["function"]["name"])
        assert {"city": "Oslo"} == json.loads(call["function"]["arguments"])
        assert "auto" == wire_server.requests[0].body["tool_choice"]

    async def test_tool_round_trip_with_function_and_tool_roles(self, wire_server: WireServer) -> None:
        """Message.tool_calls (arguments as a dict, as the Anthropic seed built them), Role.TOOL and
        Role.FUNCTION messages are sent in OpenAI format."""
        call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
        messages = [Message(role=Role.USER, content="Weather in Oslo?"),
                    Message(role=Role.ASSISTANT, content="", tool_calls=[call]),
                    Message(role=Role.TOOL, content="18C and sunny", tool_call_id="call_1"),
                    Message(role=Role.FUNCTION, content="18C", name="get_weather")]

        await LLMClient(LLMClientConfig(default_provider="openai")).complete(messages)

        sent = wire_server.requests[0].body["messages"]
        assert '{"city": "Oslo"}' == sent[1]["tool_calls"][0]["function"]["arguments"]
        assert [("tool", "call_1"), ("function", "get_weather")] == [
            (sent[2]["role"], sent[2]["tool_call_id"]), (sent[3]["role"], sent[3]["name"])]

    async def test_json(self, wire_server: WireServer) -> None:
        """json(prompt, schema=...) returns the parsed object."""
        wire_server.route(Reply.json({"answer": 4}))
        schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}

        assert {"answer": 4} == await LLMClient(LLMClientConfig(default_provider="openai")).json(
            "What is 2 + 2?", schema=schema)

    async def test_provider_complete_with_a_completion_request(self, wire_server: WireServer) -> None:
        """provider.complete(CompletionRequest(...)): per-request model, temperature, max_tokens, stop."""
        request = CompletionRequest(messages=seed_messages(), model="gpt-4o-mini", temperature=0.2, max_tokens=100,
                                    stop=["\n\n"])

        response = await OpenAIProvider().complete(request)

        body = wire_server.requests[0].body
        assert ("gpt-4o-mini", 0.2, 100, ["\n\n"]) == (body["model"], body["temperature"], body["max_tokens"],
                                                      body["stop"])
        assert response.model.endswith("gpt-4o-mini")

    async def test_fallback_providers(self, wire_server: WireServer) -> None:
        """LLMClientConfig.fallback_providers: the next provider answers when the first fails."""
        wire_server.route(Reply.status(503), model="gpt-4o-mini")
        client = LLMClient(LLMClientConfig(default_provider="gpt-mini", fallback_providers=["anthropic"],
                                           max_retries=0))

        response = await client.complete(seed_messages())

        assert response.model.startswith("claude")
        assert ["gpt-4o-mini", "claude-sonnet-4-20250514"] == [r.model for r in wire_server.requests]

    async def test_all_providers_failed_is_a_runtime_error(self, wire_server: WireServer) -> None:
        """When every provider fails the seed's RuntimeError is raised (also a loomllm ProviderError)."""
        wire_server.route(Reply.status(503))
        client = LLMClient(LLMClientConfig(default_provider="gpt-mini", fallback_providers=["claude-haiku"],
                                           max_retries=0))

        with pytest.raises(RuntimeError, match="All providers failed") as caught:
            await client.complete(seed_messages())
        assert isinstance(caught.value, ProviderUnavailable)  # still the loomllm family of the last error


class TestStream:
    async def test_stream_yields_stream_chunks(self, wire_server: WireServer) -> None:
        """stream() yields StreamChunk objects: chunk.delta text, the last with finish_reason."""
        wire_server.route(Reply.text("Two plus two is four."))

        chunks = [chunk async for chunk in LLMClient().stream(seed_messages())]

        assert all(isinstance(c, StreamChunk) for c in chunks)
        assert "Two plus two is four." == "".join(c.delta for c in chunks)
        assert "stop" == chunks[-1].finish_reason

    async def test_provider_stream_of_a_request(self, wire_server: WireServer) -> None:
        """provider.stream(CompletionRequest(stream=True)) streams through the OpenAI group."""
        wire_server.route(Reply.text("four"))
        request = CompletionRequest(messages=seed_messages(), stream=True)

        chunks = [chunk async for chunk in OpenAIProvider().stream(request)]

        assert "four" == "".join(c.delta for c in chunks)
        assert wire_server.requests[0].stream


class TestEmbed:
    async def test_embed_with_model(self, wire_server: WireServer) -> None:
        """embed(texts, model=...) returns EmbeddingResponse(embeddings, model, usage, dimension)."""
        result = await LLMClient().embed(["red cube", "blue table"], model="text-embedding-3-small")

        assert isinstance(result, EmbeddingResponse)
        assert 2 == len(result.embeddings)
        assert result.dimension == len(result.embeddings[0]) > 0
        assert "text-embedding-3-small" in result.model
        assert result.usage is not None and result.usage["prompt_tokens"] > 0
        assert isinstance(result.raw, litellm.EmbeddingResponse)
        assert "embeddings" == wire_server.requests[0].api

    async def test_provider_embed_request(self) -> None:
        """OpenAIProvider().embed(EmbeddingRequest(texts)) uses the config's embedding group."""
        result = await OpenAIProvider().embed(EmbeddingRequest(texts=["memory one"]))

        assert 1 == len(result.embeddings)


class TestProviders:
    def test_provider_properties(self) -> None:
        """The provider classes answer the protocol's properties from the YAML deployments."""
        anthropic, openai = AnthropicProvider(), OpenAIProvider(default_model="gpt-4o-mini")

        assert ("anthropic", "claude-sonnet-4-20250514", True) == (anthropic.provider_name, anthropic.default_model,
                                                                   anthropic.supports_streaming)
        assert ("openai", "gpt-4o-mini", True) == (openai.provider_name, openai.default_model,
                                                   openai.supports_functions)

    async def test_count_tokens(self) -> None:
        """count_tokens(text) counts with the model's tokenizer and sends nothing."""
        assert 0 < await OpenAIProvider().count_tokens("Pick up the red cube and place it on the table.")

    def test_own_key_accepted_other_key_refused(self) -> None:
        """An api_key equal to the deployment's works; another key is a ValueError that never shows it."""
        AnthropicProvider(api_key=os.environ["ANTHROPIC_API_KEY"])

        with pytest.raises(ValueError, match="api_key is set by the application") as caught:
            AnthropicProvider(api_key="sk-ant-someone-elses-key-123")
        assert "someone-elses" not in str(caught.value)

    def test_client_api_key_must_be_the_deployments(self, wire_server: WireServer) -> None:
        """LLMClient(model, api_key=...) with a foreign key is refused before any call."""
        with pytest.raises(ValueError, match="api_key is set by the application"):
            LLMClient("gpt-4o", api_key="sk-proj-another-teams-key")
        assert "echo: Hi" == asyncio.run(LLMClient("gpt-4o", api_key=os.environ["OPENAI_API_KEY"]).chat("Hi"))

    def test_foreign_provider_cannot_be_registered(self) -> None:
        """A provider with its own SDK client would bypass every policy: register_provider refuses it."""
        class MyVLLMProvider:
            provider_name = "vllm"

        with pytest.raises(ValueError, match="would bypass budgets, guardrails and egress"):
            LLMClient().register_provider("vllm", MyVLLMProvider())  # type: ignore[arg-type]

    def test_unknown_provider_and_missing_ollama_are_value_errors(self) -> None:
        """get_provider("nope") and OllamaProvider() with no Ollama deployment raise ValueError."""
        with pytest.raises(ValueError, match="unknown llm_provider 'nope'"):
            LLMClient().get_provider("nope")
        with pytest.raises(ValueError, match="no model group serves llm_provider 'ollama'"):
            OllamaProvider()


class TestMiddleware:
    async def test_cache_middleware_memory(self) -> None:
        """CacheMiddleware(MemoryCacheBackend()): a miss, then a hit marked cached; stats count both."""
        cache = CacheMiddleware(MemoryCacheBackend(), ttl_seconds=60)
        request = CompletionRequest(messages=seed_messages(), temperature=0.0)
        response = await OpenAIProvider().complete(request)

        assert await cache.get_cached(request) is None
        await cache.cache_response(request, response)
        cached = await cache.get_cached(request)

        assert cached is not None and cached.cached and response.content == cached.content
        assert {"hits": 1, "misses": 1, "hit_rate": 0.5} == cache.stats

    async def test_cache_middleware_redis(self) -> None:
        """RedisCacheBackend stores entries in Redis under its prefix; high temperatures are not cached."""
        backend = RedisCacheBackend("redis://127.0.0.1:6379/0", prefix=f"loomllm-test:{uuid.uuid4().hex}:")
        cache = CacheMiddleware(backend)
        request = CompletionRequest(messages=seed_messages(), temperature=0.1)
        await cache.cache_response(request, CompletionResponse(content="4", model="gpt-4o", finish_reason="stop"))
        try:
            cached = await cache.get_cached(request)
            assert cached is not None and "4" == cached.content
            assert await cache.get_cached(CompletionRequest(messages=seed_messages(), temperature=0.9)) is None
        finally:
            await backend.clear()

    async def test_rate_limiter_waits_for_the_next_window(self) -> None:
        """RateLimiter with RateLimitConfig(requests_per_minute=2): the third request waits."""
        now = [60 * 16_667 + 20.0]  # 20 s into a minute
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        limiter = RateLimiter(clock=lambda: now[0], sleep=sleep)
        limiter.configure("anthropic", RateLimitConfig(requests_per_minute=2, tokens_per_minute=1000))
        for _ in range(3):
            await limiter.acquire_request("anthropic")

        assert 1 == len(slept) and 40 < slept[0] < 41

    async def test_retry_middleware_retries_a_503(self, wire_server: WireServer) -> None:
        """RetryMiddleware(RetryConfig(...)).execute(client.complete, ...) retries a provider 503."""
        wire_server.script(Reply.status(503), Reply.text("4"), model="gpt-4o-mini")
        client = LLMClient(LLMClientConfig(default_provider="gpt-mini", max_retries=0))
        retry = RetryMiddleware(RetryConfig(max_retries=2, initial_delay=0.01, jitter=False))

        response = await retry.execute(client.complete, seed_messages())

        assert "4" == response.content
        assert 2 == len(wire_server.requests)

    async def test_retry_middleware_never_retries_a_policy_refusal(self) -> None:
        """A budget refusal is raised at once, not retried."""
        client = LLMClient(agent="broke")
        calls = 0

        async def call() -> CompletionResponse:
            nonlocal calls
            calls += 1
            return await client.complete("Summarize the plan: " + "step " * 80)

        with pytest.raises(BudgetExceeded):
            await RetryMiddleware(RetryConfig(initial_delay=0.01)).execute(call)
        assert 1 == calls

    def test_cost_tracker(self) -> None:
        """CostTracker prices with LiteLLM's map, keeps a per-model breakdown and a daily limit."""
        tracker = CostTracker(daily_limit_usd=0.01)

        cost = tracker.record("gpt-4o", 1000, 500)
        tracker.record("claude-sonnet-4-20250514", 1000, 0)

        assert pytest.approx(0.0075) == cost
        assert pytest.approx({"gpt-4o": 0.0075, "claude-sonnet-4-20250514": 0.003}) == tracker.by_model
        assert pytest.approx(0.0105) == tracker.daily_cost == tracker.total_cost
        with pytest.raises(BudgetExceeded):
            tracker.check()
        tracker.reset_daily()
        tracker.check()


class TestConfigFile:
    async def test_seed_llm_config_yaml(self, wire_server: WireServer) -> None:
        """LLMClient.from_config(configs/llm_config.yaml): providers, fallbacks, limits; ignored keys named once."""
        with pytest.warns(LegacyConfigWarning) as caught:
            client = LLMClient.from_config(DATA / "llm_config.yaml")
        [message] = [str(w.message) for w in caught if w.category is LegacyConfigWarning]
        assert all(key in message for key in ("llm.monitoring", "llm.cache.backend", "llm.providers.ollama",
                                                  "llm.budget.alert_threshold_pct"))

        assert ("anthropic", ["openai"], 60.0) == (client.config.default_provider, client.config.fallback_providers,
                                                    client.config.timeout_seconds)
        assert client.cost_tracker is not None and 100.0 == client.cost_tracker.daily_limit_usd
        assert "echo: Hi" == await client.chat("Hi")
        assert "anthropic" == wire_server.requests[0].api


class TestPrompts:
    def test_prompt_template_seed_form(self) -> None:
        """PromptTemplate(name, version, system, user, variables=[...], examples=[{user, assistant}])."""
        template = PromptTemplate(name="qa", version="1.0", system="Answer about {{topic}}.", user="{{question}}",
                                  variables=["topic", "question"],
                                  examples=[{"user": "What is 1 + 1?", "assistant": "2"}])

        messages = template.render(topic="arithmetic", question="What is 2 + 2?")

        assert [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER] == [m.role for m in messages]
        assert "Answer about arithmetic." == messages[0].content
        with pytest.raises(ValueError, match="missing required variable 'question'"):
            template.render(topic="arithmetic")

    async def test_registry_load_directory_templates_yaml(self, wire_server: WireServer) -> None:
        """PromptRegistry().load_directory(path) reads the seed's `templates:` file; a render feeds complete()."""
        registry = PromptRegistry()
        assert 2 == registry.load_directory(DATA / "prompts")

        template = registry.get("plan_generation")
        messages = template.render(goal="Stack the cubes", context="Two cubes on the floor.",
                                   available_tools="move_arm, gripper")
        await LLMClient().complete(messages)

        sent = json.dumps(wire_server.requests[0].body)
        assert "move_arm, gripper" in sent and "Goal: Stack the cubes" in sent
        assert "1.0" == registry.get("metacognition_review", version="1.0").version


class TestPolicies:
    async def test_secret_is_blocked_before_sending(self, wire_server: WireServer) -> None:
        """An AWS key in a message is refused by the guardrail; nothing reaches the provider."""
        with pytest.raises(GuardrailViolation) as caught:
            await LLMClient().chat(f"Deploy with {AWS_KEY} please")
        assert AWS_KEY not in str(caught.value)
        assert [] == wire_server.requests

    async def test_budget_refuses_before_sending(self, wire_server: WireServer) -> None:
        """A code-named agent in a budget team is refused when the call cannot fit; nothing is sent."""
        with pytest.raises(BudgetExceeded):
            await LLMClient(agent="broke").chat("Summarize: " + "the plan has many steps " * 20)
        assert [] == wire_server.requests

    async def test_concurrent_calls(self, wire_server: WireServer) -> None:
        """Concurrent completions on one client all answer."""
        client = LLMClient()
        answers = await asyncio.gather(*(client.chat(f"question {i}") for i in range(5)))
        assert sorted(answers) == sorted(f"echo: question {i}" for i in range(5))


def test_no_warning_leaks_from_the_types() -> None:
    """The plain data types (Message, CompletionRequest...) do not warn: only the classes that call do."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CompletionRequest(messages=seed_messages())
        EmbeddingRequest(texts=["x"])
