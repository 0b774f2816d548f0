"""Single-flight: identical concurrent calls of one agent share one provider call.

The first caller (the leader) runs the call; callers that arrive while it is in flight wait for
its result and each get their own deep copy. Works across event loops of one process (the Loom's
sync loop thread and the app's loop) through ``concurrent.futures.Future``. A leader that is
cancelled hands over: a waiting caller becomes the new leader.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["SingleFlight", "request_key", "request_material"]

T = TypeVar("T")

# Parameters that differ per call without changing the request the provider sees.
_IGNORED = frozenset({"metadata", "cache"})


def request_material(agent: str, kind: str, model: str | None, messages: Sequence[Mapping[str, Any]],
                     params: Mapping[str, Any]) -> bytes:
    """Everything the provider would see, canonically serialised (kept in memory only)."""
    body = {"agent": agent, "kind": kind, "model": model, "messages": messages,
            "params": {k: v for k, v in params.items() if k not in _IGNORED}}
    return json.dumps(body, sort_keys=True, default=str, separators=(",", ":")).encode()


def request_key(agent: str, kind: str, model: str | None, messages: Sequence[Mapping[str, Any]],
                params: Mapping[str, Any]) -> str:
    """A digest of :func:`request_material`."""
    return hashlib.sha256(request_material(agent, kind, model, messages, params)).hexdigest()


class _Handover(Exception):
    """The leader was cancelled; a follower should run the call itself."""


class SingleFlight:
    """In-flight calls by key; :meth:`run` returns ``(result, shared)``."""

    def __init__(self) -> None:
        self._flights: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def in_flight(self) -> int:
        """How many distinct calls are in flight (for tests and metrics)."""
        with self._lock:
            return len(self._flights)

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``call`` unless an identical one is in flight; then wait for that one's result (a copy)."""
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = Future()
            if leader:
                return await self._lead(key, flight, call), False
            try:
                # Shielded: a follower that is cancelled (a caller's timeout) must not cancel the
                # shared future, which would fail the leader after the provider answered.
                result = await asyncio.shield(asyncio.wrap_future(flight))
            except _Handover:
                continue
            return copy.deepcopy(result), True

    async def _lead(self, key: str, flight: Future[Any], call: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await call()
        except asyncio.CancelledError:
            self._finish(key, flight, error=_Handover())
            raise
        except BaseException as exc:
            self._finish(key, flight, error=exc)
            raise
        self._finish(key, flight, result=result)
        return result

    def _finish(self, key: str, flight: Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        if flight.done():  # nothing waits on it any more
            return
        if error is not None:
            flight.set_exception(error)
        else:
            flight.set_result(result)
