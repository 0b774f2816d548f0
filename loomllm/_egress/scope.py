"""Which egress policy applies to the code running now: a context variable set around each attempt.

The Router's pre-call hook enters :func:`egress_scope` for the chosen deployment; the transport
guard reads :func:`current_scope` on every outgoing request. Context variables follow ``await``
and LiteLLM's ``run_in_executor`` calls (it copies the context), so the scope reaches the HTTP
client that actually sends the request. No scope means the guard allows the request.

LiteLLM and the OpenAI SDK wrap exceptions raised inside their HTTP calls (see the package
docstring), so every denial is also recorded on the scope (:attr:`EgressScope.denials`) and can be
found in an exception chain with :func:`find_egress_denied`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from loomllm._egress.config import EgressPolicy
from loomllm.errors import EgressDenied

__all__ = ["EgressScope", "current_scope", "egress_scope", "find_egress_denied", "scope_policy", "use_scope"]


@dataclass
class EgressScope:
    """The policy in force, who it is for, and the denials the transport guard raised under it."""

    policy: EgressPolicy | None
    agent: str | None = None
    deployment: str | None = None
    denials: list[EgressDenied] = field(default_factory=list)


_current: ContextVar[EgressScope | None] = ContextVar("loomllm_egress_scope", default=None)


@contextmanager
def egress_scope(
    policy: EgressPolicy | None, *, agent: str | None = None, deployment: str | None = None
) -> Iterator[EgressScope]:
    """Apply ``policy`` to every request made inside the block (``None``: no checks inside it)."""
    scope = EgressScope(policy=policy, agent=agent, deployment=deployment)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


@contextmanager
def use_scope(scope: EgressScope) -> Iterator[EgressScope]:
    """Put an existing scope in force inside the block (one scope can be entered many times)."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current_scope() -> EgressScope | None:
    """The innermost active scope, or ``None`` outside any scope."""
    return _current.get()


def scope_policy() -> EgressPolicy | None:
    """Resolver for :func:`install_transport_guard`: the current scope's policy, ``None`` outside scopes."""
    scope = _current.get()
    return None if scope is None else scope.policy


def find_egress_denied(error: BaseException | None) -> EgressDenied | None:
    """The :class:`EgressDenied` in ``error``'s ``__cause__``/``__context__`` chain (itself included)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        if isinstance(current, EgressDenied):
            return current
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
    return None
