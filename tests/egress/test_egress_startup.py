"""Provider default hosts, deployment_url, and the start-up verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm._egress import (
    EgressConfig,
    EgressConfigWarning,
    EgressPolicy,
    check_deployments,
    check_url,
    deployment_url,
    enforce_deployments,
)
from loomllm.errors import ConfigError


def dep(model: str, **params: Any) -> dict[str, Any]:
    """A LiteLLM deployment dict."""
    return {"model_name": "g", "litellm_params": {"model": model, **params}}


class TestDeploymentUrl:
    @pytest.mark.parametrize(
        ("model", "params", "url"),
        [
            ("openai/gpt-4o-mini", {}, "https://api.openai.com/v1"),
            ("anthropic/claude-3-5-haiku", {}, "https://api.anthropic.com"),
            ("gemini/gemini-2.0-flash", {}, "https://generativelanguage.googleapis.com"),
            ("vertex_ai/gemini-2.0-flash", {}, "https://us-central1-aiplatform.googleapis.com"),
            (
                "vertex_ai/gemini-2.0-flash",
                {"vertex_location": "europe-west4"},
                "https://europe-west4-aiplatform.googleapis.com",
            ),
            ("vertex_ai/gemini-2.0-flash", {"vertex_location": "global"}, "https://aiplatform.googleapis.com"),
            ("vertex_ai/gemini-2.0-flash", {"vertex_location": "eu"}, "https://aiplatform.eu.rep.googleapis.com"),
            ("mistral/mistral-large", {}, "https://api.mistral.ai/v1"),
            ("groq/llama3", {}, "https://api.groq.com/openai/v1"),
            ("cohere_chat/command-r", {}, "https://api.cohere.com/v2/chat"),
            ("together_ai/x", {}, "https://api.together.ai/v1"),
            ("deepseek/deepseek-chat", {}, "https://api.deepseek.com"),
            ("xai/grok-2", {}, "https://api.x.ai/v1"),
            ("fireworks_ai/x", {}, "https://api.fireworks.ai/inference/v1"),
            ("perplexity/sonar", {}, "https://api.perplexity.ai"),
            ("openrouter/x", {}, "https://openrouter.ai/api/v1"),
            (
                "bedrock/anthropic.claude",
                {"aws_region_name": "eu-central-1"},
                "https://bedrock-runtime.eu-central-1.amazonaws.com",
            ),
            (
                "bedrock/anthropic.claude",
                {"aws_region_name": "cn-north-1"},
                "https://bedrock-runtime.cn-north-1.amazonaws.com.cn",
            ),
            # No region anywhere: LiteLLM's own default region (as it would send).
            ("bedrock/anthropic.claude", {}, "https://bedrock-runtime.us-west-2.amazonaws.com"),
            (
                "bedrock/arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude",
                {},
                "https://bedrock-runtime.eu-west-1.amazonaws.com",
            ),
            ("ollama/llama3", {}, "http://localhost:11434"),
            ("ollama_chat/llama3", {}, "http://localhost:11434"),
            ("openai/gpt-4o", {"api_base": "https://proxy.example/v1"}, "https://proxy.example/v1"),
            (
                "gpt-4o",
                {"custom_llm_provider": "azure", "api_base": "https://r.openai.azure.com"},
                "https://r.openai.azure.com",
            ),
        ],
    )
    def test_table(self, model: str, params: dict[str, Any], url: str) -> None:
        """Each provider resolves to its documented default host (or the configured api_base)."""
        assert url == deployment_url(dep(model, **params), environ={})

    @pytest.mark.parametrize(
        ("model", "params"),
        [
            ("azure/gpt-4o", {}),
            ("azure_ai/x", {}),
            ("hosted_vllm/x", {}),
            ("vertex_ai/x", {"vertex_location": "Bad Location"}),
            ("openai/x", {"api_base": "os.environ/UNSET_BASE"}),
            ("no-such-provider/x", {}),
        ],
    )
    def test_unresolvable(self, model: str, params: dict[str, Any]) -> None:
        """Providers that need an api_base (or a region) resolve to None without it."""
        assert deployment_url(dep(model, **params), environ={}) is None

    @pytest.mark.parametrize(
        ("model", "environ", "url"),
        [
            ("openai/gpt-4o", {"OPENAI_BASE_URL": "http://a/v1", "OPENAI_API_BASE": "http://b/v1"}, "http://a/v1"),
            ("openai/gpt-4o", {"OPENAI_API_BASE": "http://b/v1"}, "http://b/v1"),
            ("anthropic/x", {"ANTHROPIC_BASE_URL": "http://c"}, "http://c"),
            ("azure/x", {"AZURE_API_BASE": "https://r.openai.azure.com"}, "https://r.openai.azure.com"),
            ("ollama/x", {"OLLAMA_API_BASE": "http://gpu:11434"}, "http://gpu:11434"),
            ("bedrock/x", {"AWS_REGION": "us-east-1"}, "https://bedrock-runtime.us-east-1.amazonaws.com"),
            ("vertex_ai/x", {"VERTEXAI_LOCATION": "asia-east1"}, "https://asia-east1-aiplatform.googleapis.com"),
            ("openai/x", {"MY_BASE": "https://m/v1"}, "https://api.openai.com/v1"),
        ],
    )
    def test_environment(self, model: str, environ: dict[str, str], url: str) -> None:
        """Base URLs LiteLLM reads from the environment are resolved the same way."""
        assert url == deployment_url(dep(model), environ=environ)

    def test_env_reference_in_api_base(self) -> None:
        """``os.environ/NAME`` in api_base is read from the environment."""
        assert "https://m/v1" == deployment_url(
            dep("openai/x", api_base="os.environ/MY_BASE"), environ={"MY_BASE": "https://m/v1"}
        )

    def test_unprefixed_model_uses_litellm(self) -> None:
        """A bare model name is attributed to its provider by LiteLLM."""
        assert "https://api.openai.com/v1" == deployment_url(dep("gpt-4o-mini"), environ={})

    def test_default_hosts_pass_a_provider_policy(self) -> None:
        """The default hosts pass the documented example policy for the providers it lists."""
        policy = EgressPolicy(allow=["api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com"])
        for model in ("openai/x", "anthropic/x", "gemini/x"):
            url = deployment_url(dep(model), environ={})
            assert url is not None and check_url(url, policy).allowed, model


def config(mode: str = "error") -> EgressConfig:
    """Two policies: OpenAI only, and OpenAI + Anthropic."""
    return EgressConfig.model_validate(
        {
            "default": "openai",
            "on_denied_deployment": mode,
            "policies": {
                "openai": {"allow": ["api.openai.com"]},
                "both": {"allow": ["api.openai.com", "api.anthropic.com"]},
            },
        }
    )


OPENAI = dep("openai/gpt-4o-mini")
ANTHROPIC = dep("anthropic/claude-3-5-haiku")
EVIL = {**dep("openai/gpt-4o-mini", api_base="https://user:pw@evil.example/v1?key=k"), "model_info": {"id": "evil-1"}}


class TestCheckDeployments:
    def test_verdicts(self) -> None:
        """Every reachable deployment of every agent gets a verdict with host and reason."""
        verdicts = check_deployments(
            config(),
            {"a": "openai", "b": "both", "c": None},
            {"a": [OPENAI, ANTHROPIC], "b": [OPENAI, ANTHROPIC], "c": [EVIL]},
            environ={},
        )
        table = [(v.agent, v.model, v.host, v.allowed) for v in verdicts]
        assert [
            ("a", "openai/gpt-4o-mini", "api.openai.com", True),
            ("a", "anthropic/claude-3-5-haiku", "api.anthropic.com", False),
            ("b", "openai/gpt-4o-mini", "api.openai.com", True),
            ("b", "anthropic/claude-3-5-haiku", "api.anthropic.com", True),
            ("c", "openai/gpt-4o-mini", None, True),
        ] == table
        assert "not on the allowlist" in verdicts[1].reason
        assert "https://api.anthropic.com" == verdicts[1].url

    def test_verdict_never_leaks_credentials(self) -> None:
        """A deployment URL with userinfo and a key in the query is reported without them."""
        (verdict,) = check_deployments(config(), {"a": "openai"}, {"a": [EVIL]}, environ={})
        assert not verdict.allowed
        assert "evil-1" == verdict.deployment
        assert "pw" not in repr(verdict) and "key=" not in repr(verdict)


class TestEnforceDeployments:
    def test_error_mode(self) -> None:
        """on_denied_deployment: error raises ConfigError naming agent, deployment and host."""
        with pytest.raises(ConfigError) as info:
            enforce_deployments(config(), {"a": "openai"}, {"a": [OPENAI, ANTHROPIC]}, file="f.yaml", environ={})
        message = str(info.value)
        assert "f.yaml: loomllm.agents.a.egress" in message
        assert "api.anthropic.com" in message and "'a'" in message

    def test_remove_mode(self) -> None:
        """on_denied_deployment: remove drops denied deployments with a warning."""
        with pytest.warns(EgressConfigWarning, match="api.anthropic.com"):
            pruned = enforce_deployments(
                config("remove"),
                {"a": "openai", "b": "both"},
                {"a": [OPENAI, ANTHROPIC], "b": [OPENAI, ANTHROPIC]},
                environ={},
            )
        assert {"a": [OPENAI], "b": [OPENAI, ANTHROPIC]} == pruned

    def test_remove_mode_nothing_left(self) -> None:
        """An agent whose every deployment is denied is a ConfigError even in remove mode."""
        with pytest.warns(EgressConfigWarning), pytest.raises(ConfigError, match="every reachable"):
            enforce_deployments(config("remove"), {"a": "openai"}, {"a": [ANTHROPIC]}, environ={})

    def test_unresolvable_is_config_error(self) -> None:
        """A deployment whose URL cannot be determined is a ConfigError under an allowlist."""
        with pytest.raises(ConfigError, match="set api_base"):
            enforce_deployments(config("remove"), {"a": "openai"}, {"a": [dep("azure/gpt-4o")]}, environ={})

    def test_no_policy_allows_everything(self) -> None:
        """Agents without a policy keep every deployment, resolvable or not."""
        reach = {"a": [dep("azure/gpt-4o"), EVIL]}
        assert reach == enforce_deployments(config(), {"a": None}, reach, environ={})

    def test_environment_base_url_is_checked_at_start_up(self) -> None:
        """OPENAI_BASE_URL pointing elsewhere makes a default OpenAI deployment fail the check."""
        with pytest.raises(ConfigError, match=r"evil\.example"):
            enforce_deployments(
                config(), {"a": "openai"}, {"a": [OPENAI]}, environ={"OPENAI_BASE_URL": "https://evil.example/v1"}
            )
