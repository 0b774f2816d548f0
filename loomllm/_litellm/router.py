"""Building the one ``litellm.Router`` a :class:`~loomllm.Loom` owns, and LiteLLM's global settings.

LiteLLM keeps some configuration in module globals (``litellm.cache``, ``litellm.drop_params``,
callback lists). This module is the one place loomllm writes them.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import structlog

from loomllm._litellm import litellm_module
from loomllm._scrub import CredentialScrubber
from loomllm.config import LoomConfig
from loomllm.errors import ConfigError

_log = structlog.get_logger("loomllm")

# litellm_settings keys that are Router arguments rather than litellm globals.
_ROUTER_KEYS_IN_LITELLM_SETTINGS = (
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "num_retries",
    "retry_after",
    "allowed_fails",
    "cooldown_time",
    "max_fallbacks",
)
_HANDLED_LITELLM_SETTINGS = {"cache", "cache_params", "request_timeout", *_ROUTER_KEYS_IN_LITELLM_SETTINGS}


def build_router(config: LoomConfig, *, metadata: Mapping[str, str] | None = None) -> Any:
    """A Router over ``config.model_list`` with loomllm's additions (stable ids, rate limits, Redis).

    ``metadata`` is added to every request the Router sends (it marks the Loom's own requests).
    """
    litellm = litellm_module()
    kwargs = _router_kwargs(config)
    if metadata:
        defaults = dict(kwargs.get("default_litellm_params") or {})
        defaults["metadata"] = {**(defaults.get("metadata") or {}), **metadata}
        kwargs["default_litellm_params"] = defaults
    return litellm.Router(model_list=config.model_list, **kwargs)


def discard_router(router: Any) -> None:
    """Unhook a Router from LiteLLM's process-global callback lists (``Router.discard``)."""
    discard = getattr(router, "discard", None)
    if callable(discard):
        discard()


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


def apply_litellm_settings(config: LoomConfig) -> None:
    """Set the ``litellm_settings`` that are LiteLLM globals (``drop_params``, ``cache``...)."""
    litellm = litellm_module()
    settings = config.litellm_settings
    for key, value in settings.items():
        if key in _HANDLED_LITELLM_SETTINGS:
            continue
        if hasattr(litellm, key):
            setattr(litellm, key, value)
        else:
            _log.warning("config.litellm_setting_ignored", key=key)
    if "request_timeout" in settings:
        litellm.request_timeout = settings["request_timeout"]
    if settings.get("cache"):
        litellm.cache = _make_cache(config)
    patch_cache_hit_import()


def _router_kwargs(config: LoomConfig) -> dict[str, Any]:
    litellm = litellm_module()
    accepted = set(inspect.signature(litellm.Router.__init__).parameters) - {"self", "model_list"}
    kwargs: dict[str, Any] = {k: v for k, v in config.router_settings.items() if k in accepted}
    for key in _ROUTER_KEYS_IN_LITELLM_SETTINGS:
        if key in config.litellm_settings and key not in kwargs:
            kwargs[key] = config.litellm_settings[key]
    if config.litellm_settings.get("cache"):
        kwargs.setdefault("cache_responses", True)
    if _has_rate_limits(config.model_list):
        checks = list(kwargs.get("optional_pre_call_checks") or [])
        if "enforce_model_rate_limits" not in checks:
            checks.append("enforce_model_rate_limits")
        kwargs["optional_pre_call_checks"] = checks
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
    litellm = litellm_module()
    params = dict(config.litellm_settings.get("cache_params") or {})
    params.setdefault("type", "local")
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
