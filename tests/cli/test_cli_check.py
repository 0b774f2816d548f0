"""`loomllm check`: every problem on its own line, unset variables included; exit 0 / 1 / 2.

The clean run (`check --offline`, exit 0) is driven by the README test.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import run_cli


class TestOfflineConfig:
    def test_without_the_server_one_problem_names_the_variable(self) -> None:
        """No server URL: exactly one problem, naming LOOMLLM_OFFLINE_URL, no misdiagnosis as a bad URL."""
        result = run_cli("check", "--config", "config/offline.yaml")
        assert 1 == result.returncode
        assert "1 problem(s):" in result.stdout
        problems = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
        assert 1 == len(problems)
        assert "environment variable LOOMLLM_OFFLINE_URL is not set (used at model_list[0].litellm_params.api_base" \
            in problems[0]
        assert "loomllm check --offline" in problems[0]
        for wrong in ("no scheme", "URL/v1", "every reachable deployment is denied"):
            assert wrong not in result.stdout

    def test_json(self, offline_env: dict[str, str]) -> None:
        """`check --json` prints the same findings as one JSON document."""
        result = run_cli("check", "--json", "--config", "config/offline.yaml", env=offline_env)
        assert 0 == result.returncode, result.stderr
        report = json.loads(result.stdout)
        assert (True, [], 7) == (report["ok"], report["problems"], report["agents"])
        reach = {(r["agent"], r["deployment"]): r for r in report["reach"]}
        assert "allowed" == reach[("planner", "smart/openai/gpt-4o")]["egress"]
        assert reach[("planner", "smart-backup/anthropic/claude-sonnet-4-5")]["via_fallback"]
        prices = {p["deployment"]: p for p in report["prices"]}
        assert (2.5, 10.0, "cost map: gpt-4o") == tuple(prices["smart/openai/gpt-4o"][k] for k in (
            "input_usd_per_mtok", "output_usd_per_mtok", "source"))
        assert "yaml" == prices["flaky/openai/flaky-model"]["source"]  # priced in the YAML, not the cost map

    def test_prices_and_their_source(self, offline_env: dict[str, str]) -> None:
        """`check` shows each deployment's price per 1M tokens and where it comes from."""
        result = run_cli("check", "--config", "config/offline.yaml", env=offline_env)
        assert 0 == result.returncode, result.stderr
        line = next(x for x in result.stdout.splitlines() if x.startswith("smart/openai/gpt-4o "))
        assert "$2.50 / $10.00" in line and "cost map: gpt-4o" in line


class TestProductionConfig:
    def test_every_unset_variable_is_a_problem_and_the_rest_is_checked(self) -> None:
        """config/loomllm.yaml with no keys and no Redis URL: one line per unset variable, table still printed."""
        result = run_cli("check", "config/loomllm.yaml")  # the old positional form still works
        assert 1 == result.returncode, result.stderr
        problems = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
        assert 4 == len(problems), problems
        joined = "\n".join(problems)
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
            assert f"environment variable {name} is not set" in joined
        assert "environment variable LOOMLLM_REDIS_URL is not set (used at loomllm.state)" in joined
        summarizer = next(line for line in result.stdout.splitlines() if line.startswith("summarizer "))
        assert "missing GEMINI_API_KEY" in summarizer and "generativelanguage.googleapis.com" in summarizer


class TestInvalidConfig:
    def test_invalid_config_exits_2_on_stderr(self, tmp_path: Path) -> None:
        """A config error names file and key on stderr, prints nothing on stdout, exit code 2."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("loomllm: {agents: {a: {model: nope}}}\n")
        result = run_cli("check", "--config", str(bad))
        assert (2, "") == (result.returncode, result.stdout)
        assert f"error: {bad}: loomllm.agents.a.model: unknown model group 'nope'" in result.stderr

    def test_unknown_default_agent_is_invalid(self, tmp_path: Path) -> None:
        """`default_agent` must name an agent of the config."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("model_list:\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o, api_key: k}\n"
                       "loomllm:\n  default_agent: plannr\n  agents: {planner: {model: g}}\n")
        result = run_cli("check", "--config", str(bad))
        assert 2 == result.returncode
        assert "loomllm.default_agent: unknown agent 'plannr' (known: planner)" in result.stderr

    def test_missing_file(self) -> None:
        """A config that does not exist is an invalid config (2), named on stderr."""
        result = run_cli("check", "--config", "no/such.yaml")
        assert 2 == result.returncode
        assert "error: no/such.yaml: cannot read config" in result.stderr


_PROXY_CONFIG = """\
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_key: sk-test}
litellm_settings:
  success_callback: [langfuse]
  max_budget: 100
general_settings:
  master_key: sk-1234
loomllm:
  agents: {planner: {model: g}}
"""


class TestStrict:
    def test_ignored_features_are_listed(self, tmp_path: Path) -> None:
        """Without --strict, the ignored proxy-only features are listed, and the config is ok (exit 0)."""
        path = tmp_path / "proxy.yaml"
        path.write_text(_PROXY_CONFIG)
        result = run_cli("check", "--config", str(path))
        assert 0 == result.returncode, result.stdout + result.stderr
        assert "ignored proxy-only features (3; --strict makes them problems):" in result.stdout
        for key in ("general_settings:", "litellm_settings.max_budget:", "litellm_settings.success_callback: langfuse"):
            assert f"  - {key}" in result.stdout

    def test_strict_makes_each_ignored_feature_a_problem(self, tmp_path: Path) -> None:
        """--strict: one problem per ignored feature, each naming the file and the key path; exit 1."""
        path = tmp_path / "proxy.yaml"
        path.write_text(_PROXY_CONFIG)
        result = run_cli("check", "--strict", "--config", str(path))
        assert 1 == result.returncode, result.stdout + result.stderr
        problems = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
        assert 3 == len(problems), problems
        for key in ("general_settings", "litellm_settings.max_budget", "litellm_settings.success_callback"):
            assert any(p.startswith(f"  - {path}: {key}: ") and p.endswith("refused by --strict)") for p in problems)

    def test_strict_json(self, tmp_path: Path) -> None:
        """--strict --json: the same problems, and the features under ignored_features."""
        path = tmp_path / "proxy.yaml"
        path.write_text(_PROXY_CONFIG)
        result = run_cli("check", "--strict", "--json", "--config", str(path))
        report = json.loads(result.stdout)
        assert (1, False, 3, 3) == (result.returncode, report["ok"], len(report["problems"]),
                                    len(report["ignored_features"]))

    def test_strict_passes_a_config_without_proxy_features(self, tmp_path: Path) -> None:
        """A plain config is ok under --strict."""
        path = tmp_path / "plain.yaml"
        path.write_text("model_list:\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o, api_key: sk-t}\n"
                        "loomllm:\n  agents: {planner: {model: g}}\n")
        result = run_cli("check", "--strict", "--config", str(path))
        assert 0 == result.returncode, result.stdout + result.stderr


_UNSET_SETTINGS_CONFIG = """\
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_key: sk-test}
router_settings:
  redis_password: os.environ/LOOM_T_CHECK_REDIS_PW
general_settings:
  master_key: os.environ/LOOM_T_CHECK_MASTER_KEY
loomllm:
  agents: {planner: {model: g}}
"""


class TestUnsetSettingsVariables:
    def test_a_setting_read_as_none_is_a_note(self, tmp_path: Path) -> None:
        """An unset variable in router_settings is a note (the proxy reads None); in an ignored section, nothing."""
        path = tmp_path / "proxy.yaml"
        path.write_text(_UNSET_SETTINGS_CONFIG)
        result = run_cli("check", "--config", str(path))
        assert 0 == result.returncode, result.stdout + result.stderr
        assert ("note: environment variable LOOM_T_CHECK_REDIS_PW is not set (used at router_settings.redis_password)"
                ": the setting is None, as the proxy reads it") in result.stdout
        assert "LOOM_T_CHECK_MASTER_KEY" not in result.stdout

    def test_strict_makes_it_a_problem(self, tmp_path: Path) -> None:
        """--strict: the same variable is a problem (exit 1), next to the ignored section."""
        path = tmp_path / "proxy.yaml"
        path.write_text(_UNSET_SETTINGS_CONFIG)
        result = run_cli("check", "--strict", "--config", str(path))
        assert 1 == result.returncode
        problems = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
        assert 2 == len(problems), problems
        assert any("LOOM_T_CHECK_REDIS_PW" in p and "refused by --strict" in p for p in problems)
        assert any(p.startswith(f"  - {path}: general_settings: ") for p in problems)
