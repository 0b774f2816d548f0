"""Request and token rates (rpm / tpm) in fixed one-minute windows, shared across processes through a store.

The waiting rate gate (``loomllm/_middleware``) and the legacy ``RateLimiter`` count on it. A
taken request is a lease that expires when its window ends, so a crashed process leaves nothing held.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import quote

from ._store import BudgetStore, Charge

__all__ = ["RateLimiter"]


class RateLimiter:
    """Fixed one-minute windows of requests and tokens per key (a deployment or a model group).

    A fixed window can admit up to twice the rate across a minute boundary, as LiteLLM's own
    rpm check does; it is a guard against 429 storms, not a billing meter.
    """

    def __init__(self, store: BudgetStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def try_acquire(self, key: str, rpm: int | None, tpm: int | None, tokens: int) -> bool:
        """Take one request and ``tokens`` from this minute's allowance if both fit; ``False`` otherwise."""
        now = self._clock()
        minute = int(now // 60) * 60
        base = f"rate/{quote(key, safe='')}/"
        expire = minute + 60 - now + 60
        charges: list[Charge] = []
        if rpm is not None:
            charges.append(Charge(f"{base}req@{minute}", rpm, 1, True, expire))
        if tpm is not None:
            charges.append(Charge(f"{base}tok@{minute}", tpm, max(0, tokens), True, expire))
        if not charges:
            return True
        verdict = await self._store.reserve(f"rate-{uuid.uuid4().hex}", charges, now, minute + 60.0)
        return verdict.ok
