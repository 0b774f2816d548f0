"""LLMManager, ChatGPTProvider, ClaudeProvider and LLMProviderFactory, called as legacy code calls them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loomllm import Loom
from loomllm.errors import ConfigError, MissingCredentials
from loomllm.legacy import ChatGPTProvider, ClaudeProvider, LLMManager, LLMProvider, LLMProviderFactory
from loomllm.testing import Reply, WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")


class ConfigManager:
    """The shape of the old config object: ``get(key, default=None)``."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self.values.get(key, default)


class TestLLMManager:
    def test_chatgpt_calls_the_openai_group(self, loom: Loom, wire_server: WireServer) -> None:
        """llm_provider "chatgpt" answers from the first OpenAI group, in OpenAI wire format."""
        wire_server.route(Reply.text("from gpt"), model="gpt-4o")
        manager = LLMManager(ConfigManager(llm_provider="chatgpt"), loom=loom)

        assert "from gpt" == manager.generate_response("Hello")
        assert "gpt-4o" == manager.get_model_name()
        assert ["openai"] == [r.api for r in wire_server.requests]

    def test_claude_calls_the_anthropic_group(self, loom: Loom, wire_server: WireServer) -> None:
        """llm_provider "claude" answers from the first Anthropic group, in Anthropic wire format."""
        wire_server.route(Reply.text("from claude"), model="claude-sonnet-4-5")
        manager = LLMManager({"llm_provider": "claude"}, loom=loom)

        assert "from claude" == manager.generate_response("Hello")
        assert "claude-sonnet-4-5" == manager.get_model_name()
        assert ["anthropic"] == [r.api for r in wire_server.requests]

    def test_model_group_name_as_provider(self, loom: Loom, wire_server: WireServer) -> None:
        """Any model group name is accepted as llm_provider."""
        manager = LLMManager({"llm_provider": "opus"}, loom=loom)

        manager.generate_response("Hi")
        assert "claude-3-opus-20240229" == wire_server.requests[0].model

    def test_model_group_key_overrides_the_mapping(self, loom: Loom, wire_server: WireServer) -> None:
        """Config key model_group picks the group for the provider."""
        manager = LLMManager({"llm_provider": "chatgpt", "model_group": "old-gpt4"}, loom=loom)

        manager.generate_response("Hi")
        assert "gpt-4-0125-preview" == wire_server.requests[0].model

    def test_kwargs_become_call_parameters(self, loom: Loom, wire_server: WireServer) -> None:
        """system_prompt becomes a system message; temperature and max_tokens reach the provider."""
        manager = LLMManager({"llm_provider": "chatgpt"}, loom=loom)

        manager.generate_response("Hi", system_prompt="Be brief.", temperature=0.3, max_tokens=20)
        body = wire_server.requests[0].body
        assert {"role": "system", "content": "Be brief."} == body["messages"][0]
        assert (0.3, 20) == (body["temperature"], body.get("max_tokens", body.get("max_completion_tokens")))

    def test_loomllm_config_key_finds_the_default_loom(self, config_path: Path, wire_server: WireServer) -> None:
        """Without loom=, the config key loomllm_config names the YAML file."""
        manager = LLMManager({"llm_provider": "claude", "loomllm_config": str(config_path)})

        assert "echo: Hi" == manager.generate_response("Hi")

    def test_environment_variable_finds_the_default_loom(
        self, config_path: Path, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without loom= or loomllm_config, $LOOMLLM_CONFIG names the YAML file."""
        monkeypatch.setenv("LOOMLLM_CONFIG", str(config_path))

        assert "echo: Hi" == LLMManager(ConfigManager()).generate_response("Hi")

    def test_unknown_provider_is_a_config_error(self, loom: Loom) -> None:
        """An llm_provider that is neither a known provider nor a group names the known groups."""
        with pytest.raises(ConfigError, match=r"unknown llm_provider 'mistral'.*known groups: claude"):
            LLMManager({"llm_provider": "mistral"}, loom=loom)

    def test_missing_api_key_names_the_variable(
        self, write_config: Callable[..., Path], wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A deployment whose key variable is unset fails at construction, naming the variable."""
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        path = write_config("keys.yaml", openai_key="os.environ/OPENAI_API_KEY")

        with Loom(path) as loom, pytest.raises(MissingCredentials, match="OPENAI_API_KEY") as caught:
            LLMManager({"llm_provider": "chatgpt"}, loom=loom)
        assert "OPENAI_API_KEY" == caught.value.variable
        assert [] == wire_server.requests


class TestProviders:
    def test_chatgpt_provider(self, loom: Loom, wire_server: WireServer) -> None:
        """ChatGPTProvider(api_key) with the deployment's own key answers through the OpenAI group."""
        provider = ChatGPTProvider("sk-test", loom=loom)

        assert "echo: Hi" == provider.generate_response("Hi")
        assert provider.authenticate()
        assert "gpt-4o" == provider.get_model_name()
        assert "<redacted>" == wire_server.requests[0].headers["authorization"]

    def test_claude_provider(self, loom: Loom, wire_server: WireServer) -> None:
        """ClaudeProvider(api_key) answers through the Anthropic group."""
        provider = ClaudeProvider("sk-ant-test", loom=loom)

        assert "echo: Hi" == provider.generate_response("Hi")
        assert "anthropic" == wire_server.requests[0].api

    def test_handle_rate_limit_without_delay_returns(self, loom: Loom) -> None:
        """handle_rate_limit is callable as before; with no or zero retry_after it returns at once."""
        provider = ClaudeProvider(loom=loom)
        provider.handle_rate_limit()
        provider.handle_rate_limit(retry_after=0)

    def test_provider_errors_keep_their_type(self, loom: Loom, wire_server: WireServer) -> None:
        """A 429 after the Router's retries is loomllm's RateLimited, which legacy code may catch."""
        from loomllm.errors import RateLimited

        wire_server.route(Reply.status(429, retry_after=0))
        with pytest.raises(RateLimited):
            ChatGPTProvider(loom=loom).generate_response("Hi")

    def test_authenticate_false_without_key(self, loom: Loom) -> None:
        """authenticate() reports a missing key without sending anything."""
        provider = ChatGPTProvider(loom=loom)
        loom.config.missing_env["gpt/openai/gpt-4o"] = ["OPENAI_API_KEY"]

        assert not provider.authenticate()


class TestFactory:
    @pytest.mark.parametrize(
        ("name", "expected_class", "group"),
        [("chatgpt", ChatGPTProvider, "gpt"), ("claude", ClaudeProvider, "claude"), ("opus", LLMProvider, "opus")],
    )
    def test_create_provider(self, loom: Loom, name: str, expected_class: type, group: str) -> None:
        """The factory makes the provider class for a name, on the mapped group."""
        provider = LLMProviderFactory.create_provider(name, loom=loom)

        assert (expected_class, group) == (type(provider), provider.model_group)

    def test_available_providers(self) -> None:
        """The factory lists the legacy provider names."""
        assert ["chatgpt", "claude"] == LLMProviderFactory.get_available_providers()
