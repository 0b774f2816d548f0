"""The one place loomllm imports LiteLLM and touches its process-global settings.

LiteLLM fetches its model cost map from the network at import time unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, and downloads Hugging Face tokenizers on first use unless
told not to. Both are switched off here, before the first import. litellm takes about 2 s to
import, so nothing imports it at ``import loomllm`` time: call :func:`litellm_module` on first use.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

_lock = threading.Lock()


def litellm_module() -> Any:
    """Import LiteLLM with its network-touching defaults switched off, and return the module."""
    litellm = _imported()
    # Set on every call (a call path asks several times): code that flipped them gets them back.
    litellm.disable_hf_tokenizer_download = True
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


@functools.cache
def _imported() -> Any:
    """The first import, with the environment LiteLLM reads at import time (once: it is read only then)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", os.environ.get("LITELLM_LOG", "ERROR"))
    with _lock:
        import litellm

        litellm.disable_hf_tokenizer_download = True  # before anything else in the process uses it
        return litellm


def module_base_urls() -> list[str]:
    """Base URLs set as LiteLLM module globals (``litellm.api_base``...): they override deployments."""
    litellm = litellm_module()
    return [str(v) for v in (getattr(litellm, "api_base", None), getattr(litellm, "gdc_api_base", None)) if v]


def litellm_proxy_base(kwargs: Any) -> tuple[bool, str | None]:
    """(on, base URL) of LiteLLM's "send everything to a LiteLLM proxy" mode for a request.

    ``USE_LITELLM_PROXY`` (read on every request), ``litellm.use_litellm_proxy`` or the request's
    ``use_litellm_proxy`` reroute it to ``LITELLM_PROXY_API_BASE`` unless it has an ``api_base``
    (litellm issue 10559's feature, in ``get_llm_provider``).
    """
    litellm = litellm_module()
    flag = os.environ.get("USE_LITELLM_PROXY", "").strip().lower()
    on = flag not in ("", "false", "0", "no", "off") or getattr(litellm, "use_litellm_proxy", False) is True or (
        isinstance(kwargs, dict) and kwargs.get("use_litellm_proxy") is True)
    return on, os.environ.get("LITELLM_PROXY_API_BASE") or None


def named_credential(name: Any) -> dict[str, Any]:
    """The values of a ``credential_list`` entry LiteLLM merges into a request naming it (empty if none)."""
    if not name:
        return {}
    litellm = litellm_module()
    for item in getattr(litellm, "credential_list", None) or []:
        if getattr(item, "credential_name", None) == name:
            return dict(getattr(item, "credential_values", None) or {})
    return {}


def response_cache() -> Any:
    """LiteLLM's process-wide response cache (``litellm.cache``), or None."""
    return getattr(litellm_module(), "cache", None)


def model_output_limit(model: str) -> int | None:
    """The most output tokens ``model`` can produce according to LiteLLM's (local) cost map, if known."""
    litellm = litellm_module()
    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # unknown model: LiteLLM raises
        return None
    limit = info.get("max_output_tokens") or info.get("max_tokens")
    return int(limit) if isinstance(limit, int) and limit > 0 else None


async def write_response_cache(response: Any, request: dict[str, Any]) -> None:
    """Store ``response`` in LiteLLM's response cache under the key of ``request`` (an attempt's final kwargs).

    loomllm defers this write until the output guardrail has run (the attempt told LiteLLM ``no-store``).
    """
    cache = response_cache()
    if cache is None:
        return
    control = {k: v for k, v in (request.get("cache") or {}).items() if k != "no-store"}
    await cache.async_add_cache(response, **{**request, "cache": control})


def supports_response_schema(model: str) -> bool:
    """Whether LiteLLM says ``model`` takes a JSON schema as ``response_format`` (False when unknown)."""
    try:
        return bool(litellm_module().supports_response_schema(model=model))
    except Exception:  # unknown models raise
        return False


def count_tokens(model: str, *, messages: list[dict[str, Any]] | None = None, text: str | None = None) -> int:
    """Tokens in ``messages`` or ``text`` by ``model``'s tokenizer (LiteLLM's, no download)."""
    litellm = litellm_module()
    if messages is not None:
        return int(litellm.token_counter(model=model, messages=messages))
    return int(litellm.token_counter(model=model, text=text or ""))


def response_format_of(model: type) -> Any:
    """The ``response_format`` LiteLLM sends for a pydantic model class (its JSON schema)."""
    import importlib

    convert = importlib.import_module("litellm.utils").type_to_response_format_param
    return convert(response_format=model)
