"""The spaCy NER path: a configured pipeline adds PERSON and LOCATION findings (no download, ever)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm.errors import ConfigError, GuardrailViolation


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real spaCy pipeline saved to disk: a tokenizer plus an entity ruler that tags people and places."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([  # type: ignore[attr-defined]
        {"label": "PERSON", "pattern": [{"LOWER": "ada"}, {"LOWER": "lovelace"}]},
        {"label": "GPE", "pattern": "Lisbon"},
    ])
    path = tmp_path_factory.mktemp("spacy") / "ruler_pipeline"
    nlp.to_disk(path)
    return path


def _config(model: str) -> GuardrailsConfig:
    return GuardrailsConfig.model_validate({
        "spacy_model": model,
        "profiles": {"ner": {"input": {"PERSON": "block", "LOCATION": "redact", "default": "allow"}}},
    })


def test_configured_pipeline_adds_ner_entities(pipeline_dir: Path) -> None:
    """With a spaCy pipeline configured, names are found (and blocked) and places redacted."""
    guard = Guard.from_config(_config(str(pipeline_dir)), "ner")
    with pytest.raises(GuardrailViolation) as caught:
        guard.protect_input_sync([{"role": "user", "content": "Send the report to Ada Lovelace"}],
                                 guard.new_vault(), agent="a")
    assert ["PERSON"] == [f.entity_type for f in caught.value.findings]
    [redacted] = guard.protect_input_sync([{"role": "user", "content": "We meet in Lisbon"}], guard.new_vault(),
                                          agent="a")
    assert "Lisbon" not in redacted["content"] and "<LOCATION_1>" in redacted["content"]


def test_missing_model_falls_back_without_download(tmp_path: Path) -> None:
    """A configured model that is not installed falls back to the model-free recognizers (no download)
    when no rule needs it: people are still found from the name lists."""
    config = GuardrailsConfig.model_validate({
        "spacy_model": "loomllm_no_such_spacy_model",
        "profiles": {"ner": {"input": {"PERSON": "block", "default": "allow"}}},
    })
    guard = Guard.from_config(config, "ner")
    with pytest.raises(GuardrailViolation) as caught:
        guard.protect_input_sync([{"role": "user", "content": "Send it to Ada Lovelace"}], guard.new_vault(), agent="a")
    assert ["PERSON"] == [f.entity_type for f in caught.value.findings]


def test_missing_model_is_an_error_when_a_rule_needs_it(make_loom: Any) -> None:
    """LOCATION: redact with the model missing would never fire: the agent is refused at start, naming
    the file and the key."""
    with pytest.raises(ConfigError) as caught:
        make_loom("""
            agents: {a: {model: smart, guardrails: ner}}
            guardrails:
              spacy_model: loomllm_no_such_spacy_model
              profiles: {ner: {input: {LOCATION: redact, default: allow}}}
        """).agent("a")
    assert "loomllm.guardrails.spacy_model" in str(caught.value) and "LOCATION" in str(caught.value)
    assert ".yaml" in str(caught.value)
