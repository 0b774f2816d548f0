"""The message, request and response types of the provider-neutral client (``LLMClient``).

They keep the fields old code reads (``response.tool_calls[0]["function"]["name"]``,
``chunk.delta``, ``embedding.dimension``); each response also holds LiteLLM's own object as
``raw`` for code that moves on to LiteLLM's types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litellm.types.utils import EmbeddingResponse as LiteLLMEmbeddingResponse
    from litellm.types.utils import ModelResponse, ModelResponseStream

__all__ = [
    "CompletionRequest",
    "CompletionResponse",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "FunctionDefinition",
    "Message",
    "Role",
    "StreamChunk",
    "ToolCallDict",
]


class Role(str, Enum):
    """Who says a message (a ``str`` too: ``Role.USER == "user"``)."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    FUNCTION = "function"
    TOOL = "tool"


@dataclass
class Message:
    """One chat message; ``tool_calls`` are OpenAI-format dicts (``{"id", "type", "function"}``)."""

    role: Role | str
    content: str | None
    name: str | None = None
    function_call: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-format message (optional fields only when set)."""
        role = self.role.value if isinstance(self.role, Role) else str(self.role)
        out: dict[str, Any] = {"role": role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.function_call is not None:
            out["function_call"] = _with_json_arguments(self.function_call)
        if self.tool_calls:
            out["tool_calls"] = [{**call, "function": _with_json_arguments(call.get("function") or {})}
                                 for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


def _with_json_arguments(function: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI wants ``arguments`` as a JSON string; old code often held the parsed dict."""
    out = dict(function)
    if "arguments" in out and not isinstance(out["arguments"], str):
        out["arguments"] = json.dumps(out["arguments"])
    return out


@dataclass(frozen=True)
class FunctionDefinition:
    """A function the model may call: name, description and a JSON schema of its parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False

    def to_tool(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        function: dict[str, Any] = {"name": self.name, "description": self.description,
                                    "parameters": dict(self.parameters)}
        if self.strict:
            function["strict"] = True
        return {"type": "function", "function": function}


@dataclass
class CompletionRequest:
    """A completion request as old code built it; :meth:`LLMProvider.complete` sends it."""

    messages: list[Message | dict[str, Any]]
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 4096
    top_p: float = 1.0
    stop: list[str] | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: str | None = None
    """``"auto"``, ``"none"`` or the name of the function to force."""
    json_mode: bool = False
    stream: bool = False
    user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class ToolCallDict(dict[str, Any]):
    """A tool call as an OpenAI-format dict (``call["function"]["name"]``, ``arguments`` a JSON string).

    It also reads as an object: ``call.id``, ``call.name`` and ``call.arguments`` (parsed).
    """

    @property
    def id(self) -> str:
        """The provider's call id."""
        return str(self["id"])

    @property
    def name(self) -> str:
        """The function's name."""
        return str(self["function"]["name"])

    @property
    def arguments(self) -> Any:
        """The arguments, parsed from JSON (the raw string if it is not JSON)."""
        raw = self["function"].get("arguments")
        if not isinstance(raw, str):
            return raw
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return raw


@dataclass
class CompletionResponse:
    """What a completion returned, provider-neutral. ``raw`` is LiteLLM's ``ModelResponse``."""

    content: str
    model: str
    finish_reason: str
    """``"stop"``, ``"length"``, ``"tool_calls"``, ``"function_call"``..."""
    function_call: dict[str, Any] | None = None
    tool_calls: list[ToolCallDict] | None = None
    usage: dict[str, int] | None = None
    """``prompt_tokens``, ``completion_tokens``, ``total_tokens``."""
    latency_ms: float = 0
    cached: bool = False
    raw: ModelResponse | None = field(default=None, repr=False, compare=False)


@dataclass
class StreamChunk:
    """One piece of a streamed answer; the last one carries ``finish_reason``.

    ``raw`` is LiteLLM's ``ModelResponseStream`` chunk; ``str(chunk)`` is the text.
    """

    delta: str
    finish_reason: str | None = None
    function_call_delta: dict[str, Any] | None = None
    raw: ModelResponseStream | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.delta


@dataclass
class EmbeddingRequest:
    """Texts to embed, and optionally the embedding model."""

    texts: list[str]
    model: str | None = None


@dataclass
class EmbeddingResponse:
    """One vector per text. ``raw`` is LiteLLM's ``EmbeddingResponse``."""

    embeddings: list[list[float]]
    model: str
    usage: dict[str, int] | None = None
    dimension: int = 0
    raw: LiteLLMEmbeddingResponse | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.embeddings)

    def __iter__(self) -> Iterator[list[float]]:
        return iter(self.embeddings)

    def __getitem__(self, index: int) -> list[float]:
        return self.embeddings[index]


MessagesIn = str | Sequence[Message | Mapping[str, Any]]


def as_dicts(messages: MessagesIn) -> list[dict[str, Any]]:
    """OpenAI-format dicts for a string (one user message), :class:`Message` objects or dicts."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [m.to_dict() if isinstance(m, Message) else _plain_role(dict(m)) for m in messages]


def _plain_role(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if isinstance(role, Enum):
        message["role"] = role.value
    return message


def tool_call_dicts(message: Any) -> list[ToolCallDict] | None:
    """The tool calls of a LiteLLM message as OpenAI-format dicts; ``None`` if there are none."""
    calls = getattr(message, "tool_calls", None) or []
    out = [ToolCallDict(id=str(c.id), type="function",
                        function={"name": str(c.function.name), "arguments": c.function.arguments or ""})
           for c in calls]
    return out or None


def function_call_dict(message: Any) -> dict[str, Any] | None:
    """The legacy ``function_call`` of a LiteLLM message, if any."""
    call = getattr(message, "function_call", None)
    if call is None:
        return None
    return {"name": str(call.name), "arguments": call.arguments or ""}
