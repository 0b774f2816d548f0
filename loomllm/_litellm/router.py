"""Building the one ``litellm.Router`` a :class:`~loomllm.Loom` owns, and LiteLLM's global settings.

LiteLLM keeps some configuration in module globals (``litellm.cache``, ``litellm.drop_params``,
callback lists). This module is the one place loomllm writes them.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from loomllm import _proxy_config as proxy
from loomllm._litellm import litellm_module
from loomllm._scrub import CredentialScrubber
from loomllm.config import (
    HANDLED_LITELLM_SETTINGS,
    ROUTER_KEYS_IN_LITELLM_SETTINGS,
    LoomConfig,
    check_providers,
)
from loomllm.errors import ConfigError

# Routing strategies that read the deployments' rpm/tpm counters (worth sharing through Redis).
_USAGE_STRATEGIES = {"usage-based-routing", "usage-based-routing-v2", "latency-based-routing"}


def build_router(config: LoomConfig, undo: SettingsUndo | None = None, *,
                 metadata: Mapping[str, str] | None = None) -> Any:
    """A Router over ``config.model_list``; every deployment's provider is checked first.

    rpm/tpm on a deployment mean what they mean under the proxy: routing weights, and limits for
    the usage-based strategies; they are hard limits only if ``router_settings`` lists
    ``optional_pre_call_checks: [enforce_model_rate_limits]`` or ``loomllm.middleware.rate_limits``
    asks for them, and then loomllm's token buckets enforce them (LiteLLM's check is left out).
    ``metadata`` is added to every request the Router sends (it marks the Loom's own requests).
    """
    litellm = litellm_module()
    check_providers(config)  # again: custom providers are registered now
    kwargs = _router_kwargs(config)
    if metadata:
        defaults = dict(kwargs.get("default_litellm_params") or {})
        defaults["metadata"] = {**(defaults.get("metadata") or {}), **metadata}
        kwargs["default_litellm_params"] = defaults
    registries = _callback_registries()
    before = {name: list(registry) for name, registry in registries.items()}
    router = litellm.Router(model_list=config.model_list, **kwargs)
    if undo is not None:
        # The Router registers some of its parts globally (provider budgets, cooldown loggers): they
        # must not keep acting on other Looms' calls once this one is closed.
        for name, registry in registries.items():
            undo.adopt(registry, [item for item in registry if not any(item is old for old in before[name])])
    return router


# LiteLLM's loggers (litellm/_logging.py): their lines quote request parameters and provider errors.
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def install_log_scrubber(scrubber: CredentialScrubber) -> None:
    """Remove ``scrubber``'s credentials from every line LiteLLM's loggers emit (once per scrubber)."""
    if not scrubber:
        return
    for name in _LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(f, "scrubber", None) is scrubber for f in logger.filters):
            logger.addFilter(scrubber.logging_filter())


def _callback_registries() -> dict[str, list[Any]]:

    litellm = litellm_module()
    names = ("callbacks", "success_callback", "failure_callback", "service_callback", "_async_success_callback",
             "_async_failure_callback", "input_callback")
    return {name: getattr(litellm, name) for name in names if isinstance(getattr(litellm, name, None), list)}


class SettingsUndo:
    """What :func:`apply_litellm_settings` changed in LiteLLM's globals and the environment, to put back."""

    def __init__(self) -> None:
        self._attributes: list[tuple[str, Any]] = []
        self._environment: list[str] = []
        self._appended: list[tuple[list[Any], Any]] = []

    def set(self, name: str, value: Any) -> None:
        """``litellm.<name> = value``, remembering the old value."""
        litellm = litellm_module()
        self._attributes.append((name, getattr(litellm, name, None)))
        setattr(litellm, name, value)

    def setenv(self, name: str, value: str) -> None:
        """Set an environment variable that is not set yet."""
        if name not in os.environ:
            os.environ[name] = value
            self._environment.append(name)

    def append(self, registry: list[Any], item: Any) -> None:
        """Append ``item`` to a LiteLLM list (callbacks, custom providers) unless it is there."""
        if not any(existing is item for existing in registry):
            registry.append(item)
            self._appended.append((registry, item))

    def adopt(self, registry: list[Any], items: list[Any]) -> None:
        """Remove ``items`` (already appended to ``registry`` by someone else) on undo."""
        self._appended += [(registry, item) for item in items]

    def __call__(self) -> None:
        """Restore everything, newest change first (a closing Loom leaves LiteLLM as it found it)."""
        litellm = litellm_module()
        for registry, item in reversed(self._appended):
            for index, existing in enumerate(registry):
                if existing is item:
                    del registry[index]
                    break
        for name, old in reversed(self._attributes):
            setattr(litellm, name, old)
        for name in self._environment:
            os.environ.pop(name, None)
        self._attributes, self._environment, self._appended = [], [], []


def apply_litellm_settings(config: LoomConfig) -> SettingsUndo:
    """Apply the config to LiteLLM's globals: settings, environment, callbacks, custom providers, cache.

    Returns the undo: call it when the Loom closes.
    """
    undo = SettingsUndo()
    settings = config.litellm_settings
    for name, value in config.environment.items():
        undo.setenv(name, value)  # the process's own environment wins
    for key, value in settings.items():
        if key in HANDLED_LITELLM_SETTINGS or key in proxy.PROXY_LITELLM_SETTINGS:
            continue
        undo.set(key, value)  # known to exist: checked at load
    if "request_timeout" in settings:
        undo.set("request_timeout", settings["request_timeout"])
    _register_callbacks(config, undo)
    _register_custom_providers(config, undo)
    if settings.get("cache"):
        undo.set("cache", _make_cache(config))
    patch_cache_hit_import()
    return undo


def _register_callbacks(config: LoomConfig, undo: SettingsUndo) -> None:
    """Import the callbacks named by ``module.attribute`` and add them as the proxy does (once each)."""
    litellm = litellm_module()
    for key in proxy.CALLBACK_KEYS:
        registry = getattr(litellm, key, None)
        if not isinstance(registry, list):
            continue
        value = config.litellm_settings.get(key)
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, str) and "." in item:
                undo.append(registry, _import_instance(item, config, f"litellm_settings.{key}[{index}]"))


def _register_custom_providers(config: LoomConfig, undo: SettingsUndo) -> None:
    """``custom_provider_map``: import each handler and register it with LiteLLM, as the proxy does."""
    litellm = litellm_module()
    providers = config.litellm_settings.get("custom_provider_map") or []
    if not providers:
        return
    registered = {item["provider"] for item in litellm.custom_provider_map}
    for index, item in enumerate(providers):
        if item["provider"] in registered:
            continue
        handler = _import_instance(item["custom_handler"], config,
                                   f"litellm_settings.custom_provider_map[{index}].custom_handler")
        undo.append(litellm.custom_provider_map, {"provider": item["provider"], "custom_handler": handler})
    from litellm.utils import custom_llm_setup

    custom_llm_setup()  # type: ignore[no-untyped-call]  # adds each provider to litellm.provider_list and its handler map


def _import_instance(reference: str, config: LoomConfig, path: str) -> Any:
    """``module.attribute``: the module next to the config file first (as the proxy), then sys.path."""
    module_name, attribute = reference.rsplit(".", 1)
    file = str(config.source) if config.source else None
    beside = Path(config.base_dir).joinpath(*module_name.split(".")).with_suffix(".py")
    try:
        if beside.is_file():
            module = sys.modules.get(f"loomllm_config_module.{beside}")
            if module is None:
                spec = importlib.util.spec_from_file_location(module_name, beside)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {beside}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[f"loomllm_config_module.{beside}"] = module
        else:
            module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except Exception as exc:
        raise ConfigError(f"cannot import {reference!r}: {type(exc).__name__}: {exc}", file=file, path=path) from None


def _router_kwargs(config: LoomConfig) -> dict[str, Any]:
    # Every key was checked against Router.__init__ at load; copied because the Router appends to lists.
    kwargs: dict[str, Any] = copy.deepcopy(config.router_settings)
    for key in ROUTER_KEYS_IN_LITELLM_SETTINGS:
        if key in config.litellm_settings and key not in kwargs:
            kwargs[key] = config.litellm_settings[key]
    if config.litellm_settings.get("cache"):
        kwargs.setdefault("cache_responses", True)
    checks = kwargs.get("optional_pre_call_checks") or []
    if "enforce_model_rate_limits" in checks and config.loom.middleware.rate_limits.enforced(kwargs):
        # loomllm's token buckets enforce rpm/tpm (and wait): one limiter, each request counted once.
        kwargs["optional_pre_call_checks"] = [c for c in checks if c != "enforce_model_rate_limits"]
    enforced = "enforce_model_rate_limits" in (kwargs.get("optional_pre_call_checks") or [])
    if _has_rate_limits(config.model_list) and (enforced or kwargs.get("routing_strategy") in _USAGE_STRATEGIES):
        kwargs.update(_redis_kwargs(config.loom.state, kwargs))
    return kwargs


def _has_rate_limits(model_list: list[dict[str, Any]]) -> bool:
    def limited(d: Mapping[str, Any]) -> bool:
        return any(d.get(k) is not None for k in ("rpm", "tpm"))

    return any(limited(dep["litellm_params"]) or limited(dep.get("model_info") or {}) or limited(dep)
               for dep in model_list)


def _redis_kwargs(state_url: str, existing: Mapping[str, Any]) -> dict[str, Any]:
    """Share the Router's rpm/tpm counters through Redis when the state store is Redis."""
    if not state_url.startswith(("redis://", "rediss://")) or existing.get("redis_url") or existing.get("redis_host"):
        return {}
    parsed = urlparse(state_url)
    out: dict[str, Any] = {"redis_host": parsed.hostname or "127.0.0.1", "redis_port": parsed.port or 6379}
    if parsed.password:
        out["redis_password"] = parsed.password
    db = parsed.path.lstrip("/")
    if db.isdigit():
        out["redis_db"] = int(db)
    return out


def _make_cache(config: LoomConfig) -> Any:
    """LiteLLM's response cache; ``cache: true`` without a type is Redis when the state is Redis, else local.

    The proxy defaults to Redis (at REDIS_HOST); a library with a ``memory://`` or ``sqlite://``
    state has no Redis to assume, so there the default is the in-process cache.
    """
    litellm = litellm_module()
    params = dict(config.litellm_settings.get("cache_params") or {})
    params.setdefault("type", "redis" if config.loom.state.startswith(("redis://", "rediss://")) else "local")
    # LiteLLM's default of 4 silently stops caching longer conversations.
    params["max_messages"] = config.loom.cache.max_messages
    if params["type"] == "disk" and importlib.util.find_spec("diskcache") is None:
        raise ConfigError("the disk cache needs the 'diskcache' package: pip install 'loomllm[disk]'",
                          file=str(config.source) if config.source else None, path="litellm_settings.cache_params.type")
    if params["type"] == "redis" and not any(k in params for k in ("host", "url", "redis_url")):
        state = config.loom.state
        if state.startswith(("redis://", "rediss://")):
            params["url"] = state
    return litellm.Cache(**params)


def patch_cache_hit_import() -> None:
    """Make response-cache hits work on a plain install of litellm 1.106.2 (litellm issue 42195).

    On every cache hit, ``caching_handler._should_defer_streaming_cache_hit_callbacks`` imports
    the Anthropic pass-through module, which imports proxy code that needs ``fastapi``. The import
    only serves an ``isinstance`` check against ``CachedAnthropicMessagesStreamIterator``; if that
    module was never imported, no cached object can be an instance of its class, so the check is
    done against the classes that are loaded. The replacement is installed only where the original
    would fail (``fastapi`` missing), and only on the version it was written for.
    """
    from litellm.caching import caching_handler

    original = getattr(caching_handler, "_should_defer_streaming_cache_hit_callbacks", None)
    if original is None or getattr(original, "_loomllm_patched", False) or _fastapi_importable():
        return

    def should_defer(*, cached_result: object) -> bool:
        from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
        from litellm.responses.streaming_iterator import BaseResponsesAPIStreamingIterator

        kinds: list[type] = [CustomStreamWrapper, BaseResponsesAPIStreamingIterator]
        anthropic = sys.modules.get("litellm.llms.anthropic.pass_through.messages.response_cache")
        if anthropic is not None:
            kinds.append(anthropic.CachedAnthropicMessagesStreamIterator)
        return isinstance(cached_result, tuple(kinds))

    should_defer._loomllm_patched = True  # type: ignore[attr-defined]
    caching_handler._should_defer_streaming_cache_hit_callbacks = should_defer


def _fastapi_importable() -> bool:
    return importlib.util.find_spec("fastapi") is not None
