"""Which calls the response cache may serve: deterministic ones only, unless configured otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import CachePolicyConfig

__all__ = ["CachePolicy"]


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

    def cache_control(self, agent: str, params: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        """LiteLLM's per-call ``cache`` argument: ``base`` (namespace...) plus TTL, or no-cache/no-store."""
        if not self.cacheable(agent, params):
            return {"no-cache": True, "no-store": True}
        ttl = self.ttl_s(agent)
        return {**base, "ttl": ttl} if ttl is not None else base
