"""Output content policy: what an agent's answer may not say (deny rules, a callable, a moderation model).

Runs after the output guardrail on every answer, cached or not, streamed or not. ``block`` raises
:class:`~loomllm.errors.ContentPolicyViolation`; ``flag`` delivers the answer and emits a
``policy.decision`` event. Configured in ``loomllm.output_policy`` (see :mod:`.config`).
"""

from __future__ import annotations

from .config import ContentPolicyConfig, DenyRules, ModerationConfig, OutputPolicySection
from .engine import ContentPolicies, ContentPolicy, ContentStreamFilter, RouterModerator, chunk_text, response_text

__all__ = [
    "ContentPolicies",
    "ContentPolicy",
    "ContentPolicyConfig",
    "ContentStreamFilter",
    "DenyRules",
    "ModerationConfig",
    "OutputPolicySection",
    "RouterModerator",
    "chunk_text",
    "response_text",
]
