"""The phone-window shortcut (``phone_validity``) finds exactly what the plain per-region matcher loop finds.

The reference is the loop as it was before the shortcut: ``PhoneNumberMatcher`` once per supported region
(only the first one for a window with a ``+`` number) until a region finds something, with phonenumbers' own
``is_valid_number`` and without its pattern cache. Windows are phonenumbers' example numbers of the supported
regions (national and international, every number type), those numbers with one digit changed or cut short,
every region's example in international form, and things that are not phone numbers (order ids, dates,
times, versions, amounts, digit runs with separators).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType, phonenumbermatcher, phonenumberutil, re_util

from loomllm._guardrails import phone_validity
from loomllm._guardrails.analyzer import WindowedPhoneRecognizer, phone_spans

REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
LENIENCY = 1  # Leniency.VALID, Presidio's default
TYPES = [
    getattr(PhoneNumberType, name)
    for name in dir(PhoneNumberType)
    if name.isupper() and name not in ("UNKNOWN", "FIXED_LINE_OR_MOBILE")
]
INTERNATIONAL = re.compile(r"(?<![\w+])\+\d")
FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)


def reference_spans(window: str, regions: Sequence[str], leniency: int) -> dict[tuple[int, int], str]:
    """The per-region loop of ``WindowedPhoneRecognizer.analyze`` before the shortcut."""
    international = INTERNATIONAL.search(window) is not None  # a + number parses alike in any region
    spans: dict[tuple[int, int], str] = {}
    for region in regions[:1] if international else regions:
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
            spans.setdefault((match.start, match.end), region)
        if spans:
            break
    return spans


def plain_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """phonenumbers as shipped, every window parsed under every region; ``monkeypatch.undo()`` ends it."""
    phone_validity.install()  # idempotent: what the recognizer runs with, undone until monkeypatch.undo()
    monkeypatch.setattr(phonenumbermatcher, "is_valid_number", phonenumberutil.is_valid_number)
    monkeypatch.setattr(re_util, "_COMPILED_PATTERNS", None)
    monkeypatch.setattr(phone_validity, "regions_that_may_match", lambda window, regions: list(regions))


def example_numbers(regions: Sequence[str]) -> Iterator[phonenumbers.PhoneNumber]:
    """phonenumbers' example number of every type of every region in ``regions``."""
    for region in regions:
        for number_type in TYPES:
            number = phonenumbers.example_number_for_type(region, number_type)
            if number is not None:
                yield number


def near_misses(digits: str, rng: random.Random) -> Iterator[str]:
    """``digits`` with one digit changed, one dropped, one added: mostly invalid, sometimes another number."""
    for _ in range(3):
        i = rng.randrange(len(digits))
        yield digits[:i] + str((int(digits[i]) + rng.randrange(1, 10)) % 10) + digits[i + 1 :]
    yield digits[:-1]
    yield digits + str(rng.randrange(10))


def phone_texts(rng: random.Random) -> Iterator[str]:
    """Example numbers of the supported regions in every format, dialled from each region, and near misses."""
    for number in example_numbers(REGIONS):
        for fmt in FORMATS:
            yield phonenumbers.format_number(number, fmt)
        for region in REGIONS:
            yield phonenumbers.format_out_of_country_calling_number(number, region)  # "011 44 20 7946 0958"
        national = phonenumberutil.national_significant_number(number)
        yield f"{phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)} ext {rng.randrange(1, 999)}"
        yield f"+{number.country_code} {national} x {rng.randrange(1, 999)}"
        for miss in near_misses(national, rng):
            yield f"+{number.country_code} {miss}"
            yield f"{miss[:3]}-{miss[3:6]}-{miss[6:]}"
            yield f"0{miss}"
            yield f"00 {number.country_code} {miss}"


def world_texts() -> Iterator[str]:
    """The example number of every region and non-geographic code, in international form; more of the regions
    whose metadata rewrites national numbers (a transform rule), as dialled from the supported regions."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number(region)
        if number is not None:
            yield phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is not None and metadata.national_prefix_transform_rule:
            for typed in example_numbers([region]):
                national = phonenumbers.format_number(typed, PhoneNumberFormat.NATIONAL)
                yield f"+{typed.country_code} {national}"
                yield from (phonenumbers.format_out_of_country_calling_number(typed, r) for r in REGIONS)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            yield phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def other_scripts(texts: list[str]) -> Iterator[str]:
    """Some of ``texts`` in full-width and Arabic-Indic digits (phonenumbers reads any decimal digits)."""
    for text in texts[::7]:
        yield text.translate(FULL_WIDTH)
        yield text.translate(ARABIC_INDIC)


FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def non_phone_texts(rng: random.Random) -> Iterator[str]:
    """Order ids, dates, times, versions, amounts and digit runs of 7-16 digits with separators."""
    for _ in range(60):
        yield f"order {rng.randrange(10**7, 10**9)}"
        yield f"{rng.randrange(2000, 2030)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        yield f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(2000, 2030)}"
        yield f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        yield f"v{rng.randrange(20)}.{rng.randrange(20)}.{rng.randrange(100)}.{rng.randrange(1000)}"
        yield f"${rng.randrange(1, 999)},{rng.randrange(1000):03d}.{rng.randrange(100):02d}"
        yield digit_run(rng)
        yield f"+{rng.randrange(1, 999)} {digit_run(rng)}"
        yield f"+1 {rng.randrange(200, 1000)}-555-{rng.randrange(100, 200):04d}"


def digit_run(rng: random.Random) -> str:
    """7 to 16 random digits in groups of 1-5, joined by one separator kind (or none)."""
    digits = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(7, 17)))
    separator = rng.choice(["", " ", "-", ".", "/"])
    groups, i = [], 0
    while i < len(digits):
        size = rng.randrange(1, 6)
        groups.append(digits[i : i + size])
        i += size
    return separator.join(groups)


def windows() -> list[str]:
    """Every generated text in the few phrasings that surround a phone number in tickets."""
    rng = random.Random(20261202)
    texts = [*phone_texts(rng), *world_texts(), *non_phone_texts(rng)]
    texts += [*other_scripts(texts), *(f"{a} or {b}" for a, b in zip(texts[::5], texts[3::5], strict=False))]
    frames = ("{}", "call me on {} today", "number: ({}) ext", "back on {} before 13:22", "x{}x")
    return [rng.choice(frames).format(text) for text in texts]


WINDOWS = windows()


def test_windows_cover_found_and_rejected_numbers_of_every_region() -> None:
    """The generated windows hold valid numbers of every supported region and many rejected candidates."""
    WindowedPhoneRecognizer()  # loading the recognizer installs the screen
    assert getattr(phonenumbermatcher, "is_valid_number") is phone_validity.screened_is_valid_number  # noqa: B009
    found_by = {region for window in WINDOWS for region in phone_spans(window, REGIONS, LENIENCY).values()}
    assert set(REGIONS) - {"CA"} <= found_by  # US, tried first, reads every NANPA number
    assert sum(not phone_spans(window, REGIONS, LENIENCY) for window in WINDOWS) > 300
    skipped = sum(len(REGIONS) - len(phone_validity.regions_that_may_match(window, REGIONS)) for window in WINDOWS)
    assert skipped > 1000  # the window screen is exercised, not only the validity screen


def test_phone_spans_match_the_plain_matcher_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same spans and regions as the per-region loop over phonenumbers as shipped, on every window."""
    plain_phonenumbers(monkeypatch)
    expected = [reference_spans(window, REGIONS, LENIENCY) for window in WINDOWS]
    monkeypatch.undo()
    actual = [phone_spans(window, REGIONS, LENIENCY) for window in WINDOWS]
    mismatches = [(w, e, a) for w, e, a in zip(WINDOWS, expected, actual, strict=True) if e != a]
    assert not mismatches, mismatches[:5]


def numbers_to_validate() -> Iterator[phonenumbers.PhoneNumber]:
    """Example numbers of every region, their near misses, and random national numbers of every code."""
    rng = random.Random(7)
    for number in example_numbers(sorted(phonenumbers.SUPPORTED_REGIONS)):
        yield number
        for miss in near_misses(phonenumberutil.national_significant_number(number), rng):
            yield phonenumbers.PhoneNumber(country_code=number.country_code, national_number=int(miss))
    for code in sorted(phonenumberutil.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(8):
            digits = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(4, 14)))
            yield phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))
    yield phonenumbers.PhoneNumber(country_code=999, national_number=12345678)  # no such code
    italian = phonenumbers.parse("+39 02 1234 5678")
    yield italian  # a leading zero kept in the national significant number


def test_screened_is_valid_number_is_the_library_answer() -> None:
    """``screened_is_valid_number`` agrees with ``phonenumbers.is_valid_number`` on valid and invalid numbers."""
    numbers = list(numbers_to_validate())
    answers = [(phonenumberutil.is_valid_number(n), phone_validity.screened_is_valid_number(n)) for n in numbers]
    assert sum(library for library, _ in answers) > 1000  # valid numbers of every region are in the mix
    wrong = [n for n, (library, screened) in zip(numbers, answers, strict=True) if library != screened]
    assert not wrong, wrong[:5]


def test_recognizer_results_are_unchanged_by_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recognizer reports the same spans, types, scores and explanations on ticket-like text."""
    recognizer = WindowedPhoneRecognizer()
    plain_phonenumbers(monkeypatch)
    texts = [" ".join(WINDOWS[i : i + 6]) + "." for i in range(0, len(WINDOWS), 6)]

    def findings() -> list[list[tuple[str, int, int, float, str]]]:
        return [
            [
                (r.entity_type, r.start, r.end, r.score, r.analysis_explanation.textual_explanation or "")
                for r in recognizer.analyze(text, ["PHONE_NUMBER"], None)
            ]
            for text in texts
        ]

    expected = findings()
    monkeypatch.undo()
    assert findings() == expected
    assert sum(map(len, expected)) > 100


def test_window_screen_keeps_regions_it_cannot_reason_about() -> None:
    """Letters among the digits (vanity numbers) or a metadata transform rule: the window is parsed anyway."""
    plain = [region for region in REGIONS if region != "BR"]  # BR's metadata has a transform rule
    assert phone_validity.regions_that_may_match("ref 1-1-1-1-1", REGIONS) == ["BR"]  # no valid run of digits
    assert phone_validity.regions_that_may_match("ref 1x1x1x1-1", plain) == plain  # letters become digits
    assert phone_validity.regions_that_may_match("ref 1-1-1-1-1", ["AG", "US"]) == ["AG"]  # "268$1"
    assert phone_validity.regions_that_may_match("ref +54 1-1-1-1", plain) == plain  # AR: "9$1"
