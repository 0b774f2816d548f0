"""`loomllm models` (the table itself is driven by the README test)."""

from __future__ import annotations

import json

from cli_helpers import run_cli


class TestModels:
    def test_json_lists_deployments_prices_and_verdicts(self, offline_env: dict[str, str]) -> None:
        """`models --json`: one entry per deployment with host, price per 1M tokens, fallbacks, egress per agent."""
        result = run_cli("models", "--json", "-c", "config/offline.yaml", env=offline_env)
        assert 0 == result.returncode, result.stderr
        entries = {e["deployment"]: e for e in json.loads(result.stdout)}
        assert 7 == len(entries)
        smart = entries["smart/openai/gpt-4o"]
        assert ["smart-backup"] == smart["fallbacks"]
        assert smart["host"].startswith("127.0.0.1:")
        assert smart["input_usd_per_mtok"] > 0 and smart["output_usd_per_mtok"] > smart["input_usd_per_mtok"]
        assert "allowed" == smart["agents"]["planner"]
        flaky = entries["flaky/openai/flaky-model"]
        assert (1.0, 2.0) == (flaky["input_usd_per_mtok"], flaky["output_usd_per_mtok"])  # the config's override
        outside = entries["outside/openai/gpt-4o-mini"]
        assert {"courier"} == set(outside["agents"]) and outside["agents"]["courier"].startswith("removed, denied")
