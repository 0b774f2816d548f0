"""The texts of an answer that a content policy checks: every string the caller receives, field by field.

An answer's text is not only ``content``: ``reasoning_content``, ``refusal``, thinking blocks,
tool-call names and arguments, legacy ``function_call`` arguments, provider-specific fields all
reach the caller. Every field is walked, declared or not (a field this code does not know of is
checked like the others); fixed words (``role``, ``type``), media bytes and provider signatures are
left out. A stream is read the way the caller reassembles it: one text per choice and field, tool
calls by their own ``index`` (parallel tool calls and ``n > 1`` choices interleave their deltas).

The fields of one choice arrive in an order (:func:`field_order`): reasoning or thinking, then the
content (or a refusal, or a legacy function call), then the tool calls one index after another. A
stream filter reads a later field's first delta, or the choice's ``finish_reason``
(:func:`finished_choices`), as the end of the earlier fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FieldPath", "TextKey", "chunk_text", "chunk_texts", "field_order", "finished_choices", "is_streamed",
           "response_text", "response_texts"]

FieldPath = tuple[str | int, ...]
"""Where a string sits in a message or delta (``("tool_calls", 1, "function", "arguments")``)."""

TextKey = tuple[int, FieldPath]
"""``(choice index, field path)``: one text the caller reassembles from a stream."""

#: Fields that hold a fixed word, not text anyone wrote.
_FIXED_FIELDS = frozenset({"role", "type", "finish_reason"})
#: Opaque provider bytes the caller cannot read as text (a thinking block's signature).
_OPAQUE_FIELDS = frozenset({"signature"})
#: Nesting deeper than this is not walked (litellm's objects are a few levels deep).
_MAX_DEPTH = 16


def _children(node: Any) -> list[tuple[str | int, Any]]:
    """``(key, value)`` of a dict, list or pydantic object (declared fields and extras)."""
    if isinstance(node, dict):
        return [(key, value) for key, value in node.items() if isinstance(key, str)]
    if isinstance(node, list | tuple):
        return list(enumerate(node))
    members = getattr(node, "__dict__", None)
    if not isinstance(members, dict) or not hasattr(type(node), "model_fields"):
        return []
    extra = getattr(node, "__pydantic_extra__", None) or {}
    return [(key, value) for key, value in {**members, **extra}.items() if not key.startswith("_")]


def _tool_index(call: Any, position: int) -> int:
    """A tool call's own index (a stream's deltas name the call they extend), else its list position."""
    index = call.get("index") if isinstance(call, dict) else getattr(call, "index", None)
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _is_media(path: FieldPath, text: str) -> bool:
    """Base64 audio and ``data:`` images: bytes the model did not write as text (a transcript is text)."""
    return path[-2:] == ("audio", "data") or (text.startswith("data:") and "images" in path)


def field_strings(node: Any, path: FieldPath = ()) -> list[tuple[FieldPath, str]]:
    """``(path, text)`` for every string the caller receives in ``node`` (a message or a delta)."""
    found: list[tuple[FieldPath, str]] = []
    if len(path) > _MAX_DEPTH:
        return found
    for key, value in _children(node):
        if path == ("tool_calls",) and isinstance(key, int):
            key = _tool_index(value, key)
        here = (*path, key)
        if isinstance(value, str):
            if value and key not in _FIXED_FIELDS and key not in _OPAQUE_FIELDS and not _is_media(here, value):
                found.append((here, value))
        elif value is not None and not isinstance(value, int | float | bool):
            found.extend(field_strings(value, here))
    return found


def is_streamed(path: FieldPath) -> bool:
    """Whether the field at ``path`` arrives in pieces (held back in a stream), not whole in one delta."""
    if path in (("content",), ("reasoning_content",), ("refusal",), ("function_call", "arguments")):
        return True
    if len(path) == 3 and path[0] == "thinking_blocks" and path[2] == "thinking":
        return True
    return len(path) == 4 and path[0] == "tool_calls" and path[2:] in (("function", "arguments"), ("custom", "input"))


def field_order(path: FieldPath) -> tuple[int, int] | None:
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
    """Every text field of every choice of a chat response, content first."""
    texts: list[str] = []
    for choice in getattr(response, "choices", None) or []:
        fields = field_strings(getattr(choice, "message", None))
        texts += [text for path, text in sorted(fields, key=lambda field: field[0] != ("content",))]
    return texts


def response_text(response: Any) -> str:
    """The text of every choice of a chat response, one field per line."""
    return "\n".join(response_texts(response))


def _choice_index(choice: Any, position: int) -> int:
    index = getattr(choice, "index", None)
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def chunk_texts(chunk: Any) -> dict[TextKey, str]:
    """The text a stream chunk adds to each text the caller reassembles."""
    texts: dict[TextKey, str] = {}
    for position, choice in enumerate(getattr(chunk, "choices", None) or []):
        choice_index = _choice_index(choice, position)
        for path, text in field_strings(getattr(choice, "delta", None)):
            key = (choice_index, path)
            texts[key] = texts.get(key, "") + text
    return texts


def finished_choices(chunk: Any) -> set[int]:
    """The choices a stream chunk ends (those with a ``finish_reason``)."""
    return {_choice_index(choice, position) for position, choice in enumerate(getattr(chunk, "choices", None) or [])
            if getattr(choice, "finish_reason", None)}


def chunk_text(chunk: Any) -> str:
    """Everything a stream chunk adds, joined (for logs and sizes; checks use :func:`chunk_texts`)."""
    return "".join(chunk_texts(chunk).values())
