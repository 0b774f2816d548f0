"""Budgets on the agent call path: refused before sending, released on failure, settled with actual use."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from loomllm import BudgetExceeded, ProviderUnavailable
from loomllm.testing import Reply, WireServer
from tests.conftest import deployments_yaml


def _section(limits: str, *, extra: str = "", state: str = "memory://", agent_extra: str = "") -> str:
    return f"""
state: {state}
agents:
  gpt: {{model: smart, max_tokens: 20, budget: tight{agent_extra}}}
  flaky: {{model: broken, max_tokens: 20, budget: tight}}
budgets:
  default_output_cap: 64
  policies:
    tight:
      limits: [{limits}]
{extra}"""


def _priced_head(server: WireServer) -> str:
    """The shared deployments, with a YAML price on the otherwise unpriced ``broken`` group.

    An agent under a USD limit may only reach priced deployments: without it, ``flaky`` fails at start-up.
    """
    return deployments_yaml(server).replace("model: openai/broken-model,", "model: openai/broken-model, "
                                            "input_cost_per_token: 0.000001, output_cost_per_token: 0.000002,")


def _spent(rows: list[Any], unit: str) -> tuple[float, float]:
    row = next(r for r in rows if r.unit == unit)
    return row.spent, row.reserved


class TestHardLimit:
    async def test_refused_before_any_request(self, make_loom: Any, wire_server: WireServer) -> None:
        """An agent whose worst case does not fit is refused with BudgetExceeded and nothing is sent."""
        loom = make_loom(_section("{tokens: 10, per: day}"))
        with pytest.raises(BudgetExceeded) as caught:
            await loom.agent("gpt").chat("hello there")
        assert "gpt" == caught.value.agent and "tokens" == caught.value.unit
        assert [] == wire_server.requests

    async def test_spend_is_settled_with_actual_usage(self, make_loom: Any, wire_server: WireServer) -> None:
        """After a call, the reservation is replaced by the provider-reported tokens."""
        loom = make_loom(_section("{tokens: 1000, per: day}"))
        wire_server.route(Reply.text("one two three"))
        agent = loom.agent("gpt")
        await agent.chat("hi")
        spent, reserved = _spent(await agent.budget_status(), "tokens")
        tokens_in = wire_server.requests[0]
        assert 0 == reserved
        assert 3 < spent < 40, (spent, tokens_in.body)

    async def test_max_tokens_injected_when_agent_sets_none(self, make_loom: Any, wire_server: WireServer) -> None:
        """A budgeted agent without max_tokens gets the configured output cap, so the estimate is bounded."""
        loom = make_loom(_section("{tokens: 1000, per: day}").replace("max_tokens: 20, budget: tight}",
                                                                       "budget: tight}", 1))
        await loom.agent("gpt").chat("hi")
        assert 64 == wire_server.requests[0].body["max_tokens"]


class TestRelease:
    async def test_failed_call_gives_reservation_back(self, make_loom: Any, wire_server: WireServer) -> None:
        """A provider failure releases the whole reservation: nothing spent, nothing held."""
        loom = make_loom(_section("{tokens: 1000, per: day}"))
        wire_server.route(Reply.status(503))
        agent = loom.agent("gpt")
        with pytest.raises(ProviderUnavailable):
            await agent.chat("hi")
        assert (0, 0) == _spent(await agent.budget_status(), "tokens")

    async def test_cancelled_call_gives_reservation_back(self, make_loom: Any, wire_server: WireServer) -> None:
        """A call cancelled while in flight releases its reservation."""
        loom = make_loom(_section("{tokens: 1000, per: day}"))
        wire_server.route(Reply.text("slow", latency=2))
        agent = loom.agent("gpt")
        task = asyncio.create_task(agent.chat("hi"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (0, 0) == _spent(await agent.budget_status(), "tokens")


class TestStreams:
    async def test_stream_settles_with_usage_chunk(self, make_loom: Any, wire_server: WireServer) -> None:
        """A stream is charged with the provider's usage chunk, not $0."""
        loom = make_loom(_section("{usd: 1.0, per: day}"), head=_priced_head(wire_server))
        wire_server.route(Reply.text("a b c d e f").with_usage(100, 6))
        agent = loom.agent("gpt")
        _ = [c async for c in agent.stream("hi")]
        spent, reserved = _spent(await agent.budget_status(), "usd")
        assert 0 == reserved and spent > 0

    async def test_abandoned_stream_charges_the_worst_case(self, make_loom: Any, wire_server: WireServer) -> None:
        """A consumer that stops before the usage chunk is charged the reserved output (the provider may go on)."""
        loom = make_loom(_section("{tokens: 10000, per: day}"))
        wire_server.route(Reply.text(" ".join(["word"] * 40)).with_chunk_delay(0.01))
        agent = loom.agent("gpt")
        stream = agent.stream("hi")
        async for _chunk in stream:
            break
        await stream.aclose()
        spent, reserved = _spent(await agent.budget_status(), "tokens")
        assert 0 == reserved and 0 < spent


class TestFallbackAndCache:
    async def test_fallback_charged_at_the_final_deployment(self, make_loom: Any, wire_server: WireServer) -> None:
        """After a fallback, the settled cost is the one of the deployment that answered."""
        events: list[dict[str, Any]] = []
        loom = make_loom(_section("{usd: 1.0, per: day}"), on_event=events.append, head=_priced_head(wire_server))
        wire_server.route(Reply.status(500), model="broken-model")
        wire_server.route(Reply.text("ok").with_usage(1000, 10), model="claude-haiku-4-5")
        agent = loom.agent("flaky")
        await agent.chat("hi")
        call = next(e for e in events if e["event"] == "llm.call")
        assert "broken/openai/broken-model" != call["deployment"]
        spent, _ = _spent(await agent.budget_status(), "usd")
        assert spent == pytest.approx(call["cost_usd"], rel=1e-6) and spent > 0

    async def test_cache_hit_is_free_by_default(self, make_loom: Any, wire_server: WireServer) -> None:
        """A cache hit costs nothing against the budget unless cache_hit_cost is full."""
        loom = make_loom(_section("{tokens: 1000, per: day}"),
                         extra="litellm_settings: {cache: true, cache_params: {type: local}}\n")
        agent = loom.agent("gpt")
        await agent.chat("same", temperature=0)
        await asyncio.sleep(0.05)
        first, _ = _spent(await agent.budget_status(), "tokens")
        await agent.chat("same", temperature=0)
        second, _ = _spent(await agent.budget_status(), "tokens")
        assert 1 == len(wire_server.requests) and first == second


class TestSharedStore:
    async def test_redis_budget_shared_between_looms(self, make_loom: Any, wire_server: WireServer,
                                                     redis_url: str) -> None:
        """Two runtimes (as two processes would) share one Redis budget."""
        state = f"{redis_url}?prefix=loomllm-test-{uuid.uuid4().hex}"
        first = make_loom(_section("{tokens: 100, per: day}", state=state))
        second = make_loom(_section("{tokens: 100, per: day}", state=state))
        wire_server.route(Reply.text("a b c").with_usage(30, 3))
        await first.agent("gpt").chat("hi")
        await second.agent("gpt").chat("hi")
        spent, _ = _spent(await first.agent("gpt").budget_status(), "tokens")
        assert 66 == spent
        with pytest.raises(BudgetExceeded):  # 66 spent + (prompt + 20 max_tokens) does not fit in 100
            await second.agent("gpt").chat("a much longer prompt " * 5)
        await first.ledger.reset("gpt")


class TestRetries:
    async def test_retry_settles_the_final_attempt(self, make_loom: Any, wire_server: WireServer) -> None:
        """A 429 retried to success is charged once, with the usage of the attempt that answered."""
        head = (f"model_list:\n  - model_name: smart\n    litellm_params: {{model: openai/gpt-4o-mini, "
                f'api_base: "{wire_server.openai_base}", api_key: sk-test}}\n'
                "router_settings: {num_retries: 1, retry_after: 0}\n")
        loom = make_loom(_section("{tokens: 1000, per: day}").replace("  flaky: {model: broken, max_tokens: 20, "
                                                                      "budget: tight}\n", ""), head=head)
        wire_server.script(Reply.status(429), Reply.text("ok").with_usage(40, 2))
        agent = loom.agent("gpt")
        await agent.chat("hi")
        assert (42, 0) == _spent(await agent.budget_status(), "tokens")
        assert 2 == len(wire_server.requests)


class TestWorstCase:
    async def test_n_choices_multiply_the_estimate(self, make_loom: Any, wire_server: WireServer) -> None:
        """n=5 reserves five answers' worth of output tokens, so it cannot slip past a hard cap."""
        loom = make_loom(_section("{tokens: 60, per: day}"))  # one answer (20 tokens) fits, five do not
        with pytest.raises(BudgetExceeded):
            await loom.agent("gpt").chat("hi", n=5)
        assert [] == wire_server.requests

    async def test_max_completion_tokens_is_the_cap_sent(self, make_loom: Any, wire_server: WireServer) -> None:
        """max_completion_tokens becomes the one output cap: reserved and sent."""
        loom = make_loom(_section("{tokens: 100000, per: day}"))
        await loom.agent("gpt").chat("hi", max_completion_tokens=33)
        body = wire_server.requests[0].body
        assert 33 == body.get("max_tokens", body.get("max_completion_tokens"))

    async def test_default_fallbacks_are_priced(self, make_loom: Any, wire_server: WireServer) -> None:
        """A pricier group reachable through default_fallbacks counts in the worst-case estimate."""
        head = (f"model_list:\n  - model_name: cheap\n    litellm_params: {{model: openai/gpt-4o-mini, "
                f'api_base: "{wire_server.openai_base}", api_key: sk-test}}\n'
                f"  - model_name: pricey\n    litellm_params: {{model: openai/gpt-4o, "
                f'api_base: "{wire_server.openai_base}", api_key: sk-test}}\n'
                "router_settings: {num_retries: 0, default_fallbacks: [pricey]}\n")
        loom = make_loom("agents: {a: {model: cheap, max_tokens: 1000, budget: p}}\n"
                         "budgets: {policies: {p: {limits: [{usd: 0.005, per: day}]}}}", head=head)
        # gpt-4o-mini's worst case (~$0.0006) fits; gpt-4o's (~$0.01) does not.
        with pytest.raises(BudgetExceeded):
            await loom.agent("a").chat("hi")

    def test_code_agent_checked_like_yaml_agent(self, make_loom: Any, wire_server: WireServer) -> None:
        """A code-defined agent under a USD limit on an unpriced deployment fails at construction."""
        from loomllm import ConfigError, UnifiedAgent

        head = (f"model_list:\n  - model_name: custom\n    litellm_params: {{model: openai/house-model-x, "
                f'api_base: "{wire_server.openai_base}", api_key: sk-test}}\n')
        loom = make_loom("budgets: {policies: {usd: {limits: [{usd: 1, per: day}]}}}", head=head)

        class House(UnifiedAgent):
            name = "house"
            model = "custom"
            budget = "usd"

        with pytest.raises(ConfigError, match="price"):
            House(loom)


class TestQuickBoundOnTheCallPath:
    """Far from the limit a call holds a quick byte bound of its prompt; near it, the counted estimate."""

    async def test_far_from_the_limit_no_token_is_counted_before_sending(
        self, make_loom: Any, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import loomllm._budget._pricing as pricing

        def no_count(*args: Any, **kwargs: Any) -> int:
            raise AssertionError("the prompt was counted far from every limit")

        monkeypatch.setattr(pricing, "prompt_token_bound", no_count)
        loom = make_loom(_section("{tokens: 1000000, per: day}"))
        held: list[float] = []
        agent = loom.agent("gpt")
        wire_server.route(lambda request: (held.append(1.0), Reply.text("ok"))[1])
        await agent.chat("a short question " * 20)
        assert held and (0, ) == (_spent(await agent.budget_status(), "tokens")[1],)

    async def test_near_the_limit_a_call_that_fits_is_admitted(self, make_loom: Any, wire_server: WireServer) -> None:
        """The byte bound of this prompt (~900 tokens) does not fit the 400-token cap; its count (~210) does."""
        loom = make_loom(_section("{tokens: 400, per: day}"))
        wire_server.route(Reply.text("ok"))
        agent = loom.agent("gpt")
        await agent.chat("The quarterly report is due on Friday. " * 22)
        assert 1 == len(wire_server.requests)
        spent, reserved = _spent(await agent.budget_status(), "tokens")
        assert 0 == reserved and 0 < spent <= 400

    async def test_a_call_that_does_not_fit_is_refused_with_its_counted_size(
        self, make_loom: Any, wire_server: WireServer
    ) -> None:
        loom = make_loom(_section("{tokens: 100, per: day}"))
        with pytest.raises(BudgetExceeded) as caught:
            await loom.agent("gpt").chat("The quarterly report is due on Friday. " * 22)
        assert 150 < caught.value.requested < 400  # the count (~210 + 20 output), not the ~900-token byte bound
        assert [] == wire_server.requests


class TestCountingNearALimit:
    async def test_after_a_near_limit_call_the_agent_counts_first_for_a_while(
        self, make_loom: Any, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import loomllm._agent as agent_module

        tried: list[int] = []
        real = agent_module.quick_estimate

        def counting(*args: Any, **kwargs: Any) -> Any:
            tried.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(agent_module, "quick_estimate", counting)
        loom = make_loom(_section("{tokens: 2000, per: day}"))
        wire_server.route(Reply.text("ok"))
        agent = loom.agent("gpt")
        prompt = "The quarterly report is due on Friday. " * 22  # bound ~900 tokens: past half the 2000 cap
        await agent.chat(prompt)
        await agent.chat(prompt)
        assert 1 == len(tried)  # the second call counted first (one store trip)
        monkeypatch.setattr(agent_module, "_COUNT_NEAR_LIMIT_S", 0.0)
        agent._count_until = 0.0  # the 2 s window is over
        await agent.chat("hi")  # sets a window of 0 s if it falls back again
        await agent.chat("hi")
        assert 3 == len(tried)

    async def test_a_stream_whose_count_fails_is_charged_its_counted_worst_case(
        self, make_loom: Any, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Far from the limit the stream holds the quick bound; when counting its usage fails, the charge is the
        counted worst case, not the (larger) bound."""
        import loomllm._agent as agent_module

        loom = make_loom(_section("{tokens: 100000, per: day}"))
        wire_server.route(Reply.text("one two three"))
        agent = loom.agent("gpt")

        def broken(self: Any, model: str, call: Any) -> Any:
            raise ValueError("cannot count")

        monkeypatch.setattr(agent_module._StreamTally, "tokens", broken)
        prompt = "The quarterly report is due on Friday. " * 22
        async for _ in agent.stream(prompt):
            pass
        spent, reserved = _spent(await agent.budget_status(), "tokens")
        assert 0 == reserved and 150 < spent < 400  # ~210 counted + 20 output; the byte bound is ~900

    async def test_calls_under_a_tpm_limit_reserve_the_counted_estimate(
        self, make_loom: Any, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The rate gate counts the prompt anyway: the reservation holds that count, never a bound."""
        import loomllm._agent as agent_module

        monkeypatch.setattr(agent_module, "quick_estimate", lambda *a, **k: pytest.fail("bound tried under tpm"))
        head = f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test, tpm: 100000}}
    model_info: {{id: "{uuid.uuid4().hex}"}}
router_settings: {{num_retries: 0}}
"""
        loom = make_loom("""
agents: {gpt: {model: smart, max_tokens: 20, budget: roomy}}
middleware: {rate_limits: {max_wait_s: 60}}
budgets: {policies: {roomy: {limits: [{tokens: 100000, per: day}]}}}
""", head=head)
        wire_server.route(Reply.text("ok"))
        await loom.agent("gpt").chat("hello")
        assert 1 == len(wire_server.requests)
