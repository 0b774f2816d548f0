"""Budget configuration: the ``loomllm.budgets`` section of the YAML file.

A policy is a list of limits; each limit caps one or more units (``usd``, ``tokens``,
``input_tokens``, ``output_tokens``) over one window (``minute`` ... ``month`` in the configured
timezone, or ``lifetime``). Agents name a policy; teams share one; ``global`` applies to everyone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from loomllm._base import Flag, Integer, Number, StrictModel
from loomllm.errors import ConfigError

__all__ = ["BudgetLimit", "BudgetPolicy", "BudgetsConfig", "KeyScope", "TeamConfig", "Unit", "Window", "model_family"]

Window = Literal["minute", "hour", "day", "month", "lifetime"]
Unit = Literal["usd", "tokens", "input_tokens", "output_tokens"]
UNITS: tuple[Unit, ...] = ("usd", "tokens", "input_tokens", "output_tokens")
MAX_USD = 1_000_000.0
MAX_TOKENS = 10**15

# How many more input tokens a model family counts than the tiktoken estimate (cl100k_base: LiteLLM's
# encoding for every provider-prefixed model name). Measured offline by bench/token_disagreement.py on
# 651 documents of ~2 KB (support tickets, READMEs, Python/YAML/JSON/shell, spaCy's sentences in 68
# languages): the largest per-document ratio, plus 5 %, rounded up to 0.05.
# - openai 1.15: o200k_base counts up to 1.062x cl100k_base (Markdown prose; p99 1.033).
# - anthropic 1.70: the Claude 1/2 tokenizer LiteLLM bundles, max 1.580 (Gujarati; prose 1.26, code
#   1.22, p99 1.288). Claude 3+ tokenizers are not public: this is the nearest offline measure.
# - llama 1.15: Llama 3 max 1.041, Llama 4 max 1.095 (Python) (llama-models' tokenizer.model files).
# - mistral 1.55: Tekken (NeMo, Large 2, Small 3 and later) max 1.438 (Sinhala; prose 1.353). The
#   older SentencePiece tokenizers (Mistral 7B, Mixtral) were not measured.
# - gemini, vertex_ai and anything unknown: no tokenizer ships offline; the largest measured factor.
# Families come from the model name (claude, llama, mistral..., gemini), so Bedrock, Vertex, Groq or an
# OpenAI-compatible server get their model's factor. Override per provider or family in YAML.
DEFAULT_INPUT_SAFETY: dict[str, float] = {
    "openai": 1.15,
    "azure": 1.15,
    "text-completion-openai": 1.15,
    "anthropic": 1.7,
    "llama": 1.15,
    "mistral": 1.55,
    "gemini": 1.7,
    "vertex_ai": 1.7,
    "*": 1.7,
}

_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic", re.compile(r"claude")),
    ("llama", re.compile(r"(^|[^a-z])llama")),  # not ollama/...
    ("mistral", re.compile(r"mistral|mixtral|codestral|ministral|pixtral|magistral|devstral")),
    ("gemini", re.compile(r"gemini|gemma")),
    ("openai", re.compile(r"(^|/)(gpt-|chatgpt|o[134](-|$)|text-embedding-|davinci|babbage)")),
)


def model_family(model: str) -> str | None:
    """The tokenizer family of a model name (``anthropic``, ``llama``, ``mistral``, ``gemini``,
    ``openai``), whoever hosts it; ``None`` when the name does not say."""
    name = model.lower()
    return next((family for family, pattern in _FAMILIES if pattern.search(name)), None)


class BudgetLimit(StrictModel):
    """One limit: caps on one or more units over one window. Every cap set must hold."""

    # Stores count exact integers (nano-dollars, tokens) that must stay below 2**53 for Redis' Lua.
    usd: Number | None = Field(default=None, ge=0, le=MAX_USD)
    tokens: Integer | None = Field(default=None, ge=0, le=MAX_TOKENS)
    input_tokens: Integer | None = Field(default=None, ge=0, le=MAX_TOKENS)
    output_tokens: Integer | None = Field(default=None, ge=0, le=MAX_TOKENS)
    per: Window
    name: str | None = None

    @model_validator(mode="after")
    def _needs_a_cap(self) -> BudgetLimit:
        if not self.caps():
            raise ValueError("a limit needs at least one of usd, tokens, input_tokens, output_tokens")
        return self

    def caps(self) -> dict[Unit, float]:
        """The units this limit caps, with their caps (USD as a float, tokens as ints)."""
        return {u: v for u in UNITS if (v := getattr(self, u)) is not None}


class BudgetPolicy(StrictModel):
    """A named set of limits. ``hard`` refuses a call that does not fit; ``soft`` allows it and warns."""

    mode: Literal["hard", "soft"] = "hard"
    warn_at: Number | None = Field(default=None, gt=0, le=1)
    limits: list[BudgetLimit] = Field(min_length=1)


class TeamConfig(StrictModel):
    """A group of agents whose calls count against one shared policy."""

    agents: list[str] = Field(min_length=1)
    policy: str


class KeyScope(StrictModel):
    """A call-time budget key (``budget_keys={"user": "alice"}``): every key value gets its own counters.

    ``keys`` names the policy of known key values; ``default`` is the policy template for values never
    seen before (``None``: unknown values are refused). ``required``: calls without this key are refused.
    """

    default: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)
    required: Flag = False


class BudgetsConfig(StrictModel):
    """The ``loomllm.budgets`` section."""

    timezone: str = "UTC"
    default_output_cap: Integer = Field(default=1024, gt=0)
    cache_hit_cost: Literal["free", "full"] = "free"
    on_store_unavailable: Literal["fail_closed", "fail_open"] = "fail_closed"
    reservation_ttl_s: Number = Field(default=300, gt=0)
    policies: dict[str, BudgetPolicy] = Field(default_factory=dict)
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    global_policy: str | None = Field(default=None, alias="global")
    scopes: dict[str, KeyScope] = Field(default_factory=dict)
    """Call-time keys (end user, tenant, tag...), by kind."""
    models: dict[str, str] = Field(default_factory=dict)
    """Model group name (``model_name`` of ``model_list``) or deployment id (``model_info.id``) -> policy."""
    input_safety_factor: dict[str, Number] = Field(default_factory=dict)
    """Provider or model family -> factor on the tiktoken input count (``*``: any other); over the defaults."""
    journal_path: str | None = None
    """SQLite file for settles the store could not take (default ``./loomllm-budget-journal.db``, made on first use)."""
    max_call_s: Number = Field(default=3600, gt=0)
    """A call's reservation is renewed (heartbeat) for at most this long; afterwards it expires on its own (the
    memory store takes it for this long plus the TTL at once)."""
    spend_retention_days: Integer = Field(default=400, gt=0)
    """How long the per-day spend records behind ``loom.spend()`` are kept."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> BudgetsConfig:
        for team, cfg in self.teams.items():
            self._require_policy(cfg.policy, f"loomllm.budgets.teams.{team}.policy")
        if self.global_policy is not None:
            self._require_policy(self.global_policy, "loomllm.budgets.global")
        for kind, scope in self.scopes.items():
            base = f"loomllm.budgets.scopes.{kind}"
            if scope.default is not None:
                self._require_policy(scope.default, f"{base}.default")
            for key, policy in scope.keys.items():
                self._require_policy(policy, f"{base}.keys.{key}")
        for group, policy in self.models.items():
            self._require_policy(policy, f"loomllm.budgets.models.{group}")
        for provider, factor in self.input_safety_factor.items():
            if not 1.0 <= factor <= 10.0:
                raise ConfigError(
                    f"input safety factor {factor!r} must be between 1 and 10 (a factor below 1 under-reserves)",
                    path=f"loomllm.budgets.input_safety_factor.{provider}",
                )
        return self

    def input_safety(self, provider: str, family: str | None = None) -> float:
        """The factor on the tiktoken input count for a deployment of ``provider`` serving a model of
        ``family``: YAML's provider entry, YAML's family entry, the family default, the provider
        default, then ``*``."""
        own = self.input_safety_factor
        for key in (provider, family):
            if key is not None and key in own:
                return own[key]
        for key in (family, provider):
            if key is not None and key in DEFAULT_INPUT_SAFETY:
                return DEFAULT_INPUT_SAFETY[key]
        return own.get("*", DEFAULT_INPUT_SAFETY["*"])

    def check_model_groups(self, groups: Collection[str]) -> None:
        """Raise :class:`ConfigError` if a per-model budget names neither a group nor a deployment id."""
        for group in self.models:
            if group not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise ConfigError(f"budget for unknown model group or deployment {group!r} (known: {known})",
                                  path=f"loomllm.budgets.models.{group}")

    def _require_policy(self, name: str, path: str) -> None:
        if name not in self.policies:
            known = ", ".join(sorted(self.policies)) or "none defined"
            raise ConfigError(f"unknown budget policy {name!r} (known: {known})", path=path)

    def check_agents(self, agent_policies: Mapping[str, str | None]) -> None:
        """Raise :class:`ConfigError` if an agent names a policy that does not exist."""
        for agent, policy in agent_policies.items():
            if policy is not None:
                self._require_policy(policy, f"loomllm.agents.{agent}.budget")

    def policies_for(self, agent: str, agent_policy: str | None) -> list[tuple[str, str, str]]:
        """``(scope kind, scope name, policy name)`` for every policy that applies to ``agent``."""
        out: list[tuple[str, str, str]] = []
        if agent_policy is not None:
            out.append(("agent", agent, agent_policy))
        out.extend(("team", team, cfg.policy) for team, cfg in self.teams.items() if agent in cfg.agents)
        if self.global_policy is not None:
            out.append(("global", "*", self.global_policy))
        return out
