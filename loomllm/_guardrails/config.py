"""Guardrail policy models: which entity gets which action, per direction, per profile.

The YAML shape (``loomllm.guardrails``)::

    default: standard
    spacy_model: null
    on_analyzer_error: fail_closed
    cache_size: 10000
    profiles:
      standard:
        input:
          SECRET: block                 # any SECRET_* entity
          EMAIL_ADDRESS: redact
          PHONE_NUMBER: {action: redact, threshold: 0.6}
          default: allow                # PII entities not listed (never secrets)
        output:
          SECRET: block
        restore: true
        allow_values: ["support@ourco.com"]
        allow_patterns: ["@ourco\\.com$"]

Secrets are never covered by ``default``: a ``SECRET_*`` entity takes its own rule, else the ``SECRET``
family rule, else ``block``. Unknown entity names are errors, so a typo cannot silently disable a policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .._base import Flag, Integer, Number, StrictModel
from ..errors import ConfigError
from .entities import ALL_PII_ENTITIES, DEFAULT_PII_ENTITIES, NER_ENTITIES, SECRET_ENTITIES, SECRET_FAMILY

__all__ = ["Action", "DirectionPolicy", "EntityRule", "GuardrailProfile", "GuardrailsConfig"]

Action = Literal["block", "redact", "mask", "allow"]

#: Minimum score for a finding to count when a rule names no threshold.
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "PHONE_NUMBER": 0.4,
    "US_SSN": 0.5,
    "US_ITIN": 0.5,
    "IP_ADDRESS": 0.6,
    "PERSON": 0.6,
    "LOCATION": 0.6,
}
GENERIC_THRESHOLD = 0.5

# Values of unrelated kinds: an allow pattern found in all of them allows everything (".", "\\w", "[^ ]").
_UNLIKE_VALUES = ("alice@example.com", "4111 1111 1111 1111", "sk-proj-4xQ9mZ2", "+1 415 555 0100", "10.0.0.7")

_KNOWN_ENTITIES = frozenset({SECRET_FAMILY, *SECRET_ENTITIES, *ALL_PII_ENTITIES, *NER_ENTITIES})


class EntityRule(StrictModel):
    """What to do with one entity type: an action and, optionally, the minimum score that triggers it."""

    action: Action
    threshold: Number | None = Field(default=None, ge=0.0, le=1.0)


class DirectionPolicy(StrictModel):
    """Rules for one direction (``input``: text sent to the provider; ``output``: the provider's answer).

    Written in YAML as a flat mapping ``ENTITY: action`` (or ``ENTITY: {action, threshold}``) plus ``default``.
    """

    rules: dict[str, EntityRule] = Field(default_factory=dict)
    default: Action = "allow"

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "rules" in data:
            return data
        rules: dict[str, Any] = {}
        default: Any = "allow"
        for key, value in data.items():
            if key == "default":
                default = value
            else:
                rules[key] = {"action": value} if isinstance(value, str) else value
        return {"rules": rules, "default": default}

    @field_validator("rules")
    @classmethod
    def _known_entities(cls, rules: dict[str, EntityRule]) -> dict[str, EntityRule]:
        unknown = sorted(set(rules) - _KNOWN_ENTITIES)
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; known: SECRET, SECRET_*, {sorted(ALL_PII_ENTITIES)}")
        return rules

    def rule_for(self, entity_type: str) -> EntityRule:
        """The rule that applies to ``entity_type`` (own rule, then family, then the default)."""
        rule = self.rules.get(entity_type)
        if rule is not None:
            return rule
        if entity_type.startswith("SECRET_"):
            return self.rules.get(SECRET_FAMILY) or EntityRule(action="block")
        return EntityRule(action=self.default)

    def threshold_for(self, entity_type: str) -> float:
        """Minimum score for ``entity_type`` under this policy."""
        rule = self.rule_for(entity_type)
        if rule.threshold is not None:
            return rule.threshold
        return DEFAULT_THRESHOLDS.get(entity_type, GENERIC_THRESHOLD)


def _standard_input() -> DirectionPolicy:
    return DirectionPolicy.model_validate(
        {
            "SECRET": "block",
            "EMAIL_ADDRESS": "redact",
            "PHONE_NUMBER": "redact",
            "US_SSN": "redact",
            "US_ITIN": "redact",
            "CREDIT_CARD": "mask",
            "IBAN_CODE": "mask",
            "IP_ADDRESS": "redact",
            "MAC_ADDRESS": "redact",
            "CRYPTO": "redact",
            "PERSON": "redact",
            "STREET_ADDRESS": "redact",
            "UK_NHS": "redact",
            "UK_NINO": "redact",
            "default": "allow",
        }
    )


def _standard_output() -> DirectionPolicy:
    return DirectionPolicy.model_validate({"SECRET": "block", "default": "allow"})


class GuardrailProfile(StrictModel):
    """One named policy: input rules, output rules, restoration and allow-lists."""

    input: DirectionPolicy = Field(default_factory=_standard_input)
    output: DirectionPolicy = Field(default_factory=_standard_output)
    restore: Flag = True
    allow_values: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()

    @field_validator("allow_patterns")
    @classmethod
    def _compilable(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for index, pattern in enumerate(patterns):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"allow_patterns[{index}] is not a valid regular expression: {exc}") from None
            if compiled.search("") or all(compiled.search(value) for value in _UNLIKE_VALUES):
                raise ValueError(f"allow_patterns[{index}] matches any value (an e-mail address, a card number, an "
                                 "API key alike), so it would allow every finding, secrets included: anchor it to "
                                 "what you mean to allow (e.g. '@ourco\\.com$')")
        return patterns

    def policy(self, direction: str) -> DirectionPolicy:
        """The rules for ``direction`` (``"input"`` or ``"output"``)."""
        return self.input if direction == "input" else self.output


class GuardrailsConfig(StrictModel):
    """The ``loomllm.guardrails`` section: analyzer settings plus named profiles."""

    default: str | None = None
    spacy_model: str | None = None
    on_analyzer_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    cache_size: Integer = Field(default=10_000, ge=0, le=10_000_000)
    pii_entities: tuple[str, ...] = DEFAULT_PII_ENTITIES
    profiles: dict[str, GuardrailProfile] = Field(default_factory=lambda: {"standard": GuardrailProfile()})

    @field_validator("pii_entities")
    @classmethod
    def _known_pii(cls, entities: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(entities) - set(ALL_PII_ENTITIES))
        if unknown:
            raise ValueError(f"unknown PII entity type(s) {unknown}; known: {sorted(ALL_PII_ENTITIES)}")
        return entities

    @field_validator("spacy_model")
    @classmethod
    def _model_name(cls, name: str | None) -> str | None:
        # An installed package name (en_core_web_sm) or a directory holding a saved pipeline.
        if name is not None and ("/" not in name and "\\" not in name) and not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ValueError(f"spacy_model {name!r} is neither a package name nor a directory path")
        return name

    @model_validator(mode="after")
    def _default_profile_exists(self) -> GuardrailsConfig:
        if self.default is not None and self.default not in self.profiles:
            raise ConfigError(f"default profile {self.default!r} is not defined in profiles {sorted(self.profiles)}",
                              path="loomllm.guardrails.default")
        return self

    @model_validator(mode="after")
    def _rules_are_detected(self) -> GuardrailsConfig:
        """A rule written for an entity no recognizer finds would never fire: the policy would be off for it."""
        detected = {*self.pii_entities, *(NER_ENTITIES if self.spacy_model else ())}
        for name, profile in self.profiles.items():
            for direction in ("input", "output"):
                if direction not in profile.model_fields_set:
                    continue  # the built-in rules name every default entity; a shorter pii_entities is deliberate
                for entity, rule in profile.policy(direction).rules.items():
                    if rule.action == "allow" or entity == SECRET_FAMILY or entity in SECRET_ENTITIES \
                            or entity in detected:
                        continue
                    fix = ("set loomllm.guardrails.spacy_model (only a spaCy NER model finds it)"
                           if entity not in ALL_PII_ENTITIES else "add it to loomllm.guardrails.pii_entities")
                    raise ConfigError(f"{entity} is not detected, so this rule would never apply: {fix}",
                                      path=f"loomllm.guardrails.profiles.{name}.{direction}.{entity}")
        return self

    def profile(self, name: str) -> GuardrailProfile:
        """The profile called ``name``; ``KeyError`` naming the known profiles otherwise."""
        try:
            return self.profiles[name]
        except KeyError:
            raise KeyError(f"guardrail profile {name!r} is not defined; known: {sorted(self.profiles)}") from None
