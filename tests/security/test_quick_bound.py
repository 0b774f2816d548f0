"""Red team of the quick byte bound of budget reservations (``quick_estimate`` + ``BudgetLedger.reserve(exact=)``).

The first round found three holes (a string ``tool_calls`` bounded below LiteLLM's fallback count, a refusal for a
key with no policy naming the bound, a count failure in ``_send``'s error path leaving the bound held); each is a test
here and passes since the fix. The other tests are attacks that held.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "budget"))

from budget_support import FakeClock, make_ledger, require_redis, store_url  # type: ignore[import-not-found]

from loomllm import BudgetExceeded
from loomllm._budget import (
    BudgetsConfig,
    BudgetStore,
    Estimate,
    Usage,
    estimate_call,
    open_store,
    pricing_plan,
    quick_estimate,
)
from loomllm.testing import Reply, WireServer

FLAT = BudgetsConfig.model_validate({"input_safety_factor": {"openai": 1.0}})
SAFE = BudgetsConfig()  # the default per-provider safety factors


def _deployments(*models: str) -> list[dict[str, Any]]:
    return [{"model_name": f"g{i}", "litellm_params": {"model": m, "input_cost_per_token": 1e-6 * (i + 1),
                                                       "output_cost_per_token": 2e-6},
             "model_info": {"id": f"d{i}"}} for i, m in enumerate(models)]


def _both(messages: list[Any], *models: str, config: BudgetsConfig = FLAT, max_tokens: int | None = 64
          ) -> tuple[Estimate | None, Estimate]:
    deployments = _deployments(*(models or ("openai/gpt-4o-mini",)))
    plan = pricing_plan(deployments, config)
    quick = quick_estimate(messages, plan=plan, max_tokens=max_tokens, default_output_cap=256)
    exact = estimate_call(messages, deployments=deployments, max_tokens=max_tokens, default_output_cap=256,
                          config=config)
    return quick, exact


def _assert_bounds(quick: Estimate | None, exact: Estimate) -> None:
    if quick is None:
        return  # declining is always allowed
    assert quick.input_tokens >= exact.input_tokens, (quick, exact)
    assert quick.cost_usd >= exact.cost_usd, (quick, exact)
    assert quick.amount("usd") >= exact.amount("usd")
    assert (quick.output_tokens, quick.routes) == (exact.output_tokens, exact.routes)


# -- invariant 1: the bound is never below the exact estimate ---------------------------------------------------

MODEL_SETS = [("openai/gpt-4o-mini",), ("gpt-4o",), ("anthropic/claude-sonnet-4-5",),
              ("gpt-4o", "openai/gpt-4-turbo"),  # o200k + cl100k in one deployment list
              ("gpt-3.5-turbo-0301",)]


class TestBreaksOfTheBound:
    """A string ``function_call``/``tool_calls`` makes LiteLLM's ``token_counter`` raise ``ValueError``; the exact
    estimate then falls back to ``_conservative_tokens``, which counts every string *including the keys*
    ("role", "content", "function_call"...). The quick bound counts only the values' bytes, so it is below."""

    @pytest.mark.parametrize("models", MODEL_SETS)
    @pytest.mark.parametrize("key", ["function_call", "tool_calls"])
    def test_string_function_call_is_bounded(self, models: tuple[str, ...], key: str) -> None:
        quick, exact = _both([{"role": "user", "content": "a", key: "x"}], *models)
        _assert_bounds(quick, exact)

    def test_the_deficit_scales_with_messages(self) -> None:
        messages = [{"role": "", "content": "", "tool_calls": ""} for _ in range(2000)]
        quick, exact = _both(messages, "openai/gpt-4o-mini", config=SAFE)
        _assert_bounds(quick, exact)  # declined (counted exactly) since tool_calls messages are counted apart


TEXTS = {
    "lone surrogates": "\ud800\udfff\udc00" * 40 + "a\ud83d",
    "paired surrogates as text": "\ud83d\ude00" * 30,
    "combining marks": "e" + "\u0301" * 300 + "Z̴̡̛̞̦̙̱͎̋̂̌̇a̶̧͇̜̭͈̲̓l̷̢̛̮͈͔̀g̵̨̞͓̈́̓o̴̡̟͐",
    "emoji zwj": "👨‍👩‍👧‍👦🏳️‍🌈🧑🏽‍🚀" * 40,
    "cjk": "漢字仮名交じり文。日本語のテキスト、中文文本、한국어 텍스트" * 30,
    "rtl": "\u202eשלום עולם مرحبا بالعالم\u202c\u200f" * 30,
    "indic": "हिन्दी में लिखा गया पाठ தமிழ் உரை ಕನ್ನಡ" * 30,
    "control and nul": "\x00\x01\x7f\u2028\u2029\ufeff" * 50,
    "special token names": "<|endoftext|><|im_start|>system<|im_end|><|fim_prefix|>" * 20,
    "digits": "1234567890" * 100,
    "spaces": " " * 3000,
    "private use and noncharacters": "\ue000\uffff\U0010ffff\U000e0001" * 40,
}


class TestTheBoundHeld:
    @pytest.mark.parametrize("models", MODEL_SETS)
    @pytest.mark.parametrize("name", sorted(TEXTS))
    def test_odd_unicode(self, models: tuple[str, ...], name: str) -> None:
        text = TEXTS[name]
        for messages in (
            [{"role": "user", "content": text}],
            [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": text[::-1]}]}],
            [{"role": "system", "content": text[:5]}, {"role": "user", "content": "", "name": text[:9]}],
        ):
            for config in (FLAT, SAFE):
                quick, exact = _both(messages, *models, config=config)
                assert quick is not None
                _assert_bounds(quick, exact)

    @pytest.mark.parametrize("messages", [
        [],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": None}, {"role": "assistant", "content": None, "name": None}],
        [{"role": "user", "content": [], "name": ""}],
        [{"role": "user", "content": "hi", "tool_call_id": "call_1", "extra": "zzz", 5: "int key"}],
        [{"role": "user", "content": [{"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}]}],
        [{"role": "tool", "content": "{}", "tool_call_id": "c"}] * 300,
        [{"role": "user", "content": "x", "search_results": "as a string"}],
    ])
    @pytest.mark.parametrize("models", MODEL_SETS)
    def test_message_shapes(self, messages: list[Any], models: tuple[str, ...]) -> None:
        _assert_bounds(*_both(messages, *models))

    @pytest.mark.parametrize("max_tokens", [None, 0, 1, 4096])
    def test_output_cap_and_n(self, max_tokens: int | None) -> None:
        quick, exact = _both([{"role": "user", "content": "hello"}], "gpt-4o", "anthropic/claude-sonnet-4-5",
                             max_tokens=max_tokens, config=SAFE)
        _assert_bounds(quick, exact)

    @pytest.mark.parametrize("messages", [
        [{"role": "user", "content": [{"type": "text", "text": 5}]}],
        [{"role": "user", "content": [{"type": "text"}]}],
        [{"role": "user", "content": ["a bare string part"]}],
        [{"role": "user", "content": {"type": "text", "text": "a dict"}}],
        [{"role": "user", "content": 12345}],
        [{"role": "user", "content": "x", "search_results": [{"content": ["t"]}]}],
        [{"role": "user", "content": "y" * 600_000}, {"role": "user", "content": "z" * 600_000}],
    ])
    def test_declines_what_it_cannot_bound(self, messages: list[Any]) -> None:
        quick, _ = _both(messages)
        assert quick is None

    def test_declines_pydantic_messages(self) -> None:
        from litellm.types.utils import Message

        quick, exact = _both([Message(role="user", content="hi " * 50)])
        assert quick is None and exact.input_tokens > 0


# -- the ledger ------------------------------------------------------------------------------------------------

BOUND = Estimate(input_tokens=400, output_tokens=100, cost_usd=0.6)
EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    prefix = ""
    if request.param == "redis":
        require_redis()
        import uuid

        prefix = f"rt-{uuid.uuid4().hex}:"
    s = open_store(store_url(request.param, tmp_path, prefix))
    yield s
    await s.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1773144000.0)


def _ledger(store: BudgetStore, clock: FakeClock, events: list[Any], **extra: Any) -> Any:
    return make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 1.0, "per": "day"}]},
                                                       "gold": {"limits": [{"usd": 10.0, "per": "day"}]}},
                       agents={"a": "p"}, **extra)


class TestLedgerBreaks:
    async def test_unknown_key_refusal_names_the_exact_request(self, store: BudgetStore, clock: FakeClock) -> None:
        events: list[Any] = []
        ledger = _ledger(store, clock, events, scopes={"tenant": {"keys": {"acme": "gold"}}})
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", BOUND, keys={"tenant": "initech"}, exact=lambda: EST)
        assert info.value.requested == EST.cost_usd


class TestLedgerHeld:
    async def test_missing_required_key_names_the_exact_request(self, store: BudgetStore, clock: FakeClock) -> None:
        ledger = _ledger(store, clock, [], scopes={"tenant": {"default": "gold", "required": True}})
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", BOUND, exact=lambda: EST)
        assert info.value.requested == EST.cost_usd

    async def test_a_call_that_fits_is_never_refused_for_its_bound(self, store: BudgetStore,
                                                                   clock: FakeClock) -> None:
        """Sequentially, up to the last nano-dollar: a $0.30 call is admitted while $0.30 is left."""
        events: list[Any] = []
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 0.9, "per": "day"}]}},
                             agents={"a": "p"})
        for _ in range(3):
            r = await ledger.reserve("a", BOUND, exact=lambda: EST)
            await r.settle(Usage(100, 100, 0.3))
        with pytest.raises(BudgetExceeded) as info:
            await ledger.reserve("a", BOUND, exact=lambda: EST)
        assert info.value.requested == 0.3

    async def test_per_model_and_soft_mix(self, store: BudgetStore, clock: FakeClock) -> None:
        """A soft agent limit and a hard per-model one: the bound crossing the soft one warns of the exact only."""
        events: list[Any] = []
        routed = Estimate(400, 100, 0.6, routes=(("d0", "g0"),))
        exact = Estimate(100, 100, 0.3, routes=(("d0", "g0"),))
        ledger = make_ledger(store, clock, events,
                             policies={"s": {"mode": "soft", "limits": [{"usd": 0.5, "per": "day"}]},
                                       "m": {"limits": [{"usd": 5.0, "per": "day"}]}},
                             agents={"a": "s"}, models={"g0": "m"})
        r = await ledger.reserve("a", routed, exact=lambda: exact)
        assert r.estimate is exact and events == []

    async def test_concurrent_bounds_never_pass_a_hard_limit(self, store: BudgetStore, clock: FakeClock) -> None:
        events: list[Any] = []
        ledger = make_ledger(store, clock, events, policies={"p": {"limits": [{"usd": 3.0, "per": "day"}]}},
                             agents={"a": "p"})

        async def one() -> bool:
            try:
                r = await ledger.reserve("a", BOUND, exact=lambda: EST)
            except BudgetExceeded:
                return False
            await asyncio.sleep(0)
            await r.settle(Usage(100, 100, 0.3))
            return True

        admitted = sum(await asyncio.gather(*(one() for _ in range(40))))
        status = await ledger.status("a")
        spent = sum(row.spent for row in status if row.unit == "usd")
        reserved = sum(row.reserved for row in status if row.unit == "usd")
        assert reserved == 0 and spent <= 3.0 + 1e-9 and admitted <= 10


# -- the call path -----------------------------------------------------------------------------------------------

def _section(limits: str) -> str:
    return f"""
state: memory://
agents:
  gpt: {{model: smart, max_tokens: 20, budget: tight}}
budgets:
  default_output_cap: 64
  policies:
    tight:
      limits: [{limits}]
"""


def _held(loom: Any, monkeypatch: pytest.MonkeyPatch) -> list[Estimate]:
    held: list[Estimate] = []
    real = loom.ledger.reserve

    async def spy(*args: Any, **kwargs: Any) -> Any:
        reservation = await real(*args, **kwargs)
        held.append(reservation.estimate)
        return reservation

    monkeypatch.setattr(loom.ledger, "reserve", spy)
    return held


class TestCallPath:
    async def test_reservation_is_at_least_the_exact_estimate(self, make_loom: Any, wire_server: WireServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        loom = make_loom(_section("{tokens: 1000000, per: day}"))
        wire_server.route(Reply.text("ok"))
        held = _held(loom, monkeypatch)
        agent = loom.agent("gpt")
        messages = [{"role": "user", "content": "", "tool_calls": ""} for _ in range(200)]
        with contextlib.suppress(Exception):  # what the provider makes of it does not matter: the hold happened
            await agent.complete(messages)
        assert held, "nothing was reserved"
        exact = estimate_call(messages, deployments=agent._deployments, max_tokens=20, default_output_cap=64,
                              config=loom.config.loom.budgets, plan=agent._pricing_plan())
        assert held[0].input_tokens >= exact.input_tokens, (held[0], exact)

    async def test_plain_prompt_is_held_at_least_exactly(self, make_loom: Any, wire_server: WireServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        loom = make_loom(_section("{tokens: 1000000, per: day}"))
        wire_server.route(Reply.text("ok"))
        held = _held(loom, monkeypatch)
        agent = loom.agent("gpt")
        text = TEXTS["emoji zwj"] + TEXTS["combining marks"] + TEXTS["cjk"] + TEXTS["rtl"]
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text, "name": "ann"}]
        await agent.complete(messages, n=2)
        exact = estimate_call(messages, deployments=agent._deployments, max_tokens=40, default_output_cap=64,
                              config=loom.config.loom.budgets, plan=agent._pricing_plan())
        assert held and held[0].input_tokens >= exact.input_tokens and held[0].cost_usd >= exact.cost_usd
        assert held[0].output_tokens == exact.output_tokens


class TestMaybeProcessed:
    """A 200 with a body that is not JSON: the provider may have billed it, so the worst case is charged."""

    async def test_charges_the_exact_estimate_not_the_bound(self, make_loom: Any, wire_server: WireServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        loom = make_loom(_section("{tokens: 1000000, per: day}"))
        wire_server.route(Reply.malformed())
        held = _held(loom, monkeypatch)
        agent = loom.agent("gpt")
        messages = [{"role": "user", "content": "The quarterly report is due on Friday. " * 22}]
        with pytest.raises(Exception):  # noqa: B017 - the translated provider error
            await agent.complete(messages)
        exact = estimate_call(messages, deployments=agent._deployments, max_tokens=20, default_output_cap=64,
                              config=loom.config.loom.budgets, plan=agent._pricing_plan())
        assert held and held[0].input_tokens > exact.input_tokens  # the bound was held
        spent, reserved = _spent_tokens(await agent.budget_status())
        assert (spent, reserved) == (exact.input_tokens + exact.output_tokens, 0)

    async def test_a_failing_count_leaves_nothing_reserved(self, make_loom: Any, wire_server: WireServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        loom = make_loom(_section("{tokens: 1000000, per: day}"))
        wire_server.route(Reply.malformed())
        agent = loom.agent("gpt")

        def broken(call: Any) -> Estimate:
            raise RuntimeError("tokenizer failed")  # e.g. the native extension, or MemoryError on a huge prompt

        monkeypatch.setattr(agent, "_estimate", broken)
        with pytest.raises(Exception):  # noqa: B017
            await agent.complete([{"role": "user", "content": "hello"}])
        _, reserved = _spent_tokens(await agent.budget_status())
        assert reserved == 0


def _spent_tokens(rows: list[Any]) -> tuple[float, float]:
    row = next(r for r in rows if r.unit == "tokens")
    return row.spent, row.reserved
