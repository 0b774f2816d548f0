"""DiPeO's LLM infrastructure service (``LLMInfraService``) and its helpers, on loomllm.

Written as before::

    service = LLMInfraService(api_key_service, llm_domain_service)
    result = await service.complete(messages=[...], model="gpt-4.1-nano", api_key_id="openai_key",
                                    service=LLMService.OPENAI)
    result = await service.complete_with_person(person_messages=person.get_messages(),
                                                person_id=person.id, llm_config=person.llm_config)

``model`` names a model group or a model a group serves. Keys live on the deployments: an
``api_key_service`` that resolves ``api_key_id`` to a different key is refused
(:class:`~loomllm.legacy.ApiKeyConflict`). A deployment without its key raises
:class:`~loomllm.legacy.APIKeyError`; provider failures raise :class:`~loomllm.legacy.LLMServiceError`
(the loomllm error is its ``__cause__``). For OpenAI the system prompt is sent with the
``developer`` role. ``DIPEO_LLM_TIMEOUT`` (default 300), ``DIPEO_LLM_MAX_RETRIES`` (default 3)
and ``DIPEO_BASE_DIR`` (prompt files) are read when the service is made.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loomllm.errors import ProviderError
from loomllm.prompts import resolve_system_prompt

from ._deprecation import warn_once
from ._errors import (
    APIKeyError,
    LegacyConfigError,
    LLMServiceError,
    as_legacy_errors,
    chain_provider_error,
    check_app_key,
)
from ._resolve import DEFAULT_AGENT, check_credentials, group_for_model, legacy_agent, resolve_loom
from ._types import ToolCallDict, tool_call_dicts

if TYPE_CHECKING:
    from litellm.types.utils import ModelResponse

    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = [
    "ChatResult",
    "LLMInfraService",
    "LLMService",
    "MessageFormatter",
    "PersonLLMConfig",
    "SystemPromptHandler",
]

_POOL_TTL_S = 3600.0


class LLMService(str, Enum):
    """The provider a person's model runs on."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GOOGLE = "google"
    GEMINI = "gemini"
    OLLAMA = "ollama"


_BACKENDS: Mapping[str, tuple[str, ...]] = {
    "openai": ("openai", "azure"), "anthropic": ("anthropic", "bedrock", "vertex_ai"),
    "google": ("gemini", "vertex_ai"), "gemini": ("gemini", "vertex_ai"), "ollama": ("ollama", "ollama_chat"),
}


@dataclass
class PersonLLMConfig:
    """A person's model and prompt: inline ``system_prompt`` or a ``prompt_file`` (relative to the base dir)."""

    service: LLMService | str
    model: str
    api_key_id: str | None = None
    system_prompt: str | None = None
    prompt_file: str | None = None


@dataclass
class ChatResult:
    """A completion: the text, token usage, tool calls (OpenAI dicts) and LiteLLM's ``ModelResponse``."""

    text: str
    token_usage: dict[str, int] = field(default_factory=dict)
    """``input``, ``output``, ``total``."""
    tool_calls: list[ToolCallDict] | None = None
    raw_response: ModelResponse | None = field(default=None, repr=False)


def _service_name(service: LLMService | str | None) -> str | None:
    if service is None:
        return None
    return str(service.value if isinstance(service, Enum) else service).lower()


def system_role_for(service: LLMService | str | None) -> str:
    """``developer`` for OpenAI (stronger instruction adherence), ``system`` for the others."""
    return "developer" if _service_name(service) == "openai" else "system"


class SystemPromptHandler:
    """A person's system prompt: its ``prompt_file`` if that exists, else ``system_prompt``, else ``None``."""

    def __init__(self, base_dir: str | os.PathLike[str] | None = None) -> None:
        self.base_dir = Path(base_dir or os.environ.get("DIPEO_BASE_DIR") or Path.cwd())

    def get_system_prompt(self, llm_config: PersonLLMConfig) -> str | None:
        """The prompt to send (a missing file falls back with a ``PromptFileMissingWarning``)."""
        return resolve_system_prompt(prompt_file=llm_config.prompt_file, system_prompt=llm_config.system_prompt,
                                     template=None, base_dir=self.base_dir)


class MessageFormatter:
    """Domain messages to provider messages: the person's own messages are ``assistant``, others ``user``."""

    def format_messages_for_llm(self, messages: Sequence[Any], person_id: str, system_prompt: str | None = None,
                                service: LLMService | str | None = None,
                                system_role: str | None = None) -> list[dict[str, Any]]:
        """OpenAI-format messages, the system prompt first with ``system_role`` (default per service)."""
        out: list[dict[str, Any]] = []
        if system_prompt:
            out.append({"role": system_role or system_role_for(service), "content": system_prompt})
        out += [self._format(m, person_id) for m in messages]
        return out

    @staticmethod
    def _format(message: Any, person_id: str) -> dict[str, Any]:
        if isinstance(message, Mapping):
            if "role" in message:
                return dict(message)
            sender, content = message.get("from_person_id"), message.get("content")
        else:
            sender, content = getattr(message, "from_person_id", None), getattr(message, "content", "")
        return {"role": "assistant" if str(sender) == str(person_id) else "user", "content": content}


class _AgentPool:
    """Agents per model group, reused for an hour; one creation per group even under concurrent requests."""

    def __init__(self, loom: Loom, agent: str) -> None:
        self._loom = loom
        self._agent = agent
        self._lock = threading.Lock()
        self._agents: dict[str, tuple[UnifiedAgent, float]] = {}

    def get(self, group: str) -> UnifiedAgent:
        now = time.monotonic()
        with self._lock:  # single flight: creation happens under the lock
            pooled = self._agents.get(group)
            if pooled is None or now - pooled[1] > _POOL_TTL_S:
                with as_legacy_errors(APIKeyError):
                    pooled = self._agents[group] = (legacy_agent(self._loom, self._agent, group), now)
            return pooled[0]


class LLMInfraService:
    """DiPeO's LLM service port: ``complete`` and ``complete_with_person``, every call through loomllm."""

    def __init__(self, api_key_service: Any = None, llm_domain_service: Any = None, *, loom: Loom | None = None,
                 agent: str = DEFAULT_AGENT) -> None:
        warn_once(type(self), "loomllm.UnifiedAgent (one agent per person, its model and prompt in YAML)")
        self.api_key_service = api_key_service
        self.llm_domain_service = llm_domain_service
        self.loom = resolve_loom(loom)
        self.timeout = float(os.environ.get("DIPEO_LLM_TIMEOUT", "300"))
        self.max_retries = int(os.environ.get("DIPEO_LLM_MAX_RETRIES", "3"))
        self.prompts = SystemPromptHandler()
        self.formatter = MessageFormatter()
        self._pool = _AgentPool(self.loom, agent)

    async def complete(self, messages: Sequence[Mapping[str, Any]], model: str, api_key_id: str | None = None,
                       service: LLMService | str | None = None, **kwargs: Any) -> ChatResult:
        """One completion of OpenAI-format ``messages``; system messages go as ``developer`` to OpenAI."""
        group = self._group(model, service)
        self._check_key(group, api_key_id)
        role = system_role_for(service or self._service_of(group))
        sent = [{**m, "role": role} if m.get("role") in ("system", "developer") else dict(m) for m in messages]
        params = {"timeout": self.timeout, "num_retries": self.max_retries, **kwargs}
        try:
            response = await self._pool.get(group).complete(sent, **params)
        except ProviderError as error:
            raise chain_provider_error(LLMServiceError, f"LLM call to {model!r} failed: {error}", error) from error
        return _chat_result(response)

    async def complete_with_person(self, person_messages: Sequence[Any], person_id: str,
                                   llm_config: PersonLLMConfig, **kwargs: Any) -> ChatResult:
        """A person's completion: their system prompt (file or inline) and conversation, formatted per provider."""
        system_prompt = self.prompts.get_system_prompt(llm_config)
        messages = self.formatter.format_messages_for_llm(person_messages, person_id, system_prompt,
                                                          llm_config.service)
        return await self.complete(messages, llm_config.model, llm_config.api_key_id, llm_config.service, **kwargs)

    def _group(self, model: str, service: LLMService | str | None) -> str:
        with as_legacy_errors(APIKeyError):
            group = group_for_model(self.loom, model)
            check_credentials(self.loom, group)
        wanted = _service_name(service)
        if wanted and self._service_of(group) not in (wanted, None) and wanted in _BACKENDS:
            raise LegacyConfigError(f"model {model!r} is served by group {group!r}, which is not a {wanted} "
                                    "deployment", path="model_list")
        return group

    def _service_of(self, group: str) -> str | None:
        params = self.loom.config.groups[group][0]["litellm_params"]
        provider = str(params.get("custom_llm_provider") or str(params["model"]).split("/", 1)[0])
        return next((name for name, backends in _BACKENDS.items() if provider in backends), None)

    def _check_key(self, group: str, api_key_id: str | None) -> None:
        if api_key_id is None or self.api_key_service is None:
            return
        lookup = getattr(self.api_key_service, "get_api_key", None)
        found = lookup(api_key_id) if callable(lookup) else None
        key = found.get("key") if isinstance(found, Mapping) else found
        with as_legacy_errors(APIKeyError):
            check_app_key(self.loom, group, key if isinstance(key, str) else None, source=f"api key {api_key_id!r}")


def _chat_result(response: Any) -> ChatResult:
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    return ChatResult(text=str(message.content or ""),
                      token_usage={"input": tokens_in, "output": tokens_out, "total": tokens_in + tokens_out},
                      tool_calls=tool_call_dicts(message), raw_response=response)
