"""No amount of padding hides PII: what the prefilter does when one PII shape has too many hits.

The prefilter opens a window per hit of a PII shape (``@``, digit runs, IPv4 heads, name pairs, ...). Each shape
counts its own hits, so thousands of dates, log lines or names saturate their own shape only. A shape past
:data:`MAX_PII_HITS` opens no more windows: the entities it feeds run over the whole text instead, as one
recognizer call (Presidio's recognizer, linear in the text), which finds everything the windows would have.

A whole-text run costs time in proportion to the text; past :data:`MAX_WHOLE_TEXT_CHARS` the text is refused
with :class:`PiiScanTooLarge` (the guard raises a ``GuardrailViolation`` with a :data:`SCAN_TOO_LARGE` finding,
under ``fail_open`` too) rather than scanned for minutes or let through unscanned.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .prefilter import Plan

__all__ = ["MAX_PII_HITS", "MAX_WHOLE_TEXT_CHARS", "SCAN_TOO_LARGE", "PiiScanTooLarge", "ShapeCounter"]

#: Hits of one PII shape that open windows; past it the shape's entities run over the whole text.
MAX_PII_HITS = 4000
#: The longest text whose saturated entities run over the whole text (phone parsing of dense logs: ~25 s at 1M).
MAX_WHOLE_TEXT_CHARS = 1_000_000
#: Entity type of the finding that refuses such a text.
SCAN_TOO_LARGE = "GUARDRAIL_SCAN_TOO_LARGE"

#: The entities whose windows each non-digit PII shape opens (digit runs feed every digit-based entity).
SHAPE_ENTITIES: Mapping[str, frozenset[str]] = {
    "at": frozenset({"EMAIL_ADDRESS"}),
    "colon": frozenset({"IP_ADDRESS", "MAC_ADDRESS"}),
    "ipv4": frozenset({"IP_ADDRESS"}),
    "hexsep": frozenset({"MAC_ADDRESS"}),
    "crypto": frozenset({"CRYPTO"}),
    "iban": frozenset({"IBAN_CODE"}),
    "nino": frozenset({"UK_NINO"}),
    "name": frozenset({"PERSON"}),
    "title": frozenset({"PERSON"}),
    "street": frozenset({"STREET_ADDRESS"}),
    "street_other": frozenset({"STREET_ADDRESS"}),
}


class PiiScanTooLarge(Exception):
    """A text too long to scan completely for the entities of a saturated PII shape (never carries the text)."""

    def __init__(self, *, chars: int, entities: frozenset[str]) -> None:
        self.chars = chars
        self.entities = entities
        super().__init__(
            f"{chars} characters with more than {MAX_PII_HITS} hits of one PII shape "
            f"({', '.join(sorted(entities))}): over the {MAX_WHOLE_TEXT_CHARS}-character whole-text scan limit"
        )


class ShapeCounter:
    """Hits per PII shape; a shape past :data:`MAX_PII_HITS` is saturated and opens no more windows."""

    def __init__(self, shape_entities: Mapping[str, frozenset[str]]) -> None:
        self.shape_entities = shape_entities
        self.hits: dict[str, int] = {}
        self.saturated: set[str] = set()

    def count(self, kind: str) -> bool:
        """Count one hit of shape ``kind``; whether it may still open a window."""
        hits = self.hits[kind] = self.hits.get(kind, 0) + 1
        if hits > MAX_PII_HITS:
            self.saturated.add(kind)
            return False
        return True

    def to_whole_text(self, plan: Plan, wanted: frozenset[str], size: int) -> None:
        """Move the wanted entities of saturated shapes from windows to the whole text (``size``: its length).

        Raises :class:`PiiScanTooLarge` when the text is longer than :data:`MAX_WHOLE_TEXT_CHARS`.
        """
        entities = frozenset(e for kind in self.saturated for e in self.shape_entities.get(kind, ())) & wanted
        if not entities:
            return
        if size > MAX_WHOLE_TEXT_CHARS:
            raise PiiScanTooLarge(chars=size, entities=entities)
        for entity in entities:
            plan.pii.pop(entity, None)
            plan.whole.add(entity)
