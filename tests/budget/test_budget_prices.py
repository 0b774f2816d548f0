"""Prices a dollar limit can trust, and estimates that cover what the provider counts."""

from __future__ import annotations

import asyncio
import contextlib
import math
import textwrap
import warnings
from typing import Any

import pytest

from loomllm import BudgetExceeded, ConfigError, Loom, UnifiedAgent
from loomllm._budget import deployment_price, estimate_call, price_table
from loomllm.testing import Reply, WireServer

# LiteLLM 1.106.2's cost map resolves these to $0 (issue 11): a USD limit cannot trust that.
LISTED_AT_ZERO = ["anthropic/claude-sonnet-4-20250514", "anthropic/claude-opus-4", "openai/o1-mini"]
NEWS = (
    "Quarterly revenue at the Rotterdam terminal rose 4.2% to EUR 183.6 million, helped by container volumes "
    "from the new Gdansk service; operating costs grew faster, at 6.9%, on higher energy prices and overtime "
    "during the March strike. The board proposes a dividend of EUR 1.15 per share and expects volumes in "
    "the second half to stay flat."
)


HINDI = (
    "मौसम विभाग ने अगले तीन दिनों के लिए भारी बारिश की चेतावनी जारी की है। नगर निगम ने सभी स्कूल बंद रखने का "
    "आदेश दिया है और लोगों से घरों में रहने की अपील की है। रेलवे ने कई ट्रेनों का समय बदल दिया है।"
)


def _deployment(model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": "g", "litellm_params": {"model": model, **params}}


def _yaml(server: WireServer, model: str, *, budget: str = "{usd: 1.0, per: day}", price: str = "") -> str:
    return textwrap.dedent(f"""
        model_list:
          - model_name: old
            litellm_params: {{model: {model}, api_base: "{server.openai_base}", api_key: sk-test{price}}}
        loomllm:
          budgets:
            policies:
              capped: {{limits: [{budget}]}}
        """)


class TestTrustedPrices:
    @pytest.mark.parametrize("model", LISTED_AT_ZERO)
    def test_cost_map_zero_is_no_price(self, model: str) -> None:
        """A model the cost map prices at $0 has no price a USD limit could use."""
        assert deployment_price(_deployment(model)) is None

    def test_explicit_zero_in_yaml_is_a_price(self) -> None:
        """An explicit 0 set in YAML is allowed (a free local model)."""
        price = deployment_price(_deployment("openai/llama-local", input_cost_per_token=0, output_cost_per_token=0))
        assert price is not None and (0.0, 0.0, "yaml") == (price.input, price.output, price.source)

    def test_bedrock_route_segment_is_not_part_of_the_name(self) -> None:
        """bedrock/converse/<model> is priced as <model>; a regional profile the map lacks stays unpriced."""
        price = deployment_price(_deployment("bedrock/converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0"))
        assert price is not None and "cost map: us.anthropic.claude-3-7-sonnet-20250219-v1:0" == price.source
        assert deployment_price(_deployment("bedrock/apac.anthropic.claude-3-7-sonnet-20250219-v1:0")) is None

    def test_router_first_then_code_agent_is_refused(self, tmp_path: Any, wire_server: WireServer) -> None:
        """Building the Router first (it registers unpriced models at $0) does not let a USD-limited agent in."""
        path = tmp_path / "loom.yaml"
        path.write_text(_yaml(wire_server, "openai/gpt-4-0125-preview"))

        class Old(UnifiedAgent):
            name = "old-gpt4"
            model = "old"
            budget = "capped"

        with Loom(path) as loom:
            # the Router exists: LiteLLM has registered gpt-4-0125-preview at $0
            assert loom._litellm_router() is not None
            with pytest.raises(ConfigError, match="no known non-zero price") as info:
                Old(loom)
            assert "model_list.old.litellm_params" == info.value.path

    def test_legacy_wrapper_after_router_is_refused(self, tmp_path: Any, wire_server: WireServer) -> None:
        """The legacy GPT_4_0125_Agent, made after the Router exists, is refused under a USD limit."""
        from loomllm.legacy import GPT_4_0125_Agent

        path = tmp_path / "loom.yaml"
        path.write_text(_yaml(wire_server, "openai/gpt-4-0125-preview") + "    global: capped\n")
        with Loom(path) as loom, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert loom._litellm_router() is not None
            with pytest.raises(ConfigError, match="no known non-zero price"):
                GPT_4_0125_Agent(loom=loom).run("hello")

    async def test_yaml_price_lets_the_agent_in_and_is_charged(self, tmp_path: Any, wire_server: WireServer) -> None:
        """With a YAML price the same agent works and is charged that price."""
        path = tmp_path / "loom.yaml"
        price = ", input_cost_per_token: 0.00001, output_cost_per_token: 0.00003"
        path.write_text(_yaml(wire_server, "openai/gpt-4-0125-preview", price=price))
        wire_server.route(Reply.text("fine").with_usage(1000, 100))

        class Old(UnifiedAgent):
            name = "old-gpt4"
            model = "old"
            budget = "capped"
            defaults = {"max_tokens": 100}

        with Loom(path) as loom:
            assert loom._litellm_router() is not None
            agent = Old(loom)
            await agent.chat("hello")
            (row,) = await agent.budget_status()
        assert pytest.approx(1000 * 0.00001 + 100 * 0.00003) == row.spent

    async def test_stream_and_plain_calls_cost_the_same(self, tmp_path: Any, wire_server: WireServer) -> None:
        """One pricing function: a streamed call and a plain call with the same usage cost the same."""
        path = tmp_path / "loom.yaml"
        path.write_text(_yaml(wire_server, "openai/gpt-4o-mini"))

        class Mini(UnifiedAgent):
            name = "mini"
            model = "old"
            budget = "capped"
            defaults = {"max_tokens": 50}

        wire_server.route(Reply.text("a b c").with_usage(700, 40))
        with Loom(path) as loom:
            agent = Mini(loom)
            await agent.chat("hello")
            (plain,) = await agent.budget_status()
            _ = [c async for c in agent.stream("hello")]
            (both,) = await agent.budget_status()
        assert pytest.approx(plain.spent) == both.spent - plain.spent
        assert pytest.approx(700 * 1.5e-07 + 40 * 6e-07) == plain.spent

    def test_price_table_names_the_source(self) -> None:
        """price_table (for `loomllm check`) gives each deployment's price per million tokens and its source."""
        rows = price_table([
            _deployment("openai/gpt-4o-mini"),
            _deployment("openai/llama-local", input_cost_per_token=0, output_cost_per_token=0),
            _deployment("anthropic/claude-opus-4"),
        ])
        assert [(r["input_usd_per_mtok"], r["output_usd_per_mtok"], r["source"]) for r in rows] == [
            (0.15, 0.6, "cost map: gpt-4o-mini"),
            (0.0, 0.0, "yaml"),
            (None, None, "unknown"),
        ]


def _provider_count(request: Any, factor: float) -> Reply:
    """A provider that bills `factor` x the tiktoken count of the prompt and always writes max_tokens."""
    from loomllm._litellm import litellm_module

    counted = litellm_module().token_counter(model="gpt-4o-mini", messages=request.body["messages"])
    return Reply.text("ok").with_usage(math.ceil(counted * factor), int(request.body["max_tokens"]))


class TestInputSafety:
    def test_factor_applies_per_provider(self) -> None:
        """The reserved input is the tiktoken count times the provider family's factor."""
        from loomllm._budget import BudgetsConfig

        messages = [{"role": "user", "content": NEWS}]
        config = BudgetsConfig.model_validate({"input_safety_factor": {"openai": 1.3}})
        plain = estimate_call(messages, deployments=[_deployment("openai/gpt-4o-mini")], max_tokens=10,
                              default_output_cap=10, config=BudgetsConfig.model_validate({"input_safety_factor":
                                                                                           {"openai": 1.0}}))
        padded = estimate_call(messages, deployments=[_deployment("openai/gpt-4o-mini")], max_tokens=10,
                               default_output_cap=10, config=config)
        assert math.ceil(plain.input_tokens * 1.3) == padded.input_tokens

    @pytest.mark.parametrize(
        ("model", "expected"),
        [
            ("openai/gpt-4o-mini", 1.15),
            ("anthropic/claude-sonnet-4-5", 1.7),
            ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", 1.7),  # the model's family, not the host's
            ("groq/llama-3.3-70b-versatile", 1.15),
            ("ollama/qwen2.5", 1.7),  # "ollama" is not a Llama: unknown family, the largest factor
            ("mistral/mistral-large-latest", 1.55),
            ("gemini/gemini-2.0-flash", 1.7),  # not measurable offline: the largest measured factor
        ],
    )
    def test_default_factor_by_model_family(self, model: str, expected: float) -> None:
        """Defaults (measured by bench/token_disagreement.py) follow the model's family, whoever hosts it."""
        from loomllm._budget._pricing import _input_safety
        from loomllm._budget.config import BudgetsConfig

        assert expected == _input_safety(BudgetsConfig(), _deployment(model))

    def test_yaml_provider_then_family_win_over_defaults(self) -> None:
        """A YAML factor for the provider wins, then one for the family, then the defaults."""
        from loomllm._budget._pricing import _input_safety
        from loomllm._budget.config import BudgetsConfig

        config = BudgetsConfig.model_validate({"input_safety_factor": {"groq": 1.4, "llama": 1.2, "*": 1.25}})
        assert 1.4 == _input_safety(config, _deployment("groq/llama-3.3-70b-versatile"))
        assert 1.2 == _input_safety(config, _deployment("together_ai/meta-llama/Llama-3-8b-chat-hf"))
        assert 1.25 == _input_safety(config, _deployment("deepseek/deepseek-chat"))

    def test_mixed_encodings_reserve_the_larger_count(self) -> None:
        """A call that can reach a bare gpt-4o (o200k_base) and Claude (cl100k_base) is counted with both.

        o200k_base counts Hindi at a fraction of cl100k_base: counting only the primary's encoding
        would reserve a fallback's input far below what it bills.
        """
        from loomllm._budget import BudgetsConfig

        flat = BudgetsConfig.model_validate({"input_safety_factor": {"openai": 1.0, "anthropic": 1.0}})
        messages = [{"role": "user", "content": HINDI}]

        def estimate(*models: str) -> int:
            return estimate_call(messages, deployments=[_deployment(m) for m in models], max_tokens=10,
                                 default_output_cap=10, config=flat).input_tokens

        assert estimate("gpt-4o") < estimate("anthropic/claude-sonnet-4-5")
        assert estimate("anthropic/claude-sonnet-4-5") == estimate("gpt-4o", "anthropic/claude-sonnet-4-5")

    def test_factor_below_one_is_an_error(self) -> None:
        """A factor below 1 would under-reserve: a ConfigError naming the key."""
        from loomllm._budget import BudgetsConfig

        with pytest.raises(ConfigError) as info:
            BudgetsConfig.model_validate({"input_safety_factor": {"openai": 0.9}})
        assert "loomllm.budgets.input_safety_factor.openai" == info.value.path

    @pytest.mark.parametrize("state", ["memory", "sqlite", "redis"])
    async def test_provider_counting_1_3x_never_overshoots(
        self, state: str, tmp_path: Any, wire_server: WireServer, request: pytest.FixtureRequest
    ) -> None:
        """4 x 50 concurrent calls to a provider that bills 1.3x the input tokens: 0 overshoot."""
        from budget_support import store_url

        prefix = request.getfixturevalue("redis_prefix") if state == "redis" else ""
        spent, cap = await _run_against_1_3x(tmp_path, wire_server, store_url(state, tmp_path, prefix), factor=1.3)
        assert spent <= cap
        assert spent >= 0.8 * cap  # the limit is used, not starved by over-reservation

    async def test_without_the_factor_it_overshoots(self, tmp_path: Any, wire_server: WireServer) -> None:
        """The same run with a factor of 1.0 overshoots: the test above measures something."""
        spent, cap = await _run_against_1_3x(tmp_path, wire_server, "memory://", factor=1.0)
        assert spent > cap


async def _run_against_1_3x(tmp_path: Any, server: WireServer, state: str, *, factor: float) -> tuple[float, float]:
    cap = 6000
    path = tmp_path / f"loom-{factor}.yaml"
    path.write_text(textwrap.dedent(f"""
        model_list:
          - model_name: smart
            litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", api_key: sk-test}}
        router_settings: {{num_retries: 0}}
        loomllm:
          state: "{state}"
          agents:
            writer: {{model: smart, max_tokens: 40, budget: capped}}
          budgets:
            journal_path: "{tmp_path}/journal.db"
            input_safety_factor: {{openai: {factor}}}
            policies:
              capped: {{limits: [{{tokens: {cap}, per: day}}]}}
        """))
    server.route(lambda request: _provider_count(request, 1.3))
    with Loom(path) as loom:
        agent = loom.agent("writer")

        async def one(i: int) -> None:
            with contextlib.suppress(BudgetExceeded):
                await agent.chat(f"Call {i}: {NEWS[: 120 + (i * 37) % 200]}")

        for wave in range(4):
            await asyncio.gather(*(one(wave * 50 + i) for i in range(50)))
        (row,) = await agent.budget_status()
        await loom.ledger.reset("writer")
    assert 0 == row.reserved
    print(f"\n1.3x provider, factor {factor}, {state}: spent {row.spent:.0f} of {cap} tokens, "
          f"overshoot {max(0.0, row.spent - cap):.0f}")
    return row.spent, float(cap)
