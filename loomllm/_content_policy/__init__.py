"""Output content policy: what an agent's answer may not say (deny rules, a callable, a moderation model).

Runs after the output guardrail on every answer, cached or not, streamed or not. ``block`` raises
:class:`~loomllm.errors.ContentPolicyViolation`; ``flag`` delivers the answer and emits a
``policy.decision`` event. Configured in ``loomllm.output_policy`` (see :mod:`.config`).
"""

from __future__ import annotations

from .config import ContentPolicyConfig, DenyRules, ModerationConfig, OutputPolicySection
from .engine import ContentPolicies, ContentPolicy, ContentStreamFilter, RouterModerator, TextWindow
from .texts import ENVELOPE, chunk_text, chunk_texts, response_text, response_texts

__all__ = [
    "ENVELOPE",
    "ContentPolicies",
    "ContentPolicy",
    "ContentPolicyConfig",
    "ContentStreamFilter",
    "DenyRules",
    "ModerationConfig",
    "OutputPolicySection",
    "RouterModerator",
    "TextWindow",
    "chunk_text",
    "chunk_texts",
    "response_text",
    "response_texts",
]
