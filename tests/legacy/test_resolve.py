"""How legacy objects find their Loom, model group and agent; egress applies to them too."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loomllm import Loom
from loomllm.errors import ConfigError
from loomllm.legacy import (
    ChatGPTProvider,
    LiteLLMAgent,
    LLMClient,
    LLMManager,
    close_default_looms,
    default_loom,
    group_for_model,
    group_for_provider,
)
from loomllm.testing import WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")


class TestDefaultLoom:
    def test_one_loom_per_config_file(self, config_path: Path) -> None:
        """Legacy objects naming the same file share one Loom until the defaults are closed."""
        first = LLMManager({"llm_provider": "chatgpt", "loomllm_config": str(config_path)})
        second = LLMManager({"llm_provider": "claude", "loomllm_config": str(config_path)})

        assert first.provider.loom is second.provider.loom is default_loom(config_path)
        close_default_looms()
        assert default_loom(config_path) is not first.provider.loom

    def test_missing_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A loomllm_config that does not exist is refused with the file name."""
        with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
            LLMManager({"loomllm_config": str(tmp_path / "nowhere.yaml")})


class TestGroups:
    @pytest.mark.parametrize(
        ("provider", "group"), [("chatgpt", "gpt"), ("openai", "gpt"), ("claude", "claude"), ("anthropic", "claude"),
                                ("opus", "opus"), ("CHATGPT", "gpt")],
    )
    def test_group_for_provider(self, loom: Loom, provider: str, group: str) -> None:
        """Provider names map to the first chat group on that provider; group names map to themselves."""
        assert group == group_for_provider(loom, provider)

    def test_provider_with_no_group(self, loom: Loom) -> None:
        """A known provider with no deployment in model_list is a ConfigError naming it."""
        with pytest.raises(ConfigError, match="no model group serves llm_provider 'gemini'"):
            group_for_provider(loom, "gemini")

    @pytest.mark.parametrize(
        ("model", "group"), [("gpt-4o", "gpt"), ("openai/gpt-4o", "gpt"), ("claude-3-opus-20240229", "opus"),
                             ("embeddings", "embeddings")],
    )
    def test_group_for_model(self, loom: Loom, model: str, group: str) -> None:
        """A model name maps to the group serving it (prefix optional) or to the group of that name."""
        assert group == group_for_model(loom, model)

    async def test_client_without_model_uses_the_default_provider(self, loom: Loom, wire_server: WireServer) -> None:
        """LLMClient() with no model, provider or YAML agent calls its default provider, Anthropic."""
        await LLMClient(loom=loom).chat("Hi")

        assert "claude-sonnet-4-5" == wire_server.requests[0].model


def test_egress_applies_to_legacy_calls(tmp_path: Path, wire_server: WireServer) -> None:
    """A legacy object whose deployment is outside the egress allowlist is refused at construction."""
    path = tmp_path / "egress.yaml"
    path.write_text(textwrap.dedent(f"""
        model_list:
          - model_name: gpt
            litellm_params: {{model: openai/gpt-4o, api_base: "{wire_server.openai_base}", api_key: sk-test}}
        loomllm:
          egress:
            default: providers
            policies:
              providers: {{allow: [api.openai.com]}}
        """))

    with Loom(path) as loom:
        with pytest.raises(ConfigError, match=r"127\.0\.0\.1"):
            ChatGPTProvider(loom=loom).generate_response("Hi")
        with pytest.raises(ConfigError, match=r"127\.0\.0\.1"):
            LiteLLMAgent("gpt-4o", loom=loom).run("Hi")
    assert [] == wire_server.requests


async def test_two_groups_under_one_agent_name(loom: Loom, wire_server: WireServer) -> None:
    """Legacy objects on different groups share the agent name "legacy"; each keeps its own reach."""
    openai_client, anthropic_client = LLMClient("gpt-4o", loom=loom), LLMClient("claude", loom=loom)

    assert "echo: one" == await openai_client.chat("one")
    assert "echo: two" == await anthropic_client.chat("two")
    assert "echo: three" == await openai_client.chat("three")
    assert ["openai", "anthropic", "openai"] == [r.api for r in wire_server.requests]
