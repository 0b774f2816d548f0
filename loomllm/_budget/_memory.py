"""In-process store: one lock, plain dicts. Safe from threads and from asyncio (it never awaits)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ._store import SETTLED_TTL_S, Charge, Verdict

__all__ = ["MemoryStore"]

_SWEEP_EVERY = 4096


class _Counter:
    __slots__ = ("expires_at", "flag", "leases", "reserved", "spent")

    def __init__(self) -> None:
        self.spent = 0
        self.reserved = 0
        # lease id -> (amount, expiry). Insertion order is expiry order when all leases share one TTL
        # (a renewed lease moves to the end); with mixed TTLs an expired lease may wait behind a live
        # one, which only over-counts (safe).
        self.leases: dict[str, tuple[int, float]] = {}
        self.flag = False
        self.expires_at = float("inf")

    def purge(self, now: float) -> None:
        leases = self.leases
        while leases:
            lease, (amount, until) = next(iter(leases.items()))
            if until > now:
                return
            del leases[lease]
            self.reserved -= amount


class MemoryStore:
    """Counters in this process only: the right store for one process, tests and notebooks."""

    name = "memory://"
    process_local = True  # its leases end with the process: taken for the whole call, never renewed

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._settled: dict[str, float] = {}  # lease -> when the marker may be forgotten
        self._ops = 0

    def _counter(self, charge: Charge, now: float) -> _Counter:
        counter = self._counters.get(charge.key)
        if counter is None:
            counter = self._counters[charge.key] = _Counter()
        if charge.expire_s is not None:
            counter.expires_at = now + charge.expire_s
        return counter

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        for key in [k for k, c in self._counters.items() if c.expires_at <= now]:
            del self._counters[key]
        for lease in [k for k, until in self._settled.items() if until <= now]:
            del self._settled[lease]

    async def reserve(self, lease: str, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Reserve every charge or none (see :class:`BudgetStore`)."""
        with self._lock:
            self._sweep(now)
            counters = [self._counter(c, now) for c in charges]
            used: list[int] = []
            for counter in counters:
                counter.purge(now)
                used.append(counter.spent + counter.reserved)
            for i, charge in enumerate(charges):
                if charge.hard and used[i] + charge.amount > charge.cap:
                    return Verdict(i, tuple(used))
            for counter, charge in zip(counters, charges, strict=True):
                counter.leases[lease] = (charge.amount, until)
                counter.reserved += charge.amount
            return Verdict(-1, tuple(used))

    async def commit(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> list[int]:
        """Replace the lease by the actual amounts, once (see :class:`BudgetStore`)."""
        crossed: list[int] = []
        with self._lock:
            if lease in self._settled:
                return crossed
            self._settled[lease] = now + SETTLED_TTL_S
            counters = [self._counter(c, now) for c in charges]
            for counter, amount in zip(counters, amounts, strict=True):
                held = counter.leases.pop(lease, None)
                if held is not None:
                    counter.reserved -= held[0]
                counter.spent += amount
            for i, (counter, charge) in enumerate(zip(counters, charges, strict=True)):
                if 0 <= charge.warn <= counter.spent and not counters[charge.flag].flag:
                    counters[charge.flag].flag = True
                    crossed.append(i)
        return crossed

    async def renew(self, lease: str, charges: Sequence[Charge], until: float) -> None:
        """Extend a lease still held."""
        with self._lock:
            for charge in charges:
                counter = self._counters.get(charge.key)
                held = None if counter is None else counter.leases.pop(lease, None)
                if counter is not None and held is not None:
                    counter.leases[lease] = (held[0], until)

    async def read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """``(spent, live reserved)`` per key."""
        out: list[tuple[int, int]] = []
        with self._lock:
            for key in keys:
                counter = self._counters.get(key)
                if counter is None:
                    out.append((0, 0))
                else:
                    counter.purge(now)
                    out.append((counter.spent, counter.reserved))
        return out

    async def scan(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``."""
        with self._lock:
            return [key for key in self._counters if key.startswith(prefix)]

    async def delete(self, keys: Sequence[str]) -> None:
        """Forget these counters."""
        with self._lock:
            for key in keys:
                self._counters.pop(key, None)

    async def aclose(self) -> None:
        """Nothing to release."""
