"""Budget configuration: the ``loomllm.budgets`` section of the YAML file.

A policy is a list of limits; each limit caps one or more units (``usd``, ``tokens``,
``input_tokens``, ``output_tokens``) over one window (``minute`` ... ``month`` in the configured
timezone, or ``lifetime``). Agents name a policy; teams share one; ``global`` applies to everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from loomllm._base import StrictModel
from loomllm.errors import ConfigError

__all__ = ["BudgetLimit", "BudgetPolicy", "BudgetsConfig", "TeamConfig", "Unit", "Window"]

Window = Literal["minute", "hour", "day", "month", "lifetime"]
Unit = Literal["usd", "tokens", "input_tokens", "output_tokens"]
UNITS: tuple[Unit, ...] = ("usd", "tokens", "input_tokens", "output_tokens")
MAX_USD = 1_000_000.0
MAX_TOKENS = 10**15


class BudgetLimit(StrictModel):
    """One limit: caps on one or more units over one window. Every cap set must hold."""

    # Stores count exact integers (nano-dollars, tokens) that must stay below 2**53 for Redis' Lua.
    usd: float | None = Field(default=None, ge=0, le=MAX_USD)
    tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    input_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    output_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
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
    warn_at: float | None = Field(default=None, gt=0, le=1)
    limits: list[BudgetLimit] = Field(min_length=1)


class TeamConfig(StrictModel):
    """A group of agents whose calls count against one shared policy."""

    agents: list[str] = Field(min_length=1)
    policy: str


class BudgetsConfig(StrictModel):
    """The ``loomllm.budgets`` section."""

    timezone: str = "UTC"
    default_output_cap: int = Field(default=1024, gt=0)
    cache_hit_cost: Literal["free", "full"] = "free"
    on_store_unavailable: Literal["fail_closed", "fail_open"] = "fail_closed"
    reservation_ttl_s: float = Field(default=300, gt=0)
    policies: dict[str, BudgetPolicy] = Field(default_factory=dict)
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    global_policy: str | None = Field(default=None, alias="global")

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
        return self

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
