"""The storage contract behind budgets and rate limits, and :func:`open_store`.

A store knows nothing about agents, policies or money. It keeps integer counters (tokens, or
nano-dollars) under string keys. Each counter has a ``spent`` total and a set of *leases*: amounts
reserved by calls in flight, each with an expiry so that a crashed process cannot hold budget for
good. Every operation over several counters is atomic: all of them change or none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from loomllm.errors import ConfigError

__all__ = ["BudgetStore", "Charge", "Verdict", "open_store"]


@dataclass(frozen=True, slots=True)
class Charge:
    """One counter touched by an operation, and what the operation does to it."""

    key: str
    """Counter key; it includes the window, so a new window starts from an empty counter."""
    cap: int
    """The counter's limit; ``spent + reserved + amount`` must stay at or below it when ``hard``."""
    amount: int
    """The amount reserved by this operation."""
    hard: bool = True
    """Refuse the whole operation when this counter cannot hold ``amount``. Soft counters never refuse."""
    expire_s: float | None = None
    """Seconds after which the counter may be dropped (its window is over); ``None`` keeps it forever."""
    warn: int = -1
    """When ``spent`` reaches this value on commit, set the threshold flag (once); ``-1``: no threshold."""
    flag: int = 0
    """Index, in the same charge list, of the counter that holds this limit's threshold flag."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a reservation attempt."""

    failed: int
    """Index of the first hard charge that could not hold its amount, or ``-1`` if all were reserved."""
    used: tuple[int, ...]
    """``spent + live reserved`` of every counter just before this operation."""

    @property
    def ok(self) -> bool:
        """True when everything was reserved."""
        return self.failed < 0


SETTLED_TTL_S = 8 * 86400.0
"""How long a store remembers that a lease was settled, so that replaying its settle changes nothing."""


@runtime_checkable
class BudgetStore(Protocol):
    """Atomic multi-counter reserve/commit. Implementations: memory, SQLite, Redis (and Redis Cluster).

    Async only: synchronous callers run the async path on the runtime's loop thread. Stores raise
    :class:`loomllm.errors.BudgetStoreUnavailable` when their backend cannot be reached.
    """

    name: str
    """Where the counters live (no credentials): settles journaled during an outage are replayed
    only into the store of the same name."""

    async def reserve(self, lease: str, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Reserve every charge's amount under ``lease`` (expiring at ``until``), or nothing."""
        ...

    async def commit(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> list[int]:
        """Drop ``lease`` from every counter and add ``amounts`` to ``spent``; only once per lease.

        A second commit of the same lease changes nothing (journal replays are idempotent). Returns
        the indices of charges whose threshold flag this commit set (each flag is set once).
        """
        ...

    async def renew(self, lease: str, charges: Sequence[Charge], until: float) -> None:
        """Move the expiry of ``lease`` (still held) to ``until``; a lease already gone stays gone."""
        ...

    async def read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """``(spent, live reserved)`` of each counter; missing counters read as zero."""
        ...

    async def scan(self, prefix: str) -> list[str]:
        """Keys of the counters that start with ``prefix`` (for reports; not on the call path)."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Forget these counters (spent, leases and threshold flag)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def open_store(url: str, *, prefix: str | None = None) -> BudgetStore:
    """Open the store named by ``url``: ``memory://``, ``sqlite:///path/file.db``, ``redis://host:port/db``
    (``valkey://`` too) or a Redis Cluster: ``redis://host:port?cluster=true`` (any node; the client
    discovers the others).

    ``prefix`` (or a ``prefix=`` query parameter) namespaces every key, so several deployments or
    test runs can share one Redis database or SQLite file.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from ._memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        from ._sqlite import SQLiteStore

        return SQLiteStore.from_url(url, prefix=prefix)
    if scheme in ("redis", "rediss", "unix", "valkey", "valkeys"):
        from ._redis import RedisStore

        return RedisStore.from_url(url, prefix=prefix)
    raise ConfigError(
        f"unsupported state store URL scheme {scheme!r} (use memory://, sqlite:///path, redis://host:port/db or valkey://host:port/db)",
        path="loomllm.state",
    )
