"""Seed 004 (tool_sandbox "LiteLLM Agent Implementation Plan"): LiteLLMAgent and friends, as its code uses them.

The seed's agent also set LiteLLM globals (``litellm.success_callback``, ``litellm.cache``,
``litellm.max_budget``); those tests restore them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import litellm
import pytest

from loomllm import BudgetExceeded, GuardrailViolation
from loomllm.legacy import (
    GPT_4o_Agent,
    GPT_4o_Mini_Agent,
    LiteLLMAgent,
    LiteLLMAgentWithRouter,
    LiteLLMConfig,
    create_litellm_agent,
)
from loomllm.testing import Reply, WireServer

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]

GET_WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def litellm_globals() -> Iterator[None]:
    """Restore the LiteLLM globals the seed's code sets."""
    saved = (list(litellm.success_callback), litellm.cache, litellm.max_budget, litellm._current_cost)
    yield
    litellm.success_callback, litellm.cache, litellm.max_budget, litellm._current_cost = (
        saved[0], saved[1], saved[2], saved[3])


class TestLiteLLMAgent:
    def test_chat_with_the_old_defaults(self, wire_server: WireServer) -> None:
        """LiteLLMAgent("gpt-4o") sends temperature=0.0 and max_tokens=1024 unless configured otherwise."""
        reply = LiteLLMAgent(model_name="gpt-4o").chat([{"role": "user", "content": "List three test cases."}])

        assert "echo: List three test cases." == reply
        body = wire_server.requests[0].body
        assert (0.0, 1024) == (body["temperature"], body["max_tokens"])

    def test_num_retries_default_is_three(self, wire_server: WireServer) -> None:
        """The old default num_retries=3 holds even where the YAML Router retries 0 times."""
        wire_server.script(Reply.status(500), Reply.status(500), Reply.text("ok"), model="gpt-4o-mini")

        assert "ok" == GPT_4o_Mini_Agent().run("Hi")
        assert 3 == len(wire_server.requests)

    def test_respond_appends_the_answer(self, wire_server: WireServer) -> None:
        """respond() answers the conversation and adds the reply to it."""
        agent = create_litellm_agent("gpt-4o")
        agent.add_messages([{"role": "user", "content": "Book a table for two."}])

        agent.respond()

        assert {"role": "assistant", "content": "echo: Book a table for two."} == agent.messages[-1]

    def test_respond_ending_index(self, wire_server: WireServer) -> None:
        """respond(ending_index=1) answers only the first message."""
        agent = GPT_4o_Agent()
        agent.add_messages([{"role": "user", "content": "first"}, {"role": "user", "content": "second"}])

        agent.respond(ending_index=1)

        assert ["first"] == [m["content"] for m in wire_server.requests[0].body["messages"]]

    def test_respond_skips_after_a_system_message(self, wire_server: WireServer) -> None:
        """Nothing is sent when the last message is a system message."""
        agent = GPT_4o_Agent()
        agent.add_messages([{"role": "system", "content": "Scenario over."}])

        agent.respond()
        assert [] == wire_server.requests

    def test_tool_calls_are_returned_not_lost(self, wire_server: WireServer) -> None:
        """A tool-call answer: respond() appends it with its tool calls; chat() returns them on the reply."""
        wire_server.route(Reply.tool_call("get_weather", {"city": "Oslo"}))
        agent = LiteLLMAgent("gpt-4o", tools=[GET_WEATHER])
        agent.add_messages([{"role": "user", "content": "Weather in Oslo?"}])

        agent.respond()
        reply = agent.chat([{"role": "user", "content": "Weather in Oslo?"}], tools=[GET_WEATHER])

        [call] = agent.messages[-1]["tool_calls"]
        function = call["function"]
        assert ("get_weather", {"city": "Oslo"}) == (function["name"], json.loads(function["arguments"]))
        assert "get_weather" == reply.tool_calls[0]["function"]["name"]
        assert "get_weather" == wire_server.requests[0].body["tools"][0]["function"]["name"]

    def test_deprecation_warning(self) -> None:
        """LiteLLMAgent warns once, naming the replacement."""
        with pytest.warns(DeprecationWarning, match="LiteLLMAgent is deprecated.*UnifiedAgent subclass"):
            LiteLLMAgent("gpt-4o")

    def test_api_base_is_refused(self, wire_server: WireServer) -> None:
        """An api_base in the agent config would bypass the deployments: refused (a ValueError)."""
        with pytest.raises(ValueError, match="api_base"):
            LiteLLMAgent("gpt-4o", api_base="https://proxy.example.net/v1")


class TestRouterAgent:
    def test_router_agent_with_fallbacks(self, wire_server: WireServer) -> None:
        """LiteLLMAgentWithRouter(model_config, fallbacks=..., num_retries=..., timeout=...) falls back."""
        wire_server.route(Reply.status(503), model="gpt-4o")
        router_models = [
            {"model_name": "primary", "litellm_params": {"model": "gpt-4o", "api_key": os.getenv("OPENAI_API_KEY")}},
            {"model_name": "fallback", "litellm_params": {"model": "claude-sonnet-4-20250514",
                                                          "api_key": os.getenv("ANTHROPIC_API_KEY")}},
        ]
        agent = LiteLLMAgentWithRouter(router_models, fallbacks=[{"primary": ["fallback"]}], num_retries=0, timeout=30)

        assert "echo: Hi" == agent.run("Hi")
        assert ["openai", "anthropic"] == [r.api for r in wire_server.requests]

    def test_config_helpers(self, wire_server: WireServer) -> None:
        """LiteLLMConfig.from_env / with_fallbacks build what LiteLLMAgentWithRouter takes; keys as references."""
        config = LiteLLMConfig.with_fallbacks("gpt-4o", ["claude-sonnet-4-20250514"])

        assert {"model": "gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"} == LiteLLMConfig.from_env("gpt-4o")
        assert os.environ["OPENAI_API_KEY"] not in json.dumps(config)
        agent = LiteLLMAgentWithRouter(config["model_list"], fallbacks=config["fallbacks"])
        assert "echo: Hi" == agent.run("Hi")

    def test_fallback_outside_the_yaml_is_refused(self) -> None:
        """A fallback the YAML does not configure is a ValueError saying what to add."""
        models = [{"model_name": "primary", "litellm_params": {"model": "gpt-4o-mini"}},
                  {"model_name": "backup", "litellm_params": {"model": "claude-3-5-haiku-20241022"}}]
        with pytest.raises(ValueError, match=r"add \{gpt-mini: \[claude-haiku\]\} to router_settings.fallbacks"):
            LiteLLMAgentWithRouter(models, fallbacks=[{"primary": ["backup"]}])

    def test_foreign_key_in_model_config_is_refused(self) -> None:
        """A literal key in model_config that is not the deployment's is refused without showing it."""
        models = [{"model_name": "primary", "litellm_params": {"model": "gpt-4o", "api_key": "sk-old-team-key-999"}}]
        with pytest.raises(ValueError) as caught:
            LiteLLMAgentWithRouter(models)
        assert "old-team-key" not in str(caught.value)


@pytest.mark.usefixtures("litellm_globals")
class TestLiteLLMGlobals:
    def test_success_callback_fires(self, wire_server: WireServer) -> None:
        """The seed's cost callback in litellm.success_callback fires with LiteLLM's completion_cost."""
        costs: list[tuple[float, Any]] = []

        def cost_callback(kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
            costs.append((litellm.completion_cost(response_obj), kwargs.get("model")))

        litellm.success_callback = [cost_callback]
        GPT_4o_Agent().run("How much does this cost?")

        deadline = time.monotonic() + 5
        while not costs and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 1 == len(costs) and costs[0][0] > 0

    def test_app_set_cache_is_honoured(self, wire_server: WireServer) -> None:
        """litellm.cache = litellm.Cache() set by the app: the second identical call is not sent."""
        litellm.cache = litellm.Cache(type="local")
        agent = GPT_4o_Agent()

        first = agent.run("What is the capital of Norway?")
        second = agent.run("What is the capital of Norway?")

        assert first == second
        assert 1 == len(wire_server.requests)

    def test_agent_max_budget(self, wire_server: WireServer) -> None:
        """max_budget (USD) in the agent config refuses the call once it is spent, before sending."""
        agent = LiteLLMAgent("gpt-4o", max_budget=0.000001)
        agent.run("First question")

        with pytest.raises(BudgetExceeded, match="max_budget"):
            agent.run("Second question")
        assert 1 == len(wire_server.requests)

    def test_litellm_max_budget(self, wire_server: WireServer) -> None:
        """litellm.max_budget set by the app is effective: spend is counted into litellm._current_cost."""
        litellm.max_budget = 0.000001
        agent = GPT_4o_Agent()
        agent.run("First question")

        assert litellm._current_cost > 0
        with pytest.raises(BudgetExceeded, match=r"litellm\.max_budget"):
            agent.run("Second question")
        assert 1 == len(wire_server.requests)


def test_guardrails_apply(wire_server: WireServer) -> None:
    """A secret in the conversation is blocked before anything is sent."""
    with pytest.raises(GuardrailViolation):
        GPT_4o_Agent().run("Here is the deploy key: AKIA" + "Q3ZT7WXR2M9K4PLD")
    assert [] == wire_server.requests


@pytest.mark.usefixtures("litellm_globals")
def test_setup_cost_tracking(wire_server: WireServer) -> None:
    """The seed's _setup_cost_tracking(): each call's cost reaches _log_cost."""
    agent = GPT_4o_Agent()
    agent._setup_cost_tracking()

    agent.run("What does this cost?")

    [(cost, model)] = agent.cost_log
    assert cost > 0 and "gpt-4o" == model
