"""Per-conversation placeholder map: ``<EMAIL_ADDRESS_1>`` ↔ the value it stands for (memory only)."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

__all__ = ["PLACEHOLDER_PATTERN", "Vault"]

#: What a placeholder looks like; only placeholders this vault issued are ever restored.
PLACEHOLDER_PATTERN = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")
#: Longest placeholder prefix a stream must hold back (``<`` + type name + ``_`` + counter + ``>``).
MAX_PLACEHOLDER_LEN = 64


class Vault:
    """Placeholders issued during one call or conversation; the same value always gets the same placeholder.

    Values live only in this object's memory: ``repr`` shows counts, never values.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._placeholder_by_value: dict[tuple[str, str], str] = {}
        self._value_by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self.findings: Counter[tuple[str, str]] = Counter()
        """``(direction, "ENTITY:action")`` -> redactions and masks applied under this vault (for telemetry)."""

    def placeholder_for(self, entity_type: str, value: str) -> str:
        """The placeholder for ``value`` (found as ``entity_type``), issuing a new one on first sight."""
        key = (entity_type, value)
        with self._lock:
            placeholder = self._placeholder_by_value.get(key)
            if placeholder is None:
                number = self._counters.get(entity_type, 0) + 1
                self._counters[entity_type] = number
                placeholder = f"<{entity_type}_{number}>"
                self._placeholder_by_value[key] = placeholder
                self._value_by_placeholder[placeholder] = value
            return placeholder

    def record(self, direction: str, changed: Counter[str]) -> None:
        """Count what a scan redacted or masked (``"ENTITY:action"`` keys); names and numbers only."""
        if changed:
            with self._lock:
                self.findings.update({(direction, key): n for key, n in changed.items()})

    def value_of(self, placeholder: str) -> str | None:
        """The original value behind ``placeholder``, or ``None`` if this vault did not issue it."""
        with self._lock:
            return self._value_by_placeholder.get(placeholder)

    def issued_in(self, text: str) -> bool:
        """Whether ``text`` holds a placeholder this vault issued (what :meth:`restore` would replace)."""
        if "<" not in text or not self._value_by_placeholder:
            return False
        with self._lock:
            return any(m.group(0) in self._value_by_placeholder for m in PLACEHOLDER_PATTERN.finditer(text))

    def restore(self, text: str, *, json_escape: bool = False) -> str:
        """``text`` with every placeholder this vault issued replaced by its value.

        ``json_escape`` escapes the value for use inside a JSON string literal (tool-call arguments, JSON output).
        """
        if "<" not in text or not self._value_by_placeholder:
            return text

        def substitute(match: re.Match[str]) -> str:
            value = self.value_of(match.group(0))
            if value is None:
                return match.group(0)
            return json.dumps(value, ensure_ascii=False)[1:-1] if json_escape else value

        return PLACEHOLDER_PATTERN.sub(substitute, text)

    def __len__(self) -> int:
        return len(self._value_by_placeholder)

    def __bool__(self) -> bool:
        # An empty vault is still a vault: ``if vault:`` must not read as "no guardrails".
        return True

    def __repr__(self) -> str:
        return f"Vault({len(self)} placeholders)"
