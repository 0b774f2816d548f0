"""Mistakes that would switch something off silently are ConfigErrors: settings keys, state URLs, teams, variables."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from loomllm import ConfigError, ConfigWarning
from loomllm.config import LoomConfig, load_config, missing_env_vars, parse_config

MODELS = """model_list:
  - model_name: smart
    litellm_params: {model: openai/gpt-4o, api_key: sk-x}
  - model_name: fast
    litellm_params: {model: anthropic/claude-haiku-4-5, api_key: sk-y}
"""


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "loomllm.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    return str(caught.value)


SETTINGS_TYPOS = [
    ("router_settings:\n  fallbaks: [{smart: [fast]}]\n",
     "router_settings.fallbaks: unknown router setting", "did you mean 'fallbacks'?"),
    ("router_settings:\n  num_retires: 0\n", "router_settings.num_retires: unknown router setting",
     "did you mean 'num_retries'?"),
    ("router_settings:\n  routing_stratgy: simple-shuffle\n", "router_settings.routing_stratgy",
     "did you mean 'routing_strategy'?"),
    ("litellm_settings:\n  drop_parms: true\n", "litellm_settings.drop_parms: unknown litellm setting",
     "did you mean 'drop_params'?"),
    ("litellm_settings:\n  cache_parms: {type: local}\n", "litellm_settings.cache_parms",
     "did you mean 'cache_params'?"),
    ("litellm_settings:\n  completion: 1\n", "litellm_settings.completion: unknown litellm setting", ""),
]


class TestSettingsKeys:
    @pytest.mark.parametrize(("extra", "where", "hint"), SETTINGS_TYPOS)
    def test_unknown_key_is_an_error_with_the_nearest_key(self, tmp_path: Path, extra: str, where: str,
                                                         hint: str) -> None:
        """A key the installed LiteLLM does not take is refused, naming the nearest one it does take."""
        message = _error(tmp_path, MODELS + extra)
        assert where in message and hint in message

    def test_real_router_and_litellm_settings_load(self) -> None:
        """Router arguments and LiteLLM module settings as proxy configs write them are accepted."""
        config = parse_config(MODELS + "router_settings:\n  routing_strategy: simple-shuffle\n  num_retries: 2\n"
                              "  retry_policy: {TimeoutErrorRetries: 1}\n  enable_pre_call_checks: true\n"
                              "litellm_settings:\n  drop_params: true\n  set_verbose: false\n  num_retries: 2\n"
                              "  request_timeout: 120\n  modify_params: true\n")
        assert True is config.litellm_settings["drop_params"]

    def test_unknown_keys_that_are_not_typos_are_listed_and_left_out(self) -> None:
        """A key no LiteLLM reads and no typo of one (another tool's) is left out, as the proxy drops it, and listed."""
        with pytest.warns(UserWarning) as caught:
            config = parse_config(MODELS + "router_settings:\n  enable_load_balancing: false\n  num_retries: 1\n"
                                  "litellm_settings:\n  default_model: smart\n  drop_params: true\n")
        assert 1 == len(caught)
        assert ({"num_retries": 1}, {"drop_params": True}) == (config.router_settings, config.litellm_settings)
        assert ["router_settings.enable_load_balancing", "litellm_settings.default_model"] == [
            f.split(":")[0] for f in config.ignored_features]

    def test_proxy_only_litellm_settings_are_listed_not_refused(self) -> None:
        """Proxy-only litellm_settings (budgets, teams, debug) load and are listed as ignored."""
        with pytest.warns(UserWarning) as caught:
            config = parse_config(MODELS + "litellm_settings:\n  max_budget: 100\n  budget_duration: 30d\n"
                                  "  default_team_settings: [{team_id: t}]\n  detailed_debug: true\n")
        assert 1 == len(caught)
        assert ["litellm_settings.max_budget", "litellm_settings.budget_duration",
                "litellm_settings.default_team_settings", "litellm_settings.detailed_debug"] == [
            f.split(":")[0] for f in config.ignored_features]


class TestStateUrls:
    @pytest.mark.parametrize(("url", "expected"), [
        ("postgres://u:hunter2secret@db/x", "unsupported state URL scheme 'postgres'"),
        ("redis://:hunter2secret@127.0.0.1:notaport/0", "malformed redis:// URL"),
        ("redis://:hunter2secret@127.0.0.1:6379/budgets", "database must be a number"),
        ("redis://", "needs a host"),
        ("sqlite://", "needs a file path"),
        ("hunter2secret", "unsupported state URL scheme (none)"),
    ])
    def test_bad_state_url_is_one_error_without_the_url(self, tmp_path: Path, url: str, expected: str) -> None:
        """A bad state URL is refused with a reason; the URL (and its password) is never echoed."""
        message = _error(tmp_path, MODELS + f"loomllm:\n  state: '{url}'\n")
        assert "loomllm.state: " in message and expected in message
        assert "hunter2secret" not in message

    @pytest.mark.parametrize("url", ["memory://", "sqlite:///budget.db", "redis://127.0.0.1:6379/0",
                                     "rediss://:pw@redis.internal:6380/2"])
    def test_good_state_urls(self, url: str) -> None:
        """The documented forms load."""
        assert url == parse_config(MODELS + f"loomllm:\n  state: '{url}'\n").loom.state


TEAMS = MODELS + """loomllm:
  agents:
    planner: {model: smart}
    critic: {model: fast}
  budgets:
    policies:
      team: {limits: [{usd: 10, per: month}]}
    teams:
      research: {agents: [%s], policy: team}
"""


class TestTeams:
    def test_misspelt_member_is_an_error(self, tmp_path: Path) -> None:
        """A team naming 'planer' would leave 'planner' outside the team cap: refused, with the fix."""
        message = _error(tmp_path, TEAMS % "planer, critic")
        assert "loomllm.budgets.teams.research.agents[0]: unknown agent 'planer'" in message
        assert "did you mean 'planner'?" in message

    def test_members_defined_in_code_are_accepted(self) -> None:
        """A member that resembles no YAML agent is an agent defined in code (legacy wrappers, subclasses)."""
        config = parse_config(TEAMS % "planner, summarizer_bot")
        assert ["planner", "summarizer_bot"] == config.loom.budgets.teams["research"].agents


class TestVariables:
    def test_variable_followed_by_a_path_is_named_alone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``${URL}/v1`` with URL unset reports the variable URL, not 'URL/v1'."""
        monkeypatch.delenv("LOOM_T_URL", raising=False)
        config = parse_config("model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_key: k,"
                              " api_base: '${LOOM_T_URL}/v1'}\n")
        assert {"g/openai/x": ["LOOM_T_URL"]} == config.missing_env
        assert ["LOOM_T_URL"] == missing_env_vars(config.model_list[0]["litellm_params"])

    def test_variable_inside_a_longer_string_is_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``tenant-${T}`` with T unset is reported (``check`` and the first call say which variable)."""
        monkeypatch.delenv("LOOM_T_TENANT", raising=False)
        config = parse_config("model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_key: k,"
                              " extra_headers: {X-Tenant: 'tenant-${LOOM_T_TENANT}'}}\n")
        assert ["LOOM_T_TENANT"] == missing_env_vars(config.model_list[0]["litellm_params"])

    def test_environment_variables_section_feeds_references(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``environment_variables:`` values resolve the config's references; the process environment wins."""
        monkeypatch.delenv("LOOM_T_BASE", raising=False)
        monkeypatch.setenv("LOOM_T_KEY", "from-process")
        config = parse_config("environment_variables:\n  LOOM_T_BASE: https://llm.example.com\n"
                              "  LOOM_T_KEY: from-file\n"
                              "model_list:\n  - model_name: g\n    litellm_params: {model: openai/x,"
                              " api_key: os.environ/LOOM_T_KEY, api_base: '${LOOM_T_BASE}/v1'}\n")
        params = config.model_list[0]["litellm_params"]
        assert ("from-process", "https://llm.example.com/v1") == (params["api_key"], params["api_base"])
        assert {} == config.missing_env


class TestUnsetSettingsVariables:
    """An unset variable in router_settings / litellm_settings is None, as the proxy reads it, with one warning."""

    @staticmethod
    def _load(tmp_path: Path, settings: str) -> tuple[LoomConfig, list[str]]:
        path = tmp_path / "proxy.yaml"
        path.write_text(MODELS + settings)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            config = load_config(path)
        return config, [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]

    def test_router_setting_is_left_unset_with_one_warning(self, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """``redis_password: os.environ/X`` with X unset: the key is left out; the warning names file, key, X."""
        monkeypatch.delenv("LOOM_T_REDIS_PW", raising=False)
        monkeypatch.delenv("LOOM_T_REDIS_HOST", raising=False)
        config, warned = self._load(tmp_path, "router_settings:\n  redis_password: os.environ/LOOM_T_REDIS_PW\n"
                                              "  redis_host: os.environ/LOOM_T_REDIS_HOST\n  num_retries: 2\n")
        assert {"num_retries": 2} == config.router_settings
        [message] = warned
        assert message.startswith(f"{tmp_path / 'proxy.yaml'}: environment variables not set")
        assert "router_settings.redis_password (LOOM_T_REDIS_PW)" in message
        assert "router_settings.redis_host (LOOM_T_REDIS_HOST)" in message

    def test_nested_value_becomes_none(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Inside a mapping (cache_params.password), also inside a longer string, the value is None."""
        monkeypatch.delenv("LOOM_T_PW", raising=False)
        monkeypatch.delenv("LOOM_T_NS", raising=False)
        config, warned = self._load(tmp_path, "litellm_settings:\n  cache: true\n  cache_params:\n"
                                              "    type: local\n    password: os.environ/LOOM_T_PW\n"
                                              "    namespace: 'team-${LOOM_T_NS}'\n")
        params = config.litellm_settings["cache_params"]
        assert ("local", None, None) == (params["type"], params["password"], params["namespace"])
        [message] = warned
        assert ("litellm_settings.cache_params.password (LOOM_T_PW), "
                "litellm_settings.cache_params.namespace (LOOM_T_NS)") in message

    def test_the_same_warning_lists_ignored_features(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file with proxy-only features and unset settings still gives one warning, naming both."""
        monkeypatch.delenv("LOOM_T_REDIS_PW", raising=False)
        _, warned = self._load(tmp_path, "router_settings:\n  redis_password: os.environ/LOOM_T_REDIS_PW\n"
                                         "general_settings:\n  master_key: sk-1\n")
        [message] = warned
        assert "general_settings" in message and "router_settings.redis_password (LOOM_T_REDIS_PW)" in message

    @pytest.mark.parametrize(("settings", "where"), [
        ("router_settings:\n  optional_pre_call_checks: [os.environ/LOOM_T_UNSET]\n",
         "router_settings.optional_pre_call_checks[0]"),
        ("router_settings:\n  provider_budget_config: {openai: {budget_limit: os.environ/LOOM_T_UNSET}}\n",
         "router_settings.provider_budget_config.openai.budget_limit"),
        ("litellm_settings:\n  turn_off_message_logging: os.environ/LOOM_T_UNSET\n",
         "litellm_settings.turn_off_message_logging"),
        ("litellm_settings:\n  callbacks: [os.environ/LOOM_T_UNSET]\n", "litellm_settings.callbacks[0]"),
        ("loomllm:\n  state: os.environ/LOOM_T_UNSET\n", "loomllm.state"),
    ])
    def test_policy_settings_stay_errors(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: str,
                                         where: str) -> None:
        """Where None would switch a policy off (rate limits, provider budgets, redaction, callbacks), an error."""
        monkeypatch.delenv("LOOM_T_UNSET", raising=False)
        message = _error(tmp_path, MODELS + settings)
        assert f"{where}: environment variable LOOM_T_UNSET is not set" in message

    def test_credentials_stay_missing_at_the_first_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A deployment's unset key is not a settings value: it is recorded and refused when first needed."""
        monkeypatch.delenv("LOOM_T_KEY", raising=False)
        config = parse_config("model_list:\n  - model_name: g\n    litellm_params: {model: openai/x,"
                              " api_key: os.environ/LOOM_T_KEY}\n")
        assert {"g/openai/x": ["LOOM_T_KEY"]} == config.missing_env


class TestForbiddenParameters:
    @pytest.mark.parametrize("key", ["api_base", "base_url_override", "client_secret", "http_client", "max_retries",
                                     "input_cost_per_token", "vertexai_project", "mock_response"])
    def test_never_allowed_nor_set_per_agent(self, key: str) -> None:
        """One list decides: a key the call path never accepts can neither be allowed nor be an agent default."""
        with pytest.raises(ConfigError, match="can never be allowed"):
            parse_config(MODELS + f"loomllm:\n  agents: {{a: {{model: smart, allow_params: [{key}]}}}}\n")
        with pytest.raises(ConfigError, match="may not be set per agent"):
            parse_config(MODELS + f"loomllm:\n  agents: {{a: {{model: smart, params: {{{key}: 1}}}}}}\n")
