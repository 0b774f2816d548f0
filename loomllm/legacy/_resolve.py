"""How a legacy object finds its Loom, its model group and its agent.

Legacy code never held a :class:`~loomllm.Loom`, so a wrapper takes one from ``loom=``, else
builds (once per config file, per process) a default one from the legacy config key
``loomllm_config``, else ``$LOOMLLM_CONFIG``, else ``config/loomllm.yaml``.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from loomllm.config import deployment_id
from loomllm.errors import ConfigError, MissingCredentials

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = [
    "DEFAULT_AGENT",
    "ConfigSource",
    "check_credentials",
    "close_default_looms",
    "config_value",
    "default_loom",
    "embedding_group",
    "first_chat_group",
    "group_for_model",
    "group_for_provider",
    "legacy_agent",
    "model_name",
    "resolve_loom",
]

DEFAULT_AGENT = "legacy"
"""The agent name legacy calls are made as unless told otherwise (budgets, guardrails, logs use it)."""

PROVIDER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "chatgpt": ("openai", "azure"),
    "openai": ("openai", "azure"),
    "claude": ("anthropic", "bedrock", "vertex_ai"),
    "anthropic": ("anthropic",),
    "gemini": ("gemini", "vertex_ai"),
    "ollama": ("ollama", "ollama_chat"),
}
"""Legacy provider names -> LiteLLM providers whose deployments serve them (first match wins)."""


@runtime_checkable
class ConfigSource(Protocol):
    """What legacy code passed as ``config_manager``: anything with ``get(key, default=None)``."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""


def config_value(config: ConfigSource | Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """``config.get(key, default)`` for a legacy config manager, a dict or ``None``."""
    if config is None:
        return default
    return config.get(key, default)


class _DefaultLooms:
    """The process-wide Looms of legacy code, one per config file; closed at interpreter exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._looms: dict[Path, Loom] = {}

    def get(self, path: Path) -> Loom:
        from loomllm._runtime import Loom

        key = path.resolve()
        with self._lock:
            loom = self._looms.get(key)
            if loom is None:
                loom = self._looms[key] = Loom(key)
            return loom

    def close_all(self) -> None:
        with self._lock:
            looms, self._looms = list(self._looms.values()), {}
        for loom in looms:
            loom.close()


_DEFAULTS = _DefaultLooms()
atexit.register(_DEFAULTS.close_all)


def default_loom(config: str | os.PathLike[str] | None = None) -> Loom:
    """The shared Loom for ``config`` (default ``$LOOMLLM_CONFIG``, else ``config/loomllm.yaml``).

    Built on first use and reused by every legacy object naming the same file.
    """
    from loomllm._runtime import config_path

    return _DEFAULTS.get(config_path(config))


def close_default_looms() -> None:
    """Close every Loom :func:`default_loom` built (also done at interpreter exit)."""
    _DEFAULTS.close_all()


def resolve_loom(loom: Loom | None, config: ConfigSource | Mapping[str, Any] | None = None) -> Loom:
    """``loom`` if given, else the default Loom of the legacy config's ``loomllm_config`` key."""
    if loom is not None:
        return loom
    return default_loom(config_value(config, "loomllm_config"))


# --- model groups --------------------------------------------------------------------------------


def _provider(deployment: Mapping[str, Any]) -> str:
    params = deployment["litellm_params"]
    explicit = params.get("custom_llm_provider")
    if explicit:
        return str(explicit)
    model = str(params["model"])
    if "/" in model:
        return model.split("/", 1)[0]
    from loomllm._litellm import litellm_module

    try:
        return str(litellm_module().get_llm_provider(model=model)[1])
    except Exception:  # LiteLLM raises a bare exception for models it cannot place
        return ""


def _is_embedding(deployment: Mapping[str, Any]) -> bool:
    info = deployment.get("model_info") or {}
    return info.get("mode") == "embedding" or "embedding" in str(deployment["litellm_params"]["model"])


def group_for_provider(loom: Loom, provider: str) -> str:
    """The model group for a legacy provider name ("chatgpt", "claude", ...) or a group name.

    A provider maps to the first chat group (in ``model_list`` order) whose first deployment is on
    one of that provider's LiteLLM backends.
    """
    groups = loom.config.groups
    if provider in groups:
        return provider
    backends = PROVIDER_ALIASES.get(provider.lower())
    if backends is None:
        raise _unknown(loom, f"unknown llm_provider {provider!r}: use one of {sorted(PROVIDER_ALIASES)} "
                             "or a model group name", groups)
    for name, deployments in groups.items():
        if not _is_embedding(deployments[0]) and _provider(deployments[0]) in backends:
            return name
    raise _unknown(loom, f"no model group serves llm_provider {provider!r} (looked for {', '.join(backends)} "
                         "deployments)", groups)


def first_chat_group(loom: Loom) -> str:
    """The first model group in ``model_list`` that is not an embedding group."""
    for name, deployments in loom.config.groups.items():
        if not _is_embedding(deployments[0]):
            return name
    raise _unknown(loom, "model_list has no chat model group", loom.config.groups)


def embedding_group(loom: Loom, model: str | None, provider: str | None = None) -> str:
    """The embedding group for ``model`` (a group or served model), else ``provider``'s, else the first one."""
    if model:
        return group_for_model(loom, model)
    embedding_groups = [(name, deps) for name, deps in loom.config.groups.items() if _is_embedding(deps[0])]
    backends = PROVIDER_ALIASES.get((provider or "").lower(), ())
    for name, deployments in embedding_groups:
        if _provider(deployments[0]) in backends:
            return name
    if embedding_groups:
        return embedding_groups[0][0]
    raise _unknown(loom, "model_list has no embedding model group (model_info.mode: embedding)", loom.config.groups)


def group_for_model(loom: Loom, model: str) -> str:
    """The model group named ``model``, else the first group with a deployment of that model."""
    groups = loom.config.groups
    if model in groups:
        return model
    for name, deployments in groups.items():
        for deployment in deployments:
            served = str(deployment["litellm_params"]["model"])
            if model in (served, served.split("/", 1)[-1]):
                return name
    raise _unknown(loom, f"no model group serves model {model!r}: add a deployment of it to model_list", groups)


def _unknown(loom: Loom, problem: str, groups: Mapping[str, Any]) -> ConfigError:
    known = ", ".join(sorted(groups)) or "none"
    source = str(loom.config.source) if loom.config.source else None
    return ConfigError(f"{problem} (known groups: {known})", file=source, path="model_list")


def model_name(loom: Loom, group: str) -> str:
    """The model a group's first deployment serves, without LiteLLM's provider prefix (``gpt-4o``)."""
    served = str(loom.config.groups[group][0]["litellm_params"]["model"])
    return served.split("/", 1)[-1]


def check_credentials(loom: Loom, group: str) -> None:
    """Raise :class:`MissingCredentials` naming the variable if no deployment of ``group`` has its key."""
    deployments = loom.config.groups[group]
    missing = [(deployment_id(d), loom.config.missing_env.get(deployment_id(d))) for d in deployments]
    if all(variables for _, variables in missing):
        deployment, variables = missing[0]
        source = str(loom.config.source) if loom.config.source else None
        raise MissingCredentials(deployment=deployment, variable=cast(list[str], variables)[0], file=source)


# --- agents --------------------------------------------------------------------------------------


def legacy_agent(loom: Loom, name: str, group: str | None, *, embedding_model: str | None = None,
                 system_prompt: str | None = None) -> UnifiedAgent:
    """The agent a legacy object calls through.

    An agent defined in the YAML file is used as configured (its model group must then agree with
    the one the legacy call asked for). Otherwise a code-defined agent ``name`` is made on
    ``group``; team and global budgets, the default guardrail profile and the default egress
    policy apply to it like to any agent.
    """
    from ._unified import LegacyAgent

    spec = loom.config.loom.agents.get(name)
    if spec is not None:
        if group is not None and spec.model != group:
            raise ConfigError(f"agent {name!r} uses model group {spec.model!r} but the legacy call asks for "
                              f"{group!r}: give the legacy object another agent name", path=f"loomllm.agents.{name}")
        return loom.agent(name, LegacyAgent)
    if group is None:
        known = ", ".join(loom.agent_names()) or "none"
        raise ConfigError(f"unknown agent {name!r} and no model given (known agents: {known})",
                          path="loomllm.agents")
    attributes = {"model": group, "embedding_model": embedding_model, "system_prompt": system_prompt}
    agent_class = type("LegacyAgent", (LegacyAgent,), attributes)
    return cast("UnifiedAgent", agent_class(loom, name=name))
