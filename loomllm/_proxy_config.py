"""What a LiteLLM proxy ``config.yaml`` carries beyond ``model_list``: run it, or say it is ignored.

A proxy config loads into loomllm unchanged. The features a library can provide work as the proxy
runs them: ``include:`` files, ``credential_list`` + ``litellm_credential_name``,
``environment_variables:``, custom callback and provider classes named by import path. The
features that belong to the proxy server (its admin database, alerting, CORS, health checks, its
own guardrail and budget systems, logging integrations that ship call data to other hosts) are
not run: :func:`ignored_features` lists each one, :func:`~loomllm.config.load_config` emits one
:class:`~loomllm.errors.ConfigWarning` naming them all, and ``strict=True`` refuses them.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loomllm._config_yaml import DuplicateKey, load_yaml_document, read_config_text
from loomllm.errors import ConfigError

__all__ = [
    "CALLBACK_KEYS",
    "HANDLED_SECTIONS",
    "PROXY_LITELLM_SETTINGS",
    "PROXY_ONLY_SECTIONS",
    "apply_credentials",
    "builtin_callbacks",
    "check_import_path",
    "environment_overlay",
    "ignored_features",
    "nearest",
    "resolve_includes",
]

# Top-level sections that configure the proxy server: loaded, listed as ignored, never run.
PROXY_ONLY_SECTIONS: Mapping[str, str] = {
    "general_settings": "proxy server settings (master key, database, spend logs)",
    "guardrails": "the proxy's guardrails; use loomllm.guardrails",
    "alerting": "proxy alerting",
    "health_check": "proxy health checks",
    "cors_settings": "proxy CORS",
    "environment": "proxy deployment label",
    "finetune_settings": "proxy /fine_tuning endpoints",
    "files_settings": "proxy /files endpoints",
    "assistant_settings": "proxy /assistants endpoints",
    "callback_settings": "proxy callback settings",
    "mcp_servers": "proxy MCP gateway",
    "mcp_tools": "proxy MCP gateway",
    "search_tools": "proxy search tools",
    "vector_store_registry": "proxy vector stores",
    "prompts": "proxy prompt management; use loomllm prompt templates",
    "pass_through_endpoints": "proxy pass-through routes",
    "litellm_proxy_settings": "proxy settings",
}
# Top-level sections loomllm runs as the proxy does.
HANDLED_SECTIONS = frozenset({"include", "credential_list", "environment_variables"})

# litellm_settings keys only the proxy server reads (its users, teams, keys, budgets, debug flags).
PROXY_LITELLM_SETTINGS: Mapping[str, str] = {
    **dict.fromkeys(
        ("max_budget", "budget_duration", "max_internal_user_budget", "internal_user_budget_duration",
         "default_max_internal_user_budget", "max_end_user_budget", "max_ui_session_budget",
         "budget_reset_time"), "proxy budgets; use loomllm.budgets"),
    **dict.fromkeys(
        ("default_team_settings", "default_internal_user_params", "default_key_generate_params",
         "upperbound_key_generate_params", "key_generation_settings", "key_alias_pattern",
         "default_team_params", "public_teams", "public_model_groups", "public_model_groups_links",
         "scim_upsert_user", "scim_admin_group", "enable_jwt_auth"), "proxy users, teams and keys"),
    **dict.fromkeys(("debug", "detailed_debug", "json_logs", "telemetry"), "proxy logging flags"),
    **dict.fromkeys(("audit_log_callbacks", "store_audit_logs"), "proxy audit logs"),
    "guardrails": "the proxy's guardrails; use loomllm.guardrails",
    "presidio_logging_only": "the proxy's guardrails; use loomllm.guardrails",
    "enable_redis_auth_cache": "proxy auth cache",
    "priority_reservation_settings": "proxy request priorities",
    "responses": "proxy background responses",
    "global_prompt_directory": "proxy prompt management",
    "global_bitbucket_config": "proxy prompt management",
    "global_gitlab_config": "proxy prompt management",
    "cost_discount_config": "proxy cost tracking",
    "cost_margin_config": "proxy cost tracking",
    "s3_callback_params": "logging integration settings",
    "s3_audit_callback_params": "logging integration settings",
}
CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback", "service_callback",
                 "input_callback", "_async_success_callback", "_async_failure_callback")


def nearest(name: str, candidates: Any) -> str:
    """``; did you mean 'x'?`` for the closest candidate (to end a message with), or an empty string."""
    match = difflib.get_close_matches(name, sorted(str(c) for c in candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


# --- include ------------------------------------------------------------------------------------


def resolve_includes(raw: dict[str, Any], source: Path | None, file: str,
                     on_duplicates: Callable[[str, list[DuplicateKey]], None],
                     origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge the files named by ``include:`` as the proxy does: lists are extended, other sections added.

    Paths are relative to the file that names them; a file included twice is read once. A section
    other than a list that two files both define is an error (the proxy would silently keep the
    included one). ``origins`` receives, for each section other than a list taken from an included
    file, that file's name (so that errors in it name the file it is written in).
    """
    seen = {source.resolve()} if source else set()
    return _merge_includes(raw, source, file, seen, on_duplicates, {} if origins is None else origins)


def _merge_includes(raw: dict[str, Any], source: Path | None, file: str, seen: set[Path],
                    on_duplicates: Callable[[str, list[DuplicateKey]], None],
                    origins: dict[str, str]) -> dict[str, Any]:
    entries = raw.pop("include", None) or []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError("must be a list of file names", file=file, path="include")
    base = source.parent if source else Path.cwd()
    for index, entry in enumerate(entries):
        path = (base / entry).resolve()
        if path in seen:
            continue
        seen.add(path)
        if not path.is_file():
            raise ConfigError(f"included file {entry!r} not found (looked in {base})", file=file,
                              path=f"include[{index}]")
        included_file = str(path)
        included, duplicates = load_yaml_document(read_config_text(path), included_file)
        if not isinstance(included, dict):
            raise ConfigError("an included file must be a mapping", file=included_file)
        on_duplicates(included_file, duplicates)
        included = _merge_includes(included, path, included_file, seen, on_duplicates, origins)
        _merge_into(raw, included, file, included_file, origins)
    return raw


def _merge_into(raw: dict[str, Any], included: Mapping[str, Any], file: str, included_file: str,
                origins: dict[str, str]) -> None:
    for key, value in included.items():
        if key not in raw or raw[key] is None:
            raw[key] = value
            if not isinstance(value, list):
                origins.setdefault(str(key), included_file)
        elif isinstance(raw[key], list) and isinstance(value, list):
            raw[key] = [*raw[key], *value]
        else:
            raise ConfigError(f"also defined in included file {included_file}: define it in one file only",
                              file=file, path=str(key))


# --- credentials and environment ------------------------------------------------------------------


def apply_credentials(model_list: list[Any], credential_list: Any, file: str) -> list[Any]:
    """Fill each deployment's ``litellm_credential_name`` from ``credential_list`` (its own keys win).

    LiteLLM does the same at call time (``load_credentials_from_list``) but warns and sends the
    request without credentials when the name is unknown; here that is a ConfigError, and the
    merged parameters are what egress and missing-credential checks see.
    """
    credentials = _credentials_by_name(credential_list, file)
    out = []
    for index, entry in enumerate(model_list):
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        name = params.get("litellm_credential_name") if isinstance(params, dict) else None
        if name is None or not isinstance(params, dict):
            out.append(entry)
            continue
        if name not in credentials:
            known = ", ".join(sorted(credentials)) or "none defined in credential_list"
            raise ConfigError(f"unknown credential {name!r} (known: {known}){nearest(str(name), credentials)}",
                              file=file, path=f"model_list[{index}].litellm_params.litellm_credential_name")
        merged = {**credentials[name], **{k: v for k, v in params.items() if k != "litellm_credential_name"}}
        out.append({**entry, "litellm_params": merged})
    return out


def _credentials_by_name(credential_list: Any, file: str) -> dict[str, dict[str, Any]]:
    if credential_list is None:
        return {}
    if not isinstance(credential_list, list):
        raise ConfigError("must be a list of credentials", file=file, path="credential_list")
    out: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(credential_list):
        path = f"credential_list[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("credential_name"), str):
            raise ConfigError("each credential needs a credential_name", file=file, path=path)
        values = item.get("credential_values") or {}
        if not isinstance(values, dict):
            raise ConfigError("must be a mapping", file=file, path=f"{path}.credential_values")
        if item["credential_name"] in out:
            raise ConfigError(f"credential {item['credential_name']!r} is defined twice", file=file, path=path)
        out[item["credential_name"]] = dict(values)
    return out


def environment_overlay(raw: Any, file: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``environment_variables:`` as strings; ``os.environ/NAME`` values read from ``environ``.

    The variables are visible to every ``os.environ/`` and ``${}`` reference in the config, and are
    set in the process environment (unless already set there) when the Router is built, so that
    LiteLLM's own lookups (REDIS_HOST, AWS_REGION_NAME...) see them, as under the proxy.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping of variable names to values", file=file, path="environment_variables")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        text = str(value)
        if text.startswith("os.environ/"):
            name = text[len("os.environ/"):]
            if name not in environ:
                continue  # the proxy skips an unset reference too
            text = environ[name]
        out[str(key)] = text
    return out


# --- callbacks ------------------------------------------------------------------------------------


def builtin_callbacks(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, name) of each string-named LiteLLM logging integration (``langfuse``, ``prometheus``...)."""
    out = []
    for key in CALLBACK_KEYS:
        value = settings.get(key)
        for item in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
            if isinstance(item, str) and "." not in item:
                out.append((key, item))
    return out


def check_import_path(value: Any, base_dir: Path, file: str, path: str) -> None:
    """A ``module.attribute`` reference the proxy would import: it must exist (it is imported at build)."""
    if not isinstance(value, str) or "." not in value:
        raise ConfigError(f"must be 'module.attribute', not {value!r}", file=file, path=path)
    module = value.rsplit(".", 1)[0]
    beside_config = base_dir.joinpath(*module.split(".")).with_suffix(".py")
    if beside_config.is_file():
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"cannot import {module!r} (for {value!r}): not next to the config ({base_dir}) "
                          "nor on the Python path", file=file, path=path)


# --- ignored features -----------------------------------------------------------------------------


def ignored_features(raw: Mapping[str, Any], litellm_settings: Mapping[str, Any],
                     ignored_duplicates: list[DuplicateKey]) -> list[str]:
    """One line per proxy-only feature the config uses that loomllm does not run."""
    out = [f"{name}: {why}" for name, why in PROXY_ONLY_SECTIONS.items() if raw.get(name) is not None]
    out += [f"litellm_settings.{key}: {why}" for key, why in PROXY_LITELLM_SETTINGS.items()
            if key in litellm_settings]
    builtins: dict[str, list[str]] = {}
    for key, name in builtin_callbacks(litellm_settings):
        builtins.setdefault(key, []).append(name)
    out += [f"litellm_settings.{key}: {', '.join(names)} (LiteLLM logging integrations send call data to "
            "hosts outside the egress policy; register a CustomLogger by import path instead)"
            for key, names in builtins.items()]
    out += [f"{d.path}: defined twice (lines {d.first_line} and {d.second_line}); the proxy keeps the last"
            for d in ignored_duplicates]
    return out
