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
