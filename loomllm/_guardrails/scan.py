"""``loomllm scan``: report secrets and PII in files (types and positions only), for pre-commit hooks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TextIO

from ..errors import Finding
from .config import GuardrailsConfig
from .guard import Guard
from .policy import Decision

__all__ = ["run_scan_command", "scan_text"]

_CHUNK = 32 * 1024


def _guard(config: GuardrailsConfig | None) -> Guard:
    config = config or GuardrailsConfig()
    name = config.default or ("standard" if "standard" in config.profiles else next(iter(config.profiles), None))
    if name is None:
        config = GuardrailsConfig()
        name = "standard"
    return Guard.from_config(config, name)


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """``text`` in pieces of about 32 KB cut at line ends, with their offsets (bounds each analyzer call)."""
    start = 0
    while start < len(text):
        end = len(text) if len(text) - start <= _CHUNK else text.rfind("\n", start, start + _CHUNK) + 1
        if end <= start:
            end = min(len(text), start + _CHUNK)
        yield start, text[start:end]
        start = end


def _decisions(guard: Guard, text: str) -> list[Decision]:
    found: list[Decision] = []
    for offset, piece in _chunks(text):
        for d in guard.decide(piece, "input", message_index=None, agent="scan"):
            found.append(Decision(d.entity_type, d.start + offset, d.end + offset, d.score, d.action))
    return found


def scan_text(text: str, *, config: GuardrailsConfig | None = None) -> list[Finding]:
    """Findings in ``text`` under the config's default profile (input rules); ``allow`` entities are left out."""
    guard = _guard(config)
    return [Finding(d.entity_type, None, d.start, d.end, d.score, "input") for d in _decisions(guard, text)]


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def run_scan_command(paths: list[str], config: GuardrailsConfig | None, *, out: TextIO | None = None) -> int:
    """Scan files (``-`` is stdin) and print ``path:line:col: TYPE score=… action=…`` per finding, no values.

    Returns 1 when any finding's action is ``block``, 2 when a file cannot be read, else 0.
    """
    out = out or sys.stdout
    guard = _guard(config)
    status = 0
    for path in paths or ["-"]:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
            status = max(status, 2)
            continue
        for d in _decisions(guard, text):
            line, col = _line_col(text, d.start)
            print(f"{path}:{line}:{col}: {d.entity_type} score={d.score:.2f} action={d.action}", file=out)
            if d.action == "block":
                status = max(status, 1)
    return status
