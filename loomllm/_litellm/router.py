"""Building the one ``litellm.Router`` a :class:`~loomllm.Loom` owns, and LiteLLM's global settings.

LiteLLM keeps some configuration in module globals (``litellm.cache``, ``litellm.drop_params``,
callback lists). This module is the one place loomllm writes them.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from loomllm import _proxy_config as proxy
from loomllm._litellm import litellm_module
from loomllm.config import HANDLED_LITELLM_SETTINGS, ROUTER_KEYS_IN_LITELLM_SETTINGS, LoomConfig, deployment_id
from loomllm.errors import ConfigError

# Routing strategies that read the deployments' rpm/tpm counters (worth sharing through Redis).
_USAGE_STRATEGIES = {"usage-based-routing", "usage-based-routing-v2", "latency-based-routing"}


def build_router(config: LoomConfig) -> Any:
    """A Router over ``config.model_list``; every deployment's provider is checked first.

    rpm/tpm on a deployment mean what they mean under the proxy: routing weights, and limits for
    the usage-based strategies; they are hard limits only if ``router_settings`` lists
    ``optional_pre_call_checks: [enforce_model_rate_limits]`` (loomllm no longer adds it).
    """
    litellm = litellm_module()
    check_providers(config)
    kwargs = _router_kwargs(config)
    return litellm.Router(model_list=config.model_list, **kwargs)


def check_providers(config: LoomConfig) -> None:
    """A ConfigError naming the first deployment whose model LiteLLM cannot map to a provider.

    Otherwise LiteLLM accepts it and fails each call that reaches it with ``BadRequest (400)``
    (e.g. ``mistralai/mistral-7b-instruct``: the provider is ``mistral``).
    """
    litellm = litellm_module()
    file = str(config.source) if config.source else None
    for index, deployment in enumerate(config.model_list):
        params = deployment["litellm_params"]
        model = str(params["model"])
        if "*" in model:
            model = model.replace("*", "x")
        try:
            litellm.get_llm_provider(model=model, custom_llm_provider=params.get("custom_llm_provider"),
                                     api_base=params.get("api_base"))
        except Exception as exc:  # noqa: BLE001 - LiteLLM raises BadRequestError/ValueError/KeyError here
            prefix = model.split("/", 1)[0]
            providers = [getattr(p, "value", p) for p in litellm.provider_list]
            hint = proxy.nearest(prefix, providers) if "/" in model else ""
            raise ConfigError(
                f"deployment {deployment_id(deployment)!r}: LiteLLM cannot tell which provider serves model "
                f"{params['model']!r} ({type(exc).__name__}); prefix the model with its provider "
                f"(e.g. openai/..., mistral/...) or set custom_llm_provider{hint}", file=file,
                path=f"model_list[{index}].litellm_params.model") from None


def apply_litellm_settings(config: LoomConfig) -> None:
    """Apply the config to LiteLLM's globals: settings, environment, callbacks, custom providers, cache."""
    litellm = litellm_module()
    settings = config.litellm_settings
    for name, value in config.environment.items():
        os.environ.setdefault(name, value)  # the process's own environment wins
    for key, value in settings.items():
        if key in HANDLED_LITELLM_SETTINGS or key in proxy.PROXY_LITELLM_SETTINGS:
            continue
        setattr(litellm, key, value)  # known to exist: checked at load
    if "request_timeout" in settings:
        litellm.request_timeout = settings["request_timeout"]
    _register_callbacks(config)
    _register_custom_providers(config)
    if settings.get("cache"):
        litellm.cache = _make_cache(config)
    patch_cache_hit_import()


def _register_callbacks(config: LoomConfig) -> None:
    """Import the callbacks named by ``module.attribute`` and add them as the proxy does (once each)."""
    litellm = litellm_module()
    targets = {
        "callbacks": litellm.callbacks,
        "success_callback": litellm.success_callback,
        "failure_callback": litellm.failure_callback,
        "service_callback": litellm.service_callback,
    }
    for key, registry in targets.items():
        value = config.litellm_settings.get(key)
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, str) and "." in item:
                instance = _import_instance(item, config, f"litellm_settings.{key}[{index}]")
                if not any(existing is instance for existing in registry):
                    registry.append(instance)


def _register_custom_providers(config: LoomConfig) -> None:
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
        litellm.custom_provider_map.append({"provider": item["provider"], "custom_handler": handler})
    from litellm.utils import custom_llm_setup

    custom_llm_setup()


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
    except Exception as exc:  # noqa: BLE001 - an app module can fail in any way; the config names it
        raise ConfigError(f"cannot import {reference!r}: {type(exc).__name__}: {exc}", file=file, path=path) from None


def _router_kwargs(config: LoomConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(config.router_settings)  # every key checked against Router.__init__ at load
    for key in ROUTER_KEYS_IN_LITELLM_SETTINGS:
        if key in config.litellm_settings and key not in kwargs:
            kwargs[key] = config.litellm_settings[key]
    if config.litellm_settings.get("cache"):
        kwargs.setdefault("cache_responses", True)
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
