"""A config mistake that would switch a policy off or weaken it is a ConfigError naming the file and key path.

Each row is a snippet a user could plausibly write: lax coercion (``usd: true`` as $1, ``"false"`` as
off), a typo, a wrong type, an empty list, a null, a duplicate key, a zero, negative, NaN or infinite
number, or a section in the wrong place. None of them may load, and no message may carry the
credential the file holds (or the value that was wrong, when that value is a secret).
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from loomllm import ConfigError
from loomllm.config import LoomConfig, load_config

SECRET = "sk-proj-Zq8Rr2LmN4vT6wX9yB1cD3eF5gH7jK0pAsW"

MODELS = f"""\
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o, api_key: {SECRET}}}
  - model_name: moderation
    litellm_params: {{model: openai/omni-moderation-latest, api_key: {SECRET}}}
"""

# Pieces for snippets to refer to, indented as children of ``loomllm:`` (POLICIES: of ``budgets:``).
POLICIES = "  policies:\n    daily: {limits: [{usd: 20, per: day}]}\n"
EGRESS = "egress:\n  policies:\n    openai: {allow: [api.openai.com]}\n"
AGENT = "agents:\n  planner: {model: smart}\n"


def loom(body: str) -> str:
    """A file whose ``loomllm:`` section is ``body`` (already indented by two spaces)."""
    return MODELS + "loomllm:\n" + textwrap.indent(body.strip("\n") + "\n", "  ")


BAD: list[tuple[str, str, str]] = [
    # --- budgets: a limit is a number, never a boolean, NaN or infinity ---
    ("usd true is not $1", loom("budgets:\n  policies:\n    d: {limits: [{usd: true, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("usd yes is not $1", loom("budgets:\n  policies:\n    d: {limits: [{usd: yes, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("tokens on is not 1 token", loom("budgets:\n  policies:\n    d: {limits: [{tokens: on, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].tokens"),
    ("usd NaN", loom("budgets:\n  policies:\n    d: {limits: [{usd: .nan, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("usd NaN as a string", loom("budgets:\n  policies:\n    d: {limits: [{usd: 'nan', per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("usd infinite", loom("budgets:\n  policies:\n    d: {limits: [{usd: .inf, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("usd negative", loom("budgets:\n  policies:\n    d: {limits: [{usd: -5, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].usd"),
    ("tokens fractional", loom("budgets:\n  policies:\n    d: {limits: [{tokens: 10.5, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].tokens"),
    ("window misspelt", loom("budgets:\n  policies:\n    d: {limits: [{usd: 5, per: daily}]}"),
     "loomllm.budgets.policies.d.limits[0].per"),
    ("limit unit unknown", loom("budgets:\n  policies:\n    d: {limits: [{dollars: 5, per: day}]}"),
     "loomllm.budgets.policies.d.limits[0].dollars"),
    ("limit with no cap", loom("budgets:\n  policies:\n    d: {limits: [{per: day}]}"),
     "loomllm.budgets.policies.d.limits[0]"),
    ("limits empty", loom("budgets:\n  policies:\n    d: {limits: []}"), "loomllm.budgets.policies.d.limits"),
    ("limits misspelt", loom("budgets:\n  policies:\n    d: {limts: [{usd: 5, per: day}]}"),
     "loomllm.budgets.policies.d.limts"),
    ("policies null", loom("budgets:\n  policies:"), "loomllm.budgets.policies"),
    ("policy without policies key", loom("budgets:\n  daily: {limits: [{usd: 5, per: day}]}"),
     "loomllm.budgets.daily"),
    ("warn_at true", loom("budgets:\n  policies:\n    d: {mode: soft, warn_at: true, limits: [{usd: 5, per: day}]}"),
     "loomllm.budgets.policies.d.warn_at"),
    ("mode off", loom("budgets:\n  policies:\n    d: {mode: off, limits: [{usd: 5, per: day}]}"),
     "loomllm.budgets.policies.d.mode"),
    ("team policy unknown", loom(f"budgets:\n{POLICIES}  teams:\n    t: {{agents: [planner], policy: dialy}}\n"
                                 + AGENT), "loomllm.budgets.teams.t.policy"),
    ("team member misspelt", loom(f"budgets:\n{POLICIES}  teams:\n    t: {{agents: [planer], policy: daily}}\n"
                                  + AGENT), "loomllm.budgets.teams.t.agents[0]"),
    ("global policy unknown", loom(f"budgets:\n{POLICIES}  global: nope"), "loomllm.budgets.global"),
    ("scope required as a string", loom(f"budgets:\n{POLICIES}  scopes:\n    user: {{default: daily, "
                                        "required: 'yes'}"), "loomllm.budgets.scopes.user.required"),
    ("model budget for an unknown group", loom(f"budgets:\n{POLICIES}  models: {{smrt: daily}}"),
     "loomllm.budgets.models.smrt"),
    ("safety factor below 1", loom(f"budgets:\n{POLICIES}  input_safety_factor: {{openai: 0.5}}"),
     "loomllm.budgets.input_safety_factor.openai"),
    ("reservation ttl infinite", loom(f"budgets:\n{POLICIES}  reservation_ttl_s: .inf"),
     "loomllm.budgets.reservation_ttl_s"),
    ("max call zero", loom(f"budgets:\n{POLICIES}  max_call_s: 0"), "loomllm.budgets.max_call_s"),
    ("output cap true", loom(f"budgets:\n{POLICIES}  default_output_cap: true"), "loomllm.budgets.default_output_cap"),
    ("store fail mode misspelt", loom(f"budgets:\n{POLICIES}  on_store_unavailable: open"),
     "loomllm.budgets.on_store_unavailable"),
    ("agent budget misspelt", loom(f"budgets:\n{POLICIES}agents:\n  planner: {{model: smart, budget: dialy}}"),
     "loomllm.agents.planner.budget"),
    # --- egress: a switch is a YAML boolean, never a string or a number ---
    ("deny_private_networks 'false'", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], "
                                           "deny_private_networks: 'false'}"),
     "loomllm.egress.policies.p.deny_private_networks"),
    ("deny_private_networks 'off'", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], "
                                         "deny_private_networks: 'off'}"),
     "loomllm.egress.policies.p.deny_private_networks"),
    ("deny_private_networks '0'", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], "
                                       "deny_private_networks: '0'}"),
     "loomllm.egress.policies.p.deny_private_networks"),
    ("require_https 0", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], require_https: 0}"),
     "loomllm.egress.policies.p.require_https"),
    ("require_https 'no'", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], require_https: 'no'}"),
     "loomllm.egress.policies.p.require_https"),
    ("require_https a secret-looking string", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], "
                                                   f"require_https: {SECRET}}}"),
     "loomllm.egress.policies.p.require_https"),
    ("policy resolve_dns '1'", loom("egress:\n  policies:\n    p: {allow: [api.openai.com], resolve_dns: '1'}"),
     "loomllm.egress.policies.p.resolve_dns"),
    ("section resolve_dns 'true'", loom("egress:\n  resolve_dns: 'true'\n  policies:\n"
                                        "    p: {allow: [api.openai.com]}"),
     "loomllm.egress.resolve_dns"),
    ("allow a string, not a list", loom("egress:\n  policies:\n    p: {allow: api.openai.com}"),
     "loomllm.egress.policies.p.allow"),
    ("allow null", loom("egress:\n  policies:\n    p: {allow: null}"), "loomllm.egress.policies.p.allow"),
    ("allow entry null", loom("egress:\n  policies:\n    p: {allow: [null]}"), "loomllm.egress.policies.p.allow[0]"),
    ("allow misspelt", loom("egress:\n  policies:\n    p: {alow: [api.openai.com]}"), "loomllm.egress.policies.p.alow"),
    ("policy null", loom("egress:\n  policies:\n    p:"), "loomllm.egress.policies.p"),
    ("allow at section level", loom("egress:\n  allow: [api.openai.com]"), "loomllm.egress.allow"),
    ("default unknown", loom(EGRESS + "  default: opnai"), "loomllm.egress.default"),
    ("plain http while https is required", loom("egress:\n  policies:\n    p: {allow: ['http://api.example.com']}"),
     "loomllm.egress.policies.p"),
    ("denied deployments mode misspelt", loom(EGRESS + "  on_denied_deployment: ignore"),
     "loomllm.egress.on_denied_deployment"),
    ("agent egress misspelt", loom(EGRESS + "agents:\n  planner: {model: smart, egress: opnai}"),
     "loomllm.agents.planner.egress"),
    # --- guardrails ---
    ("restore 'false'", loom("guardrails:\n  profiles:\n    p: {restore: 'false'}"),
     "loomllm.guardrails.profiles.p.restore"),
    ("secret rule no", loom("guardrails:\n  profiles:\n    p: {input: {SECRET: no}}"),
     "loomllm.guardrails.profiles.p.input.SECRET"),
    ("direction default off", loom("guardrails:\n  profiles:\n    p: {input: {default: off}}"),
     "loomllm.guardrails.profiles.p.input.default"),
    ("threshold NaN", loom("guardrails:\n  profiles:\n"
                           "    p: {input: {EMAIL_ADDRESS: {action: redact, threshold: .nan}}}"),
     "loomllm.guardrails.profiles.p.input.EMAIL_ADDRESS.threshold"),
    ("threshold true", loom("guardrails:\n  profiles:\n"
                            "    p: {input: {EMAIL_ADDRESS: {action: redact, threshold: true}}}"),
     "loomllm.guardrails.profiles.p.input.EMAIL_ADDRESS.threshold"),
    ("entity misspelt", loom("guardrails:\n  profiles:\n    p: {input: {EMAIL_ADRESS: redact}}"),
     "loomllm.guardrails.profiles.p.input"),
    ("rule for an entity not loaded", loom("guardrails:\n  profiles:\n    p: {input: {US_PASSPORT: block}}"),
     "loomllm.guardrails.profiles.p.input.US_PASSPORT"),
    ("rule for an entity left out of pii_entities",
     loom("guardrails:\n  pii_entities: [PHONE_NUMBER]\n  profiles:\n    p: {output: {EMAIL_ADDRESS: redact}}"),
     "loomllm.guardrails.profiles.p.output.EMAIL_ADDRESS"),
    ("rule for an NER entity without a model", loom("guardrails:\n  profiles:\n    p: {input: {LOCATION: redact}}"),
     "loomllm.guardrails.profiles.p.input.LOCATION"),
    ("direction null", loom("guardrails:\n  profiles:\n    p: {input: null}"), "loomllm.guardrails.profiles.p.input"),
    ("rules outside a direction", loom("guardrails:\n  profiles:\n    p: {SECRET: block}"),
     "loomllm.guardrails.profiles.p.SECRET"),
    ("allow pattern empty", loom("guardrails:\n  profiles:\n    p: {allow_patterns: ['']}"),
     "loomllm.guardrails.profiles.p.allow_patterns"),
    ("allow pattern matching anything", loom("guardrails:\n  profiles:\n"
                                             "    p: {allow_patterns: ['@ourco\\.com$', '.']}"),
     "loomllm.guardrails.profiles.p.allow_patterns"),
    ("analyzer error mode off", loom("guardrails:\n  on_analyzer_error: off"), "loomllm.guardrails.on_analyzer_error"),
    ("cache size true", loom("guardrails:\n  cache_size: true"), "loomllm.guardrails.cache_size"),
    ("pii_entities null", loom("guardrails:\n  pii_entities:"), "loomllm.guardrails.pii_entities"),
    ("default profile unknown", loom("guardrails:\n  default: strict"), "loomllm.guardrails.default"),
    ("agent profile unknown", loom("agents:\n  planner: {model: smart, guardrails: strict}"),
     "loomllm.agents.planner.guardrails"),
    # --- output content policy ---
    ("moderation categories empty", loom("output_policy:\n  policies:\n    p: {moderation: {model: moderation, "
                                         "categories: []}}"), "loomllm.output_policy.policies.p.moderation.categories"),
    ("moderation category misspelt", loom("output_policy:\n  policies:\n    p: {moderation: {model: moderation, "
                                          "categories: [self_harm]}}"),
     "loomllm.output_policy.policies.p.moderation.categories"),
    ("moderation threshold NaN", loom("output_policy:\n  policies:\n    p: {moderation: {model: moderation, "
                                      "threshold: .nan}}"), "loomllm.output_policy.policies.p.moderation.threshold"),
    ("hold back true", loom("output_policy:\n  policies:\n    p: {deny: {words: [x]}, hold_back_chars: true}"),
     "loomllm.output_policy.policies.p.hold_back_chars"),
    ("policy that checks nothing", loom("output_policy:\n  policies:\n    p: {deny: {words: []}}"),
     "loomllm.output_policy.policies.p"),
    ("deny words misspelt", loom("output_policy:\n  policies:\n    p: {deny: {word: [x]}}"),
     "loomllm.output_policy.policies.p.deny.word"),
    ("agent binding misspelt", loom(AGENT + "output_policy:\n"
                                    "  agents: {planer: p}\n  policies:\n    p: {deny: {words: [x]}}"),
     "loomllm.output_policy.agents.planer"),
    ("agent bound to an unknown policy", loom("output_policy:\n  agents: {planner: q}\n  policies:\n"
                                              "    p: {deny: {words: [x]}}"), "loomllm.output_policy.agents.planner"),
    # --- per-agent settings under a misspelt agent name never reach the agent ---
    ("cache policy agent misspelt", loom(AGENT + "middleware:\n  cache_policy: {agents: {planer: {enabled: false}}}"),
     "loomllm.middleware.cache_policy.agents.planer"),
    ("single flight agent misspelt", loom(AGENT + "middleware:\n  single_flight: {agents: {planer: {enabled: false}}}"),
     "loomllm.middleware.single_flight.agents.planer"),
    ("rate limit agent misspelt", loom(AGENT + "middleware:\n  rate_limits: {agents: {planer: {max_wait_s: 5}}}"),
     "loomllm.middleware.rate_limits.agents.planer"),
    ("telemetry agent misspelt", loom(AGENT + "telemetry:\n  agents: {planer: {traces: false}}"),
     "loomllm.telemetry.agents.planer"),
    # --- middleware and telemetry switches ---
    ("rate limits enforce 'false'", loom("middleware:\n  rate_limits: {enforce: 'false'}"),
     "loomllm.middleware.rate_limits.enforce"),
    ("rate limit wait infinite", loom("middleware:\n  rate_limits: {max_wait_s: .inf}"),
     "loomllm.middleware.rate_limits.max_wait_s"),
    ("cache max temperature true", loom("middleware:\n  cache_policy: {max_temperature: true}"),
     "loomllm.middleware.cache_policy.max_temperature"),
    ("single flight 'no'", loom("middleware:\n  single_flight: {enabled: 'no'}"),
     "loomllm.middleware.single_flight.enabled"),
    ("prometheus 'yes'", loom("telemetry:\n  prometheus: {enabled: 'yes'}"), "loomllm.telemetry.prometheus.enabled"),
    # --- agents ---
    ("max_tokens true", loom("agents:\n  planner: {model: smart, max_tokens: true}"),
     "loomllm.agents.planner.max_tokens"),
    ("max_n on", loom("agents:\n  planner: {model: smart, max_n: on}"), "loomllm.agents.planner.max_n"),
    ("temperature NaN", loom("agents:\n  planner: {model: smart, temperature: .nan}"),
     "loomllm.agents.planner.temperature"),
    ("timeout infinite", loom("agents:\n  planner: {model: smart, timeout: .inf}"), "loomllm.agents.planner.timeout"),
    ("cache 'off'", loom("agents:\n  planner: {model: smart, cache: 'off'}"), "loomllm.agents.planner.cache"),
    ("agent key misspelt", loom(f"budgets:\n{POLICIES}agents:\n  planner: {{model: smart, budgte: daily}}"),
     "loomllm.agents.planner.budgte"),
    ("agents null", loom("agents:"), "loomllm.agents"),
    ("agent policy under params", loom(EGRESS + "agents:\n  planner: {model: smart, params: {egress: openai}}"),
     "loomllm.agents.planner.params"),
    # --- the section itself, and sections in the wrong place ---
    ("loomllm a list", MODELS + "loomllm: []\n", "loomllm"),
    ("loomllm false", MODELS + "loomllm: false\n", "loomllm"),
    ("loomllm off", MODELS + "loomllm: off\n", "loomllm"),
    ("budgets at the top level", MODELS + "budgets:\n" + POLICIES, "budgets"),
    ("egress at the top level", MODELS + EGRESS, "egress"),
    ("loomllm inside litellm_settings", MODELS + "litellm_settings:\n  drop_params: true\n  loomllm:\n"
                                                 "    agents: {}\n", "litellm_settings.loomllm"),
    ("budgets inside litellm_settings", MODELS + "litellm_settings:\n  budgets:\n" + textwrap.indent(POLICIES, "  "),
     "litellm_settings.budgets"),
    ("egress inside router_settings", MODELS + "router_settings:\n  num_retries: 1\n" + textwrap.indent(EGRESS, "  "),
     "router_settings.egress"),
    ("loomllm inside general_settings", MODELS + "general_settings:\n  loomllm:\n    agents: {}\n",
     "general_settings.loomllm"),
    ("loomllm guardrails where the proxy's go", MODELS + "guardrails:\n  default: standard\n", "guardrails"),
    ("loomllm guardrails among litellm_settings", MODELS + "litellm_settings:\n  guardrails:\n"
                                                           "    profiles: {p: {input: {SECRET: block}}}\n",
     "litellm_settings.guardrails"),
    ("section name misspelt", loom("guardrail:\n  default: standard"), "loomllm.guardrail"),
    # --- duplicate keys: YAML would keep the last one silently ---
    ("two loomllm sections", loom(EGRESS) + "loomllm:\n  agents: {}\n", "loomllm"),
    ("a switch written twice", loom("egress:\n  policies:\n    p:\n      allow: [api.openai.com]\n"
                                    "      deny_private_networks: true\n      deny_private_networks: false"),
     "loomllm.egress.policies.p.deny_private_networks"),
    ("an agent written twice", loom("agents:\n  planner: {model: smart, egress: openai}\n  planner: {model: smart}\n"
                                    + EGRESS), "loomllm.agents.planner"),
    ("a budget policy written twice", loom("budgets:\n  policies:\n    d: {limits: [{usd: 1, per: day}]}\n"
                                           "    d: {limits: [{usd: 1000, per: day}]}"), "loomllm.budgets.policies.d"),
    # --- state URLs never echo their password ---
    ("state URL with a password and a bad port", loom(f"state: redis://:{SECRET}@127.0.0.1:99999/0"), "loomllm.state"),
    ("state URL with a password and a named database", loom(f"state: redis://:{SECRET}@127.0.0.1:6379/budgets"),
     "loomllm.state"),
]


def load(tmp_path: Path, text: str) -> LoomConfig:
    path = tmp_path / "loomllm.yaml"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(path)


class TestPolicyStrictness:
    @pytest.mark.parametrize(("text", "where"), [(t, w) for _, t, w in BAD], ids=[case for case, _, _ in BAD])
    def test_mistake_is_a_config_error_naming_file_and_key(self, tmp_path: Path, text: str, where: str) -> None:
        """The snippet does not load; the error reads ``file: key path: problem`` and holds no secret."""
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, text)
        error = caught.value
        assert (str(tmp_path / "loomllm.yaml"), where) == (error.file, error.path)
        assert str(error).startswith(f"{tmp_path / 'loomllm.yaml'}: {where}: ")
        assert SECRET not in str(error)

    def test_misspelt_key_names_the_key_meant(self, tmp_path: Path) -> None:
        """An unknown key is reported before the key it leaves missing, with the nearest key of that model."""
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, loom("budgets:\n  policies:\n    d: {limts: [{usd: 5, per: day}]}"))
        assert "loomllm.budgets.policies.d.limts" == caught.value.path
        assert "did you mean 'limits'?" in caught.value.problem.splitlines()[0]

    def test_switch_from_an_environment_variable_is_refused_without_its_value(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A variable is a string: in a switch it is refused (``"false"`` is not false), and its value is not shown."""
        monkeypatch.setenv("LOOMLLM_TEST_SWITCH", SECRET)
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, loom("egress:\n  policies:\n    p:\n      allow: [api.openai.com]\n"
                                "      require_https: ${LOOMLLM_TEST_SWITCH}"))
        assert "loomllm.egress.policies.p.require_https" == caught.value.path
        assert "must be true or false" in str(caught.value) and SECRET not in str(caught.value)

    def test_key_pasted_where_a_name_belongs_is_not_quoted(self, tmp_path: Path) -> None:
        """A deployment's key written as a policy name is refused without quoting it back."""
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, loom(f"agents:\n  planner: {{model: smart, budget: {SECRET}}}"))
        assert "loomllm.agents.planner.budget" == caught.value.path
        assert SECRET not in str(caught.value) and SECRET not in caught.value.problem

    def test_key_variable_named_where_a_name_belongs_is_not_quoted(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A key variable substituted into a policy name is refused without quoting its value."""
        monkeypatch.setenv("LOOMLLM_TEST_API_KEY", SECRET[::-1])
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, loom(EGRESS + "  default: ${LOOMLLM_TEST_API_KEY}"))
        assert "loomllm.egress.default" == caught.value.path
        assert SECRET[::-1] not in str(caught.value)

    def test_key_from_the_files_own_environment_is_not_quoted(self, tmp_path: Path) -> None:
        """The same for a key set under the file's ``environment_variables:`` (not in the process)."""
        text = loom(EGRESS + "  default: ${LOOMLLM_TEST_FILE_API_KEY}")
        text = f"environment_variables: {{LOOMLLM_TEST_FILE_API_KEY: {SECRET[::-1]}}}\n" + text
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, text)
        assert "loomllm.egress.default" == caught.value.path
        assert SECRET[::-1] not in str(caught.value)

    def test_unset_variable_in_a_policy_is_an_error(self, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """An unset variable in the loomllm section is an error, not an empty (or missing) value."""
        monkeypatch.delenv("LOOMLLM_TEST_UNSET", raising=False)
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, loom(f"budgets:\n{POLICIES}agents:\n  planner:\n    model: smart\n"
                                "    budget: ${LOOMLLM_TEST_UNSET}"))
        assert "loomllm.agents.planner.budget" == caught.value.path


class TestWhatStillLoads:
    def test_yaml_booleans_in_switches(self, tmp_path: Path) -> None:
        """In a switch, YAML's unquoted yes/no/on/off are booleans and mean what they say."""
        config = load(tmp_path, loom("egress:\n  resolve_dns: yes\n  policies:\n    p: {allow: [localhost:8080], "
                                     "require_https: off, deny_private_networks: on}"))
        policy = config.loom.egress.policy("p")
        assert policy is not None
        assert (True, False, True) == (policy.resolve_dns, policy.require_https, policy.deny_private_networks)

    def test_numbers_spelt_as_strings(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A string that spells a number is that number: PyYAML's ``1e3`` (no dot) and environment variables."""
        monkeypatch.setenv("LOOMLLM_TEST_DAILY_USD", "20.5")
        config = load(tmp_path, loom("budgets:\n  policies:\n    d:\n      limits:\n"
                                     "        - usd: ${LOOMLLM_TEST_DAILY_USD}\n          per: day\n"
                                     "        - {tokens: 1e3, per: hour}"))
        limits = config.loom.budgets.policies["d"].limits
        assert ({"usd": 20.5}, {"tokens": 1000}) == (limits[0].caps(), limits[1].caps())

    def test_deliberate_choices(self, tmp_path: Path) -> None:
        """Explicit, well-typed choices load: a zero limit, an empty allowlist, no PII entities, a rule set to allow."""
        config = load(tmp_path, loom("budgets:\n  policies:\n    zero: {limits: [{usd: 0, per: day}]}\n"
                                     "egress:\n  policies:\n    none: {allow: []}\n"
                                     "guardrails:\n  pii_entities: []\n  profiles:\n"
                                     "    p: {input: {US_PASSPORT: allow, SECRET: block}}\n"
                                     "output_policy:\n  policies:\n    m: {moderation: {model: moderation, "
                                     "categories: [self-harm, my-custom-category]}}"))
        assert () == config.loom.guardrails.pii_entities


class TestIncludedFiles:
    def test_error_in_an_included_loomllm_section_names_the_included_file(self, tmp_path: Path) -> None:
        """The loomllm section may live in an ``include:`` file; its errors name that file, not the includer."""
        (tmp_path / "policy.yaml").write_text("loomllm:\n  egress:\n    policies:\n"
                                              "      p: {allow: [api.openai.com], require_https: 'false'}\n")
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, MODELS + "include: [policy.yaml]\n")
        assert (str((tmp_path / "policy.yaml").resolve()), "loomllm.egress.policies.p.require_https") == (
            caught.value.file, caught.value.path)
