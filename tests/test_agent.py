"""UnifiedAgent's call path against a real Router and the local wire server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from loomllm import (
    ForbiddenParameter,
    Loom,
    MissingCredentials,
    OutputValidationError,
    ProviderUnavailable,
    RateLimited,
    ToolCall,
    UnifiedAgent,
)
from loomllm._litellm import callbacks as _hooks
from loomllm.testing import Reply, WireServer

AGENTS = """
agents:
  gpt: {model: smart, max_tokens: 50}
  claude: {model: claude, max_tokens: 50}
  flaky: {model: broken, max_tokens: 50}
  librarian: {model: smart, embedding_model: embeddings}
"""


class Plan(BaseModel):
    title: str
    steps: list[str]


class TestProviders:
    @pytest.mark.parametrize("agent", ["gpt", "claude"])
    async def test_same_code_on_openai_and_anthropic(self, make_loom: Any, wire_server: WireServer,
                                                     agent: str) -> None:
        """One agent API works unchanged over the OpenAI and the Anthropic wire formats."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.text("bonjour"))
        assert "bonjour" == await loom.agent(agent).chat("hello")
        expected_api = "openai" if agent == "gpt" else "anthropic"
        assert [expected_api] == [r.api for r in wire_server.requests]

    async def test_agent_name_travels_in_metadata(self, make_loom: Any) -> None:
        """Every attempt event names the agent that made the call."""
        events: list[dict[str, Any]] = []
        loom = make_loom(AGENTS, on_event=events.append)
        await loom.agent("gpt").chat("hi")
        await asyncio.sleep(0.2)  # success callbacks run in the background
        attempts = [e for e in events if e["event"] == "llm.attempt"]
        assert ["gpt"] == [a["agent"] for a in attempts]
        assert "smart/openai/gpt-4o-mini" == attempts[0]["deployment"]

    async def test_other_callbacks_can_attribute_attempts(self, make_loom: Any) -> None:
        """A user's own LiteLLM callback finds the agent name in the request metadata."""
        from litellm.integrations.custom_logger import CustomLogger

        from loomllm._litellm import litellm_module

        seen: list[Any] = []

        class Spy(CustomLogger):  # type: ignore[misc]
            async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                              end_time: Any) -> None:
                seen.append((kwargs.get("litellm_params") or {}).get("metadata", {}).get("loomllm_agent"))

        litellm = litellm_module()
        spy = Spy()
        litellm.callbacks.append(spy)
        try:
            loom = make_loom(AGENTS)
            await loom.agent("gpt").chat("hi")
            for _ in range(100):  # LiteLLM's logging worker runs in the background
                if seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            _hooks.unregister(spy)  # from every LiteLLM list, or the next test's spy is de-duplicated away
        assert ["gpt"] == seen

    async def test_call_event_has_numbers_not_contents(self, make_loom: Any, wire_server: WireServer) -> None:
        """The per-call event carries tokens, cost and latency, never the prompt or the answer."""
        events: list[dict[str, Any]] = []
        loom = make_loom(AGENTS, on_event=events.append)
        wire_server.route(Reply.text("the secret answer"))
        await loom.agent("gpt").chat("my private question")
        call = next(e for e in events if e["event"] == "llm.call")
        assert call["tokens_in"] > 0 and call["tokens_out"] == 3 and call["cost_usd"] > 0
        assert "private" not in repr(events) and "secret answer" not in repr(events)


class TestReliability:
    async def test_fallback_to_another_group(self, make_loom: Any, wire_server: WireServer) -> None:
        """A failing deployment falls back to the next group and the answer comes from there."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.status(500), model="broken-model")
        wire_server.route(Reply.text("from claude"), model="claude-haiku-4-5")
        assert "from claude" == await loom.agent("flaky").chat("hi")
        assert ["broken-model", "claude-haiku-4-5"] == [r.model for r in wire_server.requests]

    async def test_attempt_that_answered_is_logged_at_debug(self, make_loom: Any, wire_server: WireServer) -> None:
        """At info one line per call and one per failed attempt: the answering attempt's line is at debug (its
        numbers are the call's), and still reaches the hook."""
        events: list[dict[str, Any]] = []
        loom = make_loom(AGENTS, on_event=events.append)
        wire_server.route(Reply.status(500), model="broken-model")
        wire_server.route(Reply.text("from claude"), model="claude-haiku-4-5")
        await loom.agent("flaky").chat("hi")
        for _ in range(100):
            if sum(e["event"] == "llm.attempt" for e in events) == 2:
                break
            await asyncio.sleep(0.05)
        levels = [(e["event"], e.get("outcome"), e["level"]) for e in events
                  if e["event"] in ("llm.attempt", "llm.call")]
        assert ("llm.attempt", "error", "info") in levels
        assert ("llm.attempt", "ok", "debug") in levels
        assert ("llm.call", "ok", "info") in levels

    async def test_two_live_looms_both_see_failed_attempts(self, make_loom: Any, wire_server: WireServer) -> None:
        """Each live Loom logs its own failed attempts (LiteLLM de-duplicates look-alike callbacks)."""
        first_events: list[dict[str, Any]] = []
        second_events: list[dict[str, Any]] = []
        first = make_loom(AGENTS, on_event=first_events.append)
        second = make_loom(AGENTS, on_event=second_events.append)
        wire_server.route(Reply.status(500), model="broken-model")
        await first.agent("flaky").chat("hi")
        await second.agent("flaky").chat("hi")
        for _ in range(100):
            if all(any(e["event"] == "llm.attempt" and e["outcome"] == "error" for e in events)
                   for events in (first_events, second_events)):
                break
            await asyncio.sleep(0.05)
        for events in (first_events, second_events):
            outcomes = [(e["deployment"], e["outcome"]) for e in events if e["event"] == "llm.attempt"]
            assert ("broken/openai/broken-model", "error") in outcomes
            assert ("claude/anthropic/claude-haiku-4-5", "ok") in outcomes

    async def test_retry_honours_retry_after(self, make_loom: Any, wire_server: WireServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """A 429 with Retry-After is retried after (at least) the delay the provider asked for."""
        slept: list[float] = []
        real_sleep = asyncio.sleep

        async def recording_sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
            slept.append(delay)
            return await real_sleep(min(delay, 0.01), *args, **kwargs)

        monkeypatch.setattr(asyncio, "sleep", recording_sleep)
        head = _head(wire_server, "router_settings: {num_retries: 1, retry_after: 0}")
        loom = make_loom(AGENTS, head=head)
        wire_server.script(Reply.status(429, retry_after=3), Reply.text("ok"))
        assert "ok" == await loom.agent("gpt").chat("hi")
        assert 2 == len(wire_server.requests)
        assert any(2.9 <= s <= 10 for s in slept), slept

    async def test_provider_error_is_typed(self, make_loom: Any, wire_server: WireServer) -> None:
        """A 503 without fallback surfaces as ProviderUnavailable, LiteLLM's error kept as the cause."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.status(503))
        with pytest.raises(ProviderUnavailable) as caught:
            await loom.agent("gpt").chat("hi")
        assert 503 == caught.value.status_code and caught.value.retryable
        assert caught.value.__cause__ is not None

    async def test_rpm_is_enforced(self, make_loom: Any, wire_server: WireServer) -> None:
        """A deployment's rpm from YAML is a hard limit, not just a routing weight."""
        head = _head(wire_server, _ENFORCED_RPM, rpm=2)
        loom = make_loom(AGENTS, head=head)
        agent = loom.agent("gpt")
        await agent.chat("one")
        await agent.chat("two")
        with pytest.raises(RateLimited):
            await agent.chat("three")
        assert 2 == len(wire_server.requests)


class TestStreaming:
    async def test_stream_counts_usage(self, make_loom: Any, wire_server: WireServer) -> None:
        """Streams ask for the usage chunk, so tokens are counted, and the text arrives in chunks."""
        events: list[dict[str, Any]] = []
        loom = make_loom(AGENTS, on_event=events.append)
        wire_server.route(Reply.text("one two three four"))
        text = "".join([c.choices[0].delta.content or "" async for c in loom.agent("claude").stream("hi")])
        assert "one two three four" == text
        call = next(e for e in events if e["event"] == "llm.call")
        assert 4 == call["tokens_out"] and call["tokens_in"] > 0

    async def test_stream_injects_include_usage(self, make_loom: Any, wire_server: WireServer) -> None:
        """OpenAI streams are sent with stream_options.include_usage even when the caller did not ask."""
        loom = make_loom(AGENTS)
        chunks = [c async for c in loom.agent("gpt").stream("hi")]
        assert all(c.choices for c in chunks)  # the usage-only chunk is not shown to callers who did not ask
        assert {"include_usage": True} == wire_server.requests[0].body["stream_options"]

    async def test_cut_stream_raises_provider_error(self, make_loom: Any, wire_server: WireServer) -> None:
        """A stream that ends mid-way raises instead of returning a silently truncated answer."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.cut_stream(after_chunks=1, content="a b c d e f"))
        with pytest.raises(Exception):  # noqa: B017 - LiteLLM's exception type varies by provider
            _ = [c async for c in loom.agent("gpt").stream("hi")]


class TestToolsJsonEmbeddings:
    @pytest.mark.parametrize("agent", ["gpt", "claude"])
    async def test_tool_calls_round_trip(self, make_loom: Any, wire_server: WireServer, agent: str) -> None:
        """Tool calls come back normalized with their arguments parsed, whatever the provider."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.tool_call("get_weather", {"city": "Paris"}))
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        response = await loom.agent(agent).complete("weather?", tools=tools)
        calls = loom.agent(agent).tool_calls(response)
        assert [("get_weather", {"city": "Paris"})] == [(c.name, c.arguments) for c in calls]
        assert isinstance(calls[0], ToolCall) and calls[0].id

    async def test_json_with_pydantic_schema(self, make_loom: Any, wire_server: WireServer) -> None:
        """json() returns a validated pydantic object and uses the provider's structured mode."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.json({"title": "launch", "steps": ["a", "b"]}))
        plan = await loom.agent("gpt").json("plan it", schema=Plan)
        assert Plan(title="launch", steps=["a", "b"]) == plan
        assert "json_schema" == wire_server.requests[0].body["response_format"]["type"]

    async def test_json_reasks_once_with_the_error(self, make_loom: Any, wire_server: WireServer) -> None:
        """Invalid output is re-asked once, telling the model what was wrong."""
        loom = make_loom(AGENTS)
        wire_server.script(Reply.json({"title": "launch"}), Reply.json({"title": "launch", "steps": ["x"]}))
        assert ["x"] == (await loom.agent("gpt").json("plan it", schema=Plan)).steps
        second = wire_server.requests[1].body["messages"][-1]["content"]
        assert "steps" in second and "invalid" in second

    async def test_json_gives_up_with_raw_text(self, make_loom: Any, wire_server: WireServer) -> None:
        """After a second invalid answer, OutputValidationError carries the raw text."""
        loom = make_loom(AGENTS)
        wire_server.route(Reply.text("not json at all"))
        with pytest.raises(OutputValidationError) as caught:
            await loom.agent("gpt").json("plan it", schema={"type": "object", "required": ["a"]})
        assert "not json at all" == caught.value.raw
        assert 2 == len(wire_server.requests)

    async def test_embeddings(self, make_loom: Any, wire_server: WireServer) -> None:
        """embed() returns one vector per text through the embeddings group."""
        loom = make_loom(AGENTS)
        vectors = await loom.agent("librarian").embed(["a", "b", "c"])
        assert 3 == len(vectors) and all(isinstance(x, float) for x in vectors[0])
        assert "embeddings" == wire_server.requests[0].api


class TestSyncApi:
    def test_sync_twins_use_the_same_path(self, make_loom: Any, wire_server: WireServer) -> None:
        """The sync API answers, streams and enforces exactly like the async one."""
        events: list[dict[str, Any]] = []
        loom = make_loom(AGENTS, on_event=events.append)
        agent = loom.agent("gpt")
        wire_server.route(Reply.text("sync answer"))
        assert "sync answer" == agent.chat_sync("hi")
        assert "sync answer" == "".join(c.choices[0].delta.content or "" for c in agent.stream_sync("hi"))
        assert 2 == len([e for e in events if e["event"] == "llm.call"])
        with pytest.raises(ForbiddenParameter):
            agent.complete_sync("hi", api_base="http://evil.example")


class TestRefusals:
    @pytest.mark.parametrize("param", ["api_base", "api_key", "base_url"])
    async def test_caller_cannot_bypass_deployments(self, make_loom: Any, wire_server: WireServer,
                                                    param: str) -> None:
        """api_base / api_key from the caller are refused before anything is sent."""
        loom = make_loom(AGENTS)
        with pytest.raises(ForbiddenParameter):
            await loom.agent("gpt").complete("hi", **{param: "http://127.0.0.1:1"})
        assert [] == wire_server.requests

    async def test_missing_key_named_when_first_needed(self, make_loom: Any, wire_server: WireServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        """A deployment whose key variable is unset fails with the deployment and the variable, sending nothing."""
        monkeypatch.delenv("LOOMLLM_TEST_UNSET_KEY", raising=False)
        head = (f"model_list:\n  - model_name: smart\n    litellm_params: {{model: openai/gpt-4o-mini, "
                f'api_base: "{wire_server.openai_base}", api_key: os.environ/LOOMLLM_TEST_UNSET_KEY}}\n')
        loom = make_loom("agents: {gpt: {model: smart}}", head=head)
        with pytest.raises(MissingCredentials) as caught:
            await loom.agent("gpt").chat("hi")
        assert "LOOMLLM_TEST_UNSET_KEY" == caught.value.variable
        assert "smart/openai/gpt-4o-mini" in str(caught.value)
        assert [] == wire_server.requests


class TestSubclassing:
    async def test_class_attributes_and_yaml_override(self, make_loom: Any, wire_server: WireServer) -> None:
        """Class attributes define an agent; YAML values for the same name override them."""

        class Planner(UnifiedAgent):
            name = "planner"
            model = "smart"
            system_prompt = "You plan."
            defaults = {"temperature": 0.3}

        loom = make_loom("agents: {planner: {model: claude}}")
        await Planner(loom).chat("hi")
        request = wire_server.requests[0]
        assert "anthropic" == request.api
        assert "You plan." in str(request.body.get("system"))
        assert 0.3 == request.body["temperature"]

    async def test_code_only_agent(self, make_loom: Any, wire_server: WireServer) -> None:
        """An agent defined only in code works without a YAML entry."""

        class Helper(UnifiedAgent):
            name = "helper"
            model = "smart"

        loom: Loom = make_loom("agents: {}")
        wire_server.route(Reply.text("ok"))
        assert "ok" == await Helper(loom).chat("hi")


# rpm is a routing weight unless the Router enforces it (as under the proxy): say so explicitly.
_ENFORCED_RPM = "router_settings: {num_retries: 0, optional_pre_call_checks: [enforce_model_rate_limits]}"


def _head(server: WireServer, router_settings: str, *, rpm: int | None = None) -> str:
    limit = f", rpm: {rpm}" if rpm else ""
    return (
        "model_list:\n"
        f'  - model_name: smart\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", '
        f"api_key: sk-test{limit}}}\n"
        f'  - model_name: claude\n    litellm_params: {{model: anthropic/claude-haiku-4-5, '
        f'api_base: "{server.anthropic_base}", api_key: sk-ant-test}}\n'
        f'  - model_name: broken\n    litellm_params: {{model: openai/broken-model, api_base: "{server.openai_base}", '
        "api_key: sk-test}\n"
        f'  - model_name: embeddings\n    litellm_params: {{model: openai/text-embedding-3-small, '
        f'api_base: "{server.openai_base}", api_key: sk-test}}\n'
        f"{router_settings}\n"
    )


class TestSharedRateLimits:
    async def test_rpm_shared_through_redis(self, make_loom: Any, wire_server: WireServer, redis_url: str) -> None:
        """With a Redis state store, two runtimes (as two processes would) share a deployment's rpm."""
        import uuid

        # A fresh deployment id per run, so counters from earlier runs in this minute do not count.
        head = _head(wire_server, _ENFORCED_RPM, rpm=2).replace(
            "model_name: smart\n", f"model_name: smart\n    model_info: {{id: rpm-{uuid.uuid4().hex}}}\n", 1)
        first = make_loom(AGENTS + f"state: {redis_url}\n", head=head)
        second = make_loom(AGENTS + f"state: {redis_url}\n", head=head)
        await first.agent("gpt").chat("one")
        await second.agent("gpt").chat("two")
        with pytest.raises(RateLimited):
            await first.agent("gpt").chat("three")
        assert 2 == len(wire_server.requests)


class TestCallParameters:
    @pytest.mark.parametrize("param", ["fallbacks", "default_fallbacks", "client", "http_client", "litellm_params",
                                       "aws_access_key_id", "vertex_credentials", "mock_response"])
    async def test_routing_and_client_params_refused(self, make_loom: Any, wire_server: WireServer,
                                                     param: str) -> None:
        """Parameters that would widen a call's reach or swap its client are refused before sending."""
        loom = make_loom(AGENTS)
        with pytest.raises(ForbiddenParameter):
            await loom.agent("gpt").complete("hi", **{param: ["claude"]})
        assert [] == wire_server.requests

    @pytest.mark.parametrize("param", ["model", "messages", "stream"])
    async def test_reserved_params_are_a_type_error(self, make_loom: Any, param: str) -> None:
        """Arguments the agent sets itself are a caller error, not a provider error."""
        loom = make_loom(AGENTS)
        with pytest.raises(TypeError, match=param):
            await loom.agent("gpt").complete("hi", **{param: "x"})

    async def test_embeddings_get_no_chat_defaults(self, make_loom: Any, wire_server: WireServer) -> None:
        """embed() sends neither the agent's chat defaults nor an output cap to the embeddings API."""
        loom = make_loom("agents: {librarian: {model: smart, embedding_model: embeddings, temperature: 0.3, "
                         "max_tokens: 99}}")
        await loom.agent("librarian").embed(["a"])
        body = wire_server.requests[0].body
        assert "temperature" not in body and "max_tokens" not in body

    async def test_closed_loom_refuses_calls(self, make_loom: Any) -> None:
        """After close() a Loom refuses calls instead of running without its per-attempt checks."""
        from loomllm import LoomError

        loom = make_loom(AGENTS)
        agent = loom.agent("gpt")
        loom.close()
        with pytest.raises(LoomError, match="closed"):
            await agent.chat("hi")

    async def test_broken_event_hook_does_not_fail_the_call(self, make_loom: Any) -> None:
        """An on_event hook that raises is logged, and the call still returns its answer."""

        def hook(event: dict[str, Any]) -> None:
            raise RuntimeError("alerting is down")

        loom = make_loom(AGENTS, on_event=hook)
        assert "echo: hi" == await loom.agent("gpt").chat("hi")


class TestCodeAgentChecks:
    def test_unknown_policy_name_on_code_agent(self, make_loom: Any) -> None:
        """A code-defined agent naming an unknown guardrail profile fails like a YAML agent would."""
        from loomllm import ConfigError

        class Careless(UnifiedAgent):
            name = "careless"
            model = "smart"
            guardrails = "strictt"

        loom = make_loom(AGENTS)
        with pytest.raises(ConfigError, match=r"loomllm\.agents\.careless\.guardrails: unknown policy 'strictt'"):
            Careless(loom)
