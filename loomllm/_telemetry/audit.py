"""The audit stream: one ``policy.decision`` event per policy decision, names and counts only.

Every refusal (guardrail, budget, egress, forbidden parameter, content policy) and every flag or
redaction a policy reports becomes one event on :attr:`Loom.events` with the fields::

    agent, call_id, policy, decision, reason, [entity_types, counts, limit, window, host, categories]

``decision`` is ``allowed``, ``refused``, ``flagged`` or ``redacted``; ``policy`` is ``guardrail``,
``budget``, ``egress``, ``parameter``, ``content`` or ``rate_limit``. A call that went through emits
one ``allowed`` event per policy that applies to its agent (level ``debug``, so logs at ``info``
stay quiet), plus one ``redacted`` event per direction in which the guardrail redacted or masked
(``counts`` keyed ``ENTITY:action``). Refusals are ``warning``. The app routes them with
``on_event`` or a listener (``event == "policy.decision"``). Values a policy caught are never part
of the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from loomllm.errors import (
    BudgetExceeded,
    BudgetStoreUnavailable,
    ContentPolicyViolation,
    EgressDenied,
    ForbiddenParameter,
    GuardrailViolation,
    LoomError,
    MissingCredentials,
    PolicyViolation,
)

__all__ = ["POLICY_DECISION", "decision_fields", "emit_allowed", "emit_decision", "emit_redactions", "is_refusal",
           "policy_of", "reason_of"]

POLICY_DECISION = "policy.decision"


class _Events(Protocol):
    def emit(self, event: str, level: str = "info", **fields: Any) -> None: ...


class _LevelledEvents(_Events, Protocol):
    def enabled(self, level: str) -> bool: ...


def policy_of(error: BaseException) -> str | None:
    """Which policy an error comes from (``None`` for errors that are not policy decisions)."""
    if isinstance(error, ContentPolicyViolation):  # first: the legacy twin is a GuardrailViolation too
        return "content"
    if isinstance(error, GuardrailViolation):
        return "guardrail"
    if isinstance(error, BudgetExceeded | BudgetStoreUnavailable):
        return "budget"
    if isinstance(error, EgressDenied):
        return "egress"
    if isinstance(error, ForbiddenParameter):
        return "parameter"
    if isinstance(error, PolicyViolation):
        return "other"
    return None


def is_refusal(error: BaseException) -> bool:
    """A policy said no (subclasses included: the legacy facade's errors are policy errors too)."""
    return isinstance(error, PolicyViolation | MissingCredentials)


def reason_of(error: BaseException) -> str:
    """The error's loomllm class name (a subclass, such as the legacy facade's, reports its loomllm parent)."""
    for cls in type(error).__mro__:
        if cls.__module__ == "loomllm.errors":
            return cls.__name__
    return type(error).__name__


def decision_fields(error: LoomError) -> dict[str, Any]:
    """The non-sensitive details of a refusal: entity types and counts, limit names, hosts."""
    fields: dict[str, Any] = {"reason": reason_of(error)}
    if isinstance(error, GuardrailViolation):
        fields.update(direction=error.direction, entity_types=sorted(error.counts), counts=dict(error.counts))
    elif isinstance(error, BudgetExceeded):
        fields.update(limit=error.limit, window=error.window, unit=error.unit)
    elif isinstance(error, EgressDenied):
        fields.update(host=error.host, deployment=error.deployment)
    elif isinstance(error, ForbiddenParameter):
        fields.update(parameter=error.parameter)
    categories = getattr(error, "categories", None)
    if categories:
        fields.update(categories=list(categories), source=getattr(error, "source", None))
    return fields


def emit_decision(events: _Events, error: BaseException, *, agent: str, call_id: str | None) -> None:
    """Emit the ``policy.decision`` event for a refusal (no-op for errors that are not policy decisions)."""
    policy = policy_of(error)
    if policy is None or not isinstance(error, LoomError):
        return
    events.emit(POLICY_DECISION, level="warning", agent=agent, call_id=call_id, policy=policy,
                decision="refused", **decision_fields(error))


def emit_allowed(events: _LevelledEvents, policies: Sequence[tuple[str, str]], *, agent: str,
                 call_id: str | None) -> None:
    """One ``allowed`` decision per ``(policy, reason)`` that let the call through (debug level: none are built
    when nothing would take them)."""
    if not events.enabled("debug"):
        return
    for policy, reason in policies:
        events.emit(POLICY_DECISION, level="debug", agent=agent, call_id=call_id, policy=policy,
                    decision="allowed", reason=reason)


def emit_redactions(events: _Events, findings: Mapping[tuple[str, str], int], *, agent: str,
                    call_id: str | None) -> None:
    """One ``redacted`` guardrail decision per direction: counts of ``ENTITY:action`` (redact, mask)."""
    by_direction: dict[str, dict[str, int]] = {}
    for (direction, key), count in findings.items():
        by_direction.setdefault(direction, {})[key] = count
    for direction, counts in sorted(by_direction.items()):
        events.emit(POLICY_DECISION, level="info", agent=agent, call_id=call_id, policy="guardrail",
                    decision="redacted", reason="findings", direction=direction,
                    entity_types=sorted({k.partition(":")[0] for k in counts}), counts=dict(sorted(counts.items())))
