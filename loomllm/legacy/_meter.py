"""The old per-agent token meter (``TokenBudget``), backed by loomllm's budget ledger.

Spending goes through the same store and limits as agent calls (``loomllm.budgets`` in YAML), so
tokens counted by old code and tokens used by agents share one budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loomllm._budget import Estimate, Usage

from ._deprecation import warn_once
from ._resolve import resolve_loom

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = ["TokenBudget"]

_TOKEN_UNITS = ("tokens", "input_tokens")


class TokenBudget:
    """Counts tokens per agent against the token limits of the YAML budgets.

    ``spend`` counts tokens as input tokens at no cost in USD; it raises
    :class:`~loomllm.BudgetExceeded` (and counts nothing) when a hard limit cannot hold them.
    """

    def __init__(self, loom: Loom | None = None) -> None:
        warn_once(type(self), "the budgets of the YAML file (loomllm.budgets), which agents apply by themselves")
        self.loom = resolve_loom(loom)

    def spend(self, agent: str, tokens: int) -> None:
        """Count ``tokens`` against ``agent``'s limits, or raise ``BudgetExceeded`` and count nothing."""
        if tokens < 0:
            raise ValueError("tokens must be >= 0")
        self.loom.run_sync(self._spend(agent, tokens))

    async def _spend(self, agent: str, tokens: int) -> None:
        estimate = Estimate(input_tokens=tokens, output_tokens=0, cost_usd=0.0)
        reservation = await self.loom.ledger.reserve(agent, estimate)
        await reservation.settle(Usage(input_tokens=tokens, output_tokens=0, cost_usd=0.0))

    def remaining(self, agent: str) -> int | None:
        """Tokens ``agent`` may still spend in the current windows; ``None`` if no token limit applies."""
        left = [status.remaining for status in self.loom.budgets_sync(agent) if status.unit in _TOKEN_UNITS]
        return int(min(left)) if left else None

    def can_spend(self, agent: str, tokens: int) -> bool:
        """Whether ``tokens`` fit in ``agent``'s remaining token budget right now (reserves nothing)."""
        left = self.remaining(agent)
        return left is None or tokens <= left
