"""Loading and validating a loomllm YAML file.

The sections ``model_list``, ``router_settings`` and ``litellm_settings`` mean what they mean in a
LiteLLM proxy ``config.yaml``, so an existing proxy config loads unchanged. loomllm's own policy
lives under a top-level ``loomllm:`` key, validated strictly: an unknown key there is an error,
because a typo must never silently switch a policy off.

Every error names the file and the key path, e.g.
``config/loomllm.yaml: loomllm.agents.planner.model: unknown model group 'smrt' (known: fast, smart)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from loomllm._base import StrictModel
from loomllm._budget.config import BudgetsConfig
from loomllm._content_policy.config import OutputPolicySection
from loomllm._egress.config import EgressConfig
from loomllm._guardrails.config import GuardrailsConfig
from loomllm._middleware.config import MiddlewareConfig
from loomllm._telemetry.config import TelemetryConfig
from loomllm.errors import ConfigError

__all__ = ["AgentConfig", "LoomConfig", "LoomSection", "load_config"]

# Top-level keys a LiteLLM proxy config may carry. loomllm reads the first three and ignores the
# rest (they configure the proxy server), so a proxy config loads unchanged; any other key is a typo.
_READ_SECTIONS = {"model_list", "router_settings", "litellm_settings", "loomllm"}
_PROXY_ONLY_SECTIONS = {
    "general_settings",
    "environment_variables",
    "credential_list",
    "guardrails",
    "mcp_servers",
    "mcp_tools",
    "search_tools",
    "vector_store_registry",
    "files_settings",
    "finetune_settings",
    "assistant_settings",
    "callback_settings",
    "include",
    "prompts",
    "pass_through_endpoints",
    "litellm_proxy_settings",
}
# Caller parameters that would bypass the configured deployments.
FORBIDDEN_CALL_PARAMS = frozenset({
    "api_base", "base_url", "api_key", "custom_llm_provider", "api_version",
    # Routing is configuration: a call may not widen its own reach (and so its price or its hosts).
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "model_list",
    "specific_deployment", "mock_response", "client", "http_client", "organization", "deployment_id",
})
# Prefixes of LiteLLM arguments that carry credentials, clients or destinations of their own.
_FORBIDDEN_PREFIXES = ("api_", "aws_", "vertex_", "azure_", "litellm_", "client", "http_client", "base_url")
# Arguments the call path sets itself.
RESERVED_CALL_PARAMS = frozenset({"model", "messages", "stream", "input"})


def is_forbidden_param(name: str) -> bool:
    """Whether a call parameter would bypass the configured deployments (credentials, hosts, routing)."""
    return name in FORBIDDEN_CALL_PARAMS or name.startswith(_FORBIDDEN_PREFIXES)

_ENV_PREFIX = "os.environ/"
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MISSING_PREFIX = "loomllm-missing-env:"


class AgentConfig(StrictModel):
    """One agent: which model group it talks to, how it is prompted, which policies bind it."""

    model: str = Field(description="Model group (a model_name in model_list).")
    description: str | None = None
    system_prompt: str | None = None
    prompt_file: str | None = None
    prompt: str | None = Field(default=None, description="Template reference, 'name' or 'name@version'.")
    embedding_model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = None
    timeout: float | None = Field(default=None, gt=0)
    params: dict[str, Any] = Field(default_factory=dict, description="Other default call parameters.")
    budget: str | None = None
    guardrails: str | None = None
    egress: str | None = None
    cache: bool = True

    @field_validator("params")
    @classmethod
    def _no_bypass_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k in value if is_forbidden_param(k) or k in RESERVED_CALL_PARAMS)
        if bad:
            raise ValueError(f"{', '.join(bad)} may not be set per agent: configure it on the deployment")
        return value

    def default_params(self) -> dict[str, Any]:
        """The call parameters this agent sends unless the caller overrides them."""
        fixed = {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p,
                 "timeout": self.timeout}
        return {**{k: v for k, v in fixed.items() if v is not None}, **self.params}


class LoggingConfig(StrictModel):
    """How loomllm's structlog events are rendered."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"
    attempts: bool = Field(default=True, description="Also log one event per Router attempt.")


class CacheOptions(StrictModel):
    """loomllm's additions to LiteLLM's response cache (configured in ``litellm_settings.cache``)."""

    scope: Literal["agent", "shared"] = Field(
        default="agent", description="'agent' namespaces cache keys per agent; 'shared' lets agents share answers."
    )
    max_messages: int | None = Field(
        default=None, description="Longest conversation that is cached (LiteLLM's default of 4 is lifted)."
    )


class LoomSection(StrictModel):
    """The top-level ``loomllm:`` section."""

    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    state: str = Field(default="memory://", description="memory://, sqlite:///path or redis://host:port/db")
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    cache: CacheOptions = Field(default_factory=CacheOptions)
    prompts_dir: str | None = Field(default=None, description="Directory of prompt templates.")
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    egress: EgressConfig = Field(default_factory=EgressConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    output_policy: OutputPolicySection = Field(default_factory=OutputPolicySection)
    middleware: MiddlewareConfig = Field(default_factory=MiddlewareConfig)

    @field_validator("state")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(memory|sqlite|redis|rediss)://", value):
            scheme = value.split("://", 1)[0] if "://" in value else "(none)"
            # The URL itself is not echoed: it may carry a password.
            raise ValueError(f"unsupported state URL scheme {scheme!r} (use memory://, sqlite:///path or "
                             "redis://host:port/db)")
        return value


class _LiteLLMParams(StrictModel):
    """The part of a deployment's litellm_params loomllm must understand; the rest passes through."""

    model_config = {**StrictModel.model_config, "extra": "allow"}
    model: str


class _Deployment(StrictModel):
    model_config = {**StrictModel.model_config, "extra": "allow"}
    model_name: str
    litellm_params: _LiteLLMParams
    model_info: dict[str, Any] = Field(default_factory=dict)


@dataclass
class LoomConfig:
    """A validated configuration: LiteLLM's sections as plain dicts, loomllm's as typed models."""

    model_list: list[dict[str, Any]]
    router_settings: dict[str, Any]
    litellm_settings: dict[str, Any]
    loom: LoomSection
    source: Path | None = None
    ignored_sections: list[str] = field(default_factory=list)
    missing_env: dict[str, list[str]] = field(default_factory=dict)
    """deployment id -> environment variables it references that are not set."""

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config resolve against."""
        return self.source.parent if self.source else Path.cwd()

    @property
    def groups(self) -> dict[str, list[dict[str, Any]]]:
        """Model group name -> its deployments, in config order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for dep in self.model_list:
            out.setdefault(dep["model_name"], []).append(dep)
        return out

    @property
    def fallbacks(self) -> dict[str, list[str]]:
        """Model group -> groups tried after it (all fallback kinds: general, context window, content policy)."""
        out: dict[str, list[str]] = {}
        for entries in _fallback_lists(self.router_settings, self.litellm_settings):
            for group, targets in entries:
                out.setdefault(group, [])
                out[group] += [t for t in targets if t not in out[group]]
        return out

    @property
    def default_fallbacks(self) -> list[str]:
        """Groups the Router tries after any group that has no fallbacks of its own."""
        out: list[str] = []
        for section in (self.router_settings, self.litellm_settings):
            value = section.get("default_fallbacks") or []
            out += [str(g) for g in (value if isinstance(value, list) else [value]) if str(g) not in out]
        return out

    def reachable_groups(self, group: str) -> list[str]:
        """``group`` followed by every group its fallbacks can reach, transitively, without repeats."""
        order: list[str] = []
        pending = [group]
        fallbacks = self.fallbacks
        while pending:
            current = pending.pop(0)
            if current in order:
                continue
            order.append(current)
            pending += fallbacks.get(current, []) + fallbacks.get("*", []) + self.default_fallbacks
        return order

    def reachable_deployments(self, agent: str | AgentConfig) -> list[dict[str, Any]]:
        """Every deployment a call from ``agent`` can land on (its group, fallbacks, embeddings)."""
        spec = self.loom.agents[agent] if isinstance(agent, str) else agent
        groups = self.groups
        names = self.reachable_groups(spec.model)
        if spec.embedding_model:
            names += [g for g in self.reachable_groups(spec.embedding_model) if g not in names]
        return [dep for name in names for dep in groups.get(name, [])]

    def agent_policies(self, kind: Literal["budget", "guardrails", "egress"]) -> dict[str, str | None]:
        """Agent name -> the policy name of ``kind`` it uses (after section defaults)."""
        default = {"budget": None, "guardrails": self.loom.guardrails.default, "egress": self.loom.egress.default}[kind]
        return {name: getattr(spec, kind) or default for name, spec in self.loom.agents.items()}


def load_config(path: str | os.PathLike[str]) -> LoomConfig:
    """Read, resolve and validate a YAML config file. Raises :class:`ConfigError` naming file and key."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror or exc}", file=str(source)) from None
    return parse_config(text, source=source)


def parse_config(text: str, *, source: Path | None = None) -> LoomConfig:
    """Validate a YAML document (``source`` is only used in error messages and for relative paths)."""
    file = str(source) if source else "<config>"
    raw = _parse_yaml(text, file)
    ignored = _check_top_level(raw, file)
    loom_raw = _resolve_env_strict(raw.get("loomllm") or {}, file, "loomllm")
    model_list, missing = _resolve_deployments(raw.get("model_list") or [], file)
    router_settings = _resolve_env_strict(raw.get("router_settings") or {}, file, "router_settings")
    litellm_settings = _resolve_env_strict(raw.get("litellm_settings") or {}, file, "litellm_settings")
    _check_mapping(router_settings, file, "router_settings")
    _check_mapping(litellm_settings, file, "litellm_settings")
    try:
        loom = LoomSection.model_validate(loom_raw)
    except ValidationError as exc:
        raise _config_error(exc, file, prefix="loomllm") from None
    config = LoomConfig(
        model_list=model_list,
        router_settings=router_settings,
        litellm_settings=litellm_settings,
        loom=loom,
        source=source,
        ignored_sections=ignored,
        missing_env=missing,
    )
    _check_references(config, file)
    return config


def deployment_id(deployment: Mapping[str, Any]) -> str:
    """A deployment's stable id: ``model_info.id`` if set, else ``group/model`` (what logs and errors show)."""
    info = deployment.get("model_info") or {}
    if info.get("id"):
        return str(info["id"])
    return f"{deployment['model_name']}/{deployment['litellm_params']['model']}"


# --- parsing -----------------------------------------------------------------------------------


def _parse_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{where}malformed YAML: {exc.problem or exc.context}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", file=file) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"the document must be a mapping, not {type(raw).__name__}", file=file)
    return raw


def _check_top_level(raw: Mapping[str, Any], file: str) -> list[str]:
    unknown = sorted(k for k in raw if k not in _READ_SECTIONS | _PROXY_ONLY_SECTIONS)
    if unknown:
        known = ", ".join(sorted(_READ_SECTIONS))
        raise ConfigError(f"unknown top-level key {unknown[0]!r} (loomllm reads: {known})", file=file, path=unknown[0])
    return sorted(k for k in raw if k in _PROXY_ONLY_SECTIONS)


def _check_mapping(value: Any, file: str, path: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping, not {type(value).__name__}", file=file, path=path)


def _resolve_deployments(raw: Any, file: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    if not isinstance(raw, list):
        raise ConfigError(f"must be a list of deployments, not {type(raw).__name__}", file=file, path="model_list")
    deployments: list[dict[str, Any]] = []
    missing: dict[str, list[str]] = {}
    for index, entry in enumerate(raw):
        path = f"model_list[{index}]"
        try:
            _Deployment.model_validate(entry)
        except ValidationError as exc:
            raise _config_error(exc, file, prefix=path) from None
        unset: list[str] = []

        def note_missing(name: str, _where: str, unset: list[str] = unset) -> None:
            unset.append(name)

        resolved = _resolve_env(entry, path, on_missing=note_missing)
        # A stable id the Router, logs, budgets and egress verdicts all agree on.
        resolved["model_info"] = {**(resolved.get("model_info") or {}), "id": deployment_id(resolved)}
        deployments.append(resolved)
        if unset:
            missing[deployment_id(resolved)] = sorted(set(unset))
    return deployments, missing


def _resolve_env_strict(value: Any, file: str, path: str) -> Any:
    unset: list[tuple[str, str]] = []
    resolved = _resolve_env(value, path, on_missing=lambda name, where: unset.append((name, where)))
    if unset:
        name, where = unset[0]
        raise ConfigError(f"environment variable {name} is not set", file=file, path=where)
    return resolved


def _resolve_env(value: Any, path: str, *, on_missing: Callable[[str, str], None]) -> Any:
    """Resolve ``os.environ/NAME`` and ``${NAME}`` everywhere in ``value`` (``path`` is its key path).

    A missing variable becomes the marker ``loomllm-missing-env:NAME`` (LiteLLM would silently use
    None) so that the deployment fails with a clear error when it is first needed.
    """
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{path}.{k}", on_missing=on_missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", on_missing=on_missing) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> str:
        if name in os.environ:
            return os.environ[name]
        on_missing(name, path)
        return MISSING_PREFIX + name

    if value.startswith(_ENV_PREFIX):
        return lookup(value[len(_ENV_PREFIX) :])
    return _ENV_PATTERN.sub(lambda match: lookup(match.group(1)), value)


def missing_env_vars(litellm_params: Mapping[str, Any]) -> list[str]:
    """Environment variables a (resolved) deployment needed but did not find."""
    return sorted(
        {v[len(MISSING_PREFIX) :] for v in _iter_strings(litellm_params) if v.startswith(MISSING_PREFIX)}
    )


def _iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _iter_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _iter_strings(v)


# --- cross references --------------------------------------------------------------------------


def _fallback_lists(*sections: Mapping[str, Any]) -> Iterator[list[tuple[str, list[str]]]]:
    for section in sections:
        for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
            entries = section.get(key) or []
            pairs: list[tuple[str, list[str]]] = []
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    pairs += [(str(g), [str(t) for t in (ts if isinstance(ts, list) else [ts])])
                              for g, ts in entry.items()]
            yield pairs


def _check_references(config: LoomConfig, file: str) -> None:
    groups = config.groups
    known = ", ".join(sorted(groups)) or "none"
    for section_name, section in (("router_settings", config.router_settings),
                                  ("litellm_settings", config.litellm_settings)):
        for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks"):
            entries = section.get(key) or []
            for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
                names = [entry] if isinstance(entry, str) else [
                    n for g, ts in (entry.items() if isinstance(entry, dict) else []) for n in
                    ([g] if g != "*" else []) + (ts if isinstance(ts, list) else [ts])]
                for name in names:
                    if name not in groups:
                        raise ConfigError(f"unknown model group {name!r} (known: {known})",
                                          file=file, path=f"{section_name}.{key}[{index}]")
    for name, agent in config.loom.agents.items():
        check_agent_spec(config, name, agent, file=file)


def check_agent_spec(config: LoomConfig, name: str, agent: AgentConfig, *, file: str | None) -> None:
    """An agent's model groups and policy names exist (YAML agents at load, code agents when created)."""
    groups = config.groups
    known = ", ".join(sorted(groups)) or "none"
    base = f"loomllm.agents.{name}"
    for attr in ("model", "embedding_model"):
        group = getattr(agent, attr)
        if group is not None and group not in groups:
            raise ConfigError(f"unknown model group {group!r} (known: {known})", file=file, path=f"{base}.{attr}")
    _check_policy_name(agent.budget, config.loom.budgets.policies, file, f"{base}.budget")
    _check_policy_name(agent.guardrails, config.loom.guardrails.profiles, file, f"{base}.guardrails")
    _check_policy_name(agent.egress, config.loom.egress.policies, file, f"{base}.egress")


def _check_policy_name(name: str | None, known: Mapping[str, Any], file: str | None, path: str) -> None:
    if name is not None and name not in known:
        names = ", ".join(sorted(known)) or "none defined"
        raise ConfigError(f"unknown policy {name!r} (known: {names})", file=file, path=path)


def _config_error(exc: ValidationError, file: str, *, prefix: str) -> ConfigError:
    """Turn pydantic's report into a ConfigError naming the key path of every problem."""
    problems = []
    for detail in exc.errors():
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in detail["loc"])
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key (a typo here would silently disable a policy)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append((path, message))
    first_path, first_message = problems[0]
    more = "".join(f"\n{file}: {p}: {m}" for p, m in problems[1:])
    error = ConfigError(first_message + more, file=file, path=first_path)
    error.problems = problems  # type: ignore[attr-defined]
    return error
