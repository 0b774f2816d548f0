"""Budget configuration validation, prices and worst-case estimates."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from loomllm._budget import (
    BudgetLedger,
    BudgetsConfig,
    check_prices,
    deployment_cost,
    deployment_price,
    estimate_call,
    open_store,
)
from loomllm.errors import ConfigError

CHEAP = {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini"}}
DEAR = {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o"}}
UNPRICED = {"model_name": "local", "litellm_params": {"model": "openai/my-private-model", "api_base": "http://x"}}
MESSAGES = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
YAML_EXAMPLE: dict[str, Any] = {
    "timezone": "UTC",
    "default_output_cap": 1024,
    "cache_hit_cost": "free",
    "on_store_unavailable": "fail_closed",
    "reservation_ttl_s": 300,
    "policies": {
        "planner_daily": {
            "mode": "hard",
            "warn_at": 0.8,
            "limits": [
                {"usd": 5.0, "per": "day"},
                {"tokens": 200000, "per": "hour"},
                {"input_tokens": 100000, "output_tokens": 20000, "per": "month"},
                {"usd": 100, "per": "lifetime"},
            ],
        },
        "team_monthly": {"limits": [{"usd": 50, "per": "month"}]},
        "global_cap": {"limits": [{"usd": 500, "per": "month"}]},
    },
    "teams": {"research": {"agents": ["planner", "critic"], "policy": "team_monthly"}},
    "global": "global_cap",
}


class TestConfig:
    def test_brief_example_loads(self) -> None:
        """The documented YAML shape validates."""
        config = BudgetsConfig.model_validate(YAML_EXAMPLE)
        assert config.global_policy == "global_cap"
        assert len(config.policies["planner_daily"].limits) == 4

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            (
                {"teams": {"research": {"agents": ["planner"], "policy": "nope"}}},
                "loomllm.budgets.teams.research.policy",
            ),
            ({"global": "nope"}, "loomllm.budgets.global"),
        ],
    )
    def test_unknown_policy_reference(self, change: dict[str, Any], path: str) -> None:
        """A team or global reference to an undefined policy is a ConfigError naming the key path."""
        with pytest.raises(ConfigError) as info:
            BudgetsConfig.model_validate({**YAML_EXAMPLE, **change})
        assert path == info.value.path
        assert "unknown budget policy 'nope'" in str(info.value)

    def test_unknown_agent_policy(self) -> None:
        """An agent naming an undefined policy is a ConfigError at ledger construction."""
        config = BudgetsConfig.model_validate(YAML_EXAMPLE)
        with pytest.raises(ConfigError) as info:
            BudgetLedger(config, {"planner": "typo"}, open_store("memory://"))
        assert info.value.path == "loomllm.agents.planner.budget"

    @pytest.mark.parametrize(
        "bad",
        [
            {"policies": {"p": {"limits": [{"per": "day"}]}}},
            {"policies": {"p": {"limits": [{"usd": 1, "per": "week"}]}}},
            {"policies": {"p": {"limits": [{"usd": -1, "per": "day"}]}}},
            {"policies": {"p": {"limits": []}}},
            {"policies": {"p": {"warn_at": 1.5, "limits": [{"usd": 1, "per": "day"}]}}},
            {"policies": {"p": {"limits": [{"usd": 1, "per": "day", "dollars": 2}]}}},
            {"timezone": "Mars/Olympus"},
            {"cache_hit_cost": "half"},
        ],
    )
    def test_invalid_values(self, bad: dict[str, Any]) -> None:
        """Bad values and unknown keys are validation errors."""
        with pytest.raises(pydantic.ValidationError):
            BudgetsConfig.model_validate(bad)

    def test_store_url_scheme(self) -> None:
        """An unknown state URL scheme is a ConfigError."""
        with pytest.raises(ConfigError):
            open_store("postgres://localhost/x")


class TestPricing:
    def test_cost_map_price(self) -> None:
        """Prices come from LiteLLM's bundled cost map."""
        price = deployment_price(CHEAP)
        assert price is not None
        assert pytest.approx((1.5e-07, 6e-07)) == (price.input, price.output)
        assert "cost map: gpt-4o-mini" == price.source

    @pytest.mark.parametrize("where", ["litellm_params", "model_info"])
    def test_override(self, where: str) -> None:
        """Per-deployment prices override the cost map, in litellm_params or model_info."""
        prices = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
        dep: dict[str, Any] = {"model_name": "x", "litellm_params": {"model": "openai/gpt-4o-mini"}}
        dep[where] = {**dep.get(where, {}), **prices}
        assert pytest.approx(1e-6 * 10 + 2e-6 * 5) == deployment_cost(dep, 10, 5)

    def test_base_model_prices_private_deployment_names(self) -> None:
        """model_info.base_model prices a deployment whose own name is not in the map (Azure)."""
        dep = {
            "model_name": "x",
            "litellm_params": {"model": "azure/my-deploy"},
            "model_info": {"base_model": "azure/gpt-4o"},
        }
        assert deployment_price(dep) is not None

    def test_unpriced_cost_is_an_error(self) -> None:
        """Asking the cost of an unpriced deployment raises instead of returning $0."""
        assert deployment_price(UNPRICED) is None
        with pytest.raises(ConfigError):
            deployment_cost(UNPRICED, 1, 1)

    def test_estimate_uses_most_expensive_deployment(self) -> None:
        """The dollar estimate prices the worst case among reachable deployments."""
        cheap = estimate_call(MESSAGES, deployments=[CHEAP], max_tokens=None, default_output_cap=1000)
        both = estimate_call(MESSAGES, deployments=[CHEAP, DEAR], max_tokens=None, default_output_cap=1000)
        assert both.output_tokens == 1000
        assert 0 < cheap.input_tokens == both.input_tokens
        assert pytest.approx(deployment_cost(DEAR, both.input_tokens, 1000)) == both.cost_usd
        assert both.cost_usd > cheap.cost_usd

    def test_estimate_uses_max_tokens(self) -> None:
        """An explicit max_tokens replaces the default output cap."""
        est = estimate_call(MESSAGES, deployments=[CHEAP], max_tokens=50, default_output_cap=1000)
        assert est.output_tokens == 50

    def test_tools_count_as_input(self) -> None:
        """Tool definitions add to the prompt tokens."""
        tool = {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up a customer record by id",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        }
        plain = estimate_call(MESSAGES, deployments=[CHEAP], max_tokens=1, default_output_cap=1)
        tooled = estimate_call(MESSAGES, deployments=[CHEAP], max_tokens=1, default_output_cap=1, tools=[tool])
        assert tooled.input_tokens > plain.input_tokens


class TestCheckPrices:
    def test_unpriced_under_usd_limit(self) -> None:
        """An agent under a USD limit that can reach an unpriced deployment is a ConfigError."""
        config = BudgetsConfig.model_validate({"policies": {"p": {"limits": [{"usd": 1, "per": "day"}]}}})
        with pytest.raises(ConfigError) as info:
            check_prices(config, {"a": "p"}, {"a": [CHEAP, UNPRICED]})
        assert "'local'" in str(info.value) and "'a'" in str(info.value)

    def test_unpriced_under_global_usd_limit(self) -> None:
        """The global policy's USD limit counts too."""
        config = BudgetsConfig.model_validate(
            {"policies": {"p": {"limits": [{"usd": 1, "per": "day"}]}}, "global": "p"}
        )
        with pytest.raises(ConfigError):
            check_prices(config, {"a": None}, {"a": [UNPRICED]})

    def test_unpriced_without_usd_limit_is_fine(self) -> None:
        """Token-only limits do not need prices."""
        config = BudgetsConfig.model_validate({"policies": {"p": {"limits": [{"tokens": 1, "per": "day"}]}}})
        check_prices(config, {"a": "p", "b": None}, {"a": [UNPRICED], "b": [UNPRICED]})


class TestImport:
    def test_import_is_light(self) -> None:
        """Importing the budget package loads neither litellm nor redis."""
        import subprocess
        import sys

        code = "import sys, loomllm._budget; print('litellm' in sys.modules, 'redis' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["False", "False"]


class TestStoreUrls:
    def test_sqlite_relative_and_absolute(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """sqlite:///name is relative to the working directory, sqlite:////path is absolute."""
        monkeypatch.chdir(tmp_path)
        for url in ("sqlite:///rel.db", f"sqlite:///{tmp_path}/sub.db?prefix=x:"):
            asyncio.run(open_store(url).aclose())
        assert sorted(p.name for p in tmp_path.glob("*.db")) == ["rel.db", "sub.db"]

    async def test_redis_error_never_shows_the_password(self) -> None:
        """A Redis outage message names host and port, never the URL's credentials."""
        from loomllm._budget import Charge
        from loomllm.errors import BudgetStoreUnavailable

        store = open_store("redis://:s3cret-pw@127.0.0.1:1/0?prefix=t:")
        with pytest.raises(BudgetStoreUnavailable) as info:
            await store.reserve("l", [Charge("k", 1, 1)], 0.0, 1.0)
        assert "s3cret" not in str(info.value)
        assert "127.0.0.1:1" in str(info.value)
