"""The single-pass prefilter: the Hyperscan pass plans windows that hold what the ``re`` fallback would find."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES
from loomllm._guardrails.prefilter import _STREET, Prefilter, _street_start
from loomllm._guardrails.secret_patterns import SECRET_SPECS

ADDRESSES = [
    "Ship it to 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
    "She lives at 221B Baker Street, London.",
    "Send the invoice to 42 Wallaby Way \t Rd please",
    "Office: 350 Fifth  Ave, New York",
    "mail to P.O. Box 1234, Springfield",
    "Lieferadresse: Hauptstraße 5, 10115 Berlin",
    "10 Downing St",
]


@pytest.fixture(scope="module")
def prefilter() -> Prefilter:
    found = Prefilter(SECRET_SPECS, DEFAULT_PII_ENTITIES)
    if not found.uses_hyperscan:
        pytest.skip("Hyperscan is not installed")
    return found


@pytest.mark.parametrize("text", ADDRESSES)
def test_street_windows_hold_the_whole_address(prefilter: Prefilter, text: str) -> None:
    """Every street the ``re`` shape finds lies inside one STREET_ADDRESS window of the Hyperscan plan."""
    windows = prefilter.plan(text).pii.get("STREET_ADDRESS", [])
    spans = [m.span() for m in re.finditer(_STREET, text)]
    assert spans
    for start, end in spans:
        assert any(lo <= start and end <= hi for lo, hi in windows), (start, end, windows)


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [("12 Main Street", 14, 6), ("9 \t  Ave", 8, 0), ("Street", 6, 0)],
)
def test_street_start_walks_back_over_type_and_spaces(text: str, end: int, expected: int) -> None:
    """The start of a street hit is the character before the blanks before the street type."""
    assert expected == _street_start(text, end)


def _spec_index(name: str) -> int:
    return next(i for i, spec in enumerate(SECRET_SPECS) if spec.name == name)


TWILIO_KEY = "SK" + "3f9a0c27be41d8566ea7c0b9f21d4e8a"


class TestCaseSensitiveTriggers:
    @pytest.mark.parametrize("text", ["Affected SKUs: SKU-48213, SKU-90211", "the task carries a risk", "SK"])
    def test_twilio_prefix_alone_opens_no_window(self, prefilter: Prefilter, text: str) -> None:
        """``SK`` opens a Twilio window only when 32 hex digits follow, as in every key the regex can match."""
        assert _spec_index("twilio_api_key") not in prefilter.plan(text).secrets

    @pytest.mark.parametrize("text", [f"TWILIO_KEY={TWILIO_KEY}", f"key {TWILIO_KEY} rotated", f"({TWILIO_KEY})"])
    def test_twilio_key_opens_its_window(self, prefilter: Prefilter, text: str) -> None:
        """A real key's trigger still fires, and its window holds the whole key."""
        windows = prefilter.plan(text).secrets[_spec_index("twilio_api_key")]
        start = text.index(TWILIO_KEY)
        assert any(lo <= start and start + len(TWILIO_KEY) <= hi for lo, hi in windows)

    def test_mailchimp_suffix_needs_its_datacenter_digits(self, prefilter: Prefilter) -> None:
        """``-us`` fires on ``-us12`` (a Mailchimp data centre), not on ``en-us`` in a URL."""
        index = _spec_index("mailchimp_api_key")
        assert index not in prefilter.plan("https://learn.example.com/en-us/docs").secrets
        assert index in prefilter.plan("MAILCHIMP=" + "0123456789abcdef" * 2 + "-us12").secrets

    def test_case_insensitive_specs_keep_caseless_triggers(self, prefilter: Prefilter) -> None:
        """A spec whose regex ignores case (``PASSWORD = ...``) is still triggered in any case."""
        assert _spec_index("password_assignment") in prefilter.plan("PASSWORD = hunter2hunter2").secrets


class TestPhoneWindows:
    @pytest.mark.parametrize("text", ["Support call on Monday. Order 39581892 was placed at 10:00.",
                                      "Please call: refund for order #39581892 is approved."])
    def test_number_named_as_an_id_opens_no_phone_window(self, prefilter: Prefilter, text: str) -> None:
        """A bare digit run introduced as an order (or invoice, ticket...) number is never parsed as a phone
        number, even with "call" nearby: the recognizer would drop whatever it read there."""
        assert "PHONE_NUMBER" not in prefilter.plan(text).pii

    def test_bare_number_after_a_context_word_still_opens_one(self, prefilter: Prefilter) -> None:
        """Without an id word, a bare run next to "call" is still looked at."""
        assert "PHONE_NUMBER" in prefilter.plan("Please call 4155550132 before noon.").pii


class TestSeedStartsWithoutStartOfMatchTracking:
    """The digit-run, encoded-token and crypto seeds run without Hyperscan's start-of-match tracking (it doubled
    the cold scan); the scanner derives each start from the end. These tests compare every derived start with
    the start Hyperscan itself reports when tracking is on, over the corpus and over edge shapes."""

    EDGES = [
        "1234567", "x1234567", "12 3456789", "415 - 555 - 0132", "1 - 2 -3- 4 - 5 - 6 - 7", "415  555 \t 0132",
        "1 .. 2 // 3 -- 4   5 6 7", "415 \u2013 555 - 0132",
        "1-2-3-4-5-6-7-8", "(415) 555-0132", "+44 (0)20 7946 0958",
        "٣1234567 and 12٣4567890123", "order 7,755,519 / 39581892", "a1b2c3d4e5f6g7h8", "+1 336-555-0187.",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "xbc3J98t1WpEZ73CNmQviecrnyiWrnq", "1bc1qar9srrr7xfkvy5m643mydnw9re59gtzz",
        "bc1qar9srrr7xfkvy5m643mydnw9re59gtzzwf5", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "bc1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "xbc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "dGhlIHBhc3N3b3JkIGlzIGh1bnRlcjI=", "é" * 3 + "QUtJQUlPU0ZPRE5ON0VYQU1QTEU" + "%41%42", "ghp_" + "a" * 36,
    ]

    @staticmethod
    @functools.cache
    def _tracking_database() -> tuple[Any, tuple[str, ...]]:
        import hyperscan

        from loomllm._guardrails import prefilter as module

        shapes = {"num": module._HS_ENCODED["num"], "encoded": module._HS_ENCODED["encoded"],
                  "crypto": module._HS_SHAPES["crypto"]}
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=[shape.encode() for shape in shapes.values()], ids=list(range(len(shapes))),
                         elements=len(shapes), flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(shapes))
        return database, tuple(shapes)

    def _tracked_starts(self, text: str) -> set[tuple[str, int, int]]:
        database, kinds = self._tracking_database()
        found: set[tuple[str, int, int]] = set()

        def on_match(expression: int, start: int, end: int, flags: int, context: object) -> bool:
            found.add((kinds[expression], start, end))
            return False

        database.scan(text.encode("ascii", "replace"), match_event_handler=on_match)
        return found

    @staticmethod
    def _derived_and_tracked(kind: str, text: str, start: int, end: int) -> tuple[int, int]:
        """The start the planner derives from ``end``, and the one it took from Hyperscan's tracked ``start``."""
        from loomllm._guardrails import prefilter as module

        if kind == "num":
            return module._run_start(text, end), start + (not text[start].isdigit())
        if kind == "encoded":
            return end - module._ENCODED_SEED, start + (text[start] not in module._ENCODED_CHARS)
        return module._crypto_start(text, end), start

    def _texts(self) -> list[str]:
        import json
        from pathlib import Path

        corpus = Path(__file__).parent / "corpus"
        texts = list(self.EDGES)
        for name in ("mixed.jsonl", "pii.jsonl", "families.jsonl", "secrets.jsonl"):
            texts += [json.loads(line)["text"] for line in (corpus / name).read_text().splitlines() if line]
        return texts

    def test_every_derived_start_is_hyperscans_own(self, prefilter: Prefilter) -> None:
        seen = {"num": 0, "encoded": 0, "crypto": 0}
        for text in self._texts():
            for kind, start, end in self._tracked_starts(text):
                derived, tracked = self._derived_and_tracked(kind, text, start, end)
                assert derived == tracked, (kind, text[start:end])
                seen[kind] += 1
        assert min(seen.values()) >= 5, seen  # every seed kind was exercised

    def test_the_seeds_are_compiled_without_tracking(self) -> None:
        from loomllm._guardrails import prefilter as module

        assert {"num", "encoded", "crypto"} <= module._NO_SOM


class TestFasterEquivalents:
    """Hand-made shortcuts of the planner's regexes: the same answers as the regexes they stand for."""

    PIECES = ("phone", "PHONE", "Tel", "tel:", "tel_", "tele", "hotel", "telephone", "Number", "cell", "CALL",
              "fax", "mobile", "mob", "fa x", " ", "\n", ".", "-", "_", "9", "x", "é", "İ", "K", "ß", "(", ")",
              "order", "call-back", "ph one", "\u00a0")

    def test_phone_word_before_matches_the_regex(self) -> None:
        """Whether a phone context word is within 48 characters before a run: as the case-insensitive regex says,
        on ASCII and non-ASCII text, words cut by the reach included."""
        import random

        from loomllm._guardrails.prefilter import _PHONE_CONTEXT, _phone_word_before

        rng = random.Random(7)
        for _ in range(20_000):
            text = "".join(rng.choice(self.PIECES) for _ in range(rng.randint(0, 30)))
            for start in {0, len(text), rng.randint(0, len(text)), max(0, len(text) - rng.randint(0, 8))}:
                expected = _PHONE_CONTEXT.search(text, max(0, start - 48), start) is not None
                assert expected == _phone_word_before(text, start), (text, start)

    def test_digit_run_pattern_matches_the_original(self) -> None:
        """The digit-run pattern with the digit tried first finds the same runs as the original."""
        import random

        from loomllm._guardrails.prefilter import _NUM

        separator = r"[ \t]{1,3}|[ \t]{0,2}[\-./\u2010-\u2015\u2212\uff0d]{1,2}[ \t]{0,2}|\) ?|\("
        original = re.compile(rf"\d(?:(?:{separator})?\d){{6,}}")
        rng = random.Random(11)
        pieces = ("1", "23", "4567", " ", "-", ".", "/", "(", ")", ") ", "  ", " - ", "\t", "\u2013", "a", "٣", "+",
                  ",", "\n")
        for _ in range(20_000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
            assert [m.span() for m in original.finditer(text)] == [m.span() for m in _NUM.finditer(text)], text
            for start in range(min(len(text), 6)):
                a, b = original.match(text, start), _NUM.match(text, start)
                assert (a and a.span()) == (b and b.span()), (text, start)

    def test_widening_to_whitespace_matches_a_character_walk(self) -> None:
        """Regions widen to the nearest whitespace (64 characters at most) exactly as walking character by
        character does, Unicode spaces included."""
        import random

        from loomllm._guardrails.analyzer import _widen_to_whitespace

        def walked(text: str, start: int, end: int) -> tuple[int, int]:
            floor, ceiling = max(0, start - 64), min(len(text), end + 64)
            while start > floor and not text[start - 1].isspace():
                start -= 1
            while end < ceiling and not text[end].isspace():
                end += 1
            return start, end

        rng = random.Random(5)
        pieces = ("a", "bc", "x" * 70, " ", "\t", "\n", "\u00a0", "\u2003", "\u200b", "é", "-", "9")
        for _ in range(20_000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
            start = rng.randint(0, len(text))
            end = rng.randint(start, len(text))
            assert walked(text, start, end) == _widen_to_whitespace(text, start, end), (text, start, end)
