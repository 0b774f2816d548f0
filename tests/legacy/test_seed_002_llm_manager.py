"""Seed 002 (Loom "LLM Manager supporting ChatGPT and Claude"): LLMManager, its providers and app config.

The app's ``ConfigManager`` below is the seed's own (JSON file validated by a JSON schema); only
the ``LLMManager`` / provider imports changed to ``loomllm.legacy``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from loomllm import GuardrailViolation, RateLimited
from loomllm.legacy import ChatGPTProvider, ClaudeProvider, LLMManager
from loomllm.testing import Reply, WireServer

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]

SCHEMA = {
    "type": "object",
    "properties": {
        "llm_provider": {"type": "string", "enum": ["chatgpt", "claude"], "default": "chatgpt"},
        "openai_api_key": {"type": "string"},
        "anthropic_api_key": {"type": "string"},
    },
    "required": ["llm_provider"],
}


class ConfigManager:
    """The seed's config manager (core/config_manager.py), as the app has it."""

    def __init__(self, config_path: Path, schema_path: Path) -> None:
        self.config_path = config_path
        self.schema_path = schema_path
        self.config = self._load_and_validate_config()

    def _load_and_validate_config(self) -> dict[str, Any]:
        config = json.loads(self.config_path.read_text())
        try:
            jsonschema.validate(instance=config, schema=json.loads(self.schema_path.read_text()))
        except jsonschema.exceptions.ValidationError as e:
            raise ValueError(f"Config validation error: {e.message}") from None
        return dict(config)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)


@pytest.fixture
def app_config(tmp_path: Path) -> Any:
    """Write the app's dev-automation.config.json and return a ConfigManager factory."""
    schema = tmp_path / "config_schema.json"
    schema.write_text(json.dumps(SCHEMA))

    def make(**values: Any) -> ConfigManager:
        path = tmp_path / "dev-automation.config.json"
        path.write_text(json.dumps(values))
        return ConfigManager(config_path=path, schema_path=schema)

    return make


class TestLLMManager:
    def test_chatgpt_from_config(self, app_config: Any, wire_server: WireServer) -> None:
        """llm_provider "chatgpt" with the app's openai_api_key answers through OpenAI."""
        manager = LLMManager(app_config(llm_provider="chatgpt", openai_api_key=os.environ["OPENAI_API_KEY"]))

        assert "echo: Review this plan" == manager.generate_response("Review this plan")
        assert ("openai", "gpt-4o") == (wire_server.requests[0].api, manager.get_model_name())

    def test_claude_from_config(self, app_config: Any, wire_server: WireServer) -> None:
        """llm_provider "claude" answers through Anthropic."""
        manager = LLMManager(app_config(llm_provider="claude", anthropic_api_key=os.environ["ANTHROPIC_API_KEY"]))

        manager.generate_response("Review this plan")
        assert "anthropic" == wire_server.requests[0].api
        assert "claude-sonnet-4-20250514" == manager.get_model_name()

    def test_model_and_temperature_per_call(self, app_config: Any, wire_server: WireServer) -> None:
        """generate_response(prompt, model="gpt-4", temperature=0.1) sends that model and temperature."""
        manager = LLMManager(app_config(llm_provider="chatgpt"))

        manager.generate_response("Classify this ticket", model="gpt-4", temperature=0.1)

        body = wire_server.requests[0].body
        assert ("gpt-4", 0.1) == (body["model"], body["temperature"])

    def test_model_not_in_the_config_is_a_value_error(self, app_config: Any, wire_server: WireServer) -> None:
        """A per-call model no deployment serves: the config wins, with a ValueError naming the model."""
        manager = LLMManager(app_config(llm_provider="chatgpt"))

        with pytest.raises(ValueError, match=r"no model group serves model 'gpt-3\.5-turbo'"):
            manager.generate_response("Hi", model="gpt-3.5-turbo")
        assert [] == wire_server.requests

    def test_max_tokens_to_sample_is_sent_as_max_tokens(self, wire_server: WireServer) -> None:
        """ClaudeProvider's max_tokens_to_sample=200 reaches the Messages API as max_tokens=200."""
        ClaudeProvider(os.environ["ANTHROPIC_API_KEY"]).generate_response(
            "Summarize the diff", model="claude-sonnet-4-20250514", max_tokens_to_sample=200)

        body = wire_server.requests[0].body
        assert 200 == body["max_tokens"]
        assert "max_tokens_to_sample" not in body

    def test_per_agent_override(self, wire_server: WireServer) -> None:
        """An agent's config.json {"llm_provider": "claude"} (a plain dict) overrides the global choice."""
        LLMManager({"llm_provider": "claude"}).generate_response("Hi")
        assert "anthropic" == wire_server.requests[0].api

    def test_deprecation_warning(self, app_config: Any) -> None:
        """LLMManager warns once, naming the replacement."""
        with pytest.warns(DeprecationWarning, match="LLMManager is deprecated.*loomllm.Loom"):
            LLMManager(app_config(llm_provider="chatgpt"))


class TestConfigErrors:
    def test_conflicting_app_key_is_a_value_error(self, app_config: Any, wire_server: WireServer) -> None:
        """An openai_api_key that is not the deployment's key is refused as a ValueError, without the key."""
        with pytest.raises(ValueError, match="openai_api_key is set by the application") as caught:
            LLMManager(app_config(llm_provider="chatgpt", openai_api_key="sk-proj-stale-key-from-2023"))
        assert "stale-key" not in str(caught.value)
        assert [] == wire_server.requests

    def test_missing_key_is_a_value_error(self, app_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """No key for the provider's deployments: the seed's ValueError, naming the variable."""
        monkeypatch.delenv("ANTHROPIC_API_KEY")
        with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
            LLMManager(app_config(llm_provider="claude"))

    def test_unsupported_provider_is_a_value_error(self) -> None:
        """An llm_provider loomllm cannot map raises ValueError (the app's schema would also refuse it)."""
        with pytest.raises(ValueError, match="unknown llm_provider 'llama'"):
            LLMManager({"llm_provider": "llama"})


class TestPolicies:
    def test_secret_blocked(self, wire_server: WireServer) -> None:
        """A key pasted into a prompt is blocked before anything is sent."""
        with pytest.raises(GuardrailViolation):
            ChatGPTProvider().generate_response("Use token ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + " to push")
        assert [] == wire_server.requests

    def test_rate_limit_is_a_typed_error(self, wire_server: WireServer) -> None:
        """A provider 429 (after the Router's retries) raises loomllm's RateLimited."""
        wire_server.route(Reply.status(429))
        with pytest.raises(RateLimited):
            ChatGPTProvider().generate_response("Hi")

    def test_authenticate_and_handle_rate_limit(self) -> None:
        """authenticate() says whether the deployment has its key; handle_rate_limit() is callable."""
        provider = ChatGPTProvider()
        assert provider.authenticate()
        provider.handle_rate_limit()
