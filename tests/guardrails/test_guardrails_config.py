"""Guardrail policy models: YAML shape, rule resolution, strict validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loomllm._guardrails import SECRET_ENTITIES, GuardrailProfile, GuardrailsConfig
from loomllm._guardrails.config import DirectionPolicy
from loomllm.errors import ConfigError


class TestShape:
    def test_flat_yaml_mapping_parses(self) -> None:
        """Entity keys map to actions or {action, threshold}; ``default`` is the fallback."""
        policy = DirectionPolicy.model_validate(
            {"SECRET": "block", "PHONE_NUMBER": {"action": "redact", "threshold": 0.6}, "default": "mask"}
        )
        assert policy.rules["PHONE_NUMBER"].threshold == 0.6
        assert "mask" == policy.default

    def test_defaults_block_secrets_both_directions(self) -> None:
        """With no configuration at all, every secret type blocks on input and output."""
        profile = GuardrailsConfig().profile("standard")
        for entity in SECRET_ENTITIES:
            assert "block" == profile.input.rule_for(entity).action
            assert "block" == profile.output.rule_for(entity).action

    def test_default_action_never_covers_secrets(self) -> None:
        """``default: allow`` leaves secrets blocked unless SECRET or the type itself says otherwise."""
        policy = DirectionPolicy.model_validate({"default": "allow"})
        assert "block" == policy.rule_for("SECRET_GITHUB_TOKEN").action
        assert "allow" == policy.rule_for("EMAIL_ADDRESS").action

    def test_specific_rule_beats_family(self) -> None:
        """A rule for one secret type overrides the SECRET family rule."""
        policy = DirectionPolicy.model_validate({"SECRET": "block", "SECRET_JWT": "redact"})
        assert "redact" == policy.rule_for("SECRET_JWT").action
        assert "block" == policy.rule_for("SECRET_AWS_ACCESS_KEY").action

    def test_thresholds(self) -> None:
        """Rule thresholds win; otherwise per-entity defaults apply."""
        policy = DirectionPolicy.model_validate({"PHONE_NUMBER": {"action": "redact", "threshold": 0.75}})
        assert 0.75 == policy.threshold_for("PHONE_NUMBER")
        assert 0.5 == policy.threshold_for("EMAIL_ADDRESS")

    def test_all_secret_types_are_a_family(self) -> None:
        """At least 30 secret types exist and all start with SECRET_."""
        assert len(SECRET_ENTITIES) >= 30
        assert all(e.startswith("SECRET_") for e in SECRET_ENTITIES)


BAD_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("unknown entity", {"profiles": {"p": {"input": {"EMAIL_ADRESS": "redact"}}}}),
    ("unknown action", {"profiles": {"p": {"input": {"EMAIL_ADDRESS": "scramble"}}}}),
    ("threshold out of range", {"profiles": {"p": {"input": {"EMAIL_ADDRESS": {"action": "redact", "threshold": 2}}}}}),
    ("bad regex", {"profiles": {"p": {"allow_patterns": ["(unclosed"]}}}),
    ("missing default profile", {"default": "strict", "profiles": {"p": {}}}),
    ("unknown top-level key", {"profile": {}}),
    ("unknown profile key", {"profiles": {"p": {"restor": True}}}),
    ("unknown pii entity", {"pii_entities": ["EMAIL_ADDRESS", "SHOE_SIZE"]}),
    ("bad error mode", {"on_analyzer_error": "ignore"}),
    ("negative cache", {"cache_size": -1}),
    ("bad spacy model name", {"spacy_model": "en core web sm; rm -rf"}),
    ("restore as a string", {"profiles": {"p": {"restore": "false"}}}),
    ("cache size as a boolean", {"cache_size": True}),
    ("rule for an entity not loaded", {"profiles": {"p": {"input": {"US_PASSPORT": "block"}}}}),
    ("rule for an NER entity without a model", {"profiles": {"p": {"output": {"LOCATION": "redact"}}}}),
]


@pytest.mark.parametrize(("case", "data"), BAD_CONFIGS, ids=[c for c, _ in BAD_CONFIGS])
def test_invalid_config_is_rejected(case: str, data: dict[str, Any]) -> None:
    """Each malformed config raises a validation error (a ConfigError where the key path is known)."""
    with pytest.raises((ValidationError, ConfigError)):
        GuardrailsConfig.model_validate(data)


def test_profile_lookup_names_known_profiles() -> None:
    """Asking for an undefined profile raises KeyError naming the defined ones."""
    with pytest.raises(KeyError, match="standard"):
        GuardrailsConfig().profile("nope")


def test_models_are_frozen() -> None:
    """Config models are immutable."""
    profile = GuardrailProfile()
    with pytest.raises(ValidationError):
        profile.restore = False  # type: ignore[misc]
