"""The ``loomllm.middleware:`` section: cache policy, single-flight and waiting rate limits.

The YAML shape::

    middleware:
      cache_policy:
        max_temperature: 0.0      # cache only calls at or below this temperature...
        unset_temperature: 1.0    # ...counting an unset temperature as this (the providers' default)
        ttl_s: 3600               # how long an answer stays cached (null: the cache's own default)
        agents: {planner: {ttl_s: 600}, brainstorm: {enabled: false}}
      single_flight:
        enabled: true             # coalesce identical in-flight calls of one agent
        only_deterministic: true  # ...only those the cache policy would cache (same sample for all)
        across_processes: true    # through Redis when loomllm.state is redis:// (answers stored encrypted)
        agents: {batch: {enabled: false}}
      rate_limits:
        enforce: null             # deployments' rpm/tpm as hard limits (null: when max_wait_s > 0 anywhere
                                  # or router_settings lists enforce_model_rate_limits; false: routing weights)
        max_wait_s: 0             # queue this long for a deployment's rpm/tpm before RateLimited
        agents: {nightly_batch: {max_wait_s: 120}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from .._base import Flag, Number, StrictModel

__all__ = ["AgentCachePolicy", "CachePolicyConfig", "MiddlewareConfig", "RateLimitsConfig", "SingleFlightConfig"]


class AgentCachePolicy(StrictModel):
    """One agent's overrides of the cache policy."""

    enabled: Flag = True
    max_temperature: Number | None = Field(default=None, ge=0.0)
    ttl_s: Number | None = Field(default=None, gt=0)


class CachePolicyConfig(StrictModel):
    """Which calls the response cache may answer and store."""

    max_temperature: Number = Field(default=0.0, ge=0.0)
    unset_temperature: Number = Field(default=1.0, ge=0.0)
    ttl_s: Number | None = Field(default=3600, gt=0)
    agents: dict[str, AgentCachePolicy] = Field(default_factory=dict)


class AgentSwitch(StrictModel):
    """One agent's switch."""

    enabled: Flag = True


class SingleFlightConfig(StrictModel):
    """Coalescing of identical concurrent calls."""

    enabled: Flag = True
    only_deterministic: Flag = True
    across_processes: Flag = Field(default=True, description="Through Redis, when loomllm.state is Redis.")
    agents: dict[str, AgentSwitch] = Field(default_factory=dict)


class AgentWait(StrictModel):
    """One agent's rate-limit wait."""

    max_wait_s: Number = Field(ge=0)


class RateLimitsConfig(StrictModel):
    """Whether deployments' rpm/tpm are hard limits, and how long calls queue for them before
    :class:`~loomllm.errors.RateLimited`."""

    enforce: Flag | None = None
    max_wait_s: Number = Field(default=0.0, ge=0)
    agents: dict[str, AgentWait] = Field(default_factory=dict)

    def enforced(self, router_settings: Mapping[str, Any]) -> bool:
        """Whether loomllm's token buckets enforce rpm/tpm: ``enforce`` if set, else when a wait is
        configured or ``router_settings`` asks LiteLLM to enforce them (loomllm's buckets do it
        instead, so that one limiter counts each request once)."""
        if self.enforce is not None:
            return self.enforce
        checks = router_settings.get("optional_pre_call_checks") or []
        return (self.max_wait_s > 0 or any(a.max_wait_s > 0 for a in self.agents.values())
                or "enforce_model_rate_limits" in checks)

    def wait_for(self, agent: str) -> float:
        """The longest ``agent`` waits."""
        own = self.agents.get(agent)
        return own.max_wait_s if own is not None else self.max_wait_s


class MiddlewareConfig(StrictModel):
    """The ``loomllm.middleware`` section."""

    cache_policy: CachePolicyConfig = Field(default_factory=CachePolicyConfig)
    single_flight: SingleFlightConfig = Field(default_factory=SingleFlightConfig)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)
