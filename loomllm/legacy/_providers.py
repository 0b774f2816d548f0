"""Provider clients of old code, on loomllm: one base class for both legacy families.

* The hand-written per-provider clients of an ``LLMManager`` (``ChatGPTProvider``,
  ``ClaudeProvider``: ``generate_response(prompt, model=..., temperature=...)``).
* The async providers of a provider-neutral ``LLMClient`` (``AnthropicProvider``,
  ``OpenAIProvider``, ``OllamaProvider``: ``complete(request)``, ``stream(request)``,
  ``embed(request)``).

A provider is bound to a model group of the YAML file; every call goes through a
:class:`~loomllm.UnifiedAgent`, so budgets, guardrails and the egress allowlist apply. Keys and
hosts live on the deployments: an ``api_key`` or ``base_url`` from the application is accepted
only if it is the deployment's own, else :class:`~loomllm.legacy.ApiKeyConflict` (a
``ValueError``) says where it belongs. Nothing the application passes is stored or sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from loomllm._egress import redact_url
from loomllm._params import is_always_forbidden
from loomllm.errors import ForbiddenParameter, MissingCredentials

from ._deprecation import warn_once
from ._errors import LegacyConfigError, as_legacy_errors, check_app_key
from ._resolve import (
    DEFAULT_AGENT,
    ConfigSource,
    check_credentials,
    config_value,
    embedding_group,
    group_for_model,
    group_for_provider,
    legacy_agent,
    model_name,
    resolve_loom,
)
from ._types import (
    CompletionRequest,
    CompletionResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamChunk,
    as_dicts,
    function_call_dict,
    tool_call_dicts,
)

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = [
    "AnthropicProvider",
    "ChatGPTProvider",
    "ClaudeProvider",
    "LLMManager",
    "LLMProvider",
    "LLMProviderFactory",
    "LegacyForbiddenParameter",
    "OllamaProvider",
    "OpenAIProvider",
    "completion_response",
]

_INSTEAD_PROVIDER = "loomllm.UnifiedAgent (loom.agent(name).chat_sync(prompt))"
_INSTEAD_ASYNC_PROVIDER = "loomllm.UnifiedAgent (await loom.agent(name).complete(messages))"


class LegacyForbiddenParameter(ForbiddenParameter, ValueError):
    """A legacy call passed ``api_base`` or another parameter that would bypass the deployments."""


class LLMProvider:
    """A provider client of the old interfaces, bound to one model group.

    ``provider`` is a legacy name ("chatgpt", "claude", "openai", "anthropic", "gemini",
    "ollama") or a model group; see :func:`loomllm.legacy.group_for_provider`.
    """

    provider: ClassVar[str] = ""
    _instead: ClassVar[str] = _INSTEAD_PROVIDER

    def __init__(self, api_key: str | None = None, *, provider: str | None = None, loom: Loom | None = None,
                 agent: str = DEFAULT_AGENT, model_group: str | None = None) -> None:
        warn_once(type(self), type(self)._instead)
        self._bind(resolve_loom(loom), provider, agent, model_group)
        with as_legacy_errors():
            check_app_key(self.loom, self.model_group, api_key, source="api_key")

    def _bind(self, loom: Loom, provider: str | None, agent: str, model_group: str | None) -> None:
        self.loom = loom
        self.provider_name: str = provider or type(self).provider
        self._agent_name = agent
        self._agents: dict[tuple[str, str | None], UnifiedAgent] = {}
        with as_legacy_errors():
            self.model_group: str = model_group or group_for_provider(self.loom, self.provider_name)
            check_credentials(self.loom, self.model_group)
            self.agent: UnifiedAgent = self._agent_for(self.model_group)

    # --- capabilities (what old code asked before calling) ------------------------------------

    @property
    def default_model(self) -> str:
        """The model behind this provider's group (its first deployment's, e.g. ``gpt-4o``)."""
        return model_name(self.loom, self.model_group)

    @property
    def supports_streaming(self) -> bool:
        """Every LiteLLM provider streams."""
        return True

    @property
    def supports_functions(self) -> bool:
        """Whether the group's model takes tools (LiteLLM's model map)."""
        return self._supports("supports_function_calling")

    @property
    def supports_json_mode(self) -> bool:
        """Whether the group's model takes ``response_format`` (LiteLLM's model map)."""
        return self._supports("supports_response_schema") or "response_format" in self._supported_params()

    def _served_model(self) -> str:
        return str(self.loom.config.groups[self.model_group][0]["litellm_params"]["model"])

    def _supports(self, check: str) -> bool:
        from loomllm._litellm import litellm_module

        try:
            return bool(getattr(litellm_module(), check)(model=self._served_model()))
        except Exception:  # unknown models: LiteLLM raises instead of answering False
            return False

    def _supported_params(self) -> list[str]:
        from loomllm._litellm import litellm_module

        try:
            return list(litellm_module().get_supported_openai_params(model=self._served_model()) or [])
        except Exception:
            return []

    # --- the agent per model group ------------------------------------------------------------

    def _agent_for(self, group: str, embedding: str | None = None) -> UnifiedAgent:
        key = (group, embedding)
        agent = self._agents.get(key)
        if agent is None:
            with as_legacy_errors():
                agent = self._agents[key] = legacy_agent(self.loom, self._agent_name, group, embedding_model=embedding)
        return agent

    def _agent_for_model(self, model: str | None) -> UnifiedAgent:
        """The agent for a per-call ``model`` (a group or a served model); the provider's own without one."""
        if not model:
            return self.agent
        with as_legacy_errors():
            return self._agent_for(group_for_model(self.loom, model))

    def _call_params(self, params: Mapping[str, Any], group: str) -> dict[str, Any]:
        """The caller's parameters, with legacy spellings mapped and keys checked (never passed on)."""
        out = dict(params)
        if "max_tokens_to_sample" in out:  # Anthropic's old Text Completions name; Messages wants max_tokens
            cap = out.pop("max_tokens_to_sample")
            out.setdefault("max_tokens", cap)
        for key in [k for k in out if is_always_forbidden(k)]:
            if key == "api_key":
                with as_legacy_errors():
                    check_app_key(self.loom, group, out.pop(key), source="api_key")
                continue
            raise LegacyForbiddenParameter(agent=self._agent_name, parameter=key)
        return out

    # --- the LLMManager family (sync) ---------------------------------------------------------

    def generate_response(self, prompt: str, **kwargs: Any) -> str:
        """The model's answer to ``prompt``.

        ``model=`` picks another model group for this call (it must be in ``model_list``);
        ``system_prompt=`` (or ``system=``) adds a system message; ``max_tokens_to_sample`` is
        sent as ``max_tokens``; other keywords (``temperature`` ...) are call parameters.
        """
        system_prompt, system = kwargs.pop("system_prompt", None), kwargs.pop("system", None)
        agent = self._agent_for_model(kwargs.pop("model", None))
        params = self._call_params(kwargs, agent.spec.model)
        return agent.chat_sync(prompt, system_prompt or system, **params)

    def get_model_name(self) -> str:
        """The model behind this provider (the first deployment of its group, e.g. ``gpt-4o``)."""
        return self.default_model

    def authenticate(self) -> bool:
        """Whether the group's deployments have their API keys configured. Sends nothing."""
        try:
            check_credentials(self.loom, self.model_group)
        except MissingCredentials:
            return False
        return True

    def handle_rate_limit(self, retry_after: float | None = None) -> None:
        """Wait ``retry_after`` seconds if given.

        Retries and cooldowns are the Router's job now (``router_settings.num_retries``), so a
        caller's own retry loop rarely runs.
        """
        if retry_after is not None and retry_after > 0:
            time.sleep(retry_after)

    # --- the LLMClient family (async) ---------------------------------------------------------

    async def complete(self, request: CompletionRequest, *,
                       params: Mapping[str, Any] | None = None) -> CompletionResponse:
        """Send ``request``; ``request.model`` (a group or served model) overrides the provider's group.

        ``params`` are further call parameters (``timeout``, ``response_format``...).
        """
        agent = self._agent_for_model(request.model)
        started = time.perf_counter()
        response = await agent.complete(as_dicts(request.messages), **self._request_params(request, agent, params))
        return completion_response(response, started)

    async def stream(self, request: CompletionRequest, *,
                     params: Mapping[str, Any] | None = None) -> AsyncIterator[StreamChunk]:
        """Stream ``request``: one :class:`StreamChunk` per chunk; the last carries ``finish_reason``."""
        agent = self._agent_for_model(request.model)
        call_params = self._request_params(request, agent, params)
        async for chunk in agent.stream(as_dicts(request.messages), **call_params):
            for choice in chunk.choices or []:
                piece = StreamChunk(delta=str(choice.delta.content or ""), finish_reason=choice.finish_reason,
                                    function_call_delta=_call_delta(choice.delta), raw=chunk)
                if piece.delta or piece.finish_reason or piece.function_call_delta:  # the last one says why it ended
                    yield piece

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed ``request.texts`` with ``request.model``, else the provider's (or the first) embedding group."""
        with as_legacy_errors():
            group = embedding_group(self.loom, request.model, self.provider_name)
        agent = self._agent_for(self.model_group, group)
        response = await agent.embed_response(list(request.texts))
        vectors = [list(item["embedding"]) for item in response.data]
        usage = getattr(response, "usage", None)
        return EmbeddingResponse(
            embeddings=vectors,
            model=str(getattr(response, "model", None) or model_name(self.loom, group)),
            usage={"prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                   "total_tokens": int(getattr(usage, "total_tokens", 0) or 0)} if usage is not None else None,
            dimension=len(vectors[0]) if vectors else 0,
            raw=response,
        )

    async def count_tokens(self, text: str, model: str | None = None) -> int:
        """Tokens in ``text`` with the model's tokenizer (LiteLLM's ``token_counter``). Sends nothing."""
        from loomllm._litellm import litellm_module

        agent = self._agent_for_model(model)
        served = str(self.loom.config.groups[agent.spec.model][0]["litellm_params"]["model"])
        return int(litellm_module().token_counter(model=served, text=text))

    def _request_params(self, request: CompletionRequest, agent: UnifiedAgent,
                        extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {**(extra or {}), "temperature": request.temperature,
                                  "max_tokens": request.max_tokens}
        if request.top_p != 1.0:  # some models refuse temperature and top_p together
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        if request.json_mode:
            params["response_format"] = {"type": "json_object"}
        if request.functions:
            params["tools"] = [f.to_tool() for f in request.functions]
            if request.function_call:
                params["tool_choice"] = _tool_choice(request.function_call)
        if request.user:
            params["user"] = request.user
        if request.metadata:
            params["metadata"] = dict(request.metadata)
        return self._call_params(params, agent.spec.model)


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _call_delta(delta: Any) -> dict[str, Any] | None:
    calls = getattr(delta, "tool_calls", None) or []
    if not calls:
        return None
    function = calls[0].function
    return {"name": getattr(function, "name", None), "arguments": getattr(function, "arguments", None) or ""}


def completion_response(response: Any, started: float) -> CompletionResponse:
    """The provider-neutral response for LiteLLM's ``ModelResponse`` (kept as ``raw``)."""
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    hidden = getattr(response, "_hidden_params", None) or {}
    return CompletionResponse(
        content=str(choice.message.content or ""),
        model=str(response.model or ""),
        finish_reason=str(choice.finish_reason or "stop"),
        function_call=function_call_dict(choice.message),
        tool_calls=tool_call_dicts(choice.message),
        usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
               "total_tokens": prompt_tokens + completion_tokens},
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        cached=bool(hidden.get("cache_hit")),
        raw=response,
    )


# --- the LLMManager family ------------------------------------------------------------------------


class ChatGPTProvider(LLMProvider):
    """The old OpenAI client: calls the first OpenAI model group (or ``model_group=``)."""

    provider = "chatgpt"


class ClaudeProvider(LLMProvider):
    """The old Anthropic client: calls the first Anthropic model group (or ``model_group=``)."""

    provider = "claude"


# --- the LLMClient family -------------------------------------------------------------------------


class _AsyncProvider(LLMProvider):
    """A provider of the async client: ``api_key``/``base_url`` must be the deployment's own, if given."""

    _instead = _INSTEAD_ASYNC_PROVIDER

    def __init__(self, api_key: str | None = None, base_url: str | None = None, default_model: str | None = None,
                 *, loom: Loom | None = None, agent: str = DEFAULT_AGENT, model_group: str | None = None) -> None:
        warn_once(type(self), type(self)._instead)
        built = resolve_loom(loom)
        if model_group is None and default_model:
            with as_legacy_errors():
                model_group = group_for_model(built, default_model)
        self._bind(built, None, agent, model_group)
        with as_legacy_errors():
            check_app_key(self.loom, self.model_group, api_key, source="api_key")
        if base_url is not None:
            self._check_base_url(base_url)

    def _check_base_url(self, base_url: str) -> None:
        wanted = base_url.rstrip("/")
        for deployment in self.loom.config.groups[self.model_group]:
            api_base = str(deployment["litellm_params"].get("api_base") or "").rstrip("/")
            if api_base and wanted in (api_base, api_base.removesuffix("/v1")):
                return
        raise LegacyConfigError(
            f"base_url {redact_url(wanted)!r} is not the api_base of any deployment of model group "
            f"{self.model_group!r}: "
            "hosts live on the deployments (model_list[].litellm_params.api_base) and the egress allowlist",
            file=str(self.loom.config.source) if self.loom.config.source else None, path="model_list")


class AnthropicProvider(_AsyncProvider):
    """Claude: the first Anthropic model group (``default_model=`` picks the group serving that model)."""

    provider = "anthropic"

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Anthropic has no embeddings: uses the first embedding group of the config (or ``request.model``)."""
        return await super().embed(request)


class OpenAIProvider(_AsyncProvider):
    """GPT: the first OpenAI model group. ``organization`` is a deployment setting and must not be passed."""

    provider = "openai"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, organization: str | None = None,
                 default_model: str | None = None, *, loom: Loom | None = None, agent: str = DEFAULT_AGENT,
                 model_group: str | None = None) -> None:
        if organization is not None:
            raise LegacyConfigError("organization is set on the deployment (litellm_params.organization), "
                                    "not by the application", path="model_list")
        super().__init__(api_key, base_url, default_model, loom=loom, agent=agent, model_group=model_group)


class OllamaProvider(_AsyncProvider):
    """Local models: the first ``ollama/`` / ``ollama_chat/`` model group."""

    provider = "ollama"

    def __init__(self, base_url: str | None = None, default_model: str | None = None, *,
                 loom: Loom | None = None, agent: str = DEFAULT_AGENT, model_group: str | None = None) -> None:
        super().__init__(None, base_url, default_model, loom=loom, agent=agent, model_group=model_group)


# --- factory and manager ----------------------------------------------------------------------------


class LLMProviderFactory:
    """Makes the provider for a legacy provider name; any model group name works too."""

    PROVIDERS: ClassVar[Mapping[str, type[LLMProvider]]] = {"chatgpt": ChatGPTProvider, "claude": ClaudeProvider}

    @classmethod
    def create_provider(cls, provider_name: str, api_key: str | None = None, *, loom: Loom | None = None,
                        agent: str = DEFAULT_AGENT, model_group: str | None = None) -> LLMProvider:
        """The provider client for ``provider_name``."""
        provider_class = cls.PROVIDERS.get(provider_name.lower(), LLMProvider)
        return provider_class(api_key, provider=provider_name, loom=loom, agent=agent, model_group=model_group)

    @classmethod
    def _create_quietly(cls, provider_name: str, loom: Loom, agent: str, model_group: str | None) -> LLMProvider:
        """A provider for :class:`LLMManager`, whose own warning already told the caller what to do."""
        provider_class = cls.PROVIDERS.get(provider_name.lower(), LLMProvider)
        provider = provider_class.__new__(provider_class)
        provider._bind(loom, provider_name, agent, model_group)
        return provider

    @classmethod
    def get_available_providers(cls) -> list[str]:
        """The named legacy providers (model group names are accepted as well)."""
        return sorted(cls.PROVIDERS)


_APP_KEY_OF_PROVIDER = {"chatgpt": "openai_api_key", "openai": "openai_api_key",
                        "claude": "anthropic_api_key", "anthropic": "anthropic_api_key"}


class LLMManager:
    """The old entry point: picks a provider from ``config_manager.get("llm_provider")``.

    Config keys read: ``llm_provider`` (default "chatgpt"), ``openai_api_key`` /
    ``anthropic_api_key`` (accepted only if they are the deployment's key), ``model_group``
    (overrides the mapping), ``agent`` (default "legacy"), ``loomllm_config`` (the YAML file,
    else ``$LOOMLLM_CONFIG``). ``config_manager`` is an object with ``get(key, default=None)`` or
    a plain dict. An unknown provider, a missing key or a conflicting key raise errors that are
    ``ValueError`` as well as loomllm errors.
    """

    def __init__(self, config_manager: ConfigSource | Mapping[str, Any] | None = None, *,
                 loom: Loom | None = None) -> None:
        warn_once(type(self), "loomllm.Loom(config).agent(name), configured in YAML")
        self.config_manager = config_manager
        provider = str(config_value(config_manager, "llm_provider", "chatgpt"))
        with as_legacy_errors():
            self.provider = LLMProviderFactory._create_quietly(
                provider,
                resolve_loom(loom, config_manager),
                str(config_value(config_manager, "agent", DEFAULT_AGENT)),
                config_value(config_manager, "model_group"),
            )
        key_name = _APP_KEY_OF_PROVIDER.get(provider.lower())
        if key_name is not None:
            with as_legacy_errors():
                check_app_key(self.provider.loom, self.provider.model_group,
                              config_value(config_manager, key_name), source=key_name)

    def generate_response(self, prompt: str, **kwargs: Any) -> str:
        """The configured provider's answer to ``prompt`` (see :meth:`LLMProvider.generate_response`)."""
        return self.provider.generate_response(prompt, **kwargs)

    def get_model_name(self) -> str:
        """The model behind the configured provider."""
        return self.provider.get_model_name()

