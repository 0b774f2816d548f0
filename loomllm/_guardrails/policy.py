"""From detections to decisions (which action applies where) and from decisions to the rewritten text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .config import GuardrailProfile

if TYPE_CHECKING:
    from .vault import Vault

__all__ = ["Decision", "Detected", "apply_decisions", "decide", "mask_value"]

_ACTION_RANK = {"block": 3, "mask": 2, "redact": 1, "allow": 0}
_GENERIC_SECRETS = frozenset({"SECRET_GENERIC_CREDENTIAL", "SECRET_HIGH_ENTROPY_STRING", "SECRET_PASSWORD"})
#: PII types known by their shape only: a checksum-validated type (NHS, card, IBAN) on the same span wins.
_SHAPE_ONLY_PII = frozenset({"PHONE_NUMBER", "DATE_TIME", "US_BANK_NUMBER", "US_DRIVER_LICENSE", "US_PASSPORT"})


class Detected(Protocol):
    """What the analyzer reports (see ``analyzer.Detection``)."""

    @property
    def entity_type(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def score(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """A detection the profile acts on: span, type, score and the action."""

    entity_type: str
    start: int
    end: int
    score: float
    action: str


def _allowed(value: str, profile: GuardrailProfile, patterns: Sequence[re.Pattern[str]]) -> bool:
    return value in profile.allow_values or any(p.search(value) for p in patterns)


def decide(
    text: str,
    detections: Iterable[Detected],
    profile: GuardrailProfile,
    direction: str,
    patterns: Sequence[re.Pattern[str]],
) -> list[Decision]:
    """The non-overlapping decisions for ``text``: the strongest action wins an overlap, then the most specific type
    (a named secret over a generic one, a checksum-validated number over a phone number), then the longest span.

    Detections below their threshold, allowed by the policy or on the allow-lists are dropped.
    """
    policy = profile.policy(direction)
    candidates: list[Decision] = []
    for d in detections:
        rule = policy.rule_for(d.entity_type)
        if rule.action == "allow" or d.score < policy.threshold_for(d.entity_type):
            continue
        if _allowed(text[d.start : d.end], profile, patterns):
            continue
        candidates.append(Decision(d.entity_type, d.start, d.end, d.score, rule.action))
    candidates.sort(
        key=lambda c: (
            -_ACTION_RANK[c.action],
            c.entity_type in _GENERIC_SECRETS,
            c.entity_type in _SHAPE_ONLY_PII,
            -(c.end - c.start),
            -c.score,
        )
    )
    chosen: list[Decision] = []
    for candidate in candidates:
        if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda c: c.start)


def mask_value(value: str) -> str:
    """``value`` with every letter and digit but the last four replaced by ``*`` (separators kept)."""
    alnum = sum(ch.isalnum() for ch in value)
    keep = 4 if alnum > 8 else 0
    out: list[str] = []
    seen = 0
    for ch in value:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > alnum - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def apply_decisions(
    text: str,
    decisions: Sequence[Decision],
    vault: Vault,
    *,
    restore: bool,
    json_escape: bool = False,
    start: int = 0,
    end: int | None = None,
) -> str:
    """``text[start:end]`` with redactions and masks applied and, between them, vault placeholders restored.

    Placeholders created here are never restored (they replace the provider's own values); restoration touches
    only the text between decisions.
    """
    end = len(text) if end is None else end
    out: list[str] = []
    cursor = start
    for decision in decisions:
        if decision.end <= start or decision.start >= end:
            continue
        lo = max(decision.start, start)
        gap = text[cursor:lo]
        out.append(vault.restore(gap, json_escape=json_escape) if restore else gap)
        value = text[decision.start : decision.end]
        if decision.action == "redact":
            out.append(vault.placeholder_for(decision.entity_type, value))
        elif decision.action == "mask":
            out.append(mask_value(value)[lo - decision.start : min(decision.end, end) - decision.start])
        else:  # block decisions never reach here; keep the text rather than guess
            out.append(text[lo : min(decision.end, end)])
        cursor = min(decision.end, end)
    tail = text[cursor:end]
    out.append(vault.restore(tail, json_escape=json_escape) if restore else tail)
    return "".join(out)
