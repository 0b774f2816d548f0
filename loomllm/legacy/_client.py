"""The provider-neutral async client of old code (``LLMClient``) and its message types, on loomllm."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from loomllm._output import ToolCall, parse_json, tool_calls
from loomllm.errors import OutputValidationError

from ._deprecation import warn_once
from ._resolve import (
    DEFAULT_AGENT,
    first_chat_group,
    group_for_model,
    group_for_provider,
    legacy_agent,
    resolve_loom,
)

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = ["CompletionResponse", "FunctionDefinition", "LLMClient", "Message", "Role"]


class Role(str, Enum):
    """Who says a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role | str
    content: str | None
    name: str | None = None
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-format message."""
        role = self.role.value if isinstance(self.role, Role) else str(self.role)
        out: dict[str, Any] = {"role": role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True)
class FunctionDefinition:
    """A function the model may call: name, description and a JSON schema of its parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_tool(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)}}


@dataclass(frozen=True)
class CompletionResponse:
    """What a completion returned, provider-neutral."""

    content: str
    model: str
    finish_reason: str | None
    tool_calls: list[ToolCall]
    usage: dict[str, int]
    """``prompt_tokens``, ``completion_tokens``, ``total_tokens``."""
    latency_ms: float
    cached: bool


MessagesIn = str | Sequence[Message | Mapping[str, Any]]


class LLMClient:
    """The old async client. Every call goes through a :class:`~loomllm.UnifiedAgent`.

    Pick the model with ``model`` (a model name or group), ``provider`` ("openai", "anthropic",
    "chatgpt", "claude"), or ``agent`` naming an agent of the YAML file; with none of them, the
    first chat group of ``model_list``.
    ``api_key`` is accepted and ignored: keys live in the YAML deployments.
    """

    def __init__(self, model: str | None = None, *, provider: str | None = None, api_key: str | None = None,
                 embedding_model: str | None = None, agent: str = DEFAULT_AGENT, loom: Loom | None = None,
                 **defaults: Any) -> None:
        warn_once(type(self), "loomllm.UnifiedAgent (complete, stream, chat, json, embed)")
        del api_key  # the deployment's key is used; this one must not travel further
        self.loom = resolve_loom(loom)
        group = group_for_model(self.loom, model) if model else None
        if group is None and provider:
            group = group_for_provider(self.loom, provider)
        if group is None and agent not in self.loom.config.loom.agents:
            group = first_chat_group(self.loom)
        embeddings = group_for_model(self.loom, embedding_model) if embedding_model else None
        self.agent: UnifiedAgent = legacy_agent(self.loom, agent, group, embedding_model=embeddings)
        self.defaults = defaults

    async def complete(self, messages: MessagesIn, *, temperature: float | None = None,
                       max_tokens: int | None = None, **params: Any) -> CompletionResponse:
        """One completion of ``messages`` (a string, :class:`Message` objects or OpenAI dicts)."""
        call = {**self.defaults, **params}
        if temperature is not None:
            call["temperature"] = temperature
        if max_tokens is not None:
            call["max_tokens"] = max_tokens
        started = time.perf_counter()
        response = await self.agent.complete(_as_dicts(messages), **call)
        return _to_completion(response, started)

    async def stream(self, messages: MessagesIn, **params: Any) -> AsyncIterator[str]:
        """The answer's text, piece by piece."""
        async for chunk in self.agent.stream(_as_dicts(messages), **{**self.defaults, **params}):
            for choice in chunk.choices:
                if choice.delta.content:
                    yield str(choice.delta.content)

    async def embed(self, texts: str | Sequence[str]) -> list[list[float]]:
        """One vector per text (needs ``embedding_model=`` or an agent with one)."""
        return await self.agent.embed(texts)

    async def chat(self, user_message: str, system_message: str | None = None, **params: Any) -> str:
        """Ask one question, get the answer's text."""
        return await self.agent.chat(user_message, system_message, **{**self.defaults, **params})

    async def json(self, prompt: MessagesIn, schema: type[BaseModel] | Mapping[str, Any] | None = None,
                   **params: Any) -> dict[str, Any]:
        """A JSON object answer; validated against ``schema`` (pydantic model or JSON schema) if given."""
        call = {**self.defaults, **params}
        messages = _as_dicts(prompt)
        if schema is not None:
            value = await self.agent.json(messages, schema, **call)
            return value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)
        response = await self.agent.complete(messages, response_format={"type": "json_object"}, **call)
        text = str(response.choices[0].message.content or "")
        try:
            parsed = parse_json(text)
        except ValueError as problem:
            raise OutputValidationError(f"agent {self.agent.agent_name!r}: {problem}", raw=text) from None
        if not isinstance(parsed, dict):
            raise OutputValidationError(f"agent {self.agent.agent_name!r}: the answer is JSON but not an object",
                                        raw=text)
        return parsed

    async def function_call(self, messages: MessagesIn, functions: Sequence[FunctionDefinition],
                            function_choice: str | None = "auto", **params: Any) -> CompletionResponse:
        """A completion that may call one of ``functions``.

        ``function_choice`` is "auto", "none", "required" or the name of the function to force.
        """
        call = {**self.defaults, **params, "tools": [f.to_tool() for f in functions]}
        if function_choice is not None:
            call["tool_choice"] = (function_choice if function_choice in ("auto", "none", "required")
                                   else {"type": "function", "function": {"name": function_choice}})
        started = time.perf_counter()
        response = await self.agent.complete(_as_dicts(messages), **call)
        return _to_completion(response, started)


def _as_dicts(messages: MessagesIn) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [m.to_dict() if isinstance(m, Message) else dict(m) for m in messages]


def _to_completion(response: Any, started: float) -> CompletionResponse:
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    hidden = getattr(response, "_hidden_params", None) or {}
    return CompletionResponse(
        content=str(choice.message.content or ""),
        model=str(response.model or ""),
        finish_reason=choice.finish_reason,
        tool_calls=tool_calls(response),
        usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
               "total_tokens": prompt_tokens + completion_tokens},
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        cached=bool(hidden.get("cache_hit")),
    )

