"""Guardrail detection quality on the labelled corpus: recall per entity type and false-positive rates.

Run: ``.venv/bin/python bench/guardrails_eval.py [-v] [--corpus DIR] [--standard]`` (``-v`` lists missed and
false-positive record ids; ``--corpus tests/guardrails/heldout`` scores the held-out set; ``--standard`` uses
the default ``standard`` profile instead of the redact-everything evaluation profile, so ``allow``-ed types
count as misses, as a user of the default would see them). Records with a ``family`` get a per-family line.
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
    """Recall (any overlapping finding of the right kind) and false positives per ``family`` of record."""
    from loomllm._guardrails.quality import _EVAL_CONFIG

    config = config or _EVAL_CONFIG
    guard = Guard.from_config(config, config.default or "eval")
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for record in records:
        family = record.get("family")
        if not isinstance(family, str):
            continue
        text = str(record["text"])
        decisions = guard.decide(text, "input", message_index=None, agent="eval")
        if record["kind"] == "negative":
            totals[family] += 1
            hits[family] += bool(decisions)
            continue
        for label in record["entities"]:  # type: ignore[attr-defined]
            totals[family] += 1
            want = label["type"]
            hits[family] += any(
                d.start < label["end"] and d.end > label["start"]
                and (d.entity_type == want or (want.startswith("SECRET_") and d.entity_type.startswith("SECRET_")))
                for d in decisions
            )
    if totals:
        print()
        print(f"{'family':20} {'n':>4} {'recall / FP rate':>17}")
        for family in sorted(totals):
            label = "FP rate" if family == "negative" else "recall"
            print(f"{family:20} {totals[family]:4d} {hits[family] / totals[family]:10.3f} {label}")


if __name__ == "__main__":
    sys.exit(main())
