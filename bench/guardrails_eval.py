"""Guardrail detection quality on the labelled corpus: recall per entity type and false-positive rates.

Run: ``.venv/bin/python bench/guardrails_eval.py [-v]`` (``-v`` lists missed and false-positive record ids).
Targets: secrets recall >= 0.98 with <= 1% FP on hard negatives; PII recall >= 0.95 with <= 3% FP.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loomllm._guardrails.quality import evaluate, load_corpus

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "guardrails" / "corpus"


def main() -> int:
    """Print the report; exit 1 when a target is missed."""
    report = evaluate(load_corpus(CORPUS))
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
    if "-v" in sys.argv:
        print("missed:", report.missed_ids)
        print("false positives:", report.false_positive_ids)
        print("unlabelled findings:", report.unlabelled_findings)
    ok = secret_recall >= 0.98 and report.secret_fp_rate <= 0.01 and pii_recall >= 0.95 and report.pii_fp_rate <= 0.03
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
