"""The strings of a LiteLLM answer, field by field: what every output policy reads.

An answer's text is not only ``content``: ``reasoning_content``, ``refusal``, thinking blocks (their
text and their signature), tool-call ids, names and arguments, custom tool input, legacy
``function_call``, annotations, audio transcripts and ``provider_specific_fields`` all reach the
caller. :func:`answer_strings` walks every field of a message (``ModelResponse``) or a delta
(``ModelResponseStream``), declared or not, so a field LiteLLM adds later is read like the others.
Left out are only fixed words (``role``, ``type``, ``finish_reason``) and media bytes (base64 audio,
``data:`` images).

The output guardrail (which rewrites what it finds, through :func:`put_answer_string`) and the
content policy (which only reads) both walk answers with this module, so neither can see a field
the other misses. It imports nothing of loomllm: policy packages do not import each other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["KEYS", "AnswerPath", "AnswerString", "answer_strings", "envelope_strings", "field_of", "is_streamed",
           "listed", "only_fields", "put_answer_string"]

AnswerPath = tuple[str | int, ...]
"""Where a string sits in a message or delta (``("tool_calls", 1, "function", "arguments")``).

Tool calls are named by their own ``index`` (a stream's deltas name the call they extend; parallel
calls interleave), every other list member by its position.
"""

def field_of(node: Any, name: str) -> Any:
    """``node[name]`` of a dict, ``node.name`` of an object (LiteLLM hands out both), else ``None``."""
    return node.get(name) if isinstance(node, dict) else getattr(node, name, None)


def listed(items: Any) -> list[Any]:
    """``items`` when it is a list, else no items."""
    return items if isinstance(items, list) else []


#: Fields that hold a fixed word, not text anyone wrote.
_FIXED_FIELDS = frozenset({"role", "type", "finish_reason"})
#: Nesting deeper than this is not walked (LiteLLM's objects are a few levels deep).
_MAX_DEPTH = 16


class AnswerString(NamedTuple):
    """One string of an answer: where it is, the object holding it, and its key there."""

    path: AnswerPath
    container: Any  # a dict, list, tuple or pydantic object
    key: str | int  # the string's key or position in ``container`` (a tool call's list position, not its index)
    text: str

    @property
    def writable(self) -> bool:
        """Whether :func:`put_answer_string` can replace it (a member of a tuple cannot be replaced in place)."""
        return not isinstance(self.container, tuple)


def _children(node: Any) -> list[tuple[str | int, Any]]:
    """``(key, value)`` of a dict, list, tuple or pydantic object (declared fields and extras)."""
    if isinstance(node, dict):
        return [(key, value) for key, value in node.items() if isinstance(key, str)]
    if isinstance(node, list | tuple):
        return list(enumerate(node))
    members = getattr(node, "__dict__", None)
    if not isinstance(members, dict) or not _is_pydantic(type(node)):
        return []
    extra = getattr(node, "__pydantic_extra__", None) or {}
    return [(key, value) for key, value in {**members, **extra}.items() if not key.startswith("_")]


def _tool_index(call: Any, position: int) -> int:
    """A tool call's own index, else its list position."""
    index = field_of(call, "index")
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _is_media(path: AnswerPath, text: str) -> bool:
    """Base64 audio and ``data:`` image URLs: bytes the model did not write as text (a transcript is text)."""
    return path[-2:] == ("audio", "data") or (text.startswith("data:") and "images" in path)


def answer_strings(node: Any, path: AnswerPath = ()) -> list[AnswerString]:
    """Every non-empty string the caller receives in ``node`` (a message or a delta), in field order.

    Every field is walked, declared or not. A thinking block's ``signature`` is walked too: it is
    opaque provider data, but the caller receives it like any other string (and a provider, or
    anything between it and us, may put anything there).
    """
    if len(path) > _MAX_DEPTH:
        return [_read_only(path, _flattened(node))]  # too deep to walk: read whole, and any finding blocks
    if not path:
        plain = only_fields(node, _PLAIN_MESSAGE)
        if plain is not None and type(plain.get("content")) is str and type(plain.get("role")) in _WORD_TYPES:
            # The usual message (text, a role, every other field empty): what the walk below finds, for less.
            content = plain["content"]
            return [AnswerString(("content",), node, "content", content)] if content else []
    return _strings_of(node, path, frozenset())


#: The fields of the usual message: its text and its role (a word, or none).
_PLAIN_MESSAGE = frozenset({"content", "role"})
_WORD_TYPES = (str, type(None))


def envelope_strings(answer: Any) -> list[AnswerString]:
    """Every string of an answer (``ModelResponse`` or stream chunk) outside its choices' messages or deltas.

    The answer's own fields (``citations``, ``search_results``, whatever a provider adds) and each choice's own
    (``provider_specific_fields``) reach the caller too. Left out: the protocol's bookkeeping (``id``,
    ``model``, ``created``, ``system_fingerprint``, ``service_tier``, ``usage``), which the provider's
    service sets, not the model; a new ``id`` in every answer would otherwise cost a scan per call. Of a
    choice's logprobs only what is not a token's text is here (extra keys, on them or on any token): the output
    guardrail reads the tokens as text.
    """
    choices = field_of(answer, "choices")
    if _only_walked_apart(answer, _ENVELOPE_WALKED_APART) and isinstance(choices, list) and all(
            _only_walked_apart(choice, _CHOICE_WALKED_APART) and choice.__dict__.get("logprobs") is None
            and (choice.__pydantic_extra__ or {}).get("logprobs") is None for choice in choices):
        return []  # the usual answer: nothing but bookkeeping and choices, no logprobs
    found = _strings_of(answer, (), _ENVELOPE_WALKED_APART)
    for position, choice in enumerate(listed(choices)):
        found += _strings_of(choice, ("choices", position), _CHOICE_WALKED_APART)
        logprobs = field_of(choice, "logprobs")
        if logprobs is not None:
            found += _logprob_extras(logprobs, ("choices", position, "logprobs"))
    return found


def _only_walked_apart(node: Any, apart: frozenset[str]) -> bool:
    """Whether a pydantic object has no field (declared or extra) outside ``apart`` that holds anything: nothing
    to walk (LiteLLM's ``_response_ms``, an empty ``provider_specific_fields``, a ``None`` extra hold no string)."""
    return only_fields(node, apart) is not None


def only_fields(node: Any, allowed: frozenset[str]) -> dict[str, Any] | None:
    """A pydantic object's fields (declared and extra, as attribute access reads them) when every one outside
    ``allowed`` holds nothing (``None``, a number, an empty container), else ``None``; ``None`` for anything but a
    pydantic object too."""
    members = getattr(node, "__dict__", None)
    if isinstance(node, dict) or not isinstance(members, dict) or not _is_pydantic(type(node)):
        return None
    extra = getattr(node, "__pydantic_extra__", None) or {}
    for fields in (members, extra):
        for key in fields.keys() - allowed:
            if not _holds_nothing(fields[key]):
                return None
    return {**extra, **members}  # a declared field is found before an extra one


def _is_pydantic(kind: type) -> bool:
    """Whether instances of ``kind`` are pydantic objects (remembered per type: pydantic's ``model_fields`` is a
    class property that costs a microsecond to read)."""
    known = _PYDANTIC_TYPES.get(kind)
    if known is None:
        if len(_PYDANTIC_TYPES) >= 1024:  # classes made at run time (pydantic.create_model): stay bounded
            _PYDANTIC_TYPES.clear()
        known = _PYDANTIC_TYPES[kind] = hasattr(kind, "model_fields")
    return known


_PYDANTIC_TYPES: dict[type, bool] = {}


def _holds_nothing(value: Any) -> bool:
    """Whether :func:`_strings_of` would find no string in ``value``: ``None``, a number, an empty container, a dict
    of ``None`` values (LiteLLM's ``provider_specific_fields={"refusal": None}``: no key of a ``None`` is read)."""
    kind = type(value)
    return value is None or kind is int or kind is float or kind is bool or (
        (kind is str or kind is dict or kind is list or kind is tuple) and not value) or (
        kind is dict and all(item is None for item in value.values()))


def _logprob_extras(logprobs: Any, path: AnswerPath) -> list[AnswerString]:
    """The strings of a choice's logprobs besides their tokens (which the output guardrail reads as text): a
    provider's extra keys, on the logprobs or on any token or alternative."""
    if isinstance(logprobs, str):
        return [_read_only(path, logprobs)]
    found = _strings_of(logprobs, path, _TOKEN_LISTS)
    for field in _TOKEN_LISTS:
        for index, item in enumerate(listed(field_of(logprobs, field))):
            found += _strings_of(item, (*path, field, index), _TOKEN_FIELDS)
            for rank, alternative in enumerate(listed(field_of(item, "top_logprobs"))):
                found += _strings_of(alternative, (*path, field, index, "top_logprobs", rank), _TOKEN_FIELDS)
    return found


#: An answer's fields that :func:`envelope_strings` leaves out: the choices (walked one by one), bookkeeping.
_ENVELOPE_WALKED_APART = frozenset(
    {"choices", "object", "id", "model", "created", "system_fingerprint", "service_tier", "usage"}
)
#: A choice's fields that :func:`envelope_strings` leaves out: its message or delta, its logprobs, fixed values.
_CHOICE_WALKED_APART = frozenset({"message", "delta", "logprobs", "index", "finish_reason"})
#: The token lists of a choice's logprobs, and a token's own fields (read as text by the output guardrail).
_TOKEN_LISTS = frozenset({"content", "refusal"})
_TOKEN_FIELDS = frozenset({"token", "bytes", "logprob", "top_logprobs"})


def _strings_of(node: Any, path: AnswerPath, skipped: frozenset[str]) -> list[AnswerString]:
    found: list[AnswerString] = []
    if isinstance(node, dict):  # its keys reach the caller too (a pydantic object's field names are fixed)
        keys = "\n".join(key for key, value in node.items() if isinstance(key, str) and value is not None
                         and key not in skipped and key not in _FIXED_FIELDS)
        if keys and "images" not in path:  # an image part's keys are the wire format's (its URL is media)
            found.append(_read_only((*path, KEYS), keys))
    for key, value in _children(node):
        if key in skipped:
            continue
        here = (*path, _tool_index(value, key) if path == ("tool_calls",) and isinstance(key, int) else key)
        if isinstance(value, str):
            if value and key not in _FIXED_FIELDS and not _is_media(here, value):
                found.append(AnswerString(here, node, key, value))
        elif isinstance(value, bytes | bytearray | set | frozenset):
            if value:  # serialized as text, or in no fixed order: read whole, and any finding blocks
                found.append(_read_only(here, _flattened(value)))
        elif value is not None and not isinstance(value, int | float | bool):
            found.extend(answer_strings(value, here))
    return found


#: The path element under which a dict's keys are read (one string, a key per line; keys of None values left out).
KEYS = "<keys>"


def _read_only(path: AnswerPath, text: str) -> AnswerString:
    """A string that cannot be rewritten where it is (held in a 1-tuple: :attr:`AnswerString.writable` is False)."""
    return AnswerString(path, (text,), 0, text)


def _flattened(value: Any) -> str:
    """Every string in ``value`` (bytes decoded, dict keys too), one per line: for what is not walked string
    by string. Iterative, and each container read once: depth and cycles cost nothing more."""
    lines: list[str] = []
    stack: list[Any] = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            lines.append(item)
        elif isinstance(item, bytes | bytearray):
            lines.append(bytes(item).decode("utf-8", "replace"))
        elif item is None or isinstance(item, int | float | bool) or id(item) in seen:
            continue
        else:
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(part for pair in item.items() for part in pair)
            elif isinstance(item, list | tuple | set | frozenset):
                stack.extend(item)
            else:
                stack.extend(child for _, child in _children(item))
    return "\n".join(lines)


def put_answer_string(found: AnswerString, text: str) -> None:
    """Replace one string found by :func:`answer_strings` with ``text`` (it must be :attr:`~AnswerString.writable`)."""
    container, key = found.container, found.key
    if isinstance(container, dict | list):
        container[key] = text  # type: ignore[index]
    elif isinstance(container, tuple):
        raise TypeError(f"{found.path!r} is a member of a tuple: it cannot be replaced in place")
    else:
        setattr(container, str(key), text)


def is_streamed(path: AnswerPath) -> bool:
    """Whether the field at ``path`` of a delta arrives in pieces across chunks, not whole in one delta.

    Content, reasoning, refusal, a thinking block's text, legacy ``function_call`` arguments, and a tool
    call's function arguments or custom input. Everything else (ids, names, signatures, annotations,
    provider fields) arrives whole in the chunk that carries it.
    """
    if path in (("content",), ("reasoning_content",), ("refusal",), ("function_call", "arguments")):
        return True
    if len(path) == 3 and path[0] == "thinking_blocks" and path[2] == "thinking":
        return True
    return len(path) == 4 and path[0] == "tool_calls" and path[2:] in (("function", "arguments"), ("custom", "input"))
