"""Guardrail detection quality on the labelled corpus: recall per entity type and false-positive rates.

Run: ``.venv/bin/python bench/guardrails_eval.py [-v] [--corpus DIR] [--standard]`` (``-v`` lists missed and
false-positive record ids; ``--corpus tests/guardrails/heldout`` or ``tests/guardrails/heldout2`` scores a
held-out set; ``--standard`` uses the default ``standard`` profile instead of the redact-everything evaluation
profile, so ``allow``-ed types count as misses, as a user of the default would see them). Records (or labels)
with a ``family`` get a per-family line: recall, typed recall, and the FP rate per family of hard negatives.
Targets: secrets recall >= 0.98 with <= 1% FP on hard negatives; PII recall >= 0.95 with <= 3% FP.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._guardrails.quality import evaluate, load_corpus

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "guardrails" / "corpus"


def main() -> int:
    """Print the report; exit 1 when a target is missed."""
    corpus = Path(sys.argv[sys.argv.index("--corpus") + 1]) if "--corpus" in sys.argv else CORPUS
    config = GuardrailsConfig(default="standard") if "--standard" in sys.argv else None
    records = load_corpus(corpus)
    report = evaluate(records, config)
    print(f"{'entity type':34} {'n':>5} {'recall':>7} {'exact-type':>10}")
    for entity in sorted(report.totals):
        n = report.totals[entity]
        exact = report.exact_type_hits[entity] / n
        print(f"{entity:34} {n:5d} {report.recall(entity):7.3f} {exact:10.3f}")
    secret_recall, pii_recall = report.kind_recall("secret"), report.kind_recall("pii")
    print()
    print(
        f"secrets: recall {secret_recall:.4f} (target >= 0.98), FP rate {report.secret_fp_rate:.4f} "
        f"on {report.negatives} hard negatives (target <= 0.01)"
    )
    print(
        f"PII:     recall {pii_recall:.4f} (target >= 0.95), FP rate {report.pii_fp_rate:.4f} "
        f"on {report.negatives} hard negatives (target <= 0.03)"
    )
    print(f"findings outside labels in positive records: {len(report.unlabelled_findings)}")
    print_families(records, config)
    if "-v" in sys.argv:
        print("missed:", report.missed_ids)
        print("false positives:", report.false_positive_ids)
        print("unlabelled findings:", report.unlabelled_findings)
    ok = secret_recall >= 0.98 and report.secret_fp_rate <= 0.01 and pii_recall >= 0.95 and report.pii_fp_rate <= 0.03
    return 0 if ok else 1


def print_families(records: list[dict[str, object]], config: GuardrailsConfig | None) -> None:
    """Per ``family``: recall (a finding of the right kind overlaps the label), typed recall (of the labelled type)
    and, for families of negatives, the false-positive rate. A label's own ``family`` wins over its record's."""
    from loomllm._guardrails.quality import _EVAL_CONFIG

    config = config or _EVAL_CONFIG
    guard = Guard.from_config(config, config.default or "eval")
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    typed: Counter[str] = Counter()
    negative_families: set[str] = set()
    for record in records:
        text = str(record["text"])
        decisions = guard.decide(text, "input", message_index=None, agent="eval")
        if record["kind"] == "negative":
            family = record.get("family")
            family = family if isinstance(family, str) and family != "negative" else "negative"
            negative_families.add(family)
            totals[family] += 1
            hits[family] += bool(decisions)
            continue
        for label in record["entities"]:  # type: ignore[attr-defined]
            family = label.get("family") or record.get("family")
            if not isinstance(family, str):
                continue
            totals[family] += 1
            want = label["type"]
            overlapping = [d for d in decisions if d.start < label["end"] and d.end > label["start"]]
            hits[family] += any(
                d.entity_type == want or (want.startswith("SECRET_") and d.entity_type.startswith("SECRET_"))
                for d in overlapping
            )
            typed[family] += any(d.entity_type == want for d in overlapping)
    if totals:
        print()
        print(f"{'family':22} {'n':>4} {'recall':>7} {'typed':>7}")
        for family in sorted(f for f in totals if f not in negative_families):
            n = totals[family]
            print(f"{family:22} {n:4d} {hits[family] / n:7.3f} {typed[family] / n:7.3f}")
        flagged = sum(hits[f] for f in negative_families)
        n_neg = sum(totals[f] for f in negative_families)
        print(f"{'negatives (FP rate)':22} {n_neg:4d} {flagged / n_neg if n_neg else 0.0:7.3f}")
        for family in sorted(negative_families):
            if len(negative_families) > 1:
                print(f"  {family:20} {totals[family]:4d} {hits[family] / totals[family]:7.3f}")


if __name__ == "__main__":
    sys.exit(main())
