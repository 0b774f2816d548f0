"""Middleware around the Router call: cache policy, single-flight and rate limits that wait.

Each piece is a small object with no knowledge of the others; :class:`Middleware` holds one of
each per Loom and the agent's call path asks it (see ``UnifiedAgent._route``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .cache_policy import CachePolicy, agent_namespace
from .config import MiddlewareConfig
from .rate_gate import DeploymentLimit, RateGate, bucket_name, deployment_limit, has_tpm
from .shared_flight import RedisFlight, decode_response, encode_response
from .single_flight import SingleFlight, request_key, request_material

__all__ = [
    "CachePolicy",
    "DeploymentLimit",
    "Middleware",
    "MiddlewareConfig",
    "RateGate",
    "RedisFlight",
    "SingleFlight",
    "agent_namespace",
    "deployment_limit",
    "has_tpm",
    "request_key",
    "request_material",
]


T = TypeVar("T")


def _flight_target(url: str) -> tuple[str, str]:
    """The Redis URL without its query, and the key prefix (the state URL's ``prefix=``, as the budget store)."""
    parts = urlsplit(url)
    prefix = next((v for k, v in parse_qsl(parts.query) if k == "prefix"), None) or "loomllm:"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), prefix + "flight:"


class Middleware:
    """The middleware of one Loom: built from ``loomllm.middleware`` and the deployments' rpm/tpm."""

    def __init__(self, config: MiddlewareConfig, store: Any, events: Any, *, state_url: str = "memory://",
                 rate_limits_enforced: bool = False) -> None:
        from loomllm._budget._ratelimit import Bucket, open_buckets

        self.config = config
        self.cache_policy = CachePolicy(config.cache_policy)
        self.single_flight = SingleFlight()
        self.rates_enforced = rate_limits_enforced
        self.rate_gate = RateGate(open_buckets(store), events, bucket_type=Bucket)
        shared = config.single_flight.across_processes and state_url.startswith(("redis://", "rediss://"))
        self.redis_flight = RedisFlight(*_flight_target(state_url)) if shared else None

    async def coalesce(self, material: bytes, key: str, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``call`` once for every identical request in flight: in this process, then across processes.

        Returns ``(result, shared)``; ``shared`` means another call paid for it.
        """
        redis_flight = self.redis_flight

        async def across() -> tuple[T, bool]:
            if redis_flight is None:
                return await call(), False
            return await redis_flight.run(material, call, encode=encode_response, decode=decode_response)

        (result, remote), local = await self.single_flight.run(key, across)
        return result, local or remote

    def coalesces(self, agent: str, kind: str, params: dict[str, Any]) -> bool:
        """Whether identical concurrent calls of ``agent`` share one provider call."""
        config = self.config.single_flight
        own = config.agents.get(agent)
        if not config.enabled or (own is not None and not own.enabled) or kind != "completion":
            return False
        return not config.only_deterministic or self.cache_policy.cacheable(agent, params)

    def max_wait_s(self, agent: str) -> float:
        """How long ``agent``'s calls queue for a deployment's rate limit (0: refused at once)."""
        return self.config.rate_limits.wait_for(agent)

    async def refund_tokens(self, deployments: Sequence[Mapping[str, Any]], answered: str, unused: int) -> None:
        """Give the deployment that answered (its id) back the tpm a call took but did not use."""
        for deployment in deployments:
            limit = deployment_limit(deployment)
            if limit is not None and limit.tpm is not None and bucket_name(deployment) == answered:
                await self.rate_gate.refund(answered, limit, unused)
                return

    async def queue_for(self, deployments: list[Any], *, agent: str, call_id: str | None,
                        tokens: int) -> list[Any]:
        """The deployments the Router may pick for this attempt, once the rate gate let it through.

        Unlimited deployments pass as they are; otherwise the call queues for one deployment
        (see :meth:`RateGate.choose`) and the Router gets only that one.
        """
        limited = [(d, deployment_limit(d)) for d in deployments]
        if not self.rates_enforced or all(limit is None for _, limit in limited):
            return deployments
        return await self.rate_gate.choose(limited, tokens, agent=agent, call_id=call_id,
                                           max_wait_s=self.max_wait_s(agent))
