"""LiteLLMAgent, create_litellm_agent and the per-model classes, called as agent-framework code calls them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loomllm import Loom
from loomllm.errors import ConfigError
from loomllm.legacy import ClaudeOpusAgent, GPT_4_0125_Agent, LiteLLMAgent, create_litellm_agent
from loomllm.testing import Reply, WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")


class TestLiteLLMAgent:
    def test_run_answers_from_the_group_serving_the_model(self, loom: Loom, wire_server: WireServer) -> None:
        """run(prompt) reaches the deployment of that model name."""
        wire_server.route(Reply.text("planned"), model="gpt-4o")

        assert "planned" == LiteLLMAgent("gpt-4o", loom=loom).run("Plan it")
        assert "gpt-4o" == wire_server.requests[0].model

    def test_model_name_with_provider_prefix(self, loom: Loom, wire_server: WireServer) -> None:
        """A LiteLLM-style name ('anthropic/claude-sonnet-4-5') maps to its group too."""
        agent = LiteLLMAgent("anthropic/claude-sonnet-4-5", loom=loom)

        assert "claude" == agent.model_group

    async def test_arun(self, loom: Loom, wire_server: WireServer) -> None:
        """arun(prompt) is the awaitable twin of run."""
        assert "echo: Hi" == await LiteLLMAgent("gpt-4o", loom=loom).arun("Hi")

    def test_chat_sends_the_conversation(self, loom: Loom, wire_server: WireServer) -> None:
        """chat(messages) sends the messages, with the configured system prompt and parameters in front."""
        agent = LiteLLMAgent("gpt-4o", loom=loom, system_prompt="Be terse.", temperature=0.1)
        conversation = [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"},
                        {"role": "user", "content": "C"}]

        assert "echo: C" == agent.chat(conversation)
        body = wire_server.requests[0].body
        assert ["system", "user", "assistant", "user"] == [m["role"] for m in body["messages"]]
        assert 0.1 == body["temperature"]

    def test_stream_yields_text(self, loom: Loom, wire_server: WireServer) -> None:
        """stream(prompt) yields the answer piece by piece."""
        wire_server.route(Reply.text("one two three"))

        assert "one two three" == "".join(LiteLLMAgent("gpt-4o", loom=loom).stream("Count"))

    def test_unknown_model_is_a_config_error(self, loom: Loom) -> None:
        """A model no deployment serves is refused with the known groups."""
        with pytest.raises(ConfigError, match="no model group serves model 'gpt-5-turbo'"):
            LiteLLMAgent("gpt-5-turbo", loom=loom)

    def test_create_litellm_agent(self, loom: Loom) -> None:
        """The factory returns a LiteLLMAgent for the model."""
        agent = create_litellm_agent("gpt-4-0125-preview", loom=loom)

        assert (LiteLLMAgent, "old-gpt4") == (type(agent), agent.model_group)

    def test_yaml_agent_name_uses_its_configuration(self, loom: Loom, wire_server: WireServer) -> None:
        """agent= naming a YAML agent on the same group uses that agent's system prompt."""
        LiteLLMAgent("gpt-4o", loom=loom, agent="planner").run("Go")

        assert {"role": "system", "content": "You plan."} == wire_server.requests[0].body["messages"][0]

    def test_yaml_agent_on_another_group_is_refused(self, loom: Loom) -> None:
        """agent= naming a YAML agent whose group differs from the model is a ConfigError, not a silent swap."""
        with pytest.raises(ConfigError, match="agent 'planner' uses model group 'gpt'"):
            LiteLLMAgent("claude-sonnet-4-5", loom=loom, agent="planner")


class TestNamedAgents:
    @pytest.mark.parametrize(
        ("agent_class", "model", "api"),
        [(GPT_4_0125_Agent, "gpt-4-0125-preview", "openai"), (ClaudeOpusAgent, "claude-3-opus-20240229", "anthropic")],
    )
    def test_named_agent_calls_its_fixed_model(
        self, loom: Loom, wire_server: WireServer, agent_class: Callable[..., LiteLLMAgent], model: str, api: str
    ) -> None:
        """Each named wrapper reaches its fixed model, in that provider's wire format."""
        assert "echo: Hi" == agent_class(loom=loom).run("Hi")
        assert [(model, api)] == [(r.model, r.api) for r in wire_server.requests]
