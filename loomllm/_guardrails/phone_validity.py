"""A cheaper, exactly equivalent ``is_valid_number`` for ``phonenumbers.PhoneNumberMatcher``.

The matcher (leniency VALID) calls ``is_valid_number`` on every candidate it parses, and most candidates in
scanned text are not valid numbers: for country code 1 the library then walks the metadata of about 25
NANPA regions, ten number-type patterns each, before it says no (~25 µs a call). Every valid number matches
one of the number-type patterns of one region of its country code, so a single regular expression per
country code — the alternation of all those patterns — rejects almost every invalid number in one C call;
whatever it accepts still goes through the library's own check, so the answer is the library's.

The same patterns also tell, before any parsing, that a whole window cannot hold a number for a region
(:func:`regions_that_may_match`): what the matcher validates is a run of the window's digits (see there).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterator, Sequence

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, phonenumbermatcher, re_util
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    country_code_for_region,
    national_significant_number,
    normalize_digits_only,
    region_code_for_country_code,
)

__all__ = ["install", "regions_that_may_match", "screened_is_valid_number", "type_patterns", "window_digits"]

#: The number types ``phonenumberutil._number_type_helper`` tries; a number of none of them is UNKNOWN,
#: and ``is_valid_number`` is False for an UNKNOWN number.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)

_library_is_valid_number: Callable[[PhoneNumber], bool] = phonenumbers.is_valid_number
_screens: dict[int, re.Pattern[str] | None] = {}
_install_lock = threading.Lock()
_installed = False


def type_patterns(country_code: int) -> re.Pattern[str] | None:
    """One pattern that every valid national number of ``country_code`` fully matches; ``None``: no screen.

    It is the alternation of the number-type patterns of every region (or the non-geographic entity) that
    ``country_code`` belongs to. Possible-length checks and the general description are left out: they
    only ever narrow what is valid, so the screen is looser than the library, never stricter.
    """
    screen = _screens.get(country_code, ...)
    if screen is ...:
        screen = _screens[country_code] = _build_screen(country_code)
    return screen


def _build_screen(country_code: int) -> re.Pattern[str] | None:
    sources: dict[str, None] = {}  # ordered and deduplicated: NANPA regions share their toll-free patterns
    for region in COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
        if metadata is None:
            continue  # the library skips such a region too (and then finds the number invalid)
        for number_type in _NUMBER_TYPES:
            desc = getattr(metadata, number_type)
            if desc is not None and desc.national_number_pattern:
                sources.setdefault(desc.national_number_pattern)
    if not sources:
        return None  # unknown country code: the library answers False at once anyway
    return re.compile("|".join(f"(?:{source})" for source in sources))


def screened_is_valid_number(numobj: PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number(numobj)``, answered False without the region walk when no type matches."""
    screen = type_patterns(numobj.country_code) if numobj.country_code is not None else None
    if screen is not None and screen.fullmatch(national_significant_number(numobj)) is None:
        return False
    return _library_is_valid_number(numobj)


def regions_that_may_match(window: str, regions: Sequence[str]) -> list[str]:
    """``regions`` less those under which ``PhoneNumberMatcher`` (leniency VALID or stricter) finds nothing.

    Every number the matcher reports is valid, so its national significant number fully matches
    :func:`type_patterns` of its country code. ``parse`` takes that number from the digits of a piece of
    the window, less leading ones (a ``+`` and country code, an international prefix, a national prefix)
    and trailing ones (an extension): a run of the window's digits. Its country code is the region's own,
    one read after a ``+``, or one after the region's international prefix. Two things put other digits in,
    and then the window is parsed: three letters among the digits (vanity numbers: letters become digits)
    and a national-prefix transform rule in the metadata used (``"268$1"``).
    """
    if _letters_among_digits(window) >= 3:
        return list(regions)
    digits = window_digits(window)
    after_plus = set(_codes_after_plus(window))
    return [region for region in regions if _may_hold_number(digits, after_plus, region)]


def _may_hold_number(digits: str, after_plus: set[int], region: str) -> bool:
    """Whether a run of ``digits`` may be a valid number when parsed with ``region`` as the default region."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix_transform_rule:
        return True
    prefix = metadata.international_prefix
    if prefix and (not _context_free(prefix) or _compiled(prefix).search(digits)):
        return True  # e.g. "011 44 20 7946 0958" under US: any country code may follow
    for code in {country_code_for_region(region), *after_plus}:
        number_metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region_code_for_country_code(code))
        if number_metadata is not None and number_metadata.national_prefix_transform_rule:
            return True
        screen = type_patterns(code)
        if screen is not None and (not _context_free(screen.pattern) or screen.search(digits)):
            return True
    return False


def window_digits(window: str) -> str:
    """The window's digits as phonenumbers normalizes them (any script's decimal digits, as ASCII)."""
    return _NOT_ASCII_DIGIT.sub("", window) if window.isascii() else normalize_digits_only(window)


def _letters_among_digits(window: str) -> int:
    """ASCII letters between the first ``+`` or digit and the last digit (all a parsed piece can hold).

    The matcher's candidates end with a digit (or the ``#`` after an extension's digits), and ``parse``
    starts reading at a ``+`` or a digit.
    """
    span = _START_TO_LAST_DIGIT.search(window)
    return len(_ASCII_LETTER.findall(span.group())) if span else 0


def _codes_after_plus(window: str) -> Iterator[int]:
    """Country codes a ``+`` in the window may introduce: known 1-3 digit prefixes of the digits after it."""
    for index, ch in enumerate(window):
        if ch in "+＋":
            after = window_digits(window[index + 1 :])[:3]
            for length in range(1, len(after) + 1):
                if int(after[:length]) in COUNTRY_CODE_TO_REGION_CODE:
                    yield int(after[:length])


@functools.cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source)


@functools.cache
def _context_free(source: str) -> bool:
    """No anchor, look-around or back-reference: the pattern matches a run of digits alike wherever it stands.

    :func:`regions_that_may_match` searches the window's digits for a run that the pattern fully matches, which
    needs this (phonenumbers' metadata patterns are all plain; a future one that is not just goes unscreened).
    """
    return _CONTEXT_SENSITIVE.search(source) is None


_CONTEXT_SENSITIVE = re.compile(r"\\(?:[bBAZ]|[1-9])|\^|\$|\(\?(?:[=!<]|P=)")
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]+")
_START_TO_LAST_DIGIT = re.compile(r"[+＋\d].*\d", re.DOTALL)
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def install() -> None:
    """Make ``PhoneNumberMatcher`` use :func:`screened_is_valid_number` and keep compiled metadata patterns.

    Both change only how fast the matcher answers, for every user of phonenumbers in the process. The
    pattern cache is phonenumbers' own switch: the library recompiles metadata patterns through ``re``'s
    bounded cache otherwise, a dictionary look-up and more per pattern it tries.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        re_util.enable_pattern_cache()
        # The matcher's leniency checks look ``is_valid_number`` up in their module's globals.
        setattr(phonenumbermatcher, "is_valid_number", screened_is_valid_number)  # noqa: B010
        _installed = True
