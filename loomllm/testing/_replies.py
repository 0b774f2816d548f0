"""What the wire server answers: :class:`Reply` values and the vocabulary they use."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["openai", "anthropic", "gemini", "embeddings", "models", "moderations"]
"""Which wire format a request used: OpenAI chat completions, Anthropic messages, Gemini
generateContent, OpenAI embeddings, the model listing, or OpenAI moderations."""

ReplyKind = Literal["echo", "text", "json", "tool_calls", "status", "malformed", "cut_stream", "moderation"]

#: The categories OpenAI's moderation endpoint reports (omni-moderation-latest).
MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model "decides" to make: a tool name and its JSON-object arguments."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    call_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the wire server.

    Build replies with the class methods (``Reply.text("hi")``, ``Reply.status(429, retry_after=1)``
    ...) and hand them to :meth:`WireServer.script` or :meth:`WireServer.route`. A reply is
    rendered in whatever wire format the request used, streamed or not, so one script serves
    OpenAI, Anthropic and Gemini deployments alike. Replies are immutable; the ``with_*`` methods
    return modified copies.
    """

    kind: ReplyKind
    content: str | None = None
    json_value: Any = None
    calls: tuple[ToolCall, ...] = ()
    status_code: int = 200
    retry_after: float | None = None
    message: str | None = None
    after_chunks: int = 0
    latency: float = 0.0
    chunk_delay: float = 0.0
    usage: tuple[int, int] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    scores: tuple[tuple[str, float], ...] = ()

    @classmethod
    def echo(cls, *, prefix: str = "echo: ", latency: float = 0.0) -> Reply:
        """Answer with ``prefix`` + the text of the last user message (the server's default).

        When the request asks for JSON output (OpenAI ``response_format``, Anthropic's forced
        ``json_tool_call`` tool or ``output_format``, Gemini ``responseMimeType``) the answer is the
        JSON object ``{"echo": "<last user text>"}`` instead.
        """
        return cls(kind="echo", content=prefix, latency=latency)

    @classmethod
    def text(cls, content: str, *, latency: float = 0.0) -> Reply:
        """Answer with exactly ``content`` (streamed word by word when the request streams)."""
        return cls(kind="text", content=content, latency=latency)

    @classmethod
    def json(cls, value: Any, *, latency: float = 0.0) -> Reply:
        """Answer with ``value`` serialised as JSON.

        For an Anthropic request that forces a tool (LiteLLM's ``response_format`` emulation), the
        value becomes that tool's ``input``, which is how Anthropic returns structured output.
        """
        return cls(kind="json", json_value=value, latency=latency)

    @classmethod
    def tool_call(
        cls, name: str, arguments: Mapping[str, Any] | None = None, *, call_id: str | None = None, latency: float = 0.0
    ) -> Reply:
        """Answer with one call of tool ``name`` with ``arguments`` (finish reason: tool calls)."""
        return cls(kind="tool_calls", calls=(ToolCall(name, dict(arguments or {}), call_id),), latency=latency)

    @classmethod
    def tool_calls(cls, *calls: ToolCall, latency: float = 0.0) -> Reply:
        """Answer with several parallel tool calls."""
        if not calls:
            raise ValueError("Reply.tool_calls needs at least one ToolCall")
        return cls(kind="tool_calls", calls=tuple(calls), latency=latency)

    @classmethod
    def status(
        cls, code: int, *, retry_after: float | None = None, message: str | None = None, latency: float = 0.0
    ) -> Reply:
        """Answer with HTTP error ``code`` and the provider's error body.

        ``retry_after`` (seconds) sets the ``Retry-After`` header, as rate-limited providers do.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"Reply.status expects an HTTP error code (400-599), got {code}")
        return cls(kind="status", status_code=code, retry_after=retry_after, message=message, latency=latency)

    @classmethod
    def malformed(cls, *, latency: float = 0.0) -> Reply:
        """Answer 200 with a body (or, when streaming, SSE events) that is not valid JSON."""
        return cls(kind="malformed", latency=latency)

    @classmethod
    def cut_stream(cls, after_chunks: int = 2, *, content: str | None = None, latency: float = 0.0) -> Reply:
        """Start a normal answer, then drop the connection mid-way.

        A streaming request receives ``after_chunks`` SSE events and then the connection closes
        before the declared ``Content-Length`` is reached; a non-streaming request receives half of
        its JSON body. ``content`` is the text being cut (default: the echo of the prompt).
        """
        if after_chunks < 0:
            raise ValueError("after_chunks must be >= 0")
        return cls(kind="cut_stream", content=content, after_chunks=after_chunks, latency=latency)

    @classmethod
    def moderation(cls, scores: Mapping[str, float] | None = None, *, latency: float = 0.0) -> Reply:
        """Answer a moderation request: ``scores`` per category (0.5 and above is flagged), the rest 0.

        Without ``scores`` nothing is flagged, which is also what an unscripted moderation request gets.
        """
        unknown = sorted(set(scores or {}) - set(MODERATION_CATEGORIES))
        if unknown:
            raise ValueError(f"unknown moderation categories: {', '.join(unknown)}")
        return cls(kind="moderation", scores=tuple((scores or {}).items()), latency=latency)

    def with_latency(self, seconds: float) -> Reply:
        """Return a copy that waits ``seconds`` before sending the response headers."""
        return dataclasses.replace(self, latency=seconds)

    def with_chunk_delay(self, seconds: float) -> Reply:
        """Return a copy that, when streamed, waits ``seconds`` between SSE events."""
        return dataclasses.replace(self, chunk_delay=seconds)

    def with_usage(self, prompt_tokens: int, completion_tokens: int) -> Reply:
        """Return a copy that reports this token usage instead of the counted one."""
        return dataclasses.replace(self, usage=(prompt_tokens, completion_tokens))

    def with_headers(self, headers: Mapping[str, str]) -> Reply:
        """Return a copy that adds these HTTP response headers."""
        return dataclasses.replace(self, headers=self.headers + tuple(headers.items()))
