"""The texts of an answer that a content policy checks: every string the caller receives, field by field.

The fields are those :func:`loomllm._answers.answer_strings` walks (the output guardrail walks the same):
every field, declared or not, a thinking block's signature included; only fixed words (``role``,
``type``) and media bytes are left out. A stream is read the way the caller reassembles it: one text
per choice and field, tool calls by their own ``index`` (parallel tool calls and ``n > 1`` choices
interleave their deltas).

The fields of one choice arrive in an order (:func:`field_order`): reasoning or thinking, then the
content (or a refusal, or a legacy function call), then the tool calls one index after another. A
stream filter reads a later field's first delta, or the choice's ``finish_reason``
(:func:`finished_choices`), as the end of the earlier fields.
"""

from __future__ import annotations

from typing import Any

from loomllm._answers import KEYS, AnswerPath, AnswerString, answer_strings, envelope_strings

__all__ = ["ENVELOPE", "TextKey", "chunk_text", "chunk_texts", "field_order", "finished_choices", "response_text",
           "response_texts"]

TextKey = tuple[int, AnswerPath]
"""``(choice index, field path)``: one text the caller reassembles from a stream."""


def field_order(path: AnswerPath) -> tuple[int, int] | None:
    """Where the field at ``path`` comes in a choice's answer, earliest first (None: no fixed place).

    Reasoning and thinking come first, then the content (a refusal or a legacy function call stand in
    its place), then tool call 0, 1, ... (a call's ``id`` and ``name`` open it). Other fields
    (annotations, provider-specific extras) may come with any delta and say nothing about the order.
    """
    head = path[0] if path else None
    if head in ("reasoning_content", "thinking_blocks"):
        return (0, 0)
    if head in ("content", "refusal", "function_call"):
        return (1, 0)
    if head == "tool_calls" and len(path) > 1 and isinstance(path[1], int):
        return (2, path[1])
    return None


def response_texts(response: Any) -> list[str]:
    """Every text field of every choice of a chat response, content first; then the response's own fields
    (``citations``, provider extras: :func:`loomllm._answers.envelope_strings`)."""
    texts: list[str] = []
    for choice in getattr(response, "choices", None) or []:
        fields = _said(answer_strings(getattr(choice, "message", None)))
        texts += [found.text for found in sorted(fields, key=lambda found: found.path != ("content",))]
    return texts + [found.text for found in _said(envelope_strings(response))]


def _said(strings: list[AnswerString]) -> list[AnswerString]:
    """The strings a content rule reads: not a dict's keys (structure, which the output guardrail still scans)."""
    return [found for found in strings if found.path[-1:] != (KEYS,)]


def response_text(response: Any) -> str:
    """The text of every choice of a chat response, one field per line."""
    return "\n".join(response_texts(response))


def _choice_index(choice: Any, position: int) -> int:
    index = getattr(choice, "index", None)
    return index if isinstance(index, int) and not isinstance(index, bool) else position


#: The choice index under which :func:`chunk_texts` files a chunk's own fields (``citations``, provider extras).
ENVELOPE = -1


def chunk_texts(chunk: Any) -> dict[TextKey, str]:
    """The text a stream chunk adds to each text the caller reassembles (the chunk's own fields under
    :data:`ENVELOPE`)."""
    texts: dict[TextKey, str] = {}
    for position, choice in enumerate(getattr(chunk, "choices", None) or []):
        choice_index = _choice_index(choice, position)
        for found in _said(answer_strings(getattr(choice, "delta", None))):
            key = (choice_index, found.path)
            texts[key] = texts.get(key, "") + found.text
    for found in _said(envelope_strings(chunk)):
        texts[(ENVELOPE, found.path)] = found.text
    return texts


def finished_choices(chunk: Any) -> set[int]:
    """The choices a stream chunk ends (those with a ``finish_reason``)."""
    return {_choice_index(choice, position) for position, choice in enumerate(getattr(chunk, "choices", None) or [])
            if getattr(choice, "finish_reason", None)}


def chunk_text(chunk: Any) -> str:
    """Everything a stream chunk adds, joined (for logs and sizes; checks use :func:`chunk_texts`)."""
    return "".join(chunk_texts(chunk).values())
