"""TokenBudget: the old per-agent token meter, on the real budget ledger."""

from __future__ import annotations

import pytest

from loomllm import BudgetExceeded, Loom
from loomllm.legacy import LLMManager, TokenBudget
from loomllm.testing import WireServer

pytestmark = pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning")


class TestTokenBudget:
    def test_spend_counts_against_the_limit(self, loom: Loom) -> None:
        """Spent tokens lower what remains of the agent's token limit."""
        meter = TokenBudget(loom)

        meter.spend("counted", 600)
        assert 400 == meter.remaining("counted")

    def test_overspend_raises_and_counts_nothing(self, loom: Loom) -> None:
        """Spending more than remains raises BudgetExceeded and leaves the remainder untouched."""
        meter = TokenBudget(loom)
        meter.spend("counted", 600)

        with pytest.raises(BudgetExceeded, match="'counted'"):
            meter.spend("counted", 401)
        assert 400 == meter.remaining("counted")
        assert meter.can_spend("counted", 400)
        assert not meter.can_spend("counted", 401)

    def test_unlimited_agent(self, loom: Loom) -> None:
        """An agent no token limit applies to has no remaining figure and may always spend."""
        meter = TokenBudget(loom)

        meter.spend("free-agent", 10**9)
        assert meter.remaining("free-agent") is None

    def test_meter_and_agent_calls_share_the_budget(self, loom: Loom, wire_server: WireServer) -> None:
        """Tokens metered by old code leave less room for agent calls of the same agent, and the reverse."""
        meter = TokenBudget(loom)
        LLMManager({"llm_provider": "chatgpt", "agent": "counted"}, loom=loom).generate_response(
            "Hi", max_tokens=10)

        used = 1000 - (meter.remaining("counted") or 0)
        assert used > 0
        with pytest.raises(BudgetExceeded):
            meter.spend("counted", 1000 - used + 1)

    def test_negative_tokens_are_refused(self, loom: Loom) -> None:
        """A negative amount is a programming error, not a refund."""
        with pytest.raises(ValueError, match=">= 0"):
            TokenBudget(loom).spend("counted", -1)
