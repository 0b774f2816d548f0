"""Phone numbers written the way people write them are found as Presidio's stock ``PhoneRecognizer`` finds them
over the whole text: separators phonenumbers reads (spaced hyphens, doubled spaces, dots and slashes with spaces
around, Unicode dashes) and extensions after the number; and international numbers outside the allocated ranges,
which Presidio's leaves out."""

from __future__ import annotations

import pytest
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from loomllm import scan_text
from loomllm._guardrails import GuardrailsConfig
from loomllm._guardrails.analyzer import WindowedPhoneRecognizer
from loomllm._guardrails.guard import scanner_for

NUMBERS = {"US": "415 555 0132", "GB": "020 7946 0958", "international": "+44 20 7946 0958"}
SEPARATORS = [" - ", "  ", " . ", " / ", "..", "--", " -", "- ", "\u2013", " \u2013 ", "\u2014", "\u2212", "\uff0d",
              "\u2010"]
EXTENSIONS = ["", " ext. 123", " ext. 4021", ", ext. 12", " x4021", " extension 77", " #12"]
FRAMES = ["call {}", "Tel: {} (office)", "reach me on {}.", "**{}**", "| {} |"]


def texts() -> list[str]:
    """Every number with every separator between its groups, with and without an extension, in a few frames."""
    found = []
    for index, number in enumerate(NUMBERS.values()):
        head, *groups = number.split(" ")
        for separator in SEPARATORS:
            written = f"{head} {separator.join(groups)}" if head.startswith("+") else separator.join([head, *groups])
            extension = EXTENSIONS[(index + len(found)) % len(EXTENSIONS)]
            found.append(FRAMES[len(found) % len(FRAMES)].format(written + extension))
    return found


@pytest.fixture(scope="module")
def stock() -> PhoneRecognizer:
    """Presidio's recognizer with the regions, leniency and context of the standard one."""
    scanner = scanner_for(GuardrailsConfig())
    ours = next(r for r in scanner.analyzer.registry.recognizers if isinstance(r, WindowedPhoneRecognizer))
    return PhoneRecognizer(context=ours.context, supported_regions=ours.supported_regions, leniency=ours.leniency)


@pytest.mark.parametrize("text", texts())
def test_found_where_presidio_finds_it(stock: PhoneRecognizer, text: str) -> None:
    """Every number the stock recognizer reports is a PHONE_NUMBER detection with the same span."""
    expected = {(r.start, r.end) for r in stock.analyze(text, ["PHONE_NUMBER"])}
    assert expected, text  # the case is a phone number to phonenumbers
    found = {(d.start, d.end) for d in scanner_for(GuardrailsConfig()).scan(text, cache=False)
             if d.entity_type == "PHONE_NUMBER"}
    assert expected <= found, text


@pytest.mark.parametrize("text", ["pages 10 - 20 - 30", "2024 \u2013 2025 roadmap", "order 39581892 ext. 12",
                                  "build 4.19.0.12 - 3", "voucher number 0717076440066297"])
def test_other_numbers_stay_numbers(text: str) -> None:
    """Ranges, ids and versions written with the same separators are no phone numbers."""
    found = [d for d in scanner_for(GuardrailsConfig()).scan(text, cache=False) if d.entity_type == "PHONE_NUMBER"
             and d.score >= 0.4]
    assert not found, text


# No range of phonenumbers' metadata (taken from the national numbering plans) holds London's 020 6 or France's
# 06 92: the library calls these numbers invalid, a reader calls them phone numbers.
UNALLOCATED = {
    'phone_number="+44 20 6854 1674"': "+44 20 6854 1674",
    "the caller ID showed +44 20 6369 2535": "+44 20 6369 2535",
    "+33 6 92 61 09 46 (home)": "+33 6 92 61 09 46",
    "WhatsApp: +44 20 6000 1234.": "+44 20 6000 1234",
}
SIGNED_AMOUNTS = ["delta +12.345.678 rows", "temperature +12 345 678", "changed +1234567 lines", "+1 555 0100 units",
                  "score went +44 20 points", "growth +15% to 1234567", "+4.19.0.12 bump"]


@pytest.mark.parametrize("text", list(UNALLOCATED))
def test_international_numbers_outside_the_allocated_ranges_are_phone_numbers(text: str) -> None:
    spans = [(f.start, f.end) for f in scan_text(text) if f.entity_type == "PHONE_NUMBER"]
    start = text.index(UNALLOCATED[text])
    assert spans == [(start, start + len(UNALLOCATED[text]))]


@pytest.mark.parametrize("text", SIGNED_AMOUNTS)
def test_signed_amounts_and_short_international_numbers_are_not_phone_numbers(text: str) -> None:
    assert [f for f in scan_text(text) if f.entity_type == "PHONE_NUMBER"] == []
