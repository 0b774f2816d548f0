"""The ``loomllm.output_policy:`` section: what an answer may not say, per agent.

The YAML shape::

    output_policy:
      default: null                 # policy for agents not listed (null: none)
      agents: {support_bot: public}
      policies:
        public:
          action: block             # block: raise ContentPolicyViolation; flag: deliver and report
          on_error: fail_closed     # the moderation call failed or its answer checked nothing (no result,
                                    # no categories): block (fail_closed) or deliver (fail_open)
          hold_back_chars: 200      # streams: visible characters of each text held back until checked
          moderation:
            model: moderation       # a model group in model_list, called through the Router
            categories: [violence, self-harm]   # default: any category the model flags
            threshold: 0.5          # optional: score at or above which a category counts
          deny:
            words: ["wire the funds"]
            patterns: ["(?i)\\\\bguaranteed returns?\\\\b"]
          callable: "myapp.policies:check_answer"   # module:function, text -> None | reason(s)

Every text field the caller receives is checked (content, reasoning, refusal, thinking, tool-call
names and arguments), each on its own. Deny words are case-insensitive whole words, read through
NFKC and invisible format characters. Unknown policy names and invalid patterns are errors: a typo
never switches a policy off; a moderation deployment without a price is one for an agent under a
USD limit (moderation calls are charged to the agent at that price).
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .._base import Integer, Number, StrictModel
from ..errors import ConfigError

__all__ = ["OPENAI_CATEGORIES", "ContentPolicyConfig", "DenyRules", "ModerationConfig", "OutputPolicySection"]

#: The category names OpenAI's moderation API returns (as LiteLLM's response spells them, by alias).
OPENAI_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)


class ModerationConfig(StrictModel):
    """A moderation model (LiteLLM's moderation API) called through the Router."""

    model: str = Field(description="A model group in model_list.")
    categories: list[str] | None = Field(default=None, description="Categories that count (default: any flagged).")
    threshold: Number | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("categories")
    @classmethod
    def _some_category(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list counts no category, so moderation would never block; leave categories "
                             "out to count any category the model flags")
        for index, name in enumerate(value or []):
            near = difflib.get_close_matches(name, OPENAI_CATEGORIES, n=1, cutoff=0.75)
            if near and near[0] != name:
                raise ValueError(f"categories[{index}]: {name!r} is not a category the moderation API returns (a "
                                 f"misspelt category never counts); did you mean {near[0]!r}?")
        return value


class DenyRules(StrictModel):
    """Words (case-insensitive, whole words) and regular expressions an answer may not contain."""

    words: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns[{index}] is not a valid regular expression: {exc}") from None
        return value

    @field_validator("words")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not w.strip() for w in value):
            raise ValueError("a deny word is empty (it would match nothing; remove it)")
        return value


class ContentPolicyConfig(StrictModel):
    """One named output content policy."""

    action: Literal["block", "flag"] = "block"
    on_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    hold_back_chars: Integer = Field(default=200, ge=0, le=100_000)
    moderation: ModerationConfig | None = None
    deny: DenyRules = Field(default_factory=DenyRules)
    callable: str | None = Field(default=None, description="'module:function' taking the text.")

    @field_validator("callable")
    @classmethod
    def _module_colon_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.]+:[\w.]+", value):
            raise ValueError("callable must read 'module.path:function'")
        return value

    @model_validator(mode="after")
    def _checks_something(self) -> ContentPolicyConfig:
        if self.moderation is None and not self.deny.words and not self.deny.patterns and self.callable is None:
            raise ValueError("the policy checks nothing: give moderation, deny or callable")
        return self


class OutputPolicySection(StrictModel):
    """The ``loomllm.output_policy`` section."""

    default: str | None = None
    agents: dict[str, str] = Field(default_factory=dict)
    policies: dict[str, ContentPolicyConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_exist(self) -> OutputPolicySection:
        known = ", ".join(sorted(self.policies)) or "none defined"
        if self.default is not None and self.default not in self.policies:
            raise ConfigError(f"unknown output policy {self.default!r} (known: {known})",
                              path="loomllm.output_policy.default")
        for agent, name in self.agents.items():
            if name not in self.policies:
                raise ConfigError(f"unknown output policy {name!r} (known: {known})",
                                  path=f"loomllm.output_policy.agents.{agent}")
        return self

    def policy_name(self, agent: str) -> str | None:
        """The policy bound to ``agent`` (its own, else the default)."""
        return self.agents.get(agent, self.default)
