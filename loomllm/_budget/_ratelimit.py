"""Per-deployment request and token rates (rpm / tpm), shared across processes through a budget store."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from ._store import BudgetStore, Charge

__all__ = ["RateLimiter"]


class RateLimiter:
    """Fixed one-minute windows of requests and tokens per deployment.

    ``try_acquire`` counts one request and ``tokens`` (an estimate) if both fit; ``add_tokens``
    corrects the token count afterwards (it may be negative). A fixed window can admit up to twice
    the rate across a minute boundary; it is a guard against 429 storms, not a billing meter.
    """

    def __init__(self, store: BudgetStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def _charges(self, deployment_id: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[list[Charge], float]:
        now = self._clock()
        minute = int(now // 60) * 60
        base = f"rate/{quote(deployment_id, safe='')}/"
        expire = minute + 60 - now + 60
        charges: list[Charge] = []
        if rpm is not None:
            charges.append(Charge(f"{base}req@{minute}", rpm, 1, True, expire))
        if tpm is not None:
            charges.append(Charge(f"{base}tok@{minute}", tpm, max(0, tokens), True, expire))
        return charges, now

    async def try_acquire(self, deployment_id: str, rpm: int | None, tpm: int | None, tokens: int) -> bool:
        """Take one request and ``tokens`` from this minute's allowance if both fit; ``False`` otherwise."""
        charges, now = self._charges(deployment_id, rpm, tpm, tokens)
        return not charges or (await self._store.reserve(None, charges, now, now)).ok

    def try_acquire_sync(self, deployment_id: str, rpm: int | None, tpm: int | None, tokens: int) -> bool:
        """Blocking twin of :meth:`try_acquire`."""
        charges, now = self._charges(deployment_id, rpm, tpm, tokens)
        return not charges or self._store.reserve_sync(None, charges, now, now).ok

    def _token_charge(self, deployment_id: str, tokens: int) -> tuple[list[Charge], float]:
        charges, now = self._charges(deployment_id, None, 0, 0)
        return charges, now

    async def add_tokens(self, deployment_id: str, tokens: int) -> None:
        """Add ``tokens`` to this minute's token count (e.g. actual minus estimate)."""
        charges, now = self._token_charge(deployment_id, tokens)
        await self._store.commit(None, charges, [tokens], now)

    def add_tokens_sync(self, deployment_id: str, tokens: int) -> None:
        """Blocking twin of :meth:`add_tokens`."""
        charges, now = self._token_charge(deployment_id, tokens)
        self._store.commit_sync(None, charges, [tokens], now)
