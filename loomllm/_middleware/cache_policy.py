"""Which calls the response cache may serve: deterministic ones only, unless configured otherwise."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from .config import CachePolicyConfig

__all__ = ["CachePolicy", "agent_namespace"]

# Cache types that store in Redis, whose SET takes whole seconds.
_REDIS_TYPES = frozenset({"redis", "redis-semantic", "redis_semantic"})
# What tells one cache from another (never a password).
_IDENTITY_KEYS = ("type", "host", "port", "namespace", "redis_startup_nodes", "s3_bucket_name", "disk_cache_dir")


def agent_namespace(agent: str, cache_params: Mapping[str, Any] | None) -> str:
    """The per-call cache namespace of ``agent``'s answers.

    LiteLLM's per-call namespace replaces the cache's own ``namespace``, and its process-wide
    in-memory layer in front of Redis is shared by every cache of the process: so the namespace
    carries the configured one and a digest of which cache it is, and two Looms (tenants) with
    different caches never read each other's answers, even in one process.
    """
    params = dict(cache_params or {})
    identity = {key: params.get(key) for key in _IDENTITY_KEYS if params.get(key) is not None}
    url = params.get("url")
    if isinstance(url, str):
        identity["url"] = url.rsplit("@", 1)[-1]  # the host part only: never the password
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    own = params.get("namespace")
    prefix = f"{own}:" if isinstance(own, str) and own else ""
    return f"{prefix}loomllm.{digest}.agent.{agent}"


class CachePolicy:
    """Decides per call whether LiteLLM's cache is consulted, and for how long an answer is kept.

    A call is cacheable when its temperature (an unset one counts as ``unset_temperature``) is at or
    below ``max_temperature`` and it asks for one choice (``n`` of 1): caching a sampled answer would
    hand every later caller the same sample.
    """

    def __init__(self, config: CachePolicyConfig) -> None:
        self._config = config

    def cacheable(self, agent: str, params: Mapping[str, Any]) -> bool:
        """Whether this call may be answered from, and stored in, the cache."""
        own = self._config.agents.get(agent)
        if own is not None and not own.enabled:
            return False
        if int(params.get("n") or 1) != 1:
            return False
        limit = own.max_temperature if own is not None and own.max_temperature is not None else None
        limit = self._config.max_temperature if limit is None else limit
        temperature = params.get("temperature")
        value = self._config.unset_temperature if temperature is None else float(temperature)
        return value <= limit

    def ttl_s(self, agent: str) -> float | None:
        """How long ``agent``'s answers stay cached (None: the cache's default)."""
        own = self._config.agents.get(agent)
        if own is not None and own.ttl_s is not None:
            return own.ttl_s
        return self._config.ttl_s

    def cache_control(self, agent: str, params: Mapping[str, Any], base: dict[str, Any],
                      cache_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """LiteLLM's per-call ``cache`` argument: ``base`` (namespace...) plus TTL, or no-cache/no-store.

        On a Redis cache the TTL is rounded up to whole seconds (Redis SET EX takes no fractions).
        """
        if not self.cacheable(agent, params):
            return {"no-cache": True, "no-store": True}
        ttl = self.ttl_s(agent)
        if ttl is not None and str((cache_params or {}).get("type", "")).lower() in _REDIS_TYPES:
            ttl = math.ceil(ttl)
        return {**base, "ttl": ttl} if ttl is not None else base
