"""Proxy config features a library can run work as the proxy runs them; the others are named, once."""

from __future__ import annotations

import asyncio
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from loomllm import ConfigError, Loom
from loomllm._litellm import litellm_module
from loomllm.config import AgentConfig, LoomConfig, ignored_features, load_config, parse_config
from loomllm.errors import ConfigWarning
from loomllm.testing import Reply, WireServer

CORPUS = Path(__file__).parent.parent / "data" / "litellm-configs"


def _write(tmp_path: Path, text: str, name: str = "loomllm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _quiet_load(path: Path) -> LoomConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        return load_config(path)


class TestIgnoredFeatures:
    TEXT = """model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_key: k}
general_settings: {master_key: sk-1234}
guardrails:
  - guardrail_name: presidio-pii
    litellm_params: {guardrail: presidio, mode: pre_call}
alerting: [{service: slack}]
cors_settings: {allow_origins: ["*"]}
litellm_settings:
  success_callback: [langfuse]
  callbacks: [prometheus]
"""

    def test_one_warning_names_every_ignored_feature(self) -> None:
        """A proxy config loads with exactly one warning listing each proxy-only feature."""
        with pytest.warns(ConfigWarning) as caught:
            config = parse_config(self.TEXT)
        assert 1 == len(caught)
        names = [line.split(":")[0] for line in ignored_features(config)]
        assert ["general_settings", "guardrails", "alerting", "cors_settings", "litellm_settings.callbacks",
                "litellm_settings.success_callback"] == names
        for name in names:
            assert name in str(caught[0].message)
        assert "use loomllm.guardrails" in str(caught[0].message)

    def test_strict_makes_them_errors(self, tmp_path: Path) -> None:
        """``strict=True`` (``loomllm check --strict``) refuses a config with ignored features, listing them."""
        with pytest.raises(ConfigError, match=r"strict mode\): general_settings: .*litellm_settings\.callbacks"):
            load_config(_write(tmp_path, self.TEXT), strict=True)

    def test_clean_config_warns_nothing(self) -> None:
        """A config without proxy-only features loads silently, strict or not."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            config = parse_config("model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_key: k}\n",
                                  strict=True)
        assert [] == ignored_features(config)


class TestInclude:
    def test_included_models_are_loaded(self) -> None:
        """``include:`` files are merged as the proxy merges them (lists extended)."""
        with pytest.warns(ConfigWarning):
            config = load_config(CORPUS / "16_berriai_config_with_include.yaml")
        assert ["included-model"] == list(config.groups)

    def test_nested_and_relative_includes(self, tmp_path: Path) -> None:
        """An included file's own includes resolve next to it; a file included twice is read once."""
        sub = tmp_path / "models"
        sub.mkdir()
        _write(sub, "model_list:\n  - model_name: b\n    litellm_params: {model: openai/b, api_key: k}\n", "b.yaml")
        _write(sub, "include: [b.yaml]\nmodel_list:\n  - model_name: a\n    litellm_params: {model: openai/a, "
                    "api_key: k}\n", "a.yaml")
        config = load_config(_write(tmp_path, "include: [models/a.yaml, models/b.yaml]\n"))
        assert ["a", "b"] == list(config.groups)

    def test_missing_include_is_an_error(self, tmp_path: Path) -> None:
        """A missing included file is named (the proxy would start with 0 deployments)."""
        with pytest.raises(ConfigError, match=r"include\[0\]: included file 'nope\.yaml' not found"):
            load_config(_write(tmp_path, "include: [nope.yaml]\n"))

    def test_section_defined_in_two_files_is_an_error(self, tmp_path: Path) -> None:
        """A non-list section in both files would be replaced silently: refused."""
        _write(tmp_path, "router_settings: {num_retries: 5}\n", "other.yaml")
        with pytest.raises(ConfigError, match=r"router_settings: also defined in included file"):
            load_config(_write(tmp_path, "include: [other.yaml]\nrouter_settings: {num_retries: 0}\n"))


class TestCredentials:
    def test_credential_list_fills_deployment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``litellm_credential_name`` takes its values from ``credential_list`` (the deployment's own win)."""
        monkeypatch.setenv("AZURE_API_KEY", "az-key")
        monkeypatch.setenv("AZURE_API_BASE", "https://eu.openai.azure.com")
        config = load_config(CORPUS / "24_docs_credential_list.yaml")
        params = config.groups["gpt-4o"][0]["litellm_params"]
        assert {"model": "azure/gpt-4o", "api_key": "az-key", "api_base": "https://eu.openai.azure.com",
                "api_version": "2023-05-15"} == params
        assert {} == config.missing_env

    def test_credential_variables_missing_are_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Unset variables inside a credential are the deployment's missing credentials (not a silent call)."""
        monkeypatch.delenv("AZURE_API_KEY", raising=False)
        monkeypatch.delenv("AZURE_API_BASE", raising=False)
        config = load_config(CORPUS / "24_docs_credential_list.yaml")
        assert {"gpt-4o/azure/gpt-4o": ["AZURE_API_BASE", "AZURE_API_KEY"]} == config.missing_env

    def test_unknown_credential_is_an_error(self) -> None:
        """A misspelt credential name is refused (LiteLLM would send the request without credentials)."""
        with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.litellm_credential_name: "
                                              r"unknown credential 'prod_azur' .*did you mean 'prod_azure'"):
            parse_config("model_list:\n  - model_name: g\n    litellm_params: {model: azure/x, "
                         "litellm_credential_name: prod_azur}\ncredential_list:\n  - credential_name: prod_azure\n"
                         "    credential_values: {api_key: k}\n")


def _wire_config(server: WireServer, extra: str = "", agents: str = "") -> str:
    return (f"""model_list:
  - model_name: "*"
    litellm_params: {{model: "openai/*", api_base: "{server.openai_base}", api_key: sk-test}}
  - model_name: "anthropic/*"
    litellm_params: {{model: "anthropic/*", api_base: "{server.anthropic_base}", api_key: sk-ant-test}}
  - model_name: fake-openai-endpoint-3
    litellm_params: {{model: openai/my-fake-model, api_base: "{server.openai_base}", api_key: sk-test, rpm: 1}}
router_settings:
  num_retries: 0
  model_group_alias: {{"my-alias": "fake-openai-endpoint-3"}}
""" + extra + (f"loomllm:\n  agents:\n{agents}" if agents else ""))


class TestModelsAgentsCanUse:
    async def test_wildcard_served_model(self, tmp_path: Path, wire_server: WireServer) -> None:
        """An agent's model served by a ``*`` deployment reaches the provider under its own name."""
        loom = Loom(_write(tmp_path, _wire_config(wire_server, agents="    a: {model: gpt-4o-mini}\n")))
        try:
            assert await loom.agent("a").chat("hi")
        finally:
            loom.close()
        assert "gpt-4o-mini" == wire_server.requests[-1].body["model"]

    async def test_provider_prefixed_wildcard(self, tmp_path: Path, wire_server: WireServer) -> None:
        """``anthropic/claude-...`` is served by the ``anthropic/*`` deployment (the more specific pattern)."""
        loom = Loom(_write(tmp_path, _wire_config(wire_server, agents="    a: {model: anthropic/claude-haiku-4-5}\n")))
        try:
            assert await loom.agent("a").chat("hi")
        finally:
            loom.close()
        assert wire_server.requests[-1].path.endswith("/messages")
        assert "claude-haiku-4-5" == wire_server.requests[-1].body["model"]

    async def test_model_group_alias(self, tmp_path: Path, wire_server: WireServer) -> None:
        """A ``model_group_alias`` name is a model an agent may use."""
        loom = Loom(_write(tmp_path, _wire_config(wire_server, agents="    a: {model: my-alias}\n")))
        try:
            assert await loom.agent("a").chat("hi")
            assert ["fake-openai-endpoint-3"] == [d["model_name"] for d in loom.reachable_deployments("a")]
        finally:
            loom.close()
        assert "my-fake-model" == wire_server.requests[-1].body["model"]

    def test_literal_star_is_refused(self, tmp_path: Path, wire_server: WireServer) -> None:
        """``model: "*"`` would send a literal ``*``: the error says to name the model."""
        with pytest.raises(ConfigError, match=r"loomllm\.agents\.a\.model: '\*' is a wildcard pattern"):
            load_config(_write(tmp_path, _wire_config(wire_server, agents='    a: {model: "*"}\n')))

    def test_context_window_fallback_to_wildcard_model(self, tmp_path: Path, wire_server: WireServer) -> None:
        """A fallback to a model only a wildcard serves is valid (as in LiteLLM's own config)."""
        extra = 'litellm_settings:\n  context_window_fallbacks: [{"fake-openai-endpoint-3": ["gpt-5.5"]}]\n'
        config = load_config(_write(tmp_path, _wire_config(wire_server, extra)))
        assert ["fake-openai-endpoint-3", "gpt-5.5"] == config.reachable_groups("fake-openai-endpoint-3")
        assert "openai/gpt-5.5" == config.deployments_for("gpt-5.5")[0]["litellm_params"]["model"]

    def test_fallback_to_undefined_group_short_message(self, tmp_path: Path) -> None:
        """A fallback to an undefined group is refused with the nearest name, not a list of 40 groups."""
        models = "".join(f"  - model_name: group-{i}\n    litellm_params: {{model: openai/m{i}, api_key: k}}\n"
                         for i in range(40))
        text = "model_list:\n" + models + "router_settings:\n  fallbacks: [{group-1: [group-04]}]\n"
        with pytest.raises(ConfigError) as caught:
            load_config(_write(tmp_path, text))
        message = str(caught.value)
        assert "router_settings.fallbacks[0]: unknown model group 'group-04' (40 groups defined" in message
        assert "did you mean 'group-4'?" in message and len(message) < 300

    def test_fallbacks_for_undefined_group_are_listed(self, tmp_path: Path) -> None:
        """Fallbacks *for* a group that does not exist never apply: listed with the ignored features."""
        text = "model_list:\n  - model_name: fast\n    litellm_params: {model: openai/x, api_key: k}\n" \
               "litellm_settings:\n  fallbacks: [{fsat: [fast]}]\n"
        with pytest.warns(ConfigWarning, match=r"fallbacks for undefined model group 'fsat' never apply; did you "
                                               r"mean 'fast'"):
            load_config(_write(tmp_path, text))


class TestProviders:
    def test_unmappable_model_names_the_deployment(self) -> None:
        """``mistralai/...`` (LiteLLM's provider is ``mistral``) fails at load, naming the deployment."""
        with pytest.raises(ConfigError) as caught:
            load_config(CORPUS / "03_berriai_load_balancer.yaml")
        message = str(caught.value)
        assert "model_list[3].litellm_params.model: deployment 'mistral-7b-instruct/mistralai/mistral-7b-instruct'" \
               in message and "did you mean 'mistral'?" in message

    async def test_custom_provider_map(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``custom_provider_map`` handlers are imported from next to the config and answer their models."""
        monkeypatch.setenv("GROK_API_KEY", "xai-test")
        config = _quiet_load(CORPUS / "21_causal_insights_vertex_custom_provider.yaml")
        config.loom.agents["video"] = AgentConfig(model="grok-video")
        loom = Loom(config)
        try:
            assert "grok-video handled it" == await loom.agent("video").chat("a short clip of the sea")
        finally:
            loom.close()
        assert "grok-video" not in [p["provider"] for p in litellm_module().custom_provider_map]

    async def test_callback_class_path_is_registered(self, monkeypatch: pytest.MonkeyPatch,
                                                     wire_server: WireServer) -> None:
        """``litellm_settings.callbacks: [module.instance]`` runs the app's CustomLogger on each call."""
        monkeypatch.setenv("TOGETHER_API_KEY", "together-test")
        config = _quiet_load(CORPUS / "12_cirisproxy_custom_callbacks.yaml")
        for dep in config.model_list:
            dep["litellm_params"]["api_base"] = wire_server.openai_base
        config.loom.agents["fast"] = AgentConfig(model="together/llama-3.1-70b")
        loom = Loom(config)
        try:
            await loom.agent("fast").chat("hi")
            billing = next(c for c in litellm_module().callbacks if type(c).__name__ == "BillingCallback")
            for _ in range(100):  # LiteLLM's logging worker runs in the background
                if billing.charged:
                    break
                await asyncio.sleep(0.05)
            assert billing.charged
        finally:
            loom.close()
        assert not any(type(c).__name__ == "BillingCallback" for c in litellm_module().callbacks)

    def test_missing_callback_module_is_an_error(self, tmp_path: Path) -> None:
        """A callback module that cannot be found is named (the proxy would fail to start; we fail at load)."""
        text = "model_list: []\nlitellm_settings:\n  callbacks: [my_hooks.handler_instance]\n"
        with pytest.raises(ConfigError, match=r"litellm_settings\.callbacks\[0\]: cannot import 'my_hooks'"):
            load_config(_write(tmp_path, text))


class TestRouterAsTheProxyBuildsIt:
    def _router(self, tmp_path: Path, text: str) -> Any:
        loom = Loom(_write(tmp_path, text))
        try:
            return loom._litellm_router()
        finally:
            loom.close()

    def test_rpm_is_not_forced_into_a_hard_limit(self, tmp_path: Path, wire_server: WireServer) -> None:
        """rpm/tpm stay routing inputs, as under the proxy: no enforce_model_rate_limits unless configured."""
        router = self._router(tmp_path, _wire_config(wire_server))
        names = [type(c).__name__ for c in router.optional_callbacks or []]
        assert not any("RateLimit" in name for name in names), names

    def test_cache_true_defaults_to_redis_with_a_redis_state(self, tmp_path: Path, wire_server: WireServer,
                                                             redis_url: str) -> None:
        """``cache: true`` alone is a Redis cache when the state is Redis (the proxy's default), at that Redis."""
        text = _wire_config(wire_server, "litellm_settings:\n  cache: true\n") + f"loomllm:\n  state: {redis_url}\n"
        loom = Loom(_write(tmp_path, text))
        try:
            loom._litellm_router()  # building the Router applies the settings
            assert "RedisCache" == type(litellm_module().cache.cache).__name__
        finally:
            loom.close()
        assert litellm_module().cache is None

    def test_cache_true_is_local_otherwise(self, tmp_path: Path, wire_server: WireServer) -> None:
        """With a memory or SQLite state there is no Redis to assume: the cache is in-process."""
        loom = Loom(_write(tmp_path, _wire_config(wire_server, "litellm_settings:\n  cache: true\n")))
        try:
            loom._litellm_router()
            assert "InMemoryCache" == type(litellm_module().cache.cache).__name__
        finally:
            loom.close()

    def test_environment_variables_applied_while_open(self, tmp_path: Path, wire_server: WireServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """``environment_variables:`` reach LiteLLM's own lookups while the Loom is open, and are removed after."""
        monkeypatch.delenv("LOOM_T_APPLIED", raising=False)
        loom = Loom(_write(tmp_path, _wire_config(wire_server) + "environment_variables: {LOOM_T_APPLIED: 'yes'}\n"))
        loom._litellm_router()
        assert "yes" == os.environ.get("LOOM_T_APPLIED")
        loom.close()
        assert "LOOM_T_APPLIED" not in os.environ

    async def test_settings_restored_on_close(self, tmp_path: Path, wire_server: WireServer) -> None:
        """A closed Loom leaves LiteLLM's globals as it found them."""
        litellm = litellm_module()
        before = litellm.drop_params
        loom = Loom(_write(tmp_path, _wire_config(wire_server, "litellm_settings:\n  drop_params: true\n")))
        loom._litellm_router()
        assert litellm.drop_params is True
        loom.close()
        assert before == litellm.drop_params
        wire_server.route(Reply.text("ok"))
