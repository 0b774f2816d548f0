"""Middleware around the Router call: cache policy, single-flight and rate limits that wait.

Each piece is a small object with no knowledge of the others; :class:`Middleware` holds one of
each per Loom and the agent's call path asks it (see ``UnifiedAgent._route``).
"""

from __future__ import annotations

from typing import Any

from .cache_policy import CachePolicy
from .config import MiddlewareConfig
from .rate_gate import GroupLimit, RateGate, group_limits
from .single_flight import SingleFlight, request_key

__all__ = ["CachePolicy", "GroupLimit", "Middleware", "MiddlewareConfig", "RateGate", "SingleFlight",
           "group_limits", "request_key"]


class Middleware:
    """The middleware of one Loom: built from ``loomllm.middleware`` and the deployments' rpm/tpm."""

    def __init__(self, config: MiddlewareConfig, model_list: list[dict[str, Any]], store: Any, events: Any) -> None:
        from loomllm._budget import RateLimiter

        self.config = config
        self.cache_policy = CachePolicy(config.cache_policy)
        self.single_flight = SingleFlight()
        self.rate_gate = RateGate(RateLimiter(store), group_limits(model_list), events)

    def coalesces(self, agent: str, kind: str, params: dict[str, Any]) -> bool:
        """Whether identical concurrent calls of ``agent`` share one provider call."""
        config = self.config.single_flight
        own = config.agents.get(agent)
        if not config.enabled or (own is not None and not own.enabled) or kind != "completion":
            return False
        return not config.only_deterministic or self.cache_policy.cacheable(agent, params)

    def max_wait_s(self, agent: str) -> float:
        """How long ``agent``'s calls wait for a rate limit (0: LiteLLM refuses at once, as before)."""
        return self.config.rate_limits.wait_for(agent)
