"""Rate limits that wait: calls queue for a model group's rpm/tpm instead of failing at once.

The allowance is counted in the state store (memory, SQLite or Redis: shared across processes
with the latter two) in the same fixed one-minute windows LiteLLM's ``enforce_model_rate_limits``
uses, so a call admitted here is not then refused by the Router. A call that does not fit waits
for the next window, up to the agent's ``max_wait_s``; only then is
:class:`~loomllm.errors.RateLimited` raised. A group's allowance is the sum of its deployments'
``rpm`` / ``tpm``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loomllm.errors import RateLimited

__all__ = ["GroupLimit", "RateGate", "group_limits"]


class _Events(Protocol):
    def emit(self, event: str, level: str = "info", **fields: Any) -> None: ...


class _Limiter(Protocol):
    async def try_acquire(self, deployment_id: str, rpm: int | None, tpm: int | None, tokens: int) -> bool: ...


@dataclass(frozen=True)
class GroupLimit:
    """A model group's per-minute allowance."""

    rpm: int | None
    tpm: int | None


def group_limits(model_list: Sequence[Mapping[str, Any]]) -> dict[str, GroupLimit]:
    """Model group -> the sum of its deployments' rpm and tpm (groups without limits are left out)."""
    sums: dict[str, list[int | None]] = {}
    for dep in model_list:
        entry = sums.setdefault(str(dep["model_name"]), [None, None])
        for i, key in enumerate(("rpm", "tpm")):
            value = _limit(dep, key)
            if value is not None:
                entry[i] = (entry[i] or 0) + value
    return {group: GroupLimit(rpm, tpm) for group, (rpm, tpm) in sums.items() if rpm is not None or tpm is not None}


def _limit(dep: Mapping[str, Any], key: str) -> int | None:
    for source in (dep.get("litellm_params") or {}, dep.get("model_info") or {}, dep):
        if source.get(key) is not None:
            return int(source[key])
    return None


class RateGate:
    """Waits for a group's allowance (``wait``), emitting ``ratelimit.wait`` events for the metrics."""

    def __init__(self, limiter: _Limiter, limits: Mapping[str, GroupLimit], events: _Events, *,
                 clock: Callable[[], float] = time.time, poll_s: float = 1.0) -> None:
        self._limiter = limiter
        self._limits = dict(limits)
        self._events = events
        self._clock = clock
        self._poll_s = poll_s

    def limits(self, group: str | None) -> GroupLimit | None:
        """The allowance of ``group`` (None: unlimited)."""
        return self._limits.get(group) if group is not None else None

    async def wait(self, group: str, tokens: int, *, agent: str, max_wait_s: float) -> float:
        """Take one request and ``tokens`` from ``group``'s allowance; returns the seconds waited.

        Raises :class:`RateLimited` when the allowance is not there within ``max_wait_s``.
        """
        limit = self._limits.get(group)
        if limit is None:
            return 0.0
        started = time.monotonic()
        key = f"group:{group}"
        paused = False
        while not await self._limiter.try_acquire(key, limit.rpm, limit.tpm, tokens):
            waited = time.monotonic() - started
            if limit.tpm is not None and tokens > limit.tpm:
                self._report(group, agent, waited, "refused")
                raise RateLimited(f"agent {agent!r}: a call of ~{tokens} tokens exceeds model group {group!r}'s "
                                  f"tpm of {limit.tpm}", agent=agent, model=group)
            if waited >= max_wait_s:
                self._report(group, agent, waited, "refused")
                raise RateLimited(f"agent {agent!r}: model group {group!r} is at its rate limit "
                                  f"(waited {waited:.2f}s of max_wait_s {max_wait_s:g})", agent=agent, model=group)
            pause = min(self._until_next_window(), max_wait_s - waited)
            await asyncio.sleep(pause)
            paused = True
        if not paused:
            return 0.0
        waited = time.monotonic() - started
        self._report(group, agent, waited, "acquired")
        return waited

    def _until_next_window(self) -> float:
        now = self._clock()
        return min(self._poll_s, 60 - now % 60 + 0.01)

    def _report(self, group: str, agent: str, waited: float, outcome: str) -> None:
        self._events.emit("ratelimit.wait", agent=agent, model_group=group, waited_s=round(waited, 4),
                          outcome=outcome)
