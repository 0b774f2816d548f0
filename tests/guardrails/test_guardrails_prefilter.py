"""The single-pass prefilter: the Hyperscan pass plans windows that hold what the ``re`` fallback would find."""

from __future__ import annotations

import re

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
