"""Context enhancement reads a candidate's neighbourhood in spaCy's English tokens, computed without spaCy's vocabulary.

The reference is spaCy's own tokenizer (``spacy.blank("en")``, what Presidio's engine runs here); the texts are the
development corpus, new support tickets and random mixes of the shapes its rules treat specially.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from loomllm._guardrails.analyzer import _spacy_rules
from loomllm._guardrails.guard import scanner_for

CORPUS = Path(__file__).parent / "corpus"
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

PIECES = [
    "call", "Call", "phone", "number", "NHS", "the", "The", "Dr.", "Mr.", "cannot", "Cannot", "don't", "I'm", "it's",
    "e.g.", "U.S.", "jane.doe@example.com", "https://x.io/a?b=c", "415-555-0132", "(415)", "555-0132.", "+1",
    "21:01.", "$6,128.31.", "v3.10.40-e06248b", "9434765919", "order#123", "a/b", "x:y", "—", "...", "'s", "naïve",
    "Öztürk", "٣٤٥", "10km", "5pm", "re-enter", "co-op", ":)", ":-)", "<3", '"quoted"', "(paren)", "[x]", "{y}",
    "emoji😀", "tel:4155550132", "mailto:a@b.co", "INV-2024", "x=1;", "it’s", "‘single’", "ca.", "Jan.", "Inc.",
    "etc.", "vs.", "p.m.", "St.", "ok!", "why?", "#tag", "@user", "50%", "£5", "C++", "O'Brien", "Ji-woo",
    "hello,world", "wait...what", "2024-05-17", "13:45:00", "1,000,000",
]
BLANKS = [" ", " ", " ", "  ", "\n", " \n ", "\t", "\n\n", "\xa0", "\u2003", " \x1c ", "\r\n", ""]


def _spacy_tokens(tokenizer: Any, text: str) -> list[tuple[int, str, str, bool]]:
    return [(t.idx, t.text, t.lower_, bool(t.is_stop or t.is_punct)) for t in tokenizer(text)]


def _mixed(rng: random.Random) -> str:
    parts = [rng.choice(BLANKS)] if rng.random() < 0.1 else []
    count = rng.randint(1, 14)
    for index in range(count):
        piece = rng.choice(PIECES)
        if rng.random() < 0.15:
            piece += rng.choice(",.;:!?)\"'")
        if rng.random() < 0.1:
            piece = rng.choice("(\"'[") + piece
        parts += [piece, rng.choice(BLANKS) if index < count - 1 or rng.random() < 0.2 else ""]
    return "".join(parts)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    import spacy

    return spacy.blank("en").tokenizer


def test_real_texts_get_spacys_tokens(tokenizer: Any) -> None:
    """Every corpus text and 300 new tickets: the same tokens, offsets, lower forms and stop/punctuation flags."""
    from ticket_text import make_ticket

    texts = [make_ticket(random.Random(seed)) for seed in range(300)]
    for name in ("pii", "mixed", "families", "secrets", "negatives"):
        texts += [json.loads(line)["text"] for line in (CORPUS / f"{name}.jsonl").read_text().splitlines() if line]
    rules = _spacy_rules()
    assert len(texts) > 2500
    for text in texts:
        assert _spacy_tokens(tokenizer, text) == rules.tokens(text), text


def test_shapes_the_rules_treat_specially_get_spacys_tokens(tokenizer: Any) -> None:
    """20,000 random mixes of special cases, affixes, URLs, numbers and every kind of blank. The tokenizer's
    phrase matcher resolves a few overlapping emoticon or quote sequences differently (":):", "'re-enter"):
    at most one text in two thousand, none of them a shape a context word depends on."""
    rng = random.Random(2026)
    rules = _spacy_rules()
    texts = [_mixed(rng) for _ in range(20_000)]
    differ = [text for text in texts if _spacy_tokens(tokenizer, text) != rules.tokens(text)]
    assert len(differ) <= 10, differ[:5]


def test_neighbourhoods_leave_nothing_in_a_vocabulary() -> None:
    """Scanning new phone numbers and addresses feeds no spaCy vocabulary (a tokenizer's string store keeps every
    string it sees, for good): the engine's pipeline is never even built, and the remembered splits are digests
    and lengths, never text."""
    import gc

    from guardrail_values import STANDARD_GUARDRAILS
    from spacy.strings import StringStore

    from loomllm._guardrails import GuardrailsConfig

    scanner = scanner_for(GuardrailsConfig.model_validate(STANDARD_GUARDRAILS))
    values = [f"+1 415-555-{n:04d}" for n in range(7100, 7140)] + [f"tel:415555{n:04d}" for n in range(7140, 7160)]
    pieces = {piece for value in values for piece in (value, value[-4:])}

    def stored() -> set[tuple[int, str]]:
        stores = [o for o in gc.get_objects() if isinstance(o, StringStore)]
        return {(id(store), piece) for store in stores for piece in pieces if piece in store}

    before = stored()
    for value in values:
        assert scanner.scan(f"Customer contact: please call back on {value} before noon, reference 8841.")
    assert scanner.analyzer.nlp_engine._nlp is None
    assert stored() <= before
    splits = _spacy_rules()._splits
    assert splits and all(isinstance(key, bytes) and len(key) == 16 for key in splits)
    kept = repr(list(splits.items()))
    for value in values:
        assert value[-4:] not in kept
