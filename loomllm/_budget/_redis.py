"""Redis store: several hosts share counters. One Lua script per operation, so each is atomic.

Per counter ``K`` there is a hash ``K`` (``s`` spent, ``r`` live reserved, ``w`` threshold flag) and a
sorted set ``K|l`` of leases (member ``lease:amount``, score = expiry). Expired leases are purged by
the next script that touches the counter. Keys expire when their window is over. ``{prefix}done|L``
marks lease ``L`` as settled, so a settle replayed from the journal is applied once. The lease
expiry uses the caller's clock (not Redis ``TIME``) so the injected test clock and the window agree.

Every key carries the prefix as a hash tag (``{loomllm:budget:}agent/...``): all counters of one
prefix live in one Redis Cluster slot, so every script touches one slot, as Cluster requires.
Works the same on Valkey.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loomllm.errors import BudgetStoreUnavailable, ConfigError

from ._store import SETTLED_TTL_S, Charge, Verdict

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
  if amount ~= '0' then
    -- a client retry of this script (reply lost) must not count the same lease twice
    if redis.call('ZADD', l, untl, lease .. ':' .. amount) == 1 then redis.call('HINCRBY', k, 'r', amount) end
    if ttl > 0 then redis.call('PEXPIRE', l, ttl) end
  end
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
return out
"""

_COMMIT = """
local lease = ARGV[1]
local n = (#KEYS - 1) / 2
if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ARGV[2]) then return {} end
local spent, crossed = {}, {}
for i = 1, n do
  local k, l = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 3 + (i - 1) * 5
  local reserved = ARGV[a]
  if reserved ~= '0' then
    if redis.call('ZREM', l, lease .. ':' .. reserved) == 1 then redis.call('HINCRBY', k, 'r', '-' .. reserved) end
  end
  spent[i] = redis.call('HINCRBY', k, 's', ARGV[a + 1])
  local ttl = tonumber(ARGV[a + 2])
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
for i = 1, n do
  local a = 3 + (i - 1) * 5
  local warn = tonumber(ARGV[a + 3])
  if warn >= 0 and spent[i] >= warn then
    if redis.call('HSETNX', KEYS[2 * tonumber(ARGV[a + 4]) - 1], 'w', '1') == 1 then crossed[#crossed + 1] = i - 1 end
  end
end
return crossed
"""

_RENEW = """
for i = 1, #KEYS do
  local m = ARGV[1] .. ':' .. ARGV[i + 2]
  if redis.call('ZSCORE', KEYS[i], m) then redis.call('ZADD', KEYS[i], 'XX', ARGV[2], m) end
end
return 0
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

_SCRIPTS = (_RESERVE, _COMMIT, _RENEW, _READ)


def _ttl_ms(charge: Charge) -> str:
    return "-1" if charge.expire_s is None else str(max(1, int(charge.expire_s * 1000)))


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


class RedisStore:
    """Counters in Redis (a single primary, Sentinel, or a Redis Cluster), shared by every process
    that points at the same server and prefix."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        cluster: bool = False,
        connect_timeout_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError("the Redis key prefix may not contain '{' or '}' (it is the hash tag)",
                              path="loomllm.state")
        self._url = url
        self._tag = "{" + prefix + "}"
        self._cluster = cluster
        self._client_kwargs: dict[str, Any] = {"socket_connect_timeout": connect_timeout_s, "socket_timeout": timeout_s}
        self._retries = 2  # short: a store that is down must refuse (or journal) fast, not after seconds
        self._async: tuple[asyncio.AbstractEventLoop, Any, tuple[Any, ...]] | None = None
        where = urlsplit(url)
        host = f"{where.hostname or where.path}:{where.port or ''}".rstrip(":")  # never the password
        self.name = f"{'redis-cluster' if cluster else 'redis'}://{host}{where.path if not cluster else ''}#{prefix}"

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None) -> RedisStore:
        """Build from ``redis://host:port/db`` (or ``valkey://``); ``prefix=`` sets the key prefix and
        ``cluster=true`` talks to a Redis Cluster through any of its nodes."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        options = dict(query)
        rest = urlencode([(k, v) for k, v in query if k not in ("prefix", "cluster")])
        scheme = {"valkey": "redis", "valkeys": "rediss"}.get(parts.scheme.lower(), parts.scheme)
        clean = urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment))
        chosen = prefix if prefix is not None else (options.get("prefix") or DEFAULT_PREFIX)
        return cls(clean, prefix=chosen, cluster=_truthy(options.get("cluster")))

    # -- client --------------------------------------------------------------------------------

    def _client(self) -> tuple[Any, tuple[Any, ...]]:
        # redis.asyncio connections belong to the loop that opened them; keep one client per loop.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            self._client_kwargs["retry"] = Retry(ExponentialBackoff(cap=0.25, base=0.025), self._retries)
            if self._cluster:
                from redis.asyncio.cluster import RedisCluster

                client: Any = RedisCluster.from_url(self._url, **self._client_kwargs)
            else:
                import redis.asyncio

                client = redis.asyncio.Redis.from_url(self._url, **self._client_kwargs)
            self._async = (loop, client, tuple(client.register_script(s) for s in _SCRIPTS))
        return self._async[1], self._async[2]

    def _unavailable(self, exc: Exception) -> BudgetStoreUnavailable:
        return BudgetStoreUnavailable(f"budget store: Redis at {self.name} is unavailable ({type(exc).__name__})")

    async def _run(self, script: int, keys: list[str], args: list[str]) -> Any:
        import redis

        client, scripts = self._client()
        try:
            return await scripts[script](keys=keys, args=args)
        except (redis.ConnectionError, OSError):
            # Every pooled connection dies with a restart: drop them and try once more on a fresh one
            # (the scripts are idempotent per lease, so a reply lost the first time is not counted twice).
            await self._drop_idle_connections(client)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        try:
            return await scripts[script](keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            if isinstance(exc, redis.ConnectionError | OSError):
                await self._drop_idle_connections(client)
            raise self._unavailable(exc) from exc

    @staticmethod
    async def _drop_idle_connections(client: Any) -> None:
        """After a restart every pooled connection is dead; without this each would fail one call."""
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.disconnect(inuse_connections=False)

    # -- argument packing ----------------------------------------------------------------------

    def _keys(self, keys: Sequence[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            full = self._tag + key
            out += (full, full + "|l")
        return out

    # -- operations ----------------------------------------------------------------------------

    async def reserve(self, lease: str, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Reserve every charge or none: one script call."""
        args = [repr(now), repr(until), lease]
        for c in charges:
            args += (str(c.cap), str(c.amount), "1" if c.hard else "0", _ttl_ms(c))
        raw = await self._run(0, self._keys([c.key for c in charges]), args)
        return Verdict(int(raw[0]) - 1, tuple(int(x) for x in raw[1:]))

    async def commit(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> list[int]:
        """Replace the lease by the actual amounts, once: one script call."""
        args = [lease, str(int(SETTLED_TTL_S * 1000))]
        for c, amount in zip(charges, amounts, strict=True):
            args += (str(c.amount), str(amount), _ttl_ms(c), str(c.warn), str(c.flag + 1))
        keys = [*self._keys([c.key for c in charges]), f"{self._tag}done|{lease}"]
        return [int(i) for i in await self._run(1, keys, args)]

    async def renew(self, lease: str, charges: Sequence[Charge], until: float) -> None:
        """Extend a lease still held: one script call."""
        held = [c for c in charges if c.amount]
        if held:
            keys = [self._tag + c.key + "|l" for c in held]
            await self._run(2, keys, [lease, repr(until), *(str(c.amount) for c in held)])

    async def read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """``(spent, live reserved)`` per key."""
        if not keys:
            return []
        raw = await self._run(3, self._keys(keys), [repr(now)])
        return [(int(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    async def scan(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` (SCAN: every node of a cluster)."""
        import redis

        client, _ = self._client()
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._tag + prefix) + "*"
        out: list[str] = []
        try:
            async for raw in client.scan_iter(match=pattern, count=1000):
                key = (raw.decode() if isinstance(raw, bytes) else str(raw))[len(self._tag) :]
                if not key.endswith("|l") and not key.startswith("done|"):
                    out.append(key)
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return out

    async def delete(self, keys: Sequence[str]) -> None:
        """Forget these counters."""
        import redis

        client, _ = self._client()
        try:
            if keys:
                # One slot, but RedisCluster still splits a multi-key DEL; that is fine for a reset.
                await client.delete(*self._keys(keys))
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def aclose(self) -> None:
        """Close the client of the running loop."""
        if self._async is not None:
            client = self._async[1]
            self._async = None
            await client.aclose()
