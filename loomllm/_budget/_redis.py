"""Redis store: several hosts share counters. One Lua script per operation, so each is atomic.

Per counter ``K`` there is a hash ``K`` (``s`` spent, ``r`` live reserved, ``w`` threshold flag) and a
sorted set ``K|l`` of leases (member ``lease:amount``, score = expiry). Expired leases are purged by
the next script that touches the counter. Keys expire when their window is over. The lease expiry
uses the caller's clock (not Redis ``TIME``) so the injected test clock and the window agree.
Keys are not hash-tagged: Redis Cluster is not supported, a single primary (or Sentinel) is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loomllm.errors import BudgetStoreUnavailable

from ._store import Charge, Verdict

__all__ = ["RedisStore"]

DEFAULT_PREFIX = "loomllm:budget:"

# Shared by the scripts that read counters: drop expired leases (crashed callers), then read
# (spent, reserved) of one counter.
_LIVE_COUNTS = """
local function live_counts(k, l, now)
  local dead = redis.call('ZRANGEBYSCORE', l, '-inf', now)
  if #dead > 0 then
    local freed = 0
    for _, m in ipairs(dead) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', l, '-inf', now)
    redis.call('HINCRBY', k, 'r', string.format('%d', -freed))
  end
  return redis.call('HMGET', k, 's', 'r')
end
"""

_RESERVE = _LIVE_COUNTS + """
local now, untl, lease = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local n = #KEYS / 2
local out = {0}
for i = 1, n do
  local k, l = KEYS[2 * i - 1], KEYS[2 * i]
  local v = live_counts(k, l, now)
  local used = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
  out[i + 1] = used
  local a = 4 + (i - 1) * 4
  if out[1] == 0 and ARGV[a + 2] == '1' and used + tonumber(ARGV[a + 1]) > tonumber(ARGV[a]) then out[1] = i end
end
if out[1] ~= 0 then return out end
for i = 1, n do
  local k, l = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 4 + (i - 1) * 4
  local amount, ttl = ARGV[a + 1], tonumber(ARGV[a + 3])
  if lease == '' then
    redis.call('HINCRBY', k, 's', amount)
  elseif amount ~= '0' then
    redis.call('ZADD', l, untl, lease .. ':' .. amount)
    redis.call('HINCRBY', k, 'r', amount)
    if ttl > 0 then redis.call('PEXPIRE', l, ttl) end
  end
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
return out
"""

_COMMIT = """
local lease = ARGV[1]
local n = #KEYS / 2
local spent, crossed = {}, {}
for i = 1, n do
  local k, l = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 2 + (i - 1) * 5
  local reserved = ARGV[a]
  if lease ~= '' and reserved ~= '0' then
    if redis.call('ZREM', l, lease .. ':' .. reserved) == 1 then redis.call('HINCRBY', k, 'r', '-' .. reserved) end
  end
  spent[i] = redis.call('HINCRBY', k, 's', ARGV[a + 1])
  local ttl = tonumber(ARGV[a + 2])
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
for i = 1, n do
  local a = 2 + (i - 1) * 5
  local warn = tonumber(ARGV[a + 3])
  if warn >= 0 and spent[i] >= warn then
    if redis.call('HSETNX', KEYS[2 * tonumber(ARGV[a + 4]) - 1], 'w', '1') == 1 then crossed[#crossed + 1] = i - 1 end
  end
end
return crossed
"""

_READ = _LIVE_COUNTS + """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local k, l = KEYS[2 * i - 1], KEYS[2 * i]
  local v = live_counts(k, l, now)
  out[2 * i - 1] = tonumber(v[1]) or 0
  out[2 * i] = tonumber(v[2]) or 0
end
return out
"""


def _ttl_ms(charge: Charge) -> str:
    return "-1" if charge.expire_s is None else str(max(1, int(charge.expire_s * 1000)))


class RedisStore:
    """Counters in Redis, shared by every process that points at the same database and prefix."""

    def __init__(
        self, url: str, *, prefix: str = DEFAULT_PREFIX, connect_timeout_s: float = 1.0, timeout_s: float = 2.0
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._client_kwargs: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout_s,
            "socket_timeout": timeout_s,
        }
        self._sync: Any = None
        self._sync_scripts: tuple[Any, Any, Any] | None = None
        self._async: tuple[asyncio.AbstractEventLoop, Any, tuple[Any, Any, Any]] | None = None
        where = urlsplit(url)
        self._where = f"{where.hostname or where.path}:{where.port or ''}".rstrip(":")  # never the password

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None) -> RedisStore:
        """Build from ``redis://host:port/db``; a ``prefix=`` query parameter sets the key prefix."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query_prefix = next((v for k, v in query if k == "prefix"), None)
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        return cls(clean, prefix=prefix if prefix is not None else (query_prefix or DEFAULT_PREFIX))

    # -- clients -------------------------------------------------------------------------------

    def _sync_client(self) -> tuple[Any, Any, Any]:
        if self._sync_scripts is None:
            import redis

            self._sync = redis.Redis.from_url(self._url, **self._client_kwargs)
            self._sync_scripts = tuple(self._sync.register_script(s) for s in (_RESERVE, _COMMIT, _READ))
        assert self._sync_scripts is not None
        return self._sync_scripts

    def _async_client(self) -> tuple[Any, tuple[Any, Any, Any]]:
        # redis.asyncio connections belong to the loop that opened them; keep one client per loop.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(self._url, **self._client_kwargs)
            scripts = tuple(client.register_script(s) for s in (_RESERVE, _COMMIT, _READ))
            self._async = (loop, client, scripts)
        assert self._async is not None
        return self._async[1], self._async[2]

    def _unavailable(self, exc: Exception) -> BudgetStoreUnavailable:
        return BudgetStoreUnavailable(f"budget store: Redis at {self._where} is unavailable ({type(exc).__name__})")

    # -- argument packing ----------------------------------------------------------------------

    def _keys(self, keys: Sequence[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            full = self._prefix + key
            out += (full, full + "|l")
        return out

    def _reserve_args(self, lease: str | None, charges: Sequence[Charge], now: float, until: float) -> list[str]:
        args = [repr(now), repr(until), lease or ""]
        for c in charges:
            args += (str(c.cap), str(c.amount), "1" if c.hard else "0", _ttl_ms(c))
        return args

    def _commit_args(self, lease: str | None, charges: Sequence[Charge], amounts: Sequence[int]) -> list[str]:
        args = [lease or ""]
        for c, amount in zip(charges, amounts, strict=True):
            args += (str(c.amount), str(amount), _ttl_ms(c), str(c.warn), str(c.flag + 1))
        return args

    @staticmethod
    def _verdict(raw: Sequence[int]) -> Verdict:
        return Verdict(int(raw[0]) - 1, tuple(int(x) for x in raw[1:]))

    @staticmethod
    def _pairs(raw: Sequence[int]) -> list[tuple[int, int]]:
        return [(int(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    # -- sync ----------------------------------------------------------------------------------

    def reserve_sync(self, lease: str | None, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Reserve every charge or none: one script call."""
        import redis

        reserve, _, _ = self._sync_client()
        keys = self._keys([c.key for c in charges])
        try:
            return self._verdict(reserve(keys=keys, args=self._reserve_args(lease, charges, now, until)))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def commit_sync(
        self, lease: str | None, charges: Sequence[Charge], amounts: Sequence[int], now: float
    ) -> list[int]:
        """Replace the lease by the actual amounts: one script call."""
        import redis

        _, commit, _ = self._sync_client()
        keys = self._keys([c.key for c in charges])
        try:
            return [int(i) for i in commit(keys=keys, args=self._commit_args(lease, charges, amounts))]
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def read_sync(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """``(spent, live reserved)`` per key."""
        import redis

        _, _, read = self._sync_client()
        try:
            return self._pairs(read(keys=self._keys(keys), args=[repr(now)]))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def delete_sync(self, keys: Sequence[str]) -> None:
        """Forget these counters."""
        import redis

        self._sync_client()
        try:
            if keys:
                self._sync.delete(*self._keys(keys))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        """Close the sync client."""
        if self._sync is not None:
            self._sync.close()
            self._sync = self._sync_scripts = None

    # -- async ---------------------------------------------------------------------------------

    async def reserve(self, lease: str | None, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Async :meth:`reserve_sync`."""
        import redis

        _, (reserve, _, _) = self._async_client()
        keys = self._keys([c.key for c in charges])
        try:
            return self._verdict(await reserve(keys=keys, args=self._reserve_args(lease, charges, now, until)))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    async def commit(
        self, lease: str | None, charges: Sequence[Charge], amounts: Sequence[int], now: float
    ) -> list[int]:
        """Async :meth:`commit_sync`."""
        import redis

        _, (_, commit, _) = self._async_client()
        keys = self._keys([c.key for c in charges])
        try:
            return [int(i) for i in await commit(keys=keys, args=self._commit_args(lease, charges, amounts))]
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    async def read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """Async :meth:`read_sync`."""
        import redis

        _, (_, _, read) = self._async_client()
        try:
            return self._pairs(await read(keys=self._keys(keys), args=[repr(now)]))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    async def delete(self, keys: Sequence[str]) -> None:
        """Async :meth:`delete_sync`."""
        import redis

        client, _ = self._async_client()
        try:
            if keys:
                await client.delete(*self._keys(keys))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    async def aclose(self) -> None:
        """Close the async client of the running loop."""
        if self._async is not None:
            client = self._async[1]
            self._async = None
            await client.aclose()
