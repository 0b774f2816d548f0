"""The provider-neutral async client of old code (``LLMClient``), on loomllm.

Written as before::

    client = LLMClient()
    client.register_provider("anthropic", AnthropicProvider())
    answer = await client.chat("What is 2 + 2?", system_message="You are a helpful assistant.")
    async for chunk in client.stream(messages):
        print(chunk.delta, end="")

Each provider is bound to a model group of the YAML file and calls through a
:class:`~loomllm.UnifiedAgent`, so every policy applies. A provider name that was never
registered is bound on first use ("anthropic", "openai", "ollama" or a group name).
``fallback_providers`` are tried in order when a provider fails; a policy refusal is never
retried on another provider.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel

from loomllm._output import parse_json
from loomllm.errors import ConfigError, OutputValidationError, ProviderError

from ._deprecation import warn_once
from ._errors import (
    AllProvidersFailed,
    LegacyConfigError,
    as_legacy_errors,
    chain_provider_error,
    check_app_key,
    key_digest,
)
from ._middleware import CostTracker, RateLimitConfig, RateLimiter
from ._providers import AnthropicProvider, LLMProvider, OllamaProvider, OpenAIProvider
from ._resolve import DEFAULT_AGENT, first_chat_group, group_for_model, group_for_provider, resolve_loom
from ._types import (
    CompletionRequest,
    CompletionResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionDefinition,
    Message,
    MessagesIn,
    StreamChunk,
    as_dicts,
)

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = ["LLMClient", "LLMClientConfig", "LegacyConfigWarning", "load_llm_config"]

_REQUEST_FIELDS = frozenset(f.name for f in fields(CompletionRequest)) - {"messages"}
_PROVIDER_CLASSES: Mapping[str, type[LLMProvider]] = {
    "anthropic": AnthropicProvider, "claude": AnthropicProvider,
    "openai": OpenAIProvider, "chatgpt": OpenAIProvider,
    "ollama": OllamaProvider,
}


class LegacyConfigWarning(UserWarning):
    """A legacy config file sets something loomllm does not apply; the warning names every such key."""


@dataclass
class LLMClientConfig:
    """The client's settings, as before.

    When a config is given, ``timeout_seconds`` and ``max_retries`` are sent per call (without one
    the YAML's ``router_settings`` decide).
    """

    default_provider: str = "anthropic"
    default_model: str | None = None
    fallback_providers: list[str] = field(default_factory=list)
    timeout_seconds: float = 60.0
    max_retries: int = 3
    cache_enabled: bool = True
    """``False`` sends every call with LiteLLM's ``no-cache``; ``True`` uses the Router's cache if one is configured."""
    cache_ttl_seconds: int = 3600


@dataclass
class _LoadedConfig:
    client: LLMClientConfig
    providers: dict[str, dict[str, Any]]
    rate_limits: dict[str, RateLimitConfig]
    daily_limit_usd: float
    ignored: list[str]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any) -> Any:
    """``${VAR}`` from the environment (unset: empty), as the old loader did."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: os.environ.get(m.group(1), ""), value)
    if isinstance(value, Mapping):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


_TRUE, _FALSE = frozenset({"true", "yes", "on", "1"}), frozenset({"false", "no", "off", "0", ""})


def _flag(value: Any, *, file: str, path: str) -> bool:
    """A switch: a YAML boolean, or the words a ``${VAR}`` may expand to; anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise LegacyConfigError(f"expected true or false, got a {type(value).__name__}", file=file, path=path)


def _number(value: Any, *, file: str, path: str, whole: bool = False) -> float:
    """A finite, non-negative number (or a string spelling one); a boolean is a mistake, not 1 or 0."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None or not math.isfinite(number) or number < 0 or (whole and not number.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise LegacyConfigError(f"expected {kind} >= 0, got a {type(value).__name__}", file=file, path=path)
    return number


def load_llm_config(path: str | os.PathLike[str]) -> _LoadedConfig:
    """Read an old ``configs/llm_config.yaml`` (an ``llm:`` section). Errors name the file and key."""
    file = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LegacyConfigError(f"cannot read legacy LLM config: {type(exc).__name__}", file=file) from None
    section = data.get("llm") if isinstance(data, Mapping) else None
    if not isinstance(section, Mapping):
        raise LegacyConfigError("expected an `llm:` mapping", file=file, path="llm")
    llm = _expand(section)
    ignored: list[str] = []
    cache = llm.get("cache") or {}
    client = LLMClientConfig(
        default_provider=str(llm.get("default_provider", "anthropic")),
        default_model=llm.get("default_model"),
        fallback_providers=[str(p) for p in llm.get("fallback_providers") or []],
        timeout_seconds=_number(llm.get("timeout_seconds", 60), file=file, path="llm.timeout_seconds"),
        max_retries=int(_number(llm.get("max_retries", 3), file=file, path="llm.max_retries", whole=True)),
        cache_enabled=_flag(cache.get("enabled", True), file=file, path="llm.cache.enabled"),
        cache_ttl_seconds=int(_number(cache.get("ttl_seconds", 3600), file=file, path="llm.cache.ttl_seconds",
                                      whole=True)),
    )
    ignored += [f"llm.cache.{k}" for k in ("backend", "max_size_mb") if k in cache]
    providers = {str(name): dict(spec or {}) for name, spec in (llm.get("providers") or {}).items()}
    ignored += [f"llm.providers.{name}.models" for name, spec in providers.items() if "models" in spec]
    rate_limits: dict[str, RateLimitConfig] = {}
    for name, spec in (llm.get("rate_limits") or {}).items():
        try:
            rate_limits[str(name)] = RateLimitConfig(**dict(spec or {}))
        except TypeError:
            raise LegacyConfigError(f"unknown key in rate limit of {name!r} (expected requests_per_minute, "
                                    "tokens_per_minute)", file=file, path=f"llm.rate_limits.{name}") from None
    budget = llm.get("budget") or {}
    daily = _number(budget.get("daily_limit_usd", 0), file=file, path="llm.budget.daily_limit_usd")
    if not _flag(budget.get("enabled", True), file=file, path="llm.budget.enabled"):
        daily = 0.0
    ignored += [f"llm.budget.{k}" for k in ("alert_threshold_pct", "alert_webhook") if k in budget]
    ignored += [f"llm.{k}" for k in llm if k not in {
        "default_provider", "default_model", "fallback_providers", "timeout_seconds", "max_retries",
        "cache", "providers", "rate_limits", "budget"}]
    return _LoadedConfig(client, providers, rate_limits, daily, ignored)


class LLMClient:
    """The old async client: ``complete``, ``stream``, ``embed``, ``chat``, ``json``, ``function_call``.

    ``LLMClient(config, providers)`` as before; also ``LLMClient("gpt-4o")`` (a model or group),
    ``LLMClient(provider="anthropic")`` or ``LLMClient(agent="planner")`` (a YAML agent).
    ``rate_limiter`` and ``cost_tracker`` (set by :meth:`from_config`, or by hand) are applied to
    every call: a spent daily limit refuses the call with :class:`~loomllm.legacy.LegacyBudgetExceeded`.
    """

    def __init__(self, config: LLMClientConfig | str | None = None, providers: Mapping[str, LLMProvider] | None = None,
                 *, model: str | None = None, provider: str | None = None, api_key: str | None = None,
                 embedding_model: str | None = None, agent: str = DEFAULT_AGENT, loom: Loom | None = None,
                 **defaults: Any) -> None:
        warn_once(type(self), "loomllm.UnifiedAgent (complete, stream, chat, json, embed)")
        if isinstance(config, str):  # LLMClient("gpt-4o"): the model, as loomllm's first legacy client took it
            model, config = config, None
        self.loom = resolve_loom(loom)
        self._agent_name = agent
        self._key_digest = key_digest(api_key) if api_key else None  # the key itself is not kept
        self._embedding_model = embedding_model
        self._explicit_config = config is not None
        self.config = config or LLMClientConfig()
        self._providers: dict[str, LLMProvider] = dict(providers or {})
        self.defaults = defaults
        self.rate_limiter: RateLimiter | None = None
        self.cost_tracker: CostTracker | None = None
        self._bind_default(model, provider)

    def _bind_default(self, model: str | None, provider: str | None) -> None:
        with as_legacy_errors():
            if model is not None:
                group = group_for_model(self.loom, model)
            elif provider is not None:
                group = group_for_provider(self.loom, provider)
            elif self._agent_name in self.loom.config.loom.agents:
                group = self.loom.config.loom.agents[self._agent_name].model
            else:
                return
            self.config.default_provider = provider or group
            if self.config.default_provider not in self._providers:
                self._providers[self.config.default_provider] = self._make_provider(provider or "", group)

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], *, loom: Loom | None = None,
                    agent: str = DEFAULT_AGENT) -> LLMClient:
        """A client from an old ``llm_config.yaml``: providers, fallbacks, timeouts, rate limits, daily budget.

        Providers the YAML ``model_list`` does not serve are skipped (unless it is the default
        provider: an error); every key loomllm does not apply is named in one :class:`LegacyConfigWarning`.
        """
        import warnings

        loaded = load_llm_config(path)
        client = cls(loaded.client, loom=loom, agent=agent)
        skipped: list[str] = []
        for name, spec in loaded.providers.items():
            try:
                client.register_provider(name, client._provider_from_spec(name, spec))
            except LegacyConfigError:
                if name == loaded.client.default_provider:
                    raise
                skipped.append(name)
        client.config.fallback_providers = [p for p in client.config.fallback_providers if p not in skipped]
        if loaded.rate_limits:
            client.rate_limiter = RateLimiter(loom=client.loom)
            for name, limit in loaded.rate_limits.items():
                client.rate_limiter.configure(name, limit)
        if loaded.daily_limit_usd > 0:
            client.cost_tracker = CostTracker(daily_limit_usd=loaded.daily_limit_usd)
        ignored = loaded.ignored + [f"llm.providers.{name} (no model group serves it)" for name in skipped]
        if ignored:
            warnings.warn(f"{path}: not applied by loomllm: {', '.join(ignored)}", LegacyConfigWarning, stacklevel=2)
        return client

    def _provider_from_spec(self, name: str, spec: Mapping[str, Any]) -> LLMProvider:
        provider_class = _PROVIDER_CLASSES.get(name.lower())
        with as_legacy_errors():
            if provider_class is None:
                return self._make_provider(name, group_for_provider(self.loom, name))
            if provider_class is OllamaProvider:
                return OllamaProvider(spec.get("base_url"), spec.get("default_model"), loom=self.loom,
                                      agent=self._agent_name)
            return provider_class(spec.get("api_key") or None, spec.get("base_url"),  # type: ignore[call-arg]
                                  default_model=spec.get("default_model"), loom=self.loom, agent=self._agent_name)

    def _make_provider(self, name: str, group: str) -> LLMProvider:
        provider_class = _PROVIDER_CLASSES.get(name.lower(), LLMProvider)
        provider = provider_class.__new__(provider_class)
        provider._bind(self.loom, name or group, self._agent_name, group)
        check_app_key(self.loom, group, self._key_digest, source="api_key")
        return provider

    # --- providers --------------------------------------------------------------------------

    def register_provider(self, name: str, provider: LLMProvider) -> None:
        """Use ``provider`` for ``name``.

        Only the providers of :mod:`loomllm.legacy` can be registered: a provider with its own SDK
        client would send requests no policy sees (:class:`~loomllm.legacy.LegacyConfigError`).
        """
        if not isinstance(provider, LLMProvider):
            raise LegacyConfigError(
                f"provider {name!r} is a {type(provider).__name__}, not a loomllm.legacy provider: its own client "
                "would bypass budgets, guardrails and egress; register AnthropicProvider(), OpenAIProvider(), "
                "OllamaProvider() or LLMProvider(provider=<model group>) and configure the deployment in model_list")
        self._providers[name] = provider

    def get_provider(self, name: str | None = None) -> LLMProvider:
        """The provider ``name`` (default: ``config.default_provider``), bound on first use if not registered.

        A name no model group serves raises :class:`~loomllm.legacy.LegacyConfigError` (a ``ValueError``).
        """
        name = name or self.config.default_provider
        provider = self._providers.get(name)
        if provider is None:
            with as_legacy_errors():
                try:
                    group = group_for_provider(self.loom, name)
                except ConfigError:
                    if self._explicit_config or name != LLMClientConfig.default_provider:
                        raise
                    group = first_chat_group(self.loom)  # LLMClient() on a config without Anthropic
                provider = self._providers[name] = self._make_provider(name, group)
        return provider

    # --- calls ------------------------------------------------------------------------------

    async def complete(self, messages: MessagesIn, model: str | None = None, provider: str | None = None,
                       temperature: float = 0.7, max_tokens: int = 4096,
                       functions: Sequence[FunctionDefinition] | None = None, json_mode: bool = False,
                       **kwargs: Any) -> CompletionResponse:
        """One completion; on a provider failure the ``fallback_providers`` are tried in order."""
        request, params = self._request(messages, model, temperature, max_tokens, functions, json_mode, kwargs)
        names = [provider or self.config.default_provider, *self.config.fallback_providers]
        last: ProviderError | None = None
        for name in dict.fromkeys(names):
            llm = self.get_provider(name)
            try:
                return await self._complete_with(name, llm, request, params)
            except ProviderError as error:  # policy refusals are not ProviderErrors: they propagate
                last = error
        assert last is not None
        raise chain_provider_error(AllProvidersFailed, f"All providers failed. Last error: {last}", last) from last

    async def _complete_with(self, name: str, llm: LLMProvider, request: CompletionRequest,
                             params: Mapping[str, Any]) -> CompletionResponse:
        if self.cost_tracker is not None:
            self.cost_tracker.check(agent=self._agent_name)
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire_request(name)
        response = await llm.complete(request, params=params)
        tokens = response.usage or {}
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire_tokens(name, int(tokens.get("total_tokens", 0)))
        if self.cost_tracker is not None and response.raw is not None:
            self.cost_tracker.record(response.model, int(tokens.get("prompt_tokens", 0)),
                                     int(tokens.get("completion_tokens", 0)))
        return response

    def _request(self, messages: MessagesIn, model: str | None, temperature: float, max_tokens: int,
                 functions: Sequence[FunctionDefinition] | None, json_mode: bool,
                 kwargs: Mapping[str, Any]) -> tuple[CompletionRequest, dict[str, Any]]:
        merged = {**self.defaults, **kwargs}
        known = {k: merged.pop(k) for k in list(merged) if k in _REQUEST_FIELDS}
        request = CompletionRequest(
            messages=_as_messages(messages), model=model or self.config.default_model, temperature=temperature,
            max_tokens=max_tokens, functions=list(functions) if functions else None, json_mode=json_mode, **known)
        if self._explicit_config:  # else the YAML's router_settings decide
            merged.setdefault("timeout", self.config.timeout_seconds)
            merged.setdefault("num_retries", self.config.max_retries)
        if not self.config.cache_enabled:
            merged.setdefault("cache", {"no-cache": True, "no-store": True})
        return request, merged

    async def stream(self, messages: MessagesIn, model: str | None = None, provider: str | None = None,
                     temperature: float = 0.7, max_tokens: int = 4096, **kwargs: Any) -> AsyncIterator[StreamChunk]:
        """The answer as :class:`StreamChunk` pieces (``chunk.delta``; the last has ``finish_reason``)."""
        request, params = self._request(messages, model, temperature, max_tokens, None, False, kwargs)
        request.stream = True
        async for chunk in self.get_provider(provider).stream(request, params=params):
            yield chunk

    async def embed(self, texts: str | Sequence[str], model: str | None = None,
                    provider: str | None = None) -> EmbeddingResponse:
        """One vector per text: ``model`` (an embedding model or group), else the configured embedding group."""
        items = [texts] if isinstance(texts, str) else list(texts)
        request = EmbeddingRequest(texts=items, model=model or self._embedding_model)
        return await self.get_provider(provider).embed(request)

    async def chat(self, user_message: str, system_message: str | None = None, **kwargs: Any) -> str:
        """Ask one question, get the answer's text."""
        messages = [Message(role="system", content=system_message)] if system_message else []
        messages.append(Message(role="user", content=user_message))
        return (await self.complete(messages, **kwargs)).content

    async def json(self, prompt: MessagesIn, schema: type[BaseModel] | Mapping[str, Any] | None = None,
                   **kwargs: Any) -> dict[str, Any]:
        """A JSON object answer; validated against ``schema`` (pydantic model or JSON schema) if given."""
        if schema is not None:
            llm = self.get_provider(kwargs.pop("provider", None))
            agent = llm._agent_for_model(kwargs.pop("model", None) or self.config.default_model)
            params = llm._call_params({**self.defaults, **kwargs}, agent.spec.model)
            value = await agent.json(as_dicts(prompt), schema, **params)
            return value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)
        response = await self.complete(_as_messages(prompt), json_mode=True, **kwargs)
        try:
            parsed = parse_json(response.content)
        except ValueError as problem:
            raise OutputValidationError(f"legacy json(): {problem}", raw=response.content) from None
        if not isinstance(parsed, dict):
            raise OutputValidationError("legacy json(): the answer is JSON but not an object", raw=response.content)
        return parsed

    async def function_call(self, messages: MessagesIn, functions: Sequence[FunctionDefinition],
                            function_choice: str = "auto", **kwargs: Any) -> CompletionResponse:
        """A completion that may call one of ``functions`` ("auto", "none", "required" or a name to force)."""
        return await self.complete(messages, functions=functions, function_call=function_choice, **kwargs)


def _as_messages(messages: MessagesIn) -> list[Message | dict[str, Any]]:
    if isinstance(messages, str):
        return [Message(role="user", content=messages)]
    return [m if isinstance(m, Message) else dict(m) for m in messages]

