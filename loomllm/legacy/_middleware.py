"""The middleware classes of old client code, as thin facades over LiteLLM and loomllm.

* :class:`CacheMiddleware` keeps its key scheme and statistics; the storage is LiteLLM's own
  ``InMemoryCache`` / ``RedisCache``.
* :class:`RateLimiter` counts requests and tokens per provider in loomllm's budget store
  (memory, or the Loom's store so limits hold across processes) and waits for the next window.
* :class:`RetryMiddleware` is tenacity's exponential backoff with jitter; loomllm policy
  refusals are never retried.
* :class:`CostTracker` prices with LiteLLM's model cost map (the old table as a fallback), keeps
  a per-model breakdown and refuses calls once its daily limit is spent.

Inside loomllm the same jobs are done by the Router (``router_settings.num_retries``, rpm/tpm on
deployments, ``litellm_settings.cache``) and by YAML budgets; these classes exist for code that
calls them directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from loomllm._budget import RateLimiter as _StoreRateLimiter
from loomllm._budget import open_store
from loomllm.errors import PolicyViolation

from ._deprecation import warn_once
from ._errors import LegacyBudgetExceeded
from ._types import CompletionRequest, CompletionResponse, Message, ToolCallDict

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = [
    "MODEL_PRICING",
    "CacheBackend",
    "CacheEntry",
    "CacheMiddleware",
    "CostTracker",
    "MemoryCacheBackend",
    "ModelPricing",
    "RateLimitConfig",
    "RateLimiter",
    "RedisCacheBackend",
    "RetryConfig",
    "RetryMiddleware",
]

_log = logging.getLogger("loomllm.legacy")
T = TypeVar("T")


# --- cache ----------------------------------------------------------------------------------------


@dataclass
class CacheEntry:
    """A cached response and its lifetime."""

    response: CompletionResponse
    created_at: float
    expires_at: float
    hits: int = 0


def _entry_to_json(entry: CacheEntry) -> str:
    response = {k: v for k, v in asdict(entry.response).items() if k != "raw"}
    return json.dumps({"response": response, "created_at": entry.created_at, "expires_at": entry.expires_at,
                       "hits": entry.hits})


def _entry_from_json(data: Any) -> CacheEntry:
    d = json.loads(data) if isinstance(data, str | bytes) else dict(data)
    response = dict(d["response"])
    if response.get("tool_calls"):
        response["tool_calls"] = [ToolCallDict(c) for c in response["tool_calls"]]
    return CacheEntry(response=CompletionResponse(**response), created_at=d["created_at"],
                      expires_at=d["expires_at"], hits=d.get("hits", 0))


class CacheBackend:
    """Where :class:`CacheMiddleware` keeps entries: a LiteLLM cache (``self._cache``) under a key prefix."""

    _cache: Any
    _prefix: str = "llm:cache:"

    async def get(self, key: str) -> CacheEntry | None:
        """The live entry for ``key``, or ``None``."""
        data = await self._cache.async_get_cache(self._prefix + key)
        if data is None:
            return None
        entry = _entry_from_json(data)
        if time.time() >= entry.expires_at:
            await self.delete(key)
            return None
        entry.hits += 1
        return entry

    async def set(self, key: str, entry: CacheEntry) -> None:
        """Store ``entry`` until its ``expires_at``."""
        ttl = int(entry.expires_at - time.time())
        if ttl > 0:
            await self._cache.async_set_cache(self._prefix + key, _entry_to_json(entry), ttl=ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        await self._cache.async_delete_cache(self._prefix + key)

    async def clear(self) -> None:
        """Forget every entry of this backend."""
        raise NotImplementedError


class MemoryCacheBackend(CacheBackend):
    """In-process entries in LiteLLM's ``InMemoryCache`` (``max_size`` entries at most)."""

    def __init__(self, max_size: int = 1000) -> None:
        from litellm.caching.in_memory_cache import InMemoryCache

        self._cache = InMemoryCache(max_size_in_memory=max_size, default_ttl=3600)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._cache.delete_cache(self._prefix + key)

    async def clear(self) -> None:
        """Forget every entry."""
        self._cache.flush_cache()


class RedisCacheBackend(CacheBackend):
    """Entries in Redis through LiteLLM's ``RedisCache``, under ``prefix`` (default ``llm:cache:``)."""

    def __init__(self, url: str = "redis://localhost:6379", prefix: str = "llm:cache:") -> None:
        from litellm.caching.redis_cache import RedisCache

        self._prefix = prefix
        self._cache = RedisCache(url=url)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        await self._cache.async_delete_cache(self._prefix + key)

    async def clear(self) -> None:
        """Forget every entry under this backend's prefix (never the whole database)."""
        client = self._cache.init_async_client()
        keys = [k async for k in client.scan_iter(match=self._prefix + "*")]
        if keys:
            await client.delete(*keys)


class CacheMiddleware:
    """Caches low-temperature, non-streamed completions by a hash of the request's content."""

    def __init__(self, backend: CacheBackend, ttl_seconds: int = 3600, cacheable_temp_threshold: float = 0.3) -> None:
        warn_once(type(self), "litellm_settings.cache in the loomllm YAML (the Router caches, per agent)")
        self.backend = backend
        self.ttl_seconds = ttl_seconds
        self.cacheable_temp_threshold = cacheable_temp_threshold
        self._stats = {"hits": 0, "misses": 0}

    def cache_key(self, request: CompletionRequest) -> str:
        """A SHA-256 of the messages, model, temperature, max_tokens, JSON mode and function names."""
        key_data: dict[str, Any] = {
            "messages": [_role_and_content(m) for m in request.messages],
            "model": request.model,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "json_mode": request.json_mode,
        }
        if request.functions:
            key_data["functions"] = [f.name for f in request.functions]
        return hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()

    def is_cacheable(self, request: CompletionRequest) -> bool:
        """Only requests at or below the temperature threshold, and never streams."""
        return request.temperature <= self.cacheable_temp_threshold and not request.stream

    async def get_cached(self, request: CompletionRequest) -> CompletionResponse | None:
        """The cached response (``cached=True``), or ``None``."""
        if not self.is_cacheable(request):
            return None
        entry = await self.backend.get(self.cache_key(request))
        if entry is None:
            self._stats["misses"] += 1
            return None
        self._stats["hits"] += 1
        entry.response.cached = True
        return entry.response

    async def cache_response(self, request: CompletionRequest, response: CompletionResponse) -> None:
        """Store ``response`` for ``request`` (if cacheable) for ``ttl_seconds``."""
        if not self.is_cacheable(request):
            return
        now = time.time()
        await self.backend.set(self.cache_key(request),
                               CacheEntry(response=response, created_at=now, expires_at=now + self.ttl_seconds))

    @property
    def stats(self) -> dict[str, float]:
        """Hits, misses and the hit rate."""
        total = self._stats["hits"] + self._stats["misses"]
        return {**self._stats, "hit_rate": self._stats["hits"] / total if total else 0}


def _role_and_content(message: Message | dict[str, Any]) -> tuple[str, Any]:
    if isinstance(message, Message):
        role = message.role
        content: Any = message.content
    else:
        role, content = message.get("role", ""), message.get("content")
    return (str(getattr(role, "value", role)), content)


# --- rate limits ----------------------------------------------------------------------------------


@dataclass
class RateLimitConfig:
    """Requests and tokens per minute for one provider."""

    requests_per_minute: int = 60
    tokens_per_minute: int = 100000


class RateLimiter:
    """Per-provider request and token rates; ``acquire_*`` waits until the next minute when spent.

    Counts live in loomllm's budget store: ``loom=`` shares the Loom's store (Redis: across
    processes), else an in-process one. ``clock``/``sleep`` are for tests.
    """

    def __init__(self, *, loom: Loom | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        warn_once(type(self), "rpm/tpm on the deployments in model_list (the Router enforces them)")
        store = loom._store if loom is not None else open_store("memory://")
        self._limiter = _StoreRateLimiter(store, clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._limits: dict[str, RateLimitConfig] = {}

    def configure(self, provider: str, config: RateLimitConfig) -> None:
        """Set ``provider``'s limits."""
        self._limits[provider] = config
        _log.info("Rate limit configured for %s: %d req/min, %d tok/min", provider,
                  config.requests_per_minute, config.tokens_per_minute)

    async def acquire_request(self, provider: str) -> None:
        """Take one request from ``provider``'s allowance, waiting for the next minute if it is spent."""
        limit = self._limits.get(provider)
        if limit is not None:
            await self._acquire(provider, limit.requests_per_minute, None, 0)

    async def acquire_tokens(self, provider: str, tokens: int) -> None:
        """Take ``tokens`` from ``provider``'s allowance, waiting for the next minute if it is spent."""
        limit = self._limits.get(provider)
        if limit is not None:
            await self._acquire(provider, None, limit.tokens_per_minute, min(tokens, limit.tokens_per_minute))

    async def _acquire(self, provider: str, rpm: int | None, tpm: int | None, tokens: int) -> None:
        key = f"legacy/{provider}"
        while not await self._limiter.try_acquire(key, rpm, tpm, tokens):
            await self._sleep(60 - self._clock() % 60 + 0.01)


# --- retries --------------------------------------------------------------------------------------


@dataclass
class RetryConfig:
    """Exponential backoff: ``initial_delay * exponential_base ** attempt``, capped, with jitter."""

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 60.0
    exponential_base: float = 2.0
    jitter: bool = True
    retryable_exceptions: set[type[BaseException]] | None = None

    def __post_init__(self) -> None:
        if self.retryable_exceptions is None:
            self.retryable_exceptions = {ConnectionError, TimeoutError}


_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RetryMiddleware:
    """Runs an async function with tenacity's exponential backoff; policy refusals are never retried."""

    def __init__(self, config: RetryConfig | None = None) -> None:
        warn_once(type(self), "router_settings.num_retries in the loomllm YAML (the Router retries)")
        self.config = config or RetryConfig()

    async def execute(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await func(*args, **kwargs)``, retried on retryable errors; the last error is re-raised."""
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

        config = self.config
        wait: Any = wait_exponential(multiplier=config.initial_delay, exp_base=config.exponential_base,
                                     max=config.max_delay)
        if config.jitter:
            wait = wait + wait_random(0, config.initial_delay)
        retrying = AsyncRetrying(stop=stop_after_attempt(config.max_retries + 1), wait=wait,
                                 retry=retry_if_exception(self._is_retryable), reraise=True)
        return await retrying(func, *args, **kwargs)

    def _is_retryable(self, error: BaseException) -> bool:
        if isinstance(error, PolicyViolation):
            return False
        if any(isinstance(error, kind) for kind in self.config.retryable_exceptions or ()):
            return True
        if getattr(error, "retryable", False):
            return True
        return getattr(error, "status_code", None) in _RETRYABLE_STATUS


# --- cost -----------------------------------------------------------------------------------------


@dataclass
class ModelPricing:
    """USD per 1M tokens."""

    prompt_usd: float
    completion_usd: float


MODEL_PRICING: dict[str, ModelPricing] = {
    "claude-sonnet-4-20250514": ModelPricing(3.0, 15.0),
    "claude-3-5-haiku-20241022": ModelPricing(1.0, 5.0),
    "claude-opus-4-20250514": ModelPricing(15.0, 75.0),
    "gpt-4o": ModelPricing(2.5, 10.0),
    "gpt-4o-mini": ModelPricing(0.15, 0.6),
    "o1-preview": ModelPricing(15.0, 60.0),
    "o1-mini": ModelPricing(3.0, 12.0),
    "llama3.1:8b": ModelPricing(0.0, 0.0),
    "llama3.1:70b": ModelPricing(0.0, 0.0),
}
"""The old fixed table, used for models LiteLLM's cost map does not price."""


class CostTracker:
    """Total, daily and per-model cost; refuses calls (:meth:`check`) once ``daily_limit_usd`` is spent.

    Prices come from LiteLLM's model cost map, else :data:`MODEL_PRICING`. The day rolls over at
    local midnight (or :meth:`reset_daily`). ``limit`` of loomllm budgets in YAML is the
    concurrency-safe, cross-process way; this one counts what one process recorded.
    """

    def __init__(self, daily_limit_usd: float = 0) -> None:
        warn_once(type(self), "loomllm budgets in YAML (loomllm.budgets, usd per day) and loom.budgets()")
        self.daily_limit_usd = daily_limit_usd
        self._total_cost = 0.0
        self._daily_cost = 0.0
        self._by_model: dict[str, float] = {}
        self._day = date.today()

    def calculate_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """The USD cost of a request (0 with a warning for models no table prices)."""
        from loomllm._litellm import litellm_module

        litellm = litellm_module()
        if model in litellm.model_cost or model.split("/", 1)[-1] in litellm.model_cost:
            try:
                prompt, completion = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens,
                                                            completion_tokens=completion_tokens)
                return float(prompt) + float(completion)
            except Exception:  # LiteLLM raises for some entries it cannot price
                pass
        pricing = MODEL_PRICING.get(model) or MODEL_PRICING.get(model.split("/", 1)[-1])
        if pricing is None:
            _log.warning("No pricing for model: %s", model)
            return 0.0
        return prompt_tokens / 1e6 * pricing.prompt_usd + completion_tokens / 1e6 * pricing.completion_usd

    def record(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Add a request's cost to the totals; returns it."""
        self._roll_day()
        cost = self.calculate_cost(model, prompt_tokens, completion_tokens)
        self._total_cost += cost
        self._daily_cost += cost
        self._by_model[model] = self._by_model.get(model, 0.0) + cost
        if self.over_limit:
            _log.warning("Daily budget exceeded: $%.2f > $%.2f", self._daily_cost, self.daily_limit_usd)
        return cost

    def check(self, agent: str = "legacy") -> None:
        """Raise :class:`~loomllm.legacy.LegacyBudgetExceeded` if today's limit is already spent."""
        self._roll_day()
        if self.daily_limit_usd > 0 and self._daily_cost >= self.daily_limit_usd:
            raise LegacyBudgetExceeded(agent=agent, limit="daily_limit_usd", unit="usd",
                                       remaining=max(0.0, self.daily_limit_usd - self._daily_cost), requested=0.0,
                                       window="day")

    @property
    def over_limit(self) -> bool:
        """Whether today's spend is past the daily limit."""
        return self.daily_limit_usd > 0 and self._daily_cost > self.daily_limit_usd

    def reset_daily(self) -> None:
        """Start a new day's count."""
        self._daily_cost = 0.0
        self._day = date.today()

    def _roll_day(self) -> None:
        if date.today() != self._day:
            self.reset_daily()

    @property
    def total_cost(self) -> float:
        """USD recorded since this tracker was made."""
        return self._total_cost

    @property
    def daily_cost(self) -> float:
        """USD recorded today."""
        return self._daily_cost

    @property
    def by_model(self) -> dict[str, float]:
        """USD per model (a copy)."""
        return dict(self._by_model)
