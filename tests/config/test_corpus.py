"""The 24 real LiteLLM proxy configs in tests/data/litellm-configs load as the proxy would run them.

Each file either builds a Router and answers a call (against the wire server, for the providers it
speaks: deployments are pointed at it, as a team would in staging), or builds and is not called
(providers the wire server does not speak), or is refused with one clear ConfigError for a real
mistake in it that the proxy drops silently or that breaks it (a misspelt setting, a model no provider
serves). Keys no LiteLLM reads that are not typos are left out with the one warning, as the proxy drops them.

Now: 16 answer, 6 build, 2 are refused (03: a model LiteLLM cannot place; 05: ``enable_pre_call_check``
for ``enable_pre_call_checks``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from loomllm import ConfigError, Loom
from loomllm._egress.providers import deployment_provider
from loomllm.config import AgentConfig, LoomConfig, load_config, missing_env_vars
from loomllm.errors import ConfigWarning
from loomllm.testing import WireServer

CORPUS = Path(__file__).parent.parent / "data" / "litellm-configs"
CONFIGS = sorted(p.name for p in CORPUS.glob("[0-9][0-9]_*.yaml"))

# Providers whose wire format the wire server speaks (OpenAI-compatible ones take an api_base).
_OPENAI_COMPATIBLE = {"openai", "azure", "groq", "together_ai", "openrouter", "fireworks_ai", "mistral",
                      "cerebras", "nvidia_nim", "deepseek", "github"}
_SPOKEN = _OPENAI_COMPATIBLE | {"anthropic", "gemini"}

# What each file does. "answers": builds and answers; "builds": no provider the wire server speaks
# (bedrock, ollama), no models at all (10), or, for 22, provider budgets persisted in the shared Redis;
# otherwise the expected error.
EXPECTED: dict[str, str] = {
    "01_berriai_proxy_server_config.yaml": "answers",
    "02_berriai_azure_config.yaml": "answers",
    "03_berriai_load_balancer.yaml": "model_list[3].litellm_params.model: deployment "
                                     "'mistral-7b-instruct/mistralai/mistral-7b-instruct': LiteLLM cannot tell",
    "04_berriai_otel_test_config.yaml": "answers",
    "05_aws_guidance_config.yaml": "router_settings.enable_pre_call_check: unknown router setting",
    "06_aws_guidance_default_us_east_1.yaml": "builds",
    "07_diz_openwebui_hub_litellm_config.yaml": "answers",
    "08_ruanbekker_ollama_config.yaml": "builds",
    "09_46ki75_bedrock_converse.yaml": "builds",
    "10_helmi_db_models_only.yaml": "builds",
    "11_berriai_gcp_cloud_run_prometheus.yaml": "answers",
    "12_cirisproxy_custom_callbacks.yaml": "answers",
    "13_clickhouse_bedrock.yaml": "builds",
    "14_abbiirr_latency_routing_redis.yaml": "answers",
    "15_1aboveio_default_model.yaml": "answers",
    "16_berriai_config_with_include.yaml": "answers",
    "17_berriai_config_with_env_vars.yaml": "answers",
    "18_berriai_enterprise_config.yaml": "answers",
    "19_berriai_spend_tracking_config.yaml": "answers",
    "20_berriai_oai_misc_config.yaml": "answers",
    "21_causal_insights_vertex_custom_provider.yaml": "answers",
    "22_docs_provider_budget_routing.yaml": "builds",
    "23_docs_guardrails_quick_start.yaml": "answers",
    "24_docs_credential_list.yaml": "answers",
}


@pytest.fixture
def deploy_env(monkeypatch: pytest.MonkeyPatch, wire_server: WireServer) -> None:
    """The variables a deployer sets for these configs' router/litellm settings (Redis, a fake OpenAI base).

    REDIS_PASSWORD stays unset (a local Redis has none): the proxy reads it as None, and so does loomllm.
    """
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", "6379")
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    monkeypatch.setenv("FAKE_OPENAI_API_BASE", wire_server.openai_base)


def _load(name: str) -> tuple[LoomConfig, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(CORPUS / name)
    return config, [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]


def _point_at_wire_server(config: LoomConfig, server: WireServer) -> None:
    """Send every deployment the wire server can answer to it (a staging setup), credentials included."""
    for deployment in config.model_list:
        provider = deployment_provider(deployment)
        if provider not in _SPOKEN:
            continue
        params = deployment["litellm_params"]
        base = {"anthropic": server.anthropic_base, "gemini": server.gemini_base, "azure": server.url}
        params["api_base"] = base.get(str(provider), server.openai_base)
        if missing_env_vars(params) or not params.get("api_key"):
            params["api_key"] = "sk-test"
        params.setdefault("api_version", "2024-06-01") if provider == "azure" else None
        config.missing_env.pop(str(deployment["model_info"]["id"]), None)


def _probe_model(config: LoomConfig) -> str | None:
    """A chat model group the wire server can answer (a ``*`` wildcard serves ``gpt-4o-mini``)."""
    for deployment in config.model_list:
        info = deployment.get("model_info") or {}
        if deployment_provider(deployment) in _SPOKEN and info.get("mode") in (None, "chat"):
            name = str(deployment["model_name"])
            return "gpt-4o-mini" if name == "*" else name
    return None


@pytest.mark.usefixtures("deploy_env")
class TestCorpus:
    def test_expectations_cover_the_corpus(self) -> None:
        """Every config file in the corpus has an expected outcome (24 files)."""
        assert 24 == len(CONFIGS) and sorted(EXPECTED) == CONFIGS

    @pytest.mark.parametrize("name", CONFIGS)
    async def test_config(self, name: str, wire_server: WireServer) -> None:
        """The file loads with at most one warning, then builds a Router (and answers) or fails clearly."""
        expected = EXPECTED[name]
        try:
            config, warned = _load(name)
            assert len(warned) <= 1
            _point_at_wire_server(config, wire_server)
            probe = _probe_model(config)
            if probe is not None:
                config.loom.agents["probe"] = AgentConfig(model=probe, max_tokens=16)
            loom = Loom(config)
            try:
                assert loom._litellm_router() is not None
                if expected == "answers":
                    assert probe is not None
                    answer = await loom.agent("probe").chat("Reply with one word: ready?")
                    assert answer and wire_server.requests
            finally:
                loom.close()
        except ConfigError as exc:
            assert expected not in {"answers", "builds"}, str(exc)
            assert str(exc).startswith(str(CORPUS / name) + ": ") and expected in str(exc)
            return
        assert expected in {"answers", "builds"}
        assert (probe is not None) == (expected == "answers") or name == "22_docs_provider_budget_routing.yaml"
