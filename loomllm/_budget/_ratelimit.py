"""Request and token rates (rpm / tpm), shared across processes through the state store.

Two limiters live here:

* :class:`TokenBuckets` (memory, SQLite, Redis through one Lua script): the token buckets behind
  the waiting rate gate of every deployment's rpm / tpm (``loomllm/_middleware/rate_gate.py``).
* :class:`RateLimiter`: fixed one-minute windows, kept for the legacy ``RateLimiter`` facade. A
  taken request is a lease that expires when its window ends, so a crashed process leaves nothing held.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

from ._store import BudgetStore, Charge

if TYPE_CHECKING:
    import sqlite3

    from ._redis import RedisStore
    from ._sqlite import SQLiteStore

__all__ = ["Bucket", "MemoryBuckets", "RateLimiter", "RedisBuckets", "SQLiteBuckets", "Take", "TokenBuckets",
           "open_buckets"]


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


# --- token buckets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """One token bucket touched by a take: ``capacity`` tokens, refilled at ``per_s`` tokens a second."""

    key: str
    capacity: float
    per_s: float
    cost: float


@dataclass(frozen=True, slots=True)
class Take:
    """The outcome of :meth:`TokenBuckets.take`."""

    taken: bool
    """The cost was taken from every bucket (the caller must wait ``wait_s`` first)."""
    wait_s: float
    """Seconds until the caller's place in the queue comes (0: go now); when not taken, the wait refused."""


@runtime_checkable
class TokenBuckets(Protocol):
    """Token buckets in a state store. A take is atomic over all its buckets: all or none.

    Each take *reserves its place in the queue*: a bucket may go negative, and the caller sleeps
    until its tokens have been refilled. Places are handed out in the order the store sees the
    takes, so callers are served first come, first served, across processes, and none starves.
    """

    async def take(self, buckets: Sequence[Bucket], now: float, max_wait_s: float) -> Take:
        """Take every bucket's cost if the wait it implies is at most ``max_wait_s``; else take nothing."""
        ...

    async def give_back(self, buckets: Sequence[Bucket], now: float) -> None:
        """Return a take's cost (the caller gave up before its request was sent)."""
        ...


def _refilled(tokens: float, stamp: float, bucket: Bucket, now: float) -> tuple[float, float]:
    if now > stamp:
        return min(bucket.capacity, tokens + (now - stamp) * bucket.per_s), now
    return tokens, stamp  # another process's clock ran ahead: no refill, never a negative one


def _plan(states: Sequence[tuple[float, float]], buckets: Sequence[Bucket],
          now: float) -> tuple[list[tuple[float, float]], float]:
    """Every bucket refilled to ``now``, and the wait until all of them hold their cost."""
    refilled = [_refilled(t, s, b, now) for (t, s), b in zip(states, buckets, strict=True)]
    wait = max((max(0.0, (b.cost - t) / b.per_s) for (t, _), b in zip(refilled, buckets, strict=True)), default=0.0)
    return refilled, wait


class MemoryBuckets:
    """Buckets in this process (the ``memory://`` state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def _read(self, buckets: Sequence[Bucket], now: float) -> list[tuple[float, float]]:
        return [self._state.get(b.key, (b.capacity, now)) for b in buckets]

    async def take(self, buckets: Sequence[Bucket], now: float, max_wait_s: float) -> Take:
        """See :class:`TokenBuckets`."""
        with self._lock:
            refilled, wait = _plan(self._read(buckets, now), buckets, now)
            taken = wait <= max_wait_s
            for (tokens, stamp), bucket in zip(refilled, buckets, strict=True):
                self._state[bucket.key] = (tokens - bucket.cost if taken else tokens, stamp)
            return Take(taken, wait)

    async def give_back(self, buckets: Sequence[Bucket], now: float) -> None:
        """See :class:`TokenBuckets`."""
        with self._lock:
            refilled, _ = _plan(self._read(buckets, now), buckets, now)
            for (tokens, stamp), bucket in zip(refilled, buckets, strict=True):
                self._state[bucket.key] = (min(bucket.capacity, tokens + bucket.cost), stamp)


_SQL_SCHEMA = ("CREATE TABLE IF NOT EXISTS loom_rate_buckets"
               " (key TEXT PRIMARY KEY, tokens REAL NOT NULL, stamp REAL NOT NULL, expires_at REAL NOT NULL)"
               " WITHOUT ROWID")
_SQL_READ = "SELECT tokens, stamp FROM loom_rate_buckets WHERE key = ? AND expires_at > ?"
_SQL_WRITE = "INSERT OR REPLACE INTO loom_rate_buckets (key, tokens, stamp, expires_at) VALUES (?, ?, ?, ?)"


def _expires_at(tokens: float, stamp: float, bucket: Bucket) -> float:
    """When the bucket is full again (plus a minute): from then on a missing row means the same."""
    return stamp + max(0.0, bucket.capacity - tokens) / bucket.per_s + 60.0


class SQLiteBuckets:
    """Buckets in the SQLite state file: one ``BEGIN IMMEDIATE`` transaction per take."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._ready = False

    def _run(self, buckets: Sequence[Bucket], now: float, max_wait_s: float | None) -> Take:
        prefix = self._store._prefix

        def body(db: sqlite3.Connection) -> Take:
            if not self._ready:
                db.execute(_SQL_SCHEMA)
            states = []
            for bucket in buckets:
                row = db.execute(_SQL_READ, (prefix + bucket.key, now)).fetchone()
                states.append((float(row[0]), float(row[1])) if row else (bucket.capacity, now))
            refilled, wait = _plan(states, buckets, now)
            taken = max_wait_s is not None and wait <= max_wait_s
            for (tokens, stamp), bucket in zip(refilled, buckets, strict=True):
                if taken:
                    tokens -= bucket.cost
                elif max_wait_s is None:  # give back
                    tokens = min(bucket.capacity, tokens + bucket.cost)
                db.execute(_SQL_WRITE, (prefix + bucket.key, tokens, stamp, _expires_at(tokens, stamp, bucket)))
            return Take(taken, wait)

        take = self._store._transaction(body)
        self._ready = True
        return take

    async def take(self, buckets: Sequence[Bucket], now: float, max_wait_s: float) -> Take:
        """See :class:`TokenBuckets`."""
        return await asyncio.to_thread(self._run, buckets, now, max_wait_s)

    async def give_back(self, buckets: Sequence[Bucket], now: float) -> None:
        """See :class:`TokenBuckets`."""
        await asyncio.to_thread(self._run, buckets, now, None)


# One script for take and give-back. Per bucket a hash (t tokens, s stamp); it expires when the
# bucket would be full again, so an idle deployment leaves nothing behind. Numbers travel as
# strings: Redis truncates Lua numbers in replies to integers.
_BUCKET_SCRIPT = """
local now, max_wait, give = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local state, wait = {}, 0
for i = 1, #KEYS do
  local a = 4 + (i - 1) * 3
  local cap, rate, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local v = redis.call('HMGET', KEYS[i], 't', 's')
  local t, s = tonumber(v[1]), tonumber(v[2])
  if t == nil or s == nil then t, s = cap, now end
  if now > s then t = math.min(cap, t + (now - s) * rate); s = now end
  state[i] = {t, s, cap, rate, cost}
  if cost > t then wait = math.max(wait, (cost - t) / rate) end
end
local taken = (not give) and wait <= max_wait
for i = 1, #KEYS do
  local t, s, cap, rate, cost = unpack(state[i])
  if taken then t = t - cost elseif give then t = math.min(cap, t + cost) end
  redis.call('HSET', KEYS[i], 't', string.format('%.17g', t), 's', string.format('%.17g', s))
  redis.call('PEXPIRE', KEYS[i], math.ceil(((math.max(0, cap - t) / rate) + 60) * 1000))
end
return {taken and 1 or 0, string.format('%.17g', wait)}
"""


class RedisBuckets:
    """Buckets in the Redis state (one Lua script per take), on the store's own client and key tag."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._script: tuple[Any, Any] | None = None

    async def _call(self, buckets: Sequence[Bucket], now: float, max_wait_s: float, give: bool) -> Take:
        import redis

        client, _ = self._store._client()
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(_BUCKET_SCRIPT))
        keys = [self._store._tag + b.key for b in buckets]
        args = [repr(now), repr(max_wait_s), "1" if give else "0"]
        for b in buckets:
            args += (repr(b.capacity), repr(b.per_s), repr(b.cost))
        try:
            raw = await self._script[1](keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            raise self._store._unavailable(exc) from exc
        wait = raw[1].decode() if isinstance(raw[1], bytes) else str(raw[1])
        return Take(bool(int(raw[0])), float(wait))

    async def take(self, buckets: Sequence[Bucket], now: float, max_wait_s: float) -> Take:
        """See :class:`TokenBuckets`."""
        return await self._call(buckets, now, max_wait_s, give=False)

    async def give_back(self, buckets: Sequence[Bucket], now: float) -> None:
        """See :class:`TokenBuckets`."""
        await self._call(buckets, now, 0.0, give=True)


def open_buckets(store: BudgetStore) -> TokenBuckets:
    """Token buckets kept where ``store`` keeps its counters (shared across processes for SQLite and Redis)."""
    from ._redis import RedisStore
    from ._sqlite import SQLiteStore

    if isinstance(store, RedisStore):
        return RedisBuckets(store)
    if isinstance(store, SQLiteStore):
        return SQLiteBuckets(store)
    return MemoryBuckets()
