"""Caller parameters: an allowlist of typed, bounded keys; everything else is refused.

A call parameter reaches LiteLLM, and through it the provider, so each one is a way to change
what a call costs, where it goes or what it carries. Only the keys below are accepted, each with a
check of its type and range; anything else (``extra_body``, ``extra_headers``, pricing keys,
provider routing keys, ``mock_response``...) raises :class:`~loomllm.errors.ForbiddenParameter`
naming the key, unless the agent's YAML lists it in ``allow_params`` (and then the per-attempt
checks still see it: its strings are scanned, its ``max_tokens``/``n`` are counted).

Errors name the key and what is wrong with it, never the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from loomllm.errors import ForbiddenParameter

__all__ = ["ALWAYS_FORBIDDEN", "CHAT_PARAMS", "EMBEDDING_PARAMS", "RESERVED", "check_call_params"]

# Set by the call path itself.
RESERVED = frozenset({"model", "messages", "stream", "input"})

# Never accepted, not even through allow_params: they replace the configured deployment, its
# credentials, its prices or the routing (and so the hosts a call may reach).
ALWAYS_FORBIDDEN = frozenset({
    "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "organization", "client",
    "http_client", "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks",
    "model_list", "specific_deployment", "deployment_id", "mock_response", "mock_tool_calls", "mock_timeout",
    "input_cost_per_token", "output_cost_per_token", "input_cost_per_second", "output_cost_per_second",
    "cost_per_token", "custom_pricing", "model_info", "litellm_credential_name", "max_retries",
    "litellm_logging_obj", "litellm_call_id", "litellm_trace_id", "proxy_server_request", "secret_fields",
    "_skip_mcp_handler",
})
# "client": client, client_id/client_secret (Azure AD credentials); "base_url", "http_client": their variants.
_FORBIDDEN_PREFIXES = ("api_", "aws_", "vertex_", "azure_", "litellm_", "watsonx_", "vertexai_", "client", "base_url",
                       "http_client")

Check = Callable[[Any], str | None]  # None: fine; else what is wrong (never the value)

_MAX_TIMEOUT_S = 3600.0
_MAX_CACHE_TTL_S = 366 * 86400.0
_MAX_STOP = 16
_MAX_TOOLS = 512


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return "must be a finite number"
        if not low <= value <= high:
            return f"must be between {low:g} and {high:g}"
        return None

    return check


def _integer(low: int, high: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        if value < low or (high is not None and value > high):
            return f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _text(max_len: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        return None if len(value) <= max_len else f"must be at most {max_len} characters"

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _stop(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and len(value) <= _MAX_STOP and all(isinstance(v, str) for v in value):
        return None
    return f"must be a string or a list of at most {_MAX_STOP} strings"


def _mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else "must be a mapping"


def _tools(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > _MAX_TOOLS:
        return f"must be a list of at most {_MAX_TOOLS} tools"
    if not all(isinstance(t, Mapping) and t.get("type") == "function" and isinstance(t.get("function"), Mapping)
               for t in value):
        # Server-side tools (web search, code execution, MCP...) are billed per use, outside the
        # token prices a budget reserves, and MCP makes LiteLLM connect to the tool's server itself.
        return "only function tools ({type: function, function: {...}}) may be passed"
    return None


def _functions(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > _MAX_TOOLS:
        return f"must be a list of at most {_MAX_TOOLS} functions"
    if not all(isinstance(f, Mapping) and isinstance(f.get("name"), str) and "type" not in f for f in value):
        return "must be a list of function definitions (name, description, parameters)"
    return None


def _text_modalities(value: Any) -> str | None:
    # Image and audio output are priced per image or second, not by the token price a budget reserves.
    return None if value == ["text"] else "only [\"text\"] may be requested"


def _tool_choice(value: Any) -> str | None:
    return None if isinstance(value, str | Mapping) else "must be a string or a mapping"


def _response_format(value: Any) -> str | None:
    if isinstance(value, Mapping) or (isinstance(value, type) and hasattr(value, "model_json_schema")):
        return None
    return "must be a mapping or a pydantic model class"


def _logit_bias(value: Any) -> str | None:
    if not isinstance(value, Mapping) or len(value) > 1024:
        return "must be a mapping of at most 1024 entries"
    bad = [v for v in value.values() if isinstance(v, bool) or not isinstance(v, int | float) or not -100 <= v <= 100]
    return "values must be numbers between -100 and 100" if bad else None


def _stream_options(value: Any) -> str | None:
    if not isinstance(value, Mapping) or set(value) - {"include_usage"}:
        return "only include_usage may be set"
    return _boolean(value.get("include_usage", True))


def _cache(value: Any) -> str | None:
    # The namespace is the agent's (answers never cross agents); only freshness is the caller's.
    allowed = {"no-cache", "no-store", "ttl", "s-maxage"}
    if not isinstance(value, Mapping) or set(value) - allowed:
        return f"only {', '.join(sorted(allowed))} may be set"
    if any(not isinstance(value[k], bool) for k in ("no-cache", "no-store") if k in value):
        return "no-cache and no-store must be true or false"
    for key in ("ttl", "s-maxage"):
        if key in value and _number(0, _MAX_CACHE_TTL_S)(value[key]) is not None:
            return f"{key} must be a number of seconds between 0 and {_MAX_CACHE_TTL_S:g}"
    return None


def _thinking(value: Any) -> str | None:
    if not isinstance(value, Mapping) or set(value) - {"type", "budget_tokens"}:
        return "only type and budget_tokens may be set"
    budget = value.get("budget_tokens")
    return None if budget is None else _integer(1, 10**7)(budget)


def _metadata(value: Any) -> str | None:
    if not isinstance(value, Mapping) or len(value) > 64:
        return "must be a mapping of at most 64 entries"
    for key, item in value.items():
        if not isinstance(key, str) or key.startswith(("loomllm", "litellm", "model_group", "user_api_key")):
            return "keys may not start with loomllm, litellm, model_group or user_api_key"
        if not isinstance(item, str | int | float | bool) and item is not None:
            return "values must be strings, numbers or booleans"
    return None


def _budget_keys(value: Any) -> str | None:
    return None  # validated by the budget ledger before anything is sent (TypeError / ConfigError)


CHAT_PARAMS: Mapping[str, Check] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "max_tokens": _integer(1, 10**7),
    "max_completion_tokens": _integer(1, 10**7),
    "n": _integer(1, 128),
    "stop": _stop,
    "seed": _integer(-(2**63), 2**63 - 1),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "functions": _functions,
    "function_call": _tool_choice,
    "parallel_tool_calls": _boolean,
    "response_format": _response_format,
    "user": _text(256),
    "logprobs": _boolean,
    "top_logprobs": _integer(0, 20),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "logit_bias": _logit_bias,
    "reasoning_effort": _one_of("none", "minimal", "low", "medium", "high"),
    "thinking": _thinking,
    "stream_options": _stream_options,
    "timeout": _number(0.001, _MAX_TIMEOUT_S),
    "num_retries": _integer(0, 5),  # the Router's retries of the same group: every attempt is checked
    "cache": _cache,
    "caching": _boolean,  # LiteLLM's per-call cache switch; the agent's namespace still applies
    "metadata": _metadata,
    "modalities": _text_modalities,
    "prediction": _mapping,
    "top_k": _integer(1, 1000),
    "verbosity": _one_of("low", "medium", "high"),
    "budget_keys": _budget_keys,  # call-time budget scopes: read by the ledger, never sent
}

EMBEDDING_PARAMS: Mapping[str, Check] = {
    "dimensions": _integer(1, 65536),
    "encoding_format": _one_of("float", "base64"),
    "user": _text(256),
    "timeout": _number(0.001, _MAX_TIMEOUT_S),
    "metadata": _metadata,
    "budget_keys": _budget_keys,
}


_PARAMETER_NAME = re.compile(r"[a-z][a-z]*(?:_[a-z][a-z0-9]{0,15}){0,7}|[a-z]{1,6}[0-9]{0,3}")


def printable_name(key: Any) -> str:
    """``key`` as an error may name it: parameter-shaped names as they are, anything else not at all.

    A call's keyword names come from the caller (``complete(**options)``): one that is itself a
    secret must not be echoed by the error that refuses it.
    """
    if isinstance(key, str) and len(key) <= 64 and _PARAMETER_NAME.fullmatch(key):
        return key
    return "<a parameter whose name is not shown>"


def is_always_forbidden(key: str) -> bool:
    """Whether ``key`` would replace the deployment, its credentials, prices or routing."""
    return key in ALWAYS_FORBIDDEN or key.startswith(_FORBIDDEN_PREFIXES)


def check_call_params(
    params: Mapping[str, Any],
    *,
    agent: str,
    kind: str,
    allowed_extra: frozenset[str] = frozenset(),
    max_n: int | None = None,
    max_output_tokens: int | None = None,
) -> None:
    """Refuse any key not on the allowlist (or ``allowed_extra``) and any value out of its bounds.

    Raises :class:`ForbiddenParameter` naming the key; ``TypeError`` for keys the call path sets itself.
    """
    table = EMBEDDING_PARAMS if kind == "embedding" else CHAT_PARAMS
    for key, value in params.items():
        if key in RESERVED:
            raise TypeError(f"{key!r} is set by the agent and cannot be passed as a call parameter")
        if is_always_forbidden(key):
            raise ForbiddenParameter(agent=agent, parameter=printable_name(key))
        check = table.get(key)
        if check is None:
            if key in allowed_extra:
                continue
            raise ForbiddenParameter(agent=agent, parameter=printable_name(key),
                                     reason="it is not an accepted call parameter "
                                            "(list it under the agent's allow_params to permit it)")
        problem = check(value)
        if problem is None and key == "n" and max_n is not None and value > max_n:
            problem = f"must be at most {max_n} for this agent (max_n)"
        if (problem is None and key in ("max_tokens", "max_completion_tokens") and max_output_tokens is not None
                and value > max_output_tokens):
            problem = f"must be at most {max_output_tokens} (the model's output limit)"
        if problem is not None:
            raise ForbiddenParameter(agent=agent, parameter=key, reason=problem)
