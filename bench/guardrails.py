"""Guardrail latency: loomllm's engine vs plain Presidio ``AnalyzerEngine`` with the same recognizers, same run.

Run: ``.venv/bin/python bench/guardrails.py [--rounds N]``

Every measured message is a new support ticket (``bench/ticket_text.py``: prose with order numbers, amounts,
dates, versions, log lines; a quarter carry an e-mail or phone number) that the scan cache has never seen,
measured in turn with plain Presidio (one message each, so that drift in the machine's load hits both alike),
except in the conversation case, where an agent resends its whole history each turn — there loomllm scans
each distinct message once and plain Presidio scans everything every turn. Plain Presidio uses the same
tokenizer-only NLP engine, loomllm's secret recognizers and Presidio's stock PII recognizers
(``PhoneRecognizer`` over the whole text, ``EmailRecognizer``, ...).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._guardrails.analyzer import TokenizerNlpEngine
from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ticket_text import make_ticket


def make_text(size: int, rng: random.Random) -> str:
    """A new support-ticket text of about ``size`` characters (prose, numbers, ids, versions)."""
    parts = [make_ticket(rng, min(size, 2048))]
    while sum(len(p) for p in parts) < size:
        parts.append(make_ticket(rng, min(2048, size - sum(len(p) for p in parts) + 64)))
    return "\n\n".join(parts)


class EagerTokenizerNlpEngine(TokenizerNlpEngine):
    """What Presidio does with any NLP engine: tokenize every text up front (spaCy ``Doc`` tokens)."""

    def process_text(self, text: str, language: str) -> Any:
        """Tokens, indices, lemmas and keywords for ``text``, computed now."""
        from presidio_analyzer.nlp_engine import NlpArtifacts

        doc = self.nlp(text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=[],
        )


def plain_presidio() -> Any:
    """``AnalyzerEngine`` with stock Presidio PII recognizers plus loomllm's secret recognizers."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
        UsItinRecognizer,
        UsSsnRecognizer,
    )

    from loomllm._guardrails.analyzer import SECRET_SPECS, OfflineEmailRecognizer, SecretRecognizer
    from loomllm._guardrails.pii import PersonNameRecognizer, StreetAddressRecognizer

    stock = {
        "CREDIT_CARD": CreditCardRecognizer,
        "CRYPTO": CryptoRecognizer,
        # Presidio's stock EmailRecognizer downloads the public-suffix list on first use; same regex, offline.
        "EMAIL_ADDRESS": OfflineEmailRecognizer,
        "IBAN_CODE": IbanRecognizer,
        "IP_ADDRESS": IpRecognizer,
        "MAC_ADDRESS": MacAddressRecognizer,
        "PHONE_NUMBER": PhoneRecognizer,
        # No stock Presidio recognizer exists for these two: loomllm's, run over the whole text.
        "PERSON": PersonNameRecognizer,
        "STREET_ADDRESS": StreetAddressRecognizer,
        "UK_NHS": NhsRecognizer,
        "UK_NINO": UkNinoRecognizer,
        "US_ITIN": UsItinRecognizer,
        "US_SSN": UsSsnRecognizer,
    }
    registry = RecognizerRegistry(supported_languages=["en"])
    by_entity: dict[str, list[Any]] = {}
    for spec in SECRET_SPECS:
        by_entity.setdefault(spec.entity, []).append(spec)
    for entity, specs in by_entity.items():
        registry.add_recognizer(SecretRecognizer(entity, specs))
    for entity in DEFAULT_PII_ENTITIES:
        registry.add_recognizer(stock[entity]())
    nlp = EagerTokenizerNlpEngine()
    nlp.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    """Milliseconds per call of ``fn``."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Print p50/p99 per message size and for a 20-turn conversation."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rng = random.Random(7)
    config = GuardrailsConfig(default="standard")
    guard = Guard.from_config(config, "standard")
    analyzer = plain_presidio()
    guard.protect_input_sync([{"role": "user", "content": make_text(2048, rng)}], guard.new_vault(), agent="bench")
    analyzer.analyze(text=make_text(2048, rng), language="en")

    print(f"{'case':24} {'loomllm p50':>12} {'p99':>8} {'presidio p50':>13} {'p99':>8} {'speedup p50':>12}")
    for size in (512, 2048, 8192, 32768):
        rounds = args.rounds if size <= 8192 else max(20, args.rounds // 5)
        ours_texts = [make_text(size, rng) for _ in range(rounds)]
        theirs_texts = [make_text(size, rng) for _ in range(rounds)]
        ours: list[float] = []
        theirs: list[float] = []
        # One message each, in turn: drift of the machine's load hits both engines alike.
        for mine, other in zip(ours_texts, theirs_texts, strict=True):
            ours += timed(lambda t=mine: guard.protect_input_sync(  # type: ignore[misc]
                [{"role": "user", "content": t}], guard.new_vault(), agent="bench"), 1)
            theirs += timed(lambda t=other: analyzer.analyze(text=t, language="en"), 1)  # type: ignore[misc]
        report(f"fresh {size // 1024 if size >= 1024 else 0.5} KB message", ours, theirs,
               target=" (target >= 20x)" if size == 2048 else "")

    # 20-turn conversation: each call sends the whole history (system + user/assistant turns of ~1 KB).
    conversations = max(5, args.rounds // 20)
    ours_calls: list[float] = []
    theirs_calls: list[float] = []
    for _ in range(conversations):
        history: list[dict[str, Any]] = [{"role": "system", "content": make_text(1024, rng)}]
        vault = guard.new_vault()
        for _turn in range(20):
            history.append({"role": "user", "content": make_text(1024, rng)})
            snapshot = list(history)
            ours_calls += timed(lambda s=snapshot, v=vault: guard.protect_input_sync(s, v, agent="bench"), 1)
            theirs_calls += timed(lambda s=snapshot: [analyzer.analyze(text=m["content"], language="en") for m in s], 1)
            history.append({"role": "assistant", "content": make_text(1024, rng)})
    report("20-turn conversation/call", ours_calls, theirs_calls)
    stats = guard.scanner.stats
    print(
        f"\nscanner: {stats.analyzer_calls} analyzer calls, {stats.prefilter_skips} prefilter skips, "
        f"{stats.cache_hits} cache hits"
    )


def report(name: str, ours: list[float], theirs: list[float], target: str = "") -> None:
    """One table row."""
    p50, p99 = pct(ours, 0.5), pct(ours, 0.99)
    t50, t99 = pct(theirs, 0.5), pct(theirs, 0.99)
    print(f"{name:24} {p50:10.3f}ms {p99:6.2f}ms {t50:11.3f}ms {t99:6.2f}ms {t50 / p50:11.1f}x{target}")


if __name__ == "__main__":
    main()
