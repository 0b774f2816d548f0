"""Detection quality on a labelled corpus: recall per entity type and false-positive rates.

Used by ``bench/guardrails_eval.py`` and by the test that holds the targets (secrets recall ≥ 0.98 with ≤ 1 %
false positives on hard negatives; PII recall ≥ 0.95 with ≤ 3 %).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import GuardrailsConfig
from .guard import Guard

__all__ = ["QualityReport", "evaluate", "load_corpus"]

_EVAL_CONFIG = GuardrailsConfig.model_validate(
    {
        "default": "eval",
        "profiles": {"eval": {"input": {"SECRET": "block", "default": "redact"}}},
    }
)


@dataclass
class QualityReport:
    """Recall per expected type, and false-positive rates on the negatives."""

    hits: Counter[str] = field(default_factory=Counter)
    exact_type_hits: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)
    negatives: int = 0
    secret_false_positives: int = 0
    pii_false_positives: int = 0
    false_positive_ids: list[tuple[str, str]] = field(default_factory=list)
    missed_ids: list[str] = field(default_factory=list)
    #: Findings in labelled records that overlap no label (extra findings in realistic messages).
    unlabelled_findings: list[tuple[str, str]] = field(default_factory=list)

    def recall(self, entity_type: str) -> float:
        """Share of labelled ``entity_type`` spans found (secrets: by any ``SECRET_*`` type)."""
        return self.hits[entity_type] / self.totals[entity_type] if self.totals[entity_type] else 1.0

    def kind_recall(self, kind: str) -> float:
        """Recall over all labelled spans of ``kind`` (``secret`` or ``pii``)."""
        types = [t for t in self.totals if t.startswith("SECRET_") == (kind == "secret")]
        total = sum(self.totals[t] for t in types)
        return sum(self.hits[t] for t in types) / total if total else 1.0

    @property
    def secret_fp_rate(self) -> float:
        """Share of negatives with any secret finding."""
        return self.secret_false_positives / self.negatives if self.negatives else 0.0

    @property
    def pii_fp_rate(self) -> float:
        """Share of negatives with any PII finding."""
        return self.pii_false_positives / self.negatives if self.negatives else 0.0


def load_corpus(directory: Path) -> list[dict[str, Any]]:
    """Every record of every ``*.jsonl`` file in ``directory``.

    Labels are read from ``entities`` or, in corpora written as ``spans`` (``heldout2``), from ``spans``.
    """
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    for record in records:
        if "entities" not in record:
            record["entities"] = record.get("spans", [])
    return records


def _matches(expected: str, found: str) -> bool:
    return found == expected or (expected.startswith("SECRET_") and found.startswith("SECRET_"))


def evaluate(records: Iterable[Mapping[str, Any]], config: GuardrailsConfig | None = None) -> QualityReport:
    """Run the guard's detection on every record and score it against the labels."""
    guard = Guard.from_config(config or _EVAL_CONFIG, (config or _EVAL_CONFIG).default or "eval")
    report = QualityReport()
    for record in records:
        text = record["text"]
        decisions = guard.decide(text, "input", message_index=None, agent="eval")
        if record["kind"] == "negative":
            report.negatives += 1
            secret = [d for d in decisions if d.entity_type.startswith("SECRET_")]
            pii = [d for d in decisions if not d.entity_type.startswith("SECRET_")]
            report.secret_false_positives += bool(secret)
            report.pii_false_positives += bool(pii)
            report.false_positive_ids += [(record["id"], d.entity_type) for d in decisions]
            continue
        labels = record["entities"]
        report.unlabelled_findings += [
            (record["id"], d.entity_type)
            for d in decisions
            if not any(d.start < label["end"] and d.end > label["start"] for label in labels)
        ]
        for label in labels:
            expected = label["type"]
            report.totals[expected] += 1
            overlapping = [d for d in decisions if d.start < label["end"] and d.end > label["start"]]
            if any(_matches(expected, d.entity_type) for d in overlapping):
                report.hits[expected] += 1
            else:
                report.missed_ids.append(record["id"])
            if any(d.entity_type == expected for d in overlapping):
                report.exact_type_hits[expected] += 1
    return report
