"""In-process guardrails: Presidio-based secret and PII detection with block / redact / mask / allow actions.

The lead wires :class:`Guard` into the call path (input before the Router, output after it) and
:func:`run_scan_command` into the CLI. Presidio is imported on the first scan, never at import time.
"""

from __future__ import annotations

from .config import DirectionPolicy, EntityRule, GuardrailProfile, GuardrailsConfig
from .entities import ALL_PII_ENTITIES, DEFAULT_PII_ENTITIES, SECRET_ENTITIES
from .guard import ANALYZER_ERROR, Guard
from .scan import ScanFinding, run_scan_command, scan_text
from .stream import StreamFilter
from .vault import Vault

__all__ = [
    "ALL_PII_ENTITIES",
    "ANALYZER_ERROR",
    "DEFAULT_PII_ENTITIES",
    "SECRET_ENTITIES",
    "DirectionPolicy",
    "EntityRule",
    "Guard",
    "GuardrailProfile",
    "GuardrailsConfig",
    "ScanFinding",
    "StreamFilter",
    "Vault",
    "run_scan_command",
    "scan_text",
]
