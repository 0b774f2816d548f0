"""Render a :class:`Reply` in a provider's wire format (JSON body or SSE events).

Pure functions, no I/O: :func:`render` turns a parsed request plus a reply into a
:class:`WireResponse`, which the HTTP layer writes. Token usage is counted by whitespace-split
words (:func:`count_tokens`) so tests can predict it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomllm.testing._replies import MODERATION_CATEGORIES, Api, Reply, ToolCall

JSON = "application/json"
SSE = "text/event-stream"
DEFAULT_EMBEDDING_DIM = 8
_PIECE = re.compile(r"\S+\s*|\s+")
_MALFORMED_BODY = b'{"id": "malformed", "choices": [{"message": '


@dataclass(frozen=True)
class WireResponse:
    """An HTTP response ready to write: the body is ``b"".join(parts)``.

    ``cut_after`` set means: declare the full ``Content-Length`` but send only the first
    ``cut_after`` parts, then drop the connection.
    """

    status: int
    content_type: str
    parts: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...] = ()
    cut_after: int | None = None
    latency: float = 0.0
    chunk_delay: float = 0.0


@dataclass(frozen=True)
class ParsedRequest:
    """What the renderer needs to know about a request."""

    api: Api | None
    model: str | None
    body: Mapping[str, Any]
    stream: bool


@dataclass(frozen=True)
class _Answer:
    text: str | None
    calls: tuple[ToolCall, ...]
    prompt_tokens: int
    completion_tokens: int


def count_tokens(text: str) -> int:
    """Count tokens the way the wire server does: whitespace-separated words."""
    return len(text.split())


def _texts(value: object) -> Iterator[str]:
    """Yield every piece of text in a message, content list or part, in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        if isinstance(value.get("text"), str):
            yield value["text"]
        elif "content" in value:
            yield from _texts(value["content"])
        elif "parts" in value:
            yield from _texts(value["parts"])


def _messages(req: ParsedRequest) -> list[Any]:
    key = "contents" if req.api == "gemini" else "messages"
    messages = req.body.get(key)
    return messages if isinstance(messages, list) else []


def _prompt_tokens(req: ParsedRequest) -> int:
    system = req.body.get("systemInstruction" if req.api == "gemini" else "system")
    words = sum(count_tokens(t) for t in _texts(system))
    return words + sum(count_tokens(t) for t in _texts(_messages(req)))


def _last_user_text(req: ParsedRequest) -> str:
    for message in reversed(_messages(req)):
        if isinstance(message, dict) and message.get("role") == "user":
            return " ".join(_texts(message))
    return ""


def _forced_tool(req: ParsedRequest) -> str | None:
    choice = req.body.get("tool_choice")
    if req.api == "anthropic" and isinstance(choice, dict) and choice.get("type") == "tool":
        name = choice.get("name")
        return name if isinstance(name, str) else None
    return None


def _wants_json(req: ParsedRequest) -> bool:
    body = req.body
    if req.api == "openai":
        fmt = body.get("response_format")
        return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    if req.api == "anthropic":
        return _forced_tool(req) == "json_tool_call" or body.get("output_format") is not None
    if req.api == "gemini":
        config = body.get("generationConfig")
        # LiteLLM sends the snake_case spelling, which the Gemini API also accepts.
        mime = config.get("responseMimeType") or config.get("response_mime_type") if isinstance(config, dict) else None
        return mime == "application/json"
    return False


def _resolve(reply: Reply, req: ParsedRequest) -> _Answer:
    """Turn a content-bearing reply into text or tool calls, with usage."""
    calls: tuple[ToolCall, ...] = ()
    text: str | None = None
    if reply.kind == "tool_calls":
        calls = reply.calls
    elif reply.kind == "json" or (reply.kind == "echo" and _wants_json(req)):
        value = reply.json_value if reply.kind == "json" else {"echo": _last_user_text(req)}
        forced = _forced_tool(req)
        if forced is not None and isinstance(value, dict):
            calls = (ToolCall(forced, value),)
        else:
            text = json.dumps(value)
    elif reply.kind == "text" or (reply.kind == "cut_stream" and reply.content is not None):
        text = reply.content or ""
    else:
        text = ("echo: " if reply.content is None else reply.content) + _last_user_text(req)
    if reply.usage is not None:
        return _Answer(text, calls, *reply.usage)
    completion = count_tokens(text or "") + sum(
        count_tokens(c.name) + count_tokens(json.dumps(dict(c.arguments))) for c in calls
    )
    return _Answer(text, calls, _prompt_tokens(req), completion)


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


def _halves(text: str) -> list[str]:
    mid = len(text) // 2
    return [text[:mid], text[mid:]] if mid else [text]


def _call_id(call: ToolCall, index: int, prefix: str) -> str:
    return call.call_id or f"{prefix}{uuid.uuid4().hex[:20]}{index}"


# --- OpenAI chat completions -------------------------------------------------------------------


def _openai_usage(answer: _Answer) -> dict[str, int]:
    total = answer.prompt_tokens + answer.completion_tokens
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens, "total_tokens": total}


def _openai_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": _call_id(call, i, "call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
        }
        for i, call in enumerate(calls)
    ]


def _openai_json(req: ParsedRequest, answer: _Answer) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.calls:
        message["tool_calls"] = _openai_tool_calls(answer.calls)
    return _dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if answer.calls else "stop",
                }
            ],
            "usage": _openai_usage(answer),
            "system_fingerprint": None,
        }
    )


def _openai_deltas(answer: _Answer) -> Iterator[dict[str, Any]]:
    if answer.text is not None:
        yield {"role": "assistant", "content": ""}
        for piece in _pieces(answer.text):
            yield {"content": piece}
    for i, call in enumerate(answer.calls):
        arguments = json.dumps(dict(call.arguments))
        head = {"index": i, "id": _call_id(call, i, "call_"), "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        yield {"role": "assistant", "content": None, "tool_calls": [head]} if i == 0 else {"tool_calls": [head]}
        for piece in _halves(arguments):
            yield {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}


def _openai_sse(req: ParsedRequest, answer: _Answer) -> list[bytes]:
    options = req.body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    base: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": req.model,
        "system_fingerprint": None,
    }
    if include_usage:
        base["usage"] = None
    finish = "tool_calls" if answer.calls else "stop"
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in _openai_deltas(answer)]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _openai_usage(answer)})
    return [b"data: " + _dumps(chunk) + b"\n\n" for chunk in chunks] + [b"data: [DONE]\n\n"]


# --- Anthropic messages ------------------------------------------------------------------------


def _anthropic_blocks(answer: _Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text is not None:
        blocks.append({"type": "text", "text": answer.text})
    for i, call in enumerate(answer.calls):
        call_id = _call_id(call, i, "toolu_")
        blocks.append({"type": "tool_use", "id": call_id, "name": call.name, "input": dict(call.arguments)})
    return blocks


def _anthropic_message(req: ParsedRequest, answer: _Answer, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": blocks,
        "stop_reason": "tool_use" if answer.calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens},
    }


def _anthropic_event(name: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _anthropic_block_events(index: int, block: dict[str, Any]) -> Iterator[bytes]:
    if block["type"] == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
    else:
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in _halves(json.dumps(block["input"]))]
    opening = {"type": "content_block_start", "index": index, "content_block": start}
    yield _anthropic_event("content_block_start", opening)
    for delta in deltas:
        yield _anthropic_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
    yield _anthropic_event("content_block_stop", {"type": "content_block_stop", "index": index})


def _anthropic_sse(req: ParsedRequest, answer: _Answer) -> list[bytes]:
    blocks = _anthropic_blocks(answer)
    start = _anthropic_message(req, answer, [])
    start["stop_reason"] = None
    start["usage"] = {"input_tokens": answer.prompt_tokens, "output_tokens": 1}
    events = [_anthropic_event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        events.extend(_anthropic_block_events(index, block))
    delta = {"stop_reason": "tool_use" if answer.calls else "end_turn", "stop_sequence": None}
    usage = {"output_tokens": answer.completion_tokens}
    events.append(_anthropic_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(_anthropic_event("message_stop", {"type": "message_stop"}))
    return events


# --- Gemini generateContent --------------------------------------------------------------------


def _gemini_usage(answer: _Answer) -> dict[str, int]:
    return {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": answer.completion_tokens,
        "totalTokenCount": answer.prompt_tokens + answer.completion_tokens,
    }


def _gemini_parts(answer: _Answer) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": answer.text}] if answer.text is not None else []
    parts.extend({"functionCall": {"name": c.name, "args": dict(c.arguments)}} for c in answer.calls)
    return parts


def _gemini_chunk(req: ParsedRequest, parts: list[dict[str, Any]], final: _Answer | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": req.model}
    if final is not None:
        candidate["finishReason"] = "STOP"
        chunk["usageMetadata"] = _gemini_usage(final)
    return chunk


def _gemini_sse(req: ParsedRequest, answer: _Answer) -> list[bytes]:
    chunks = [_gemini_chunk(req, [{"text": p}], None) for p in _pieces(answer.text or "")]
    tail = [{"functionCall": {"name": c.name, "args": dict(c.arguments)}} for c in answer.calls]
    chunks.append(_gemini_chunk(req, tail or [{"text": ""}], answer))
    return [b"data: " + _dumps(chunk) + b"\r\n\r\n" for chunk in chunks]


# --- Embeddings and model listing --------------------------------------------------------------


def _embedding_inputs(raw: object) -> list[str | list[int]]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [raw]
    return [item if isinstance(item, str | list) else str(item) for item in raw] if isinstance(raw, list) else []


def embedding_vector(text: str | list[int], dimensions: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """Return the unit vector the wire server answers for ``text`` (a hash, so deterministic)."""
    digest = hashlib.shake_256(json.dumps(text).encode()).digest(2 * dimensions)
    raw = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{dimensions}H", digest)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _embeddings_json(req: ParsedRequest) -> bytes:
    dims = req.body.get("dimensions")
    dim = dims if isinstance(dims, int) and dims > 0 else DEFAULT_EMBEDDING_DIM
    as_base64 = req.body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    tokens = 0
    for index, item in enumerate(_embedding_inputs(req.body.get("input"))):
        tokens += count_tokens(item) if isinstance(item, str) else len(item)
        vector = embedding_vector(item, dim)
        encoded: object = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _dumps({"object": "list", "data": data, "model": req.model, "usage": usage})


def _moderations_json(req: ParsedRequest, reply: Reply) -> bytes:
    """OpenAI's moderation body: one result per input, flagged where a category scores 0.5 or more."""
    raw = req.body.get("input")
    count = len(raw) if isinstance(raw, list) else 1
    scores = {name: 0.0 for name in MODERATION_CATEGORIES} | dict(reply.scores)
    categories = {name: score >= 0.5 for name, score in scores.items()}
    result = {"flagged": any(categories.values()), "categories": categories, "category_scores": scores,
              "category_applied_input_types": {name: ["text"] for name in scores}}
    model = req.model or "omni-moderation-latest"
    return _dumps({"id": f"modr-{uuid.uuid4().hex[:24]}", "model": model, "results": [result] * count})


def models_json(models: Sequence[str]) -> bytes:
    """The ``GET /v1/models`` body listing ``models``."""
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "loomllm-wire-server"} for m in models]
    return _dumps({"object": "list", "data": data})


# --- Errors ------------------------------------------------------------------------------------

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def error_body(api: Api | None, code: int, message: str) -> bytes:
    """The provider-shaped JSON error body for HTTP ``code``."""
    if api == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(code, "api_error")
        return _dumps({"type": "error", "error": {"type": kind, "message": message}})
    if api == "gemini":
        return _dumps({"error": {"code": code, "message": message, "status": _GEMINI_STATUSES.get(code, "INTERNAL")}})
    kind = "rate_limit_exceeded" if code == 429 else _OPENAI_ERROR_TYPES.get(code, "server_error")
    return _dumps({"error": {"message": message, "type": kind, "param": None, "code": str(code)}})


def _error(req: ParsedRequest, reply: Reply) -> WireResponse:
    message = reply.message or f"wire server: scripted HTTP {reply.status_code}"
    headers = reply.headers
    if reply.retry_after is not None:
        seconds = reply.retry_after
        headers = (("Retry-After", str(int(seconds)) if seconds == int(seconds) else str(seconds)), *headers)
    body = error_body(req.api, reply.status_code, message)
    return WireResponse(reply.status_code, JSON, (body,), headers, latency=reply.latency)


# --- Dispatch ----------------------------------------------------------------------------------


def _malformed(req: ParsedRequest) -> tuple[bytes, ...]:
    if not req.stream:
        return (_MALFORMED_BODY,)
    if req.api == "anthropic":
        return (b'event: message_start\ndata: {"type": "message_start", "message": {\n\n',)
    return (b'data: {"id": "malformed", "choices": [\n\n', b"data: [DONE]\n\n")


def _render_answer(req: ParsedRequest, answer: _Answer) -> tuple[str, tuple[bytes, ...]]:
    if req.stream:
        if req.api == "anthropic":
            return SSE, tuple(_anthropic_sse(req, answer))
        if req.api == "gemini":
            return SSE, tuple(_gemini_sse(req, answer))
        return SSE, tuple(_openai_sse(req, answer))
    if req.api == "anthropic":
        return JSON, (_dumps(_anthropic_message(req, answer, _anthropic_blocks(answer))),)
    if req.api == "gemini":
        candidate = {"content": {"role": "model", "parts": _gemini_parts(answer)}, "finishReason": "STOP", "index": 0}
        body = {"candidates": [candidate], "usageMetadata": _gemini_usage(answer), "modelVersion": req.model}
        return JSON, (_dumps(body),)
    return JSON, (_openai_json(req, answer),)


def _cut(parts: tuple[bytes, ...], after: int, stream: bool) -> tuple[tuple[bytes, ...], int]:
    if not stream:
        body = parts[0]
        return (body[: len(body) // 2], body[len(body) // 2 :]), 1
    return parts, max(0, min(after, len(parts) - 1))


def render(req: ParsedRequest, reply: Reply) -> WireResponse:
    """Render ``reply`` to ``req`` in the request's wire format."""
    if reply.kind == "status":
        return _error(req, reply)
    if reply.kind == "malformed":
        return WireResponse(200, SSE if req.stream else JSON, _malformed(req), reply.headers, latency=reply.latency)
    parts: tuple[bytes, ...]
    if req.api == "embeddings":
        content_type, parts = JSON, (_embeddings_json(req),)
    elif req.api == "moderations":
        content_type, parts = JSON, (_moderations_json(req, reply),)
    else:
        content_type, parts = _render_answer(req, _resolve(reply, req))
    cut_after: int | None = None
    if reply.kind == "cut_stream":
        parts, cut_after = _cut(parts, reply.after_chunks, req.stream)
    return WireResponse(200, content_type, parts, reply.headers, cut_after, reply.latency, reply.chunk_delay)
