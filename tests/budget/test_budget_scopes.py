"""Call-time scopes (end user, tenant, tag) and per-model budgets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from budget_support import FakeClock, make_ledger

from loomllm import BudgetExceeded, ConfigError
from loomllm._budget import BudgetStore, Estimate, Usage, display_key, looks_secret
from loomllm.testing import Reply, WireServer

EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)
PER_USER = {"limits": [{"usd": 1.0, "per": "day"}]}  # 3 calls of $0.30 fit, the 4th does not
GOLD = {"limits": [{"usd": 10.0, "per": "day"}]}
SCOPES = {"user": {"default": "per_user", "keys": {"vip-7": "gold"}}}
# Shapes of real credentials that apps pass by mistake as a "user id" (OpenAI key, GitHub PAT, AWS key id).
SECRETS = ["sk-proj-4fJq9TzXw2LmN8bR3vKp7YcH1dGs", "ghp_8dK2mQ9xLz4TnR7vB1cW5yF3hJ6pA0sE2uG",
           "AKIAIOSFODNN7EXAMPLE"]


def _ledger(store: BudgetStore, clock: FakeClock, events: list[Any], **extra: Any) -> Any:
    return make_ledger(store, clock, events, policies={"per_user": PER_USER, "gold": GOLD}, agents={"a": None},
                       scopes=extra.pop("scopes", SCOPES), **extra)


async def _admitted(ledger: Any, keys: dict[str, str], n: int) -> int:
    async def one() -> bool:
        try:
            await ledger.reserve("a", EST, keys=keys)
        except BudgetExceeded:
            return False
        return True

    return sum(await asyncio.gather(*(one() for _ in range(n))))


class TestCallTimeKeys:
    async def test_50_concurrent_first_calls_of_a_new_key_admit_3(
        self, store: BudgetStore, clock: FakeClock, events: list[Any]
    ) -> None:
        """A key never seen before gets the default policy atomically: 50 concurrent first calls, 3 fit, 3 admitted."""
        assert 3 == await _admitted(_ledger(store, clock, events), {"user": "new-user-1"}, 50)

    async def test_each_key_has_its_own_counters(self, store: BudgetStore, clock: FakeClock,
                                                 events: list[Any]) -> None:
        """Two users do not share a budget; a listed key gets its own policy."""
        ledger = _ledger(store, clock, events)
        assert 3 == await _admitted(ledger, {"user": "alice"}, 5)
        assert 3 == await _admitted(ledger, {"user": "bob"}, 5)
        assert 5 == await _admitted(ledger, {"user": "vip-7"}, 5)

    async def test_unknown_value_without_default_is_refused(self, store: BudgetStore, clock: FakeClock,
                                                            events: list[Any]) -> None:
        """With no default policy, a key value that is not listed is refused."""
        ledger = _ledger(store, clock, events, scopes={"tenant": {"keys": {"acme": "gold"}}})
        await ledger.reserve("a", EST, keys={"tenant": "acme"})
        with pytest.raises(BudgetExceeded, match="no budget policy"):
            await ledger.reserve("a", EST, keys={"tenant": "initech"})

    async def test_required_key_missing_is_refused(self, store: BudgetStore, clock: FakeClock,
                                                   events: list[Any]) -> None:
        """A scope marked required refuses calls that do not name a key."""
        ledger = _ledger(store, clock, events, scopes={"tenant": {"default": "gold", "required": True}})
        with pytest.raises(BudgetExceeded, match="required"):
            await ledger.reserve("a", EST)

    async def test_unknown_kind_is_a_config_error(self, store: BudgetStore, clock: FakeClock,
                                                  events: list[Any]) -> None:
        """A key kind the config does not define is an error, never an unmetered call."""
        with pytest.raises(ConfigError) as info:
            await _ledger(store, clock, events).reserve("a", EST, keys={"usr": "alice"})
        assert "loomllm.budgets.scopes.usr" == info.value.path

    def test_unknown_policy_in_scope_is_a_config_error(self) -> None:
        """A scope naming an undefined policy fails at load, naming the key path."""
        from loomllm._budget import BudgetsConfig

        with pytest.raises(ConfigError) as info:
            BudgetsConfig.model_validate({"policies": {}, "scopes": {"user": {"default": "nope"}}})
        assert "loomllm.budgets.scopes.user.default" == info.value.path


class TestSecretLookingKeys:
    @pytest.mark.parametrize("secret", SECRETS)
    async def test_secret_never_echoes(self, secret: str, store: BudgetStore, clock: FakeClock,
                                       events: list[Any]) -> None:
        """A key that looks like a credential never appears in errors, events, status or store keys."""
        ledger = _ledger(store, clock, events)
        for _ in range(3):
            await (await ledger.reserve("a", EST, keys={"user": secret})).settle(Usage(100, 100, 0.3))
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", EST, keys={"user": secret})
        rows = await ledger.status(keys={"user": secret})
        stored = await store.scan("")
        seen = " ".join([str(info.value), repr(info.value.__dict__), repr(events), repr(rows), *stored])
        assert secret not in seen
        assert display_key(secret) in str(info.value)

    @pytest.mark.parametrize("plain", ["alice", "tenant-42", "user_8812", "ops@example.com", "2026-q1-campaign"])
    def test_ordinary_ids_are_shown(self, plain: str) -> None:
        """Ordinary user, tenant and tag names are kept readable."""
        assert not looks_secret(plain) and plain == display_key(plain)


class TestAgentApi:
    async def test_budget_keys_are_counted_and_never_sent(self, make_loom: Any, wire_server: WireServer) -> None:
        """budget_keys={"user": ...} scopes the call and never reaches the provider."""
        loom = make_loom("""
            agents:
              helper: {model: smart, max_tokens: 20}
            budgets:
              policies:
                per_user: {limits: [{tokens: 100, per: day}]}
              scopes:
                user: {default: per_user}
            """)
        wire_server.route(Reply.text("ok").with_usage(30, 2))
        agent = loom.agent("helper")
        await agent.chat("hello", budget_keys={"user": "alice"})
        assert "budget_keys" not in wire_server.requests[0].body
        rows = await loom.budgets(keys={"user": "alice"})
        assert [("key", "user=alice", 32.0)] == [(r.scope, r.scope_name, r.spent) for r in rows]

    async def test_50_concurrent_calls_of_a_new_user(self, make_loom: Any, wire_server: WireServer) -> None:
        """50 concurrent first calls of a new end user whose default budget fits 3: 3 reach the provider."""
        from loomllm._budget import estimate_call

        smart = {"model_name": "smart", "litellm_params": {"model": "openai/gpt-4o-mini"}}
        worst = estimate_call([{"role": "user", "content": "hi"}], deployments=[smart], max_tokens=20,
                              default_output_cap=20).amount("tokens")
        loom = make_loom(f"""
            agents:
              helper: {{model: smart, max_tokens: 20}}
            budgets:
              policies:
                per_user: {{limits: [{{tokens: {worst * 3 + worst // 2}, per: day}}]}}
              scopes:
                user: {{default: per_user}}
            """)
        agent = loom.agent("helper")
        await agent.chat("warm-up", budget_keys={"user": "someone-else"})
        wire_server.route(Reply.text("ok").with_latency(0.3))  # nobody settles before all 50 have reserved
        outcomes = await asyncio.gather(*(agent.chat("hi", budget_keys={"user": "first-timer"}) for _ in range(50)),
                                        return_exceptions=True)
        assert 3 == len(wire_server.requests) - 1
        assert 47 == sum(isinstance(o, BudgetExceeded) for o in outcomes)


class TestWalkAround:
    @pytest.mark.parametrize(
        ("keys", "error"),
        [
            ("alice", TypeError),  # not a mapping
            ({"user": ""}, TypeError),  # empty value would share one counter between everyone
            ({"user": None}, TypeError),
            ({"user": 42}, TypeError),
            ({"usr": "alice"}, ConfigError),  # a typo'd kind must not mean "no key budget"
        ],
    )
    async def test_bad_budget_keys_fail_before_sending(self, keys: Any, error: type[Exception], make_loom: Any,
                                                       wire_server: WireServer) -> None:
        """Malformed budget_keys are refused before any request, never turned into an unmetered call."""
        loom = make_loom("""
            agents:
              helper: {model: smart, max_tokens: 20}
            budgets:
              policies:
                per_user: {limits: [{tokens: 100, per: day}]}
              scopes:
                user: {default: per_user, required: true}
            """)
        with pytest.raises(error):
            await loom.agent("helper").chat("hello", budget_keys=keys)
        with pytest.raises(BudgetExceeded, match="required"):
            await loom.agent("helper").chat("hello")
        assert [] == wire_server.requests


class TestModelBudgets:
    async def test_fallback_charges_the_group_that_answered(self, make_loom: Any, wire_server: WireServer) -> None:
        """A per-model budget holds the worst case on every reachable group and charges the one that answered."""
        loom = make_loom("""
            agents:
              flaky: {model: broken, max_tokens: 20}
              direct: {model: smart, max_tokens: 20}
            budgets:
              policies:
                claude_cap: {limits: [{tokens: 10000, per: day}]}
                broken_cap: {limits: [{tokens: 10000, per: day}]}
              models: {claude: claude_cap, broken: broken_cap}
            """)
        wire_server.route(Reply.status(500), model="broken-model")
        wire_server.route(Reply.text("ok").with_usage(100, 10), model="claude-haiku-4-5")
        await loom.agent("flaky").chat("hi")
        await loom.agent("direct").chat("hi")
        rows = {r.scope_name: (r.spent, r.reserved) for r in await loom.budgets() if r.scope == "model"}
        assert {"claude": (110.0, 0.0), "broken": (0.0, 0.0)} == rows

    async def test_model_budget_refuses_before_sending(self, make_loom: Any, wire_server: WireServer) -> None:
        """A model group whose budget is spent refuses calls to it before any request."""
        loom = make_loom("""
            agents:
              direct: {model: smart, max_tokens: 20}
            budgets:
              policies:
                tiny: {limits: [{tokens: 5, per: day}]}
              models: {smart: tiny}
            """)
        with pytest.raises(BudgetExceeded, match="model smart"):
            await loom.agent("direct").chat("hi")
        assert [] == wire_server.requests

    async def test_budget_of_one_deployment(self, make_loom: Any, wire_server: WireServer) -> None:
        """A deployment id (model_info.id) can carry its own budget, charged only when that deployment answers."""
        loom = make_loom("""
            agents:
              flaky: {model: broken, max_tokens: 20}
            budgets:
              policies:
                cap: {limits: [{tokens: 10000, per: day}]}
              models: {"claude/anthropic/claude-haiku-4-5": cap, "broken/openai/broken-model": cap}
            """)
        wire_server.route(Reply.status(500), model="broken-model")
        wire_server.route(Reply.text("ok").with_usage(100, 10), model="claude-haiku-4-5")
        await loom.agent("flaky").chat("hi")
        rows = {r.scope_name: r.spent for r in await loom.budgets() if r.scope == "model"}
        assert {"claude/anthropic/claude-haiku-4-5": 110.0, "broken/openai/broken-model": 0.0} == rows

    def test_unknown_model_group_is_a_config_error(self, make_loom: Any) -> None:
        """A per-model budget for a group that model_list does not have is an error at start-up."""
        with pytest.raises(ConfigError) as info:
            make_loom("budgets: {policies: {p: {limits: [{tokens: 5, per: day}]}}, models: {smrt: p}}")
        assert "loomllm.budgets.models.smrt" == info.value.path
