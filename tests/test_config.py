"""Loading and validating YAML: proxy configs load unchanged; every error names file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomllm import ConfigError
from loomllm.config import MISSING_PREFIX, load_config, missing_env_vars, parse_config
from loomllm.errors import ConfigWarning

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent

BASE = """
model_list:
  - model_name: smart
    litellm_params: {model: openai/gpt-4o, api_key: sk-x}
  - model_name: fast
    litellm_params: {model: anthropic/claude-haiku-4-5, api_key: sk-y}
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return load_config(path)


class TestProxyConfig:
    def test_proxy_config_loads_unchanged(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A real-looking LiteLLM proxy config loads; proxy-only sections are listed as ignored."""
        monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
        monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
        monkeypatch.delenv("AZURE_API_KEY", raising=False)
        with pytest.warns(ConfigWarning, match="general_settings"):
            config = load_config(DATA / "litellm_proxy_config.yaml")
        assert ["bedrock-claude", "claude-sonnet", "gpt-4o", "text-embedding"] == sorted(config.groups)
        assert ["claude-sonnet"] == config.fallbacks["gpt-4o"]
        assert ["general_settings"] == config.ignored_sections
        assert "sk-openai" == config.groups["gpt-4o"][1]["litellm_params"]["api_key"]
        assert ["AZURE_API_KEY"] == config.missing_env["azure-eu-gpt4o"]

    @pytest.mark.parametrize("name", ["loomllm.yaml", "offline.yaml"])
    def test_shipped_configs_load(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Both shipped configs validate."""
        monkeypatch.setenv("LOOMLLM_REDIS_URL", "redis://127.0.0.1:6379/0")
        monkeypatch.setenv("LOOMLLM_OFFLINE_URL", "http://127.0.0.1:9")
        config = load_config(ROOT / "config" / name)
        assert {"planner", "critic"} <= set(config.loom.agents)


class TestEnvironment:
    def test_both_reference_styles_resolve(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """os.environ/NAME and ${NAME} are both resolved."""
        monkeypatch.setenv("LOOM_T_KEY", "k1")
        monkeypatch.setenv("LOOM_T_HOST", "example.org")
        config = parse_config(
            "model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_key: os.environ/LOOM_T_KEY,"
            " api_base: 'https://${LOOM_T_HOST}/v1'}\n"
        )
        params = config.model_list[0]["litellm_params"]
        assert ("k1", "https://example.org/v1") == (params["api_key"], params["api_base"])

    def test_missing_deployment_variable_is_deferred(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing key variable does not fail loading; it is recorded for the deployment."""
        monkeypatch.delenv("LOOM_T_ABSENT", raising=False)
        config = parse_config(
            "model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_key: os.environ/LOOM_T_ABSENT}\n"
        )
        assert {"g/openai/x": ["LOOM_T_ABSENT"]} == config.missing_env
        assert ["LOOM_T_ABSENT"] == missing_env_vars(config.model_list[0]["litellm_params"])
        assert config.model_list[0]["litellm_params"]["api_key"].startswith(MISSING_PREFIX)

    def test_missing_variable_in_loomllm_section_fails(self, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing variable in loomllm's own section fails at load with file and path."""
        monkeypatch.delenv("LOOM_T_ABSENT", raising=False)
        with pytest.raises(ConfigError, match=r"bad\.yaml: loomllm\.state: environment variable LOOM_T_ABSENT"):
            _load(tmp_path, BASE + "loomllm:\n  state: ${LOOM_T_ABSENT}\n")


BAD_CONFIGS = [
    (BASE + "loomllm:\n  agents:\n    planner: {model: smrt}\n",
     "loomllm.agents.planner.model: unknown model group 'smrt' (known: fast, smart)"),
    (BASE + "loomllm:\n  agents:\n    planner: {model: smart, budgett: x}\n",
     "loomllm.agents.planner.budgett: unknown key"),
    (BASE + "loomllm:\n  agentz: {}\n", "loomllm.agentz: unknown key"),
    (BASE + "router_settings:\n  fallbacks: [{smart: [nope]}]\n",
     "router_settings.fallbacks[0]: unknown model group 'nope'"),
    (BASE + "loomllm:\n  agents:\n    planner: {model: smart, max_tokens: -3}\n",
     "loomllm.agents.planner.max_tokens: Input should be greater than 0"),
    (BASE + "loomllm:\n  agents:\n    planner: {model: smart, budget: missing}\n",
     "loomllm.agents.planner.budget: unknown policy 'missing'"),
    (BASE + "loomllm:\n  agents:\n    planner: {model: smart, params: {api_base: 'http://x'}}\n",
     "loomllm.agents.planner.params: api_base may not be set per agent"),
    (BASE + "loomllm:\n  state: postgres://x\n", "loomllm.state: unsupported state URL scheme 'postgres'"),
    ("model_list:\n  - model_name: g\n    litellm_params: {api_key: x}\n", "model_list[0].litellm_params.model"),
    ("model_list: {a: 1}\n", "model_list: must be a list"),
    ("modle_list: []\n", "modle_list: unknown top-level key"),
    ("model_list: [\n  {model_name: g\n", "line 3, column 1: malformed YAML"),
    ("- just\n- a list\n", "the document must be a mapping"),
]


class TestErrors:
    @pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
    def test_error_names_file_and_key(self, tmp_path: Path, text: str, expected: str) -> None:
        """Each bad config fails with a message naming the file and the key path."""
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, text)
        assert str(caught.value).startswith(str(tmp_path / "bad.yaml") + ": ")
        assert expected in str(caught.value)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A missing file is a ConfigError naming it."""
        with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config"):
            load_config(tmp_path / "nope.yaml")
