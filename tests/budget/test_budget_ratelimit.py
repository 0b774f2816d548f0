"""Per-deployment rpm / tpm counters over every store."""

from __future__ import annotations

from budget_support import FakeClock

from loomllm._budget import BudgetStore, RateLimiter


class TestRateLimiter:
    async def test_rpm(self, store: BudgetStore, clock: FakeClock) -> None:
        """At most rpm requests per minute; the next minute starts afresh."""
        limiter = RateLimiter(store, clock=clock)
        assert [await limiter.try_acquire("d1", 2, None, 10) for _ in range(3)] == [True, True, False]
        assert await limiter.try_acquire("d2", 2, None, 10)
        clock.advance(60)
        assert await limiter.try_acquire("d1", 2, None, 10)

    async def test_tpm_and_correction(self, store: BudgetStore, clock: FakeClock) -> None:
        """Tokens are capped per minute; add_tokens corrects an estimate either way."""
        limiter = RateLimiter(store, clock=clock)
        assert await limiter.try_acquire("d", None, 100, 80)
        assert not await limiter.try_acquire("d", None, 100, 30)
        await limiter.add_tokens("d", -50)
        assert await limiter.try_acquire("d", None, 100, 30)
        limiter.add_tokens_sync("d", 40)
        assert not limiter.try_acquire_sync("d", None, 100, 1)

    async def test_refused_request_takes_nothing(self, store: BudgetStore, clock: FakeClock) -> None:
        """A request refused for tokens does not use up a request slot."""
        limiter = RateLimiter(store, clock=clock)
        assert not await limiter.try_acquire("d", 1, 10, 11)
        assert await limiter.try_acquire("d", 1, 10, 10)

    async def test_unlimited(self, store: BudgetStore, clock: FakeClock) -> None:
        """No rpm and no tpm means always allowed."""
        assert await RateLimiter(store, clock=clock).try_acquire("d", None, None, 10**9)
