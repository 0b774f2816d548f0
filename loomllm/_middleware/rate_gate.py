"""Rate limits that wait: every attempt queues for its deployment's rpm/tpm instead of failing at once.

Each deployment (a ``model_list`` entry) with ``rpm`` / ``tpm`` has one token bucket per limit in
the state store (memory; SQLite or Redis: shared by every process on the same state), holding a
minute's allowance and refilled continuously. Before each attempt (retries and fallbacks too),
:meth:`RateGate.choose` queues the call for one of its group's deployments, taking one request
and the call's estimated tokens, and hands the Router that deployment only.
A take reserves the caller's place in the queue (the bucket may go negative), so the wait is known
at once and callers are served in arrival order, across processes.

A call waits up to its agent's ``max_wait_s``. When its place is further away than that, the
take is refused at once with :class:`~loomllm.errors.RateLimited` (sleeping would not bring it
closer); the Router may then try another deployment or a fallback group. A caller that gives up
while it waits (cancelled, timed out) hands its place back.

This is the only limiter: with it on, LiteLLM's ``enforce_model_rate_limits`` pre-call check is
left out of the Router (see ``RateLimitsConfig.enforced``), so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from loomllm.errors import RateLimited

__all__ = ["DeploymentLimit", "RateGate", "bucket_name", "deployment_limit", "has_tpm"]


class _Events(Protocol):
    def emit(self, event: str, level: str = "info", **fields: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class DeploymentLimit:
    """A deployment's per-minute allowance."""

    rpm: int | None
    tpm: int | None


def deployment_limit(deployment: Mapping[str, Any]) -> DeploymentLimit | None:
    """rpm/tpm of one ``model_list`` entry (litellm_params, model_info or the entry itself); None: unlimited."""
    rpm, tpm = _limit(deployment, "rpm"), _limit(deployment, "tpm")
    return DeploymentLimit(rpm, tpm) if rpm is not None or tpm is not None else None


def has_tpm(deployments: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any of ``deployments`` limits tokens per minute (then calls need a token estimate)."""
    return any(_limit(d, "tpm") is not None for d in deployments)


def _limit(dep: Mapping[str, Any], key: str) -> int | None:
    for source in (dep.get("litellm_params") or {}, dep.get("model_info") or {}, dep):
        if isinstance(source, Mapping) and source.get(key) is not None:
            return int(source[key])
    return None


class _Buckets(Protocol):
    async def take(self, buckets: Sequence[Any], now: float, max_wait_s: float) -> Any: ...

    async def give_back(self, buckets: Sequence[Any], now: float) -> None: ...


class RateGate:
    """Token buckets per deployment; ``acquire`` waits for a place, emitting ``ratelimit.wait`` events.

    ``clock`` and ``sleep`` are injectable so tests can count refills without timing anything.
    """

    def __init__(self, buckets: _Buckets, events: _Events, *, bucket_type: Callable[..., Any],
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._buckets = buckets
        self._events = events
        self._bucket = bucket_type
        self._clock = clock
        self._sleep = sleep

    def _buckets_for(self, deployment: str, limit: DeploymentLimit, tokens: int) -> list[Any]:
        key = f"bucket/{quote(deployment, safe='')}/"
        out = []
        if limit.rpm is not None:
            out.append(self._bucket(key + "rpm", float(limit.rpm), limit.rpm / 60.0, 1.0))
        if limit.tpm is not None and tokens > 0:
            out.append(self._bucket(key + "tpm", float(limit.tpm), limit.tpm / 60.0, float(tokens)))
        return out

    async def acquire(self, deployment: str, limit: DeploymentLimit, tokens: int, *, agent: str,
                      call_id: str | None, group: str | None, max_wait_s: float) -> float:
        """Take one request and ``tokens`` from ``deployment``'s buckets; returns the seconds waited.

        Raises :class:`RateLimited` (before any wait) when the caller's place is more than
        ``max_wait_s`` away, or when ``tokens`` exceed the deployment's tpm (no wait would help).
        """
        fields = {"agent": agent, "call_id": call_id, "model_group": group, "deployment": deployment}
        if limit.tpm is not None and tokens > limit.tpm:
            self._report("refused", 0.0, fields, reason="over_tpm")
            raise RateLimited(f"agent {agent!r}: a call of ~{tokens} tokens exceeds deployment {deployment!r}'s "
                              f"tpm of {limit.tpm}", agent=agent, model=group)
        buckets = self._buckets_for(deployment, limit, tokens)
        if not buckets:
            return 0.0
        take = await self._buckets.take(buckets, self._clock(), max_wait_s)
        if not take.taken:
            self._report("refused", 0.0, fields, reason="queue_too_long", needed_s=round(take.wait_s, 3))
            raise RateLimited(f"agent {agent!r}: deployment {deployment!r} is at its rate limit (the next place "
                              f"is {take.wait_s:.2f}s away, max_wait_s is {max_wait_s:g})", agent=agent, model=group)
        if take.wait_s <= 0:
            return 0.0
        try:
            await self._sleep(take.wait_s)
        except BaseException:
            # The caller gave up (cancelled, timed out): its place goes to the next one.
            await asyncio.shield(self._buckets.give_back(buckets, self._clock()))
            self._report("abandoned", take.wait_s, fields)
            raise
        self._report("acquired", take.wait_s, fields)
        return float(take.wait_s)

    async def choose(self, candidates: Sequence[tuple[Any, DeploymentLimit | None]], tokens: int, *, agent: str,
                     call_id: str | None, max_wait_s: float) -> list[Any]:
        """Queue for one of a group's deployments; returns the deployments the attempt may use.

        Unlimited deployments are used as they are when no limited one can go at once. Otherwise
        the first deployment (in a random order, as the Router spreads load) that can go now is
        taken, else the first whose queue is within ``max_wait_s``; RateLimited when none is.
        """
        free = [d for d, limit in candidates if limit is None]
        limited = [(d, limit) for d, limit in candidates if limit is not None]
        random.shuffle(limited)
        for dep, limit in limited:
            if await self.try_now(bucket_name(dep), limit, tokens):
                return [dep]
        if free:
            return free
        refusal: RateLimited | None = None
        for dep, limit in limited:
            try:
                await self.acquire(bucket_name(dep), limit, tokens, agent=agent, call_id=call_id,
                                   group=str(dep.get("model_name")), max_wait_s=max_wait_s)
            except RateLimited as error:
                refusal = refusal or error
                continue
            return [dep]
        assert refusal is not None
        raise refusal

    async def refund(self, deployment: str, limit: DeploymentLimit, tokens: int) -> None:
        """Give ``deployment``'s tpm bucket back the ``tokens`` a call was charged beyond its real usage.

        A take charges the call's worst case (the budget estimate); once the provider's usage is
        known, the difference goes back, so a large ``max_tokens`` does not use up the minute's tpm.
        """
        tpm_only = self._buckets_for(deployment, DeploymentLimit(None, limit.tpm), tokens)
        if tpm_only:
            await self._buckets.give_back(tpm_only, self._clock())

    async def try_now(self, deployment: str, limit: DeploymentLimit, tokens: int) -> bool:
        """Take from ``deployment``'s buckets only if the call can go at once (no wait, no event)."""
        if limit.tpm is not None and tokens > limit.tpm:
            return False
        buckets = self._buckets_for(deployment, limit, tokens)
        return not buckets or bool((await self._buckets.take(buckets, self._clock(), 0.0)).taken)

    def _report(self, outcome: str, waited: float, fields: dict[str, Any], **extra: Any) -> None:
        self._events.emit("ratelimit.wait", outcome=outcome, waited_s=round(waited, 4), **fields, **extra)


def bucket_name(deployment: Mapping[str, Any]) -> str:
    """The bucket name of a Router deployment: its id (LiteLLM sets one on every deployment)."""
    return str((deployment.get("model_info") or {}).get("id") or deployment.get("model_name"))
