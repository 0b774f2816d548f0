"""Loading and validating a loomllm YAML file.

The sections ``model_list``, ``router_settings`` and ``litellm_settings`` mean what they mean in a
LiteLLM proxy ``config.yaml``, so an existing proxy config loads unchanged. loomllm's own policy
lives under a top-level ``loomllm:`` key, validated strictly: an unknown key there is an error,
because a typo must never silently switch a policy off. So are a switch that is not a YAML boolean
(``"false"``, ``0``), a number that is a boolean, NaN or infinite (``usd: true``), and a loomllm
section written at the top level or among LiteLLM's settings (see :mod:`loomllm._base`).

Every error names the file and the key path, e.g.
``config/loomllm.yaml: loomllm.agents.planner.model: unknown model group 'smrt' (known: fast, smart)``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator

from loomllm import _proxy_config as proxy
from loomllm._base import Flag, Integer, Number, StrictModel
from loomllm._budget.config import BudgetsConfig
from loomllm._config_yaml import DuplicateKey, load_yaml_document, read_config_text
from loomllm._content_policy.config import OutputPolicySection
from loomllm._egress.config import EgressConfig
from loomllm._guardrails.config import GuardrailsConfig
from loomllm._middleware.config import MiddlewareConfig
from loomllm._params import RESERVED, is_always_forbidden
from loomllm._scrub import REDACTED, credential_values
from loomllm._telemetry.config import TelemetryConfig
from loomllm.errors import ConfigError, ConfigWarning, config_errors_in

__all__ = ["AgentConfig", "LoomConfig", "LoomSection", "ignored_features", "load_config"]

# Top-level keys loomllm reads. Proxy-only sections are accepted and listed as ignored (see
# loomllm._proxy_config), so a proxy config loads unchanged; any other key is a typo.
_READ_SECTIONS = {"model_list", "router_settings", "litellm_settings", "loomllm"}
_MISPLACED_SECTION = ("a loomllm setting outside the top-level loomllm: section (here nothing would read it, so "
                      "the policy would be off): move it under loomllm:")
_ENV_PREFIX = "os.environ/"
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MISSING_PREFIX = "loomllm-missing-env:"


# Agent settings that bind a policy; under ``params:`` they would be sent as call parameters instead.
_AGENT_POLICY_KEYS = frozenset({"budget", "guardrails", "egress", "allow_params", "max_n", "embedding_model"})


class AgentConfig(StrictModel):
    """One agent: which model group it talks to, how it is prompted, which policies bind it."""

    model: str = Field(description="Model group (a model_name in model_list).")
    description: str | None = None
    system_prompt: str | None = None
    prompt_file: str | None = None
    prompt: str | None = Field(default=None, description="Template reference, 'name' or 'name@version'.")
    embedding_model: str | None = None
    temperature: Number | None = None
    max_tokens: Integer | None = Field(default=None, gt=0)
    top_p: Number | None = None
    timeout: Number | None = Field(default=None, gt=0)
    params: dict[str, Any] = Field(default_factory=dict, description="Other default call parameters.")
    budget: str | None = None
    guardrails: str | None = None
    egress: str | None = None
    cache: Flag = True
    allow_params: list[str] = Field(
        default_factory=list,
        description="Call parameters beyond the allowlist this agent accepts (e.g. extra_body); still checked "
                    "per attempt.",
    )
    max_n: Integer = Field(default=8, ge=1, le=128, description="Most choices (n) one call may ask for.")

    @field_validator("allow_params")
    @classmethod
    def _allowable(cls, value: list[str]) -> list[str]:
        bad = sorted(k for k in value if is_always_forbidden(k) or k in RESERVED)
        if bad:
            raise ValueError(f"{', '.join(bad)} can never be allowed: it would replace the deployment, its "
                             "credentials, its prices or the routing")
        return value

    @field_validator("params")
    @classmethod
    def _no_bypass_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k in value if is_always_forbidden(k) or k in RESERVED)
        if bad:
            raise ValueError(f"{', '.join(bad)} may not be set per agent: configure it on the deployment")
        misplaced = sorted(k for k in value if k in _AGENT_POLICY_KEYS)
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} is an agent setting, not a call parameter (under params it "
                             "would bind nothing): write it beside params")
        return value

    def default_params(self) -> dict[str, Any]:
        """The call parameters this agent sends unless the caller overrides them."""
        fixed = {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p,
                 "timeout": self.timeout}
        return {**{k: v for k, v in fixed.items() if v is not None}, **self.params}


class LoggingConfig(StrictModel):
    """How loomllm's events are rendered (by ``loomllm.configure_logging()`` and the CLI) and kept."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"
    attempts: Flag = Field(default=True, description="Also log one event per Router attempt "
                           "(the one that answered at debug level: the call's line carries its numbers).")
    file: str | None = Field(default=None, description="Append every event as a JSON line to this file "
                             "(relative to the config file); `loomllm logs` reads it.")


class CacheOptions(StrictModel):
    """loomllm's additions to LiteLLM's response cache (configured in ``litellm_settings.cache``)."""

    scope: Literal["agent", "shared"] = Field(
        default="agent", description="'agent' namespaces cache keys per agent; 'shared' lets agents share answers."
    )
    max_messages: Integer | None = Field(
        default=None, description="Longest conversation that is cached (LiteLLM's default of 4 is lifted)."
    )


class LoomSection(StrictModel):
    """The top-level ``loomllm:`` section."""

    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    default_agent: str | None = Field(default=None, description="The agent `loomllm chat` talks to by default.")
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
    def _valid_state_url(cls, value: str) -> str:
        check_state_url(value)
        return value


def check_state_url(url: str) -> None:
    """Raise ValueError if ``url`` is not a usable state URL. The message never echoes the URL (passwords)."""
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme not in {"memory", "sqlite", "redis", "rediss"}:
        shown = repr(scheme) if scheme and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,20}", scheme) else "(none)"
        raise ValueError(f"unsupported state URL scheme {shown} (use memory://, sqlite:///path or redis://host:port/db)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"malformed {scheme}:// URL (check the host, port and password quoting)") from None
    if scheme == "sqlite" and not parts.path.strip("/"):
        raise ValueError("sqlite:// state URL needs a file path: sqlite:///path/to/budget.db")
    if scheme in {"redis", "rediss"}:
        if not parts.hostname:
            raise ValueError(f"{scheme}:// state URL needs a host: {scheme}://host:6379/0")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError(f"{scheme}:// state URL database must be a number (e.g. /0), not a name")
        if port == 0:
            raise ValueError(f"{scheme}:// state URL port must be 1-65535")


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
    ignored_features: list[str] = field(default_factory=list)
    """One line per proxy-only feature the file uses that loomllm does not run (``loomllm check`` lists them)."""
    environment: dict[str, str] = field(default_factory=dict)
    """``environment_variables:`` of the file, set (where unset) in the process when the Router is built."""

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config resolve against."""
        return self.source.parent if self.source else Path.cwd()

    @property
    def groups(self) -> dict[str, list[dict[str, Any]]]:
        """Model group name -> its deployments, in config order (wildcard groups under their pattern)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for dep in self.model_list:
            out.setdefault(dep["model_name"], []).append(dep)
        return out

    @property
    def model_group_alias(self) -> dict[str, str]:
        """Alias -> model group (``router_settings.model_group_alias``; ``{model: ...}`` entries included)."""
        raw = self.router_settings.get("model_group_alias") or {}
        return {str(alias): str(target["model"] if isinstance(target, dict) else target)
                for alias, target in raw.items()}

    def deployments_for(self, name: str) -> list[dict[str, Any]]:
        """The deployments a call with ``model=name`` lands on, resolved as LiteLLM's Router does.

        An alias is followed first, then an exact model group, then the most specific ``*``
        wildcard group; a wildcard deployment is returned with the name filled into its model
        (``model_name: "*"`` + ``model: openai/*`` serves ``gpt-4o-mini`` as ``openai/gpt-4o-mini``).
        """
        name = self.model_group_alias.get(name, name)
        groups = self.groups
        if name in groups and "*" not in name:
            return groups[name]
        for pattern, deployments in _wildcard_patterns(groups):
            match = re.match(pattern, name)
            if match:
                return [_fill_wildcard(dep, match) for dep in deployments]
        return []

    def serves(self, name: str) -> bool:
        """Whether a call with ``model=name`` reaches a deployment (group, alias or wildcard)."""
        return bool(self.deployments_for(name))

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
        aliases = self.model_group_alias
        while pending:
            current = pending.pop(0)
            if current in order:
                continue
            order.append(current)
            resolved = aliases.get(current, current)
            pending += fallbacks.get(current, []) + fallbacks.get(resolved, []) + fallbacks.get("*", [])
            pending += self.default_fallbacks
        return order

    def reachable_deployments(self, agent: str | AgentConfig) -> list[dict[str, Any]]:
        """Every deployment a call from ``agent`` can land on (its group, fallbacks, embeddings)."""
        spec = self.loom.agents[agent] if isinstance(agent, str) else agent
        names = self.reachable_groups(spec.model)
        if spec.embedding_model:
            names += [g for g in self.reachable_groups(spec.embedding_model) if g not in names]
        out: list[dict[str, Any]] = []
        for name in names:
            out += [d for d in self.deployments_for(name) if d not in out]
        return out

    def agent_policies(self, kind: Literal["budget", "guardrails", "egress"]) -> dict[str, str | None]:
        """Agent name -> the policy name of ``kind`` it uses (after section defaults)."""
        default = {"budget": None, "guardrails": self.loom.guardrails.default, "egress": self.loom.egress.default}[kind]
        return {name: getattr(spec, kind) or default for name, spec in self.loom.agents.items()}


def _wildcard_patterns(groups: Mapping[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Wildcard groups as regexes, most specific first (LiteLLM's ``PatternMatchRouter`` order)."""
    patterns = [(re.escape(name).replace(r"\*", "(.*)"), deps) for name, deps in groups.items() if "*" in name]
    return sorted(patterns, key=lambda p: (len(p[0]), sum(p[0].count(c) for c in "*+?\\^$|()")), reverse=True)


def _fill_wildcard(deployment: dict[str, Any], match: re.Match[str]) -> dict[str, Any]:
    filled = copy.deepcopy(deployment)
    model = str(filled["litellm_params"]["model"])
    for value in match.groups():
        model = model.replace("*", value, 1)
    filled["litellm_params"]["model"] = model
    return filled


def ignored_features(config: LoomConfig) -> list[str]:
    """The proxy-only features ``config`` uses that loomllm does not run, one line each (for ``check``)."""
    return list(config.ignored_features)


def load_config(path: str | os.PathLike[str], *, strict: bool = False) -> LoomConfig:
    """Read, resolve and validate a YAML config file. Raises :class:`ConfigError` naming file and key.

    A proxy-only feature (``general_settings``, ``guardrails:``, logging integrations...) is listed
    in one :class:`~loomllm.errors.ConfigWarning`; with ``strict=True`` it is a ConfigError instead.
    """
    source = Path(path)
    return parse_config(read_config_text(source), source=source, strict=strict)


def parse_config(text: str, *, source: Path | None = None, strict: bool = False) -> LoomConfig:
    """Validate a YAML document (``source`` is only used in error messages and for relative paths)."""
    file = str(source) if source else "<config>"
    raw, duplicates = _parse_yaml(text, file)
    try:
        return _validate_document(raw, duplicates, source, file, strict=strict)
    except ConfigError as exc:
        raise _without_credentials(exc, raw) from None


def _without_credentials(error: ConfigError, raw: Mapping[str, Any]) -> ConfigError:
    """``error`` with every credential value of the config replaced (a key pasted, or a key variable named,
    where a policy name or a number belongs would otherwise be quoted back in the message)."""
    text = str(error)
    own = raw.get("environment_variables")
    environ = {**({str(k): str(v) for k, v in own.items() if v is not None} if isinstance(own, Mapping) else {}),
               **os.environ}  # the file's own environment_variables hold keys too
    secrets = [v for v in credential_values(_credential_holders(raw), environ=environ) if v in text]
    if not secrets:
        return error
    error.problem = _redact(error.problem, secrets)
    error.args = (_redact(text, secrets),)
    problems = getattr(error, "problems", None)
    if problems is not None:
        error.problems = [(path, _redact(m, secrets)) for path, m in problems]  # type: ignore[attr-defined]
    return error


def _credential_holders(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Deployment-shaped ``{"litellm_params": ...}`` for every deployment and ``credential_list`` entry."""
    holders = []
    for section, key in (("model_list", "litellm_params"), ("credential_list", "credential_values")):
        entries = raw.get(section)
        for entry in entries if isinstance(entries, list) else []:
            params = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(params, dict):  # a credential's name is not a credential
                holders.append({"litellm_params": {k: v for k, v in params.items() if k != "litellm_credential_name"}})
    return holders


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _validate_document(raw: dict[str, Any], duplicates: list[tuple[str, DuplicateKey]], source: Path | None,
                       file: str, *, strict: bool) -> LoomConfig:
    origins: dict[str, str] = {}
    raw = proxy.resolve_includes(raw, source, file, lambda f, ds: duplicates.extend((f, d) for d in ds), origins)
    loom_file = origins.get("loomllm", file)  # the loomllm section may come from an included file
    ignored = _check_top_level(raw, file)
    _check_misplaced_sections(raw, file)
    environment = proxy.environment_overlay(raw.get("environment_variables"), file, os.environ)
    environ = {**environment, **os.environ}
    loom_raw = _resolve_env_strict(_loom_section(raw, loom_file), loom_file, "loomllm", environ)
    model_list_raw = raw.get("model_list") or []
    if isinstance(model_list_raw, list):
        model_list_raw = proxy.apply_credentials(model_list_raw, raw.get("credential_list"), file)
    model_list, missing = _resolve_deployments(model_list_raw, file, environ)
    unset_settings: list[tuple[str, str]] = []
    router_raw = raw.get("router_settings") or {}
    _check_mapping(router_raw, file, "router_settings")
    router_settings = _resolve_settings_env(router_raw, file, "router_settings", environ, unset_settings)
    litellm_settings = _resolve_litellm_settings(raw.get("litellm_settings") or {}, file, environ, unset_settings)
    loom = _validate_loom_section(loom_raw, loom_file)
    features = proxy.ignored_features(raw, litellm_settings, _judge_duplicates(duplicates, litellm_settings))
    config = LoomConfig(
        model_list=model_list,
        router_settings=router_settings,
        litellm_settings=litellm_settings,
        loom=loom,
        source=source,
        ignored_sections=ignored,
        missing_env=missing,
        ignored_features=features,
        environment=environment,
    )
    _check_settings_keys(config, file)
    check_providers(config)
    config.ignored_features += _check_references(config, file, loom_file)
    _report_ignored(config.ignored_features, unset_settings, file, strict=strict)
    return config


def _report_ignored(features: list[str], unset: list[tuple[str, str]], file: str, *, strict: bool) -> None:
    """One ConfigWarning for the whole file: ignored proxy-only features, then settings left unset."""
    if strict and features:
        raise ConfigError(f"proxy-only features loomllm does not run (strict mode): {'; '.join(features)}",
                          file=file)
    parts = [f"loomllm ignores these proxy-only features: {'; '.join(features)}"] if features else []
    if unset:
        listing = ", ".join(f"{where} ({name})" for where, name in unset)
        parts.append(f"environment variables not set, so these settings are None as the proxy reads them: {listing}")
    if parts:
        warnings.warn(ConfigWarning(f"{file}: " + "; and ".join(parts)), stacklevel=_first_frame_outside_loomllm())


def _first_frame_outside_loomllm() -> int:
    """The ``stacklevel`` that points a warning at the user's line (``Loom(...)``, ``load_config(...)``)."""
    package = str(Path(__file__).parent)
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level - 1


def deployment_id(deployment: Mapping[str, Any]) -> str:
    """A deployment's stable id: ``model_info.id`` if set, else ``group/model`` (what logs and errors show)."""
    info = deployment.get("model_info") or {}
    if info.get("id"):
        return str(info["id"])
    return f"{deployment['model_name']}/{deployment['litellm_params']['model']}"


# --- parsing -----------------------------------------------------------------------------------


def _parse_yaml(text: str, file: str) -> tuple[dict[str, Any], list[tuple[str, DuplicateKey]]]:
    raw, duplicates = load_yaml_document(text, file)
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise ConfigError(f"the document must be a mapping, not {type(raw).__name__}", file=file)
    return raw, [(file, d) for d in duplicates]


def _judge_duplicates(duplicates: list[tuple[str, DuplicateKey]],
                      litellm_settings: Mapping[str, Any]) -> list[DuplicateKey]:
    """Raise for a duplicate key loomllm reads; return those inside features it ignores anyway."""
    tolerated: list[DuplicateKey] = []
    for file, duplicate in duplicates:
        if _inside_ignored_feature(duplicate.path, litellm_settings):
            tolerated.append(duplicate)
            continue
        raise ConfigError(
            f"defined twice (lines {duplicate.first_line} and {duplicate.second_line}); YAML would silently keep "
            "the last one: merge them into one", file=file, path=duplicate.path)
    return tolerated


def _inside_ignored_feature(path: str, litellm_settings: Mapping[str, Any]) -> bool:
    section, _, rest = path.partition(".")
    section = section.split("[", 1)[0]
    if section in proxy.PROXY_ONLY_SECTIONS:
        return True
    if section != "litellm_settings" or not rest:
        return False
    key = rest.split(".", 1)[0].split("[", 1)[0]
    if key in proxy.PROXY_LITELLM_SETTINGS:
        return True
    # A callback list whose surviving value names only logging integrations is ignored as a whole.
    value = litellm_settings.get(key)
    return key in proxy.CALLBACK_KEYS and isinstance(value, list) and all(
        isinstance(v, str) and "." not in v for v in value)


def _loom_section(raw: Mapping[str, Any], file: str) -> dict[str, Any]:
    """The ``loomllm:`` mapping; ``loomllm: []``, ``false`` or ``0`` is an error, not "no policy"."""
    section = raw.get("loomllm")
    if section is None:
        return {}
    _check_mapping(section, file, "loomllm")
    return dict(section)


def _validate_loom_section(loom_raw: dict[str, Any], file: str) -> LoomSection:
    """The typed ``loomllm:`` section; every error names the file (validators that know the full key
    path raise ConfigError themselves)."""
    try:
        with config_errors_in(file):
            return LoomSection.model_validate(loom_raw)
    except ValidationError as exc:
        raise _config_error(exc, file, prefix="loomllm", raw=loom_raw, model=LoomSection) from None


def _check_top_level(raw: Mapping[str, Any], file: str) -> list[str]:
    known = _READ_SECTIONS | proxy.HANDLED_SECTIONS | set(proxy.PROXY_ONLY_SECTIONS)
    unknown = sorted(str(k) for k in raw if k not in known)
    misplaced = [k for k in unknown if k in LoomSection.model_fields]
    if misplaced:
        raise ConfigError(_MISPLACED_SECTION, file=file, path=misplaced[0])
    if unknown:
        names = ", ".join(sorted(_READ_SECTIONS))
        raise ConfigError(f"unknown top-level key {unknown[0]!r} (loomllm reads: {names}; proxy-only sections "
                          f"are accepted and ignored){proxy.nearest(unknown[0], known)}", file=file, path=unknown[0])
    return sorted(k for k in raw if k in proxy.PROXY_ONLY_SECTIONS)


def _check_mapping(value: Any, file: str, path: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping, not {type(value).__name__}", file=file, path=path)


def _resolve_litellm_settings(raw: Any, file: str, environ: Mapping[str, str],
                              unset: list[tuple[str, str]]) -> dict[str, Any]:
    """Resolve variables in the litellm_settings loomllm runs; proxy-only keys are kept as written."""
    _check_mapping(raw, file, "litellm_settings")
    kept = {k: v for k, v in raw.items() if k in proxy.PROXY_LITELLM_SETTINGS}
    resolved = _resolve_settings_env({k: v for k, v in raw.items() if k not in kept}, file, "litellm_settings",
                                     environ, unset)
    return {k: kept[k] if k in kept else resolved[k] for k in raw if k in kept or k in resolved}


# Settings whose None would switch a policy off: an unset variable in them stays a load error.
# (Rate limits and provider budgets; message redaction; callbacks, which may be the app's guardrails.)
_POLICY_SETTINGS = {
    "router_settings": frozenset({"optional_pre_call_checks", "provider_budget_config"}),
    "litellm_settings": frozenset({"turn_off_message_logging", "redact_messages_in_exceptions",
                                   "redact_user_api_key_info", "custom_provider_map", *proxy.CALLBACK_KEYS}),
}


def unset_variable_effect(path: str) -> Literal["ignored", "none", "error"]:
    """What an unset variable at key ``path`` does when the file loads (``loomllm check`` sorts by it).

    ``ignored``: it sits in a proxy-only section or setting loomllm does not run; ``none``: a
    router/litellm setting read as None (the load warning names it); ``error``: anything else (a
    ``loomllm:`` value or a policy setting refuses to load, a deployment fails its first call).
    """
    section, _, rest = path.partition(".")
    section = section.split("[", 1)[0]
    key = rest.split(".", 1)[0].split("[", 1)[0]
    if section in proxy.PROXY_ONLY_SECTIONS or (section == "litellm_settings" and key in proxy.PROXY_LITELLM_SETTINGS):
        return "ignored"
    if section in _POLICY_SETTINGS and key and key not in _POLICY_SETTINGS[section]:
        return "none"
    return "error"


def _resolve_settings_env(raw: Mapping[str, Any], file: str, section: str, environ: Mapping[str, str],
                          unset: list[tuple[str, str]]) -> dict[str, Any]:
    """Resolve variables in ``router_settings`` / ``litellm_settings`` as the proxy tolerates them.

    The proxy reads an unset ``os.environ/NAME`` as None; so does loomllm, noting ``(key path,
    NAME)`` in ``unset`` for the load warning: a value that needs an unset variable is None, and a
    top-level key that is then None is left out (LiteLLM's default, which is what None means to the
    Router). In the keys of :data:`_POLICY_SETTINGS` an unset variable is still a ConfigError.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{section}.{key}"
        if key in _POLICY_SETTINGS[section]:
            out[key] = _resolve_env_strict(value, file, path, environ)
            continue
        found: list[tuple[str, str]] = []
        resolved = _none_where_missing(_resolve_env(value, path, on_missing=functools.partial(_note, found),
                                                    environ=environ))
        unset += list(dict.fromkeys(found))
        if resolved is not None or value is None:
            out[key] = resolved
    return out


def _note(found: list[tuple[str, str]], name: str, where: str) -> None:
    found.append((where, name))


def _none_where_missing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _none_where_missing(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_none_where_missing(v) for v in value]
    if isinstance(value, str) and MISSING_PREFIX in value:
        return None
    return value


def _resolve_deployments(raw: Any, file: str,
                         environ: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
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

        resolved = _resolve_env(entry, path, on_missing=note_missing, environ=environ)
        # A stable id the Router, logs, budgets and egress verdicts all agree on.
        resolved["model_info"] = {**(resolved.get("model_info") or {}), "id": deployment_id(resolved)}
        deployments.append(resolved)
        if unset:
            missing[deployment_id(resolved)] = sorted(set(unset))
    return deployments, missing


def _resolve_env_strict(value: Any, file: str, path: str, environ: Mapping[str, str] | None = None) -> Any:
    unset: list[tuple[str, str]] = []
    resolved = _resolve_env(value, path, on_missing=lambda name, where: unset.append((name, where)),
                            environ=os.environ if environ is None else environ)
    if unset:
        name, where = unset[0]
        raise ConfigError(f"environment variable {name} is not set", file=file, path=where)
    return resolved


def _resolve_env(value: Any, path: str, *, on_missing: Callable[[str, str], None],
                 environ: Mapping[str, str]) -> Any:
    """Resolve ``os.environ/NAME`` and ``${NAME}`` everywhere in ``value`` (``path`` is its key path).

    A missing variable becomes the marker ``loomllm-missing-env:NAME`` (LiteLLM would silently use
    None) so that the deployment fails with a clear error when it is first needed.
    """
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{path}.{k}", on_missing=on_missing, environ=environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", on_missing=on_missing, environ=environ) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> str:
        if name in environ:
            return environ[name]
        on_missing(name, path)
        return MISSING_PREFIX + name

    if value.startswith(_ENV_PREFIX):
        return lookup(value[len(_ENV_PREFIX) :])
    return _ENV_PATTERN.sub(lambda match: lookup(match.group(1)), value)


_MISSING_PATTERN = re.compile(re.escape(MISSING_PREFIX) + r"([A-Za-z_][A-Za-z0-9_]*)")


def missing_env_vars(litellm_params: Mapping[str, Any]) -> list[str]:
    """Environment variables a (resolved) deployment needed but did not find (also inside longer strings)."""
    return sorted({m.group(1) for v in _iter_strings(litellm_params) for m in _MISSING_PATTERN.finditer(v)})


def _iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _iter_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _iter_strings(v)


# --- LiteLLM settings keys -----------------------------------------------------------------------

# litellm_settings keys loomllm itself interprets (the rest are LiteLLM module globals).
ROUTER_KEYS_IN_LITELLM_SETTINGS = (
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks",
    "num_retries", "retry_after", "allowed_fails", "cooldown_time", "max_fallbacks",
)
HANDLED_LITELLM_SETTINGS = frozenset({
    "cache", "cache_params", "request_timeout", "custom_provider_map", *proxy.CALLBACK_KEYS,
    *ROUTER_KEYS_IN_LITELLM_SETTINGS,
})


def _check_settings_keys(config: LoomConfig, file: str) -> None:
    """Misspelt router_settings / litellm_settings keys are errors, checked against the installed LiteLLM.

    LiteLLM's proxy drops an unknown router setting and sets any litellm setting as a module
    attribute nobody reads, so ``num_retires: 0`` or ``fallbaks:`` would silently do nothing: a key
    within a typo of one LiteLLM reads is refused, naming it. Any other unknown key (another
    version's or another tool's: ``enable_load_balancing``, ``default_model``) does nothing in the
    proxy either: it is left out and listed with the ignored features. A litellm setting naming a
    LiteLLM function or module (``completion``) is refused: the proxy would overwrite it.
    """
    router_args = _router_arguments()
    for key in [k for k in config.router_settings if k not in router_args]:
        _refuse_misplaced_policy(key, file, "router_settings")
        typo = _typo_of(str(key), router_args)
        if typo:
            raise ConfigError(f"unknown router setting: LiteLLM {_litellm_version()}'s Router has no such "
                              f"argument (the proxy would drop it silently); did you mean {typo!r}?",
                              file=file, path=f"router_settings.{key}")
        del config.router_settings[key]
        config.ignored_features.append(f"router_settings.{key}: not an argument of LiteLLM {_litellm_version()}'s "
                                       "Router (the proxy drops it)")
    candidates: set[str] | None = None
    for key in list(config.litellm_settings):
        if key in HANDLED_LITELLM_SETTINGS or key in proxy.PROXY_LITELLM_SETTINGS or _is_litellm_setting(key):
            continue
        _refuse_misplaced_policy(key, file, "litellm_settings")
        if candidates is None:
            candidates = {*HANDLED_LITELLM_SETTINGS, *proxy.PROXY_LITELLM_SETTINGS, *_litellm_settings_names()}
        typo = _typo_of(str(key), candidates)
        if typo or _is_litellm_attribute(key):
            hint = f"; did you mean {typo!r}?" if typo else " (it names a LiteLLM function or module, not a setting)"
            raise ConfigError(f"unknown litellm setting: neither LiteLLM {_litellm_version()} nor its proxy reads "
                              f"it{hint}", file=file, path=f"litellm_settings.{key}")
        del config.litellm_settings[key]
        config.ignored_features.append(f"litellm_settings.{key}: neither LiteLLM {_litellm_version()} nor its "
                                       "proxy reads it")
    _check_callback_paths(config, file)


def _refuse_misplaced_policy(key: Any, file: str, section: str) -> None:
    """A loomllm section (``budgets:``, ``egress:``, ``loomllm:``) among LiteLLM's settings would be dropped."""
    if key == "loomllm" or key in LoomSection.model_fields:
        raise ConfigError(_MISPLACED_SECTION, file=file, path=f"{section}.{key}")


def _check_misplaced_sections(raw: Mapping[str, Any], file: str) -> None:
    """A ``loomllm:`` section nested in a proxy-only section (``general_settings``) would never be read, nor
    would loomllm's guardrails written where the proxy's go (the proxy's are a list, loomllm's a mapping)."""
    for name in proxy.PROXY_ONLY_SECTIONS:
        section = raw.get(name)
        if isinstance(section, dict) and "loomllm" in section:
            raise ConfigError(_MISPLACED_SECTION, file=file, path=f"{name}.loomllm")
    settings = raw.get("litellm_settings")
    in_settings = settings.get("guardrails") if isinstance(settings, dict) else None
    for path, value in (("guardrails", raw.get("guardrails")), ("litellm_settings.guardrails", in_settings)):
        if isinstance(value, dict) and set(value) & set(GuardrailsConfig.model_fields):
            raise ConfigError(_MISPLACED_SECTION, file=file, path=path)


def _typo_of(key: str, known: Iterable[str]) -> str | None:
    """The known key ``key`` is a typo of (a letter or two off), or None."""
    match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.85)
    return match[0] if match else None


def _is_litellm_attribute(key: str) -> bool:
    from loomllm._litellm import litellm_module

    return hasattr(litellm_module(), key)


def _check_callback_paths(config: LoomConfig, file: str) -> None:
    settings = config.litellm_settings
    for key in proxy.CALLBACK_KEYS:
        value = settings.get(key)
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, str) and "." in item:
                proxy.check_import_path(item, config.base_dir, file, f"litellm_settings.{key}[{index}]")
    providers = settings.get("custom_provider_map")
    if providers is None:
        return
    if not isinstance(providers, list):
        raise ConfigError("must be a list of {provider, custom_handler}", file=file,
                          path="litellm_settings.custom_provider_map")
    for index, item in enumerate(providers):
        path = f"litellm_settings.custom_provider_map[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("provider"), str):
            raise ConfigError("each entry needs a provider name and a custom_handler", file=file, path=path)
        if "custom_handler" not in item:
            raise ConfigError(f"provider {item['provider']!r} has no custom_handler (module.instance)",
                              file=file, path=f"{path}.custom_handler")
        proxy.check_import_path(item["custom_handler"], config.base_dir, file, f"{path}.custom_handler")


def check_providers(config: LoomConfig) -> None:
    """A ConfigError naming the first deployment whose model LiteLLM cannot map to a provider.

    Otherwise LiteLLM accepts it and fails each call that reaches it with ``BadRequest (400)``
    (e.g. ``mistralai/mistral-7b-instruct``: the provider is ``mistral``). Providers from
    ``custom_provider_map`` count as known (they are registered when the Router is built).
    """
    from loomllm._litellm import litellm_module

    litellm = litellm_module()
    file = str(config.source) if config.source else None
    custom = {str(item.get("provider")) for item in config.litellm_settings.get("custom_provider_map") or []
              if isinstance(item, dict)}
    for index, deployment in enumerate(config.model_list):
        params = deployment["litellm_params"]
        model = str(params["model"]).replace("*", "x")
        if model.split("/", 1)[0] in custom or params.get("custom_llm_provider") in custom:
            continue
        try:
            litellm.get_llm_provider(model=model, custom_llm_provider=params.get("custom_llm_provider"),
                                     api_base=params.get("api_base"))
        except Exception as exc:
            providers = [getattr(p, "value", p) for p in litellm.provider_list]
            hint = proxy.nearest(model.split("/", 1)[0], providers) if "/" in model else ""
            raise ConfigError(
                f"deployment {deployment_id(deployment)!r}: LiteLLM cannot tell which provider serves model "
                f"{params['model']!r} ({type(exc).__name__}); prefix the model with its provider "
                f"(e.g. openai/..., mistral/...) or set custom_llm_provider{hint}", file=file,
                path=f"model_list[{index}].litellm_params.model") from None


def _router_arguments() -> frozenset[str]:
    import inspect

    from loomllm._litellm import litellm_module

    return frozenset(inspect.signature(litellm_module().Router.__init__).parameters) - {"self", "model_list"}


def _is_litellm_setting(key: str) -> bool:
    import types

    from loomllm._litellm import litellm_module

    try:
        value = getattr(litellm_module(), key)
    except AttributeError:
        return False
    # A function or a submodule is not a setting: ``litellm_settings: {completion: ...}`` is a mistake.
    return not (callable(value) and not isinstance(value, (list, dict))) and not isinstance(value, types.ModuleType)


def _litellm_settings_names() -> list[str]:
    from loomllm._litellm import litellm_module

    return [name for name in vars(litellm_module()) if not name.startswith("_") and _is_litellm_setting(name)]


def _litellm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return "(unknown version)"


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


def _check_references(config: LoomConfig, file: str, loom_file: str) -> list[str]:
    """Fallback targets, aliases, agents and teams name things that exist; returns notes on dead entries.

    A fallback *to* an undefined group is an error (the call would fail over to nothing); a
    fallback list *for* an undefined group, and an alias LiteLLM cannot route, never apply:
    they are reported with the ignored features (errors under ``strict``).
    """
    notes = _check_aliases(config, file)
    for section_name, section in (("router_settings", config.router_settings),
                                  ("litellm_settings", config.litellm_settings)):
        for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks"):
            entries = section.get(key) or []
            for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
                path = f"{section_name}.{key}[{index}]"
                sources, targets = _fallback_entry(entry)
                for name in targets:
                    if not config.serves(name):
                        raise ConfigError(_unknown_group(config, name), file=file, path=path)
                notes += [f"{path}: fallbacks for undefined model group {name!r} never apply"
                          f"{proxy.nearest(name, config.groups)}"
                          for name in sources if name != "*" and not config.serves(name)]
    for name, agent in config.loom.agents.items():
        check_agent_spec(config, name, agent, file=loom_file)
    default_agent = config.loom.default_agent
    if default_agent is not None and default_agent not in config.loom.agents:
        known = ", ".join(config.loom.agents) or "none"
        raise ConfigError(f"unknown agent {default_agent!r} (known: {known})", file=loom_file,
                          path="loomllm.default_agent")
    _check_teams(config, loom_file)
    _check_agent_names(config, loom_file)
    with config_errors_in(loom_file):
        config.loom.budgets.check_model_groups({*config.groups, *(deployment_id(d) for d in config.model_list)})
    return notes


def _fallback_entry(entry: Any) -> tuple[list[str], list[str]]:
    """(source groups, target groups) of one fallback list entry (a mapping, or a bare default group)."""
    if isinstance(entry, str):
        return [], [entry]
    if not isinstance(entry, dict):
        return [], []
    sources = [str(g) for g in entry]
    targets = [str(t) for ts in entry.values() if ts is not None for t in (ts if isinstance(ts, list) else [ts])]
    return sources, targets


def _check_aliases(config: LoomConfig, file: str) -> list[str]:
    raw = config.router_settings.get("model_group_alias")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping of alias -> model group", file=file,
                          path="router_settings.model_group_alias")
    notes = []
    for alias, target in list(raw.items()):
        path = f"router_settings.model_group_alias.{alias}"
        group = target.get("model") if isinstance(target, dict) else target
        if not isinstance(group, str):
            # LiteLLM skips such an entry (calls to the alias fail as an unknown model).
            notes.append(f"{path}: a {type(group).__name__} is not an alias LiteLLM can route (name one model "
                         "group, or {model: NAME, hidden: true}); the alias is not defined")
            del raw[alias]
        elif not config.serves(group):
            raise ConfigError(_unknown_group(config, group), file=file, path=path)
    return notes


def _unknown_group(config: LoomConfig, name: str) -> str:
    """``unknown model group 'x'``, with the nearest name and, for short configs, the known ones."""
    groups = sorted({*config.groups, *config.model_group_alias})
    hint = proxy.nearest(name, groups)
    if len(groups) <= 12:
        return f"unknown model group {name!r} (known: {', '.join(groups) or 'none'}){hint}"
    return f"unknown model group {name!r} ({len(groups)} groups defined; `loomllm check` lists them){hint}"


def check_agent_spec(config: LoomConfig, name: str, agent: AgentConfig, *, file: str | None) -> None:
    """An agent's model groups and policy names exist (YAML agents at load, code agents when created)."""
    base = f"loomllm.agents.{name}"
    for attr in ("model", "embedding_model"):
        group = getattr(agent, attr)
        if group is None:
            continue
        if "*" in group:
            raise ConfigError(f"{group!r} is a wildcard pattern, not a model: name the model a wildcard "
                              "deployment serves (e.g. 'gpt-4o-mini' for model_name '*')", file=file,
                              path=f"{base}.{attr}")
        if not config.serves(group):
            raise ConfigError(_unknown_group(config, group), file=file, path=f"{base}.{attr}")
    _check_policy_name(agent.budget, config.loom.budgets.policies, file, f"{base}.budget")
    _check_policy_name(agent.guardrails, config.loom.guardrails.profiles, file, f"{base}.guardrails")
    _check_policy_name(agent.egress, config.loom.egress.policies, file, f"{base}.egress")


def _check_teams(config: LoomConfig, file: str) -> None:
    """A team member that is not a YAML agent but looks like one is a typo (it would escape the team cap).

    Members that resemble no YAML agent are taken for agents defined in code (legacy wrappers,
    ``UnifiedAgent`` subclasses without a YAML entry).
    """
    agents = config.loom.agents
    for team, spec in config.loom.budgets.teams.items():
        for index, member in enumerate(spec.agents):
            hint = "" if member in agents else proxy.nearest(member, agents)
            if hint:
                raise ConfigError(
                    f"unknown agent {member!r}: a misspelt member is outside the team's budget (an agent defined "
                    f"in code with this name must also be listed under loomllm.agents){hint}",
                    file=file, path=f"loomllm.budgets.teams.{team}.agents[{index}]")


def _check_agent_names(config: LoomConfig, file: str) -> None:
    """A per-agent setting under a misspelt agent name would not reach the agent (as for team members).

    Names that resemble no YAML agent are taken for agents defined in code.
    """
    agents = config.loom.agents
    middleware, telemetry = config.loom.middleware, config.loom.telemetry
    maps: dict[str, tuple[str, Mapping[str, Any]]] = {
        "output_policy.agents": ("gets no output policy", config.loom.output_policy.agents),
        "middleware.cache_policy.agents": ("keeps the default cache policy", middleware.cache_policy.agents),
        "middleware.single_flight.agents": ("keeps the default single-flight", middleware.single_flight.agents),
        "middleware.rate_limits.agents": ("keeps the default wait", middleware.rate_limits.agents),
        "telemetry.agents": ("keeps the default telemetry", telemetry.agents),
    }
    for where, (effect, named) in maps.items():
        for name in named:
            hint = "" if name in agents else proxy.nearest(name, agents)
            if hint:
                raise ConfigError(
                    f"unknown agent {name!r}: a misspelt agent {effect} (an agent defined in code with this "
                    f"name must also be listed under loomllm.agents){hint}", file=file,
                    path=f"loomllm.{where}.{name}")


def _check_policy_name(name: str | None, known: Mapping[str, Any], file: str | None, path: str) -> None:
    if name is not None and name not in known:
        names = ", ".join(sorted(known)) or "none defined"
        raise ConfigError(f"unknown policy {name!r} (known: {names})", file=file, path=path)


def _config_error(exc: ValidationError, file: str, *, prefix: str, raw: Any = None,
                  model: type[BaseModel] | None = None) -> ConfigError:
    """Turn pydantic's report into a ConfigError naming the key path of every problem (never the value)."""
    problems = []
    for detail in exc.errors():
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in _yaml_location(detail["loc"], raw))
        message = _problem_message(detail)
        if detail["type"] == "extra_forbidden" and model is not None:
            message += proxy.nearest(str(detail["loc"][-1]), _keys_at(model, detail["loc"][:-1]))
        problems.append((path, message))
    # An unknown key first: a misspelt key also makes the key it meant "missing", which explains less.
    problems.sort(key=lambda problem: not problem[1].startswith("unknown key"))
    first_path, first_message = problems[0]
    more = "".join(f"\n{file}: {p}: {m}" for p, m in problems[1:])
    error = ConfigError(first_message + more, file=file, path=first_path)
    error.problems = problems  # type: ignore[attr-defined]
    return error


def _keys_at(model: type[BaseModel], loc: Iterable[int | str]) -> list[str]:
    """The keys the model at ``loc`` inside ``model`` takes (for "did you mean"); empty if ``loc`` is not a model."""
    node: Any = model
    for part in loc:
        if _is_model(node):
            field = node.model_fields.get(part) if isinstance(part, str) else None
            node = _model_inside(field.annotation) if field is not None else None
        else:
            node = _model_inside(_item_type(node))
        if node is None:
            return []
    return sorted(node.model_fields) if _is_model(node) else []


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _item_type(node: Any) -> Any:
    """The value type of a ``dict[str, X]`` / ``list[X]`` / ``tuple[X, ...]`` annotation."""
    args = [a for a in get_args(node) if a is not Ellipsis]
    return args[-1] if args else None


def _model_inside(annotation: Any) -> Any:
    """``annotation`` without ``| None``: a model class, a container type, or None."""
    if _is_model(annotation) or get_origin(annotation) in (dict, list, tuple):
        return annotation
    models = [a for a in get_args(annotation) if _is_model(a) or get_origin(a) in (dict, list, tuple)]
    return models[0] if len(models) == 1 else None


def _problem_message(detail: Mapping[str, Any]) -> str:
    kind, message = detail["type"], str(detail["msg"])
    if kind == "extra_forbidden":
        return "unknown key (a typo here would silently disable a policy)"
    if kind == "bool_type":
        if isinstance(detail["input"], str):
            return "must be true or false (a quoted string such as 'false', or a variable, is not a boolean)"
        return "must be true or false"
    return message.removeprefix("Value error, ")


def _yaml_location(loc: tuple[int | str, ...], raw: Any) -> list[int | str]:
    """``loc`` as the YAML spells it: a guardrail direction's flat ``ENTITY: action`` rules have no ``rules:``
    key in the file (:class:`~loomllm._guardrails.config.DirectionPolicy` adds it)."""
    out: list[int | str] = []
    node = raw
    for part in loc:
        if part == "rules" and out and out[-1] in ("input", "output") and isinstance(node, Mapping) \
                and "rules" not in node:
            continue
        out.append(part)
        node = node.get(part) if isinstance(node, Mapping) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
    return out
