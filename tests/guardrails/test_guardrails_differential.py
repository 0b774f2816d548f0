"""The windowed scan finds what its recognizers find over the whole text: a differential test against Presidio.

The reference is Presidio's own ``AnalyzerEngine`` holding the same recognizer classes, run over the whole text
with the tokenizer-only NLP engine and Presidio's stock context enhancer; loomllm's side is the prefilter's plan
(Hyperscan and the ``re`` fallback) and the windowed analyzer. A difference counts when it changes a finding at or
above its default threshold (``DEFAULT_THRESHOLDS``, ``GENERIC_THRESHOLD``): its type or its span.

The values are documented formats, from the outside in: RFC e-mail shapes, RFC 4291/5952 IPv6 forms (compressed,
zone, IPv4-mapped and -embedded), MAC addresses in colon, hyphen and dot notation, IBANs of several countries with
spaces, hyphens and none, UK NINO (either case) and NHS numbers, US SSNs and ITINs formatted and bare, test card
numbers of every brand, Bitcoin addresses (BIP-173/350, the wiki's), phone numbers of the supported regions,
street addresses (US, UK, German, PO boxes) and names (titles, initials, accents, hyphens, surname first). Each is
placed at the start and end of a text, after punctuation, in JSON, in parentheses, next to non-ASCII characters,
twice, across newlines, glued to neighbouring words and numbers, and far after its context word.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import pytest

from loomllm._guardrails.analyzer import _PII_RECOGNIZERS, Scanner, ScanSettings, TokenizerNlpEngine
from loomllm._guardrails.config import DEFAULT_THRESHOLDS, GENERIC_THRESHOLD
from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES

VALUES: dict[str, list[str]] = {
    "EMAIL_ADDRESS": [
        "jane.doe@example.com", "o'brien@example.co.uk", "user+tag@sub.example.org", "first_last@example.io",
        "x@example.com", "josé.müller@example.de", "a.b-c@my-domain.example.com", "UPPER@EXAMPLE.COM",
        "user{1}@example.com", "user|x@example.net",
    ],
    "IP_ADDRESS": [
        "192.0.2.146", "203.0.113.45/24", "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "fe80::1ff:fe23:4567:890a%eth0", "::ffff:192.0.2.128", "64:ff9b::192.0.2.33", "2001:db8:0:0:1:0:0:1",
        "2001:db8::/32", "::1.2.3.4", "2001:db8:1::ab9:C0A8:102", "0:0:0:0:0:ffff:192.0.2.1", "1::", "2001:db8::",
    ],
    "MAC_ADDRESS": [
        "00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e", "a4:83:e7:12:34:56", "AC-DE-48-00-11-22",
    ],
    "IBAN_CODE": [
        "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB29 NWBK 6016 1331 9268 19",
        "GB29NWBK60161331926819",
        "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "ES91 2100 0418 4502 0005 1332",
        "CH93 0076 2011 6238 5295 7", "BE68 5390 0754 7034", "IT60 X054 2811 1010 0000 0123 456",
        "DE89-3704-0044-0532-0130-00", "GB29-NWBK-6016-1331-9268-19", "NO93 8601 1117 947",
        "MT84 MALT 0110 0001 2345 MTLC AST0 01S", "PL61 1090 1014 0000 0712 1981 2874",
    ],
    "UK_NINO": [
        "AB 12 34 56 C", "AB123456C", "QQ 12 34 56 D", "ab123456c", "ab 12 34 56 c", "Ab 12 34 56 c", "CE123456A",
    ],
    "UK_NHS": ["943 476 5919", "943-476-5919", "9434765919", "401 023 2137"],
    "US_SSN": ["078-05-1120", "123-45-6789", "219 09 9999", "219.09.9999", "536-22-8726", "078051120"],
    "US_ITIN": ["912-70-1234", "912 70 1234", "912701234", "999-88-1234", "912-91 1234"],
    "CREDIT_CARD": [
        "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "5555555555554444",
        "3782 822463 10005", "378282246310005", "6011 1111 1111 1117", "6011000990139424", "3056 9309 0259 04",
        "3530 1113 3330 0000", "2223 0000 4841 0010", "2223000048410010", "4012888888881881", "4222222222222",
    ],
    "CRYPTO": [
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ],
    "PHONE_NUMBER": [
        "+1 415-555-0132", "(415) 555-0132", "415.555.0132", "+1 (415) 555-0132", "+44 20 7946 0958", "020 7946 0958",
        "+44 (0)20 7946 0958", "+49 30 901820", "030 901820", "+49 (0)30 9018 2000", "+33 1 42 68 53 00",
        "01 42 68 53 00", "+972 3-123-4567", "+91 98765 43210", "098765 43210", "+55 11 91234-5678", "(11) 91234-5678",
        "+1-800-555-0199", "415 555 0132", "4155550132", "+14155550132", "07700 900123", "+44 7700 900123",
        "0151 496 0123", "415 - 555 - 0132", "020 - 7946 - 0958", "+1 415 - 555 - 0132",
    ],
    "PERSON": [
        "Maria Gonzalez", "John F. Kennedy", "Dr. Okafor", "Mrs Smith", "Seán O'Brien", "Seán O’Brien",
        "Tomás Ó Briain", "Ji-woo Park", "Park Ji-woo", "Anne-Marie Dupont", "Jean-luc Picard", "Dr. Öztürk",
        "Mr. Ángel Pérez",
        "Liu Yang", "Nguyen Thi Lan", "Sofía Ramírez", "Patrick McDonald", "Prof. Zoë Hart", "Mx Taylor",
        "José García", "Élodie Martin", "Łukasz Kowalski", "Dr Émile Zola",
    ],
    "STREET_ADDRESS": [
        "742 Evergreen Terrace", "1600 Pennsylvania Avenue, Washington, DC 20500", "221B Baker Street, London NW1 6XE",
        "100 N. Main Street", "12-14 High Street", "350 5th Avenue, New York, NY 10118", "Hauptstraße 5", "Hauptstr. 5",
        "Berliner Allee 12", "Lindenweg 3, 10115 Berlin", "P.O. Box 1234", "PO Box 77", "Post Office Box 12",
        "10 Downing Street", "1 Infinite Loop, Cupertino, CA 95014", "4 Privet Drive, Apt 2", "77 Massachusetts Ave",
        "123 W. 45th St", "9 O'Connell Street",
    ],
}
CONTEXT: dict[str, list[str]] = {
    "UK_NHS": ["NHS number", "patient NHS no"], "US_SSN": ["SSN", "social security number"],
    "US_ITIN": ["ITIN", "taxpayer id"], "PHONE_NUMBER": ["phone", "call me on", "mobile"],
    "PERSON": ["contact", "Dear", "per"], "UK_NINO": ["NI number", "national insurance"], "IP_ADDRESS": ["ip"],
    "MAC_ADDRESS": ["mac"], "CREDIT_CARD": ["card"], "IBAN_CODE": ["iban"], "CRYPTO": ["wallet"],
    "EMAIL_ADDRESS": ["email"], "STREET_ADDRESS": ["ship to"],
}
#: ``{c}``: a context word of the entity, ``{v}``: the value.
TEMPLATES = [
    "{v}", "{v}.", "{c} {v}", "{c}: {v}", "Please use {v} today.", "({v})", "[{v}]", '{{"value": "{v}"}}',
    "{c}\n{v}\n", "x,{v},y", "ü {v} ü", "日本 {v} 日本", "→{v}←", "{c}={v};", "'{v}'", "<td>{v}</td>",
    "{c} {v} and {v}",
    "{c} {v}\n{c} {v}", "— {v} —", "{c} (primary, the one on file since last year) {v}", "{c}\t{v}", "* {v}", "1. {v}",
    "{v}!", "{v} 2nd attempt", "{v} 4pm", "v2 {v}", "{c} #{v}", "{c} no. {v}, ok", "Ref A1 {v}", "{c}\u00a0{v}",
    # a key glued to its value: one spaCy token ("phone\":\"4155550132"), whose lemma is no keyword
    '{{"{c}":"{v}"}}', "{c}:{v}",
    # context words far back: dot leaders, a rule, an e-mail address (one token) between word and value
    "{c} " + ". " * 60 + "{v}", "{c}: " + "-" * 120 + " {v}", "{c} jane.doe@example.com {v}",
]
def texts(templates: list[str]) -> list[str]:
    """Every value of every entity in every template, with each of its context words."""
    return [
        template.format(v=value, c=context)
        for entity, values in VALUES.items()
        for value in values
        for context in CONTEXT[entity]
        for template in templates
    ]


def threshold(entity: str) -> float:
    return DEFAULT_THRESHOLDS.get(entity, GENERIC_THRESHOLD)


Finding = tuple[str, int, int]


class Differential:
    """The windowed analyzer and Presidio's whole-text one, with recognizers of the same classes."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        self.windowed = Scanner(ScanSettings(pii_entities=DEFAULT_PII_ENTITIES, cache_size=0)).analyzer
        registry = RecognizerRegistry(supported_languages=["en"])
        for entity in DEFAULT_PII_ENTITIES:
            registry.add_recognizer(_PII_RECOGNIZERS[entity]())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.whole = AnalyzerEngine(registry=registry, nlp_engine=TokenizerNlpEngine(), supported_languages=["en"],
                                        context_aware_enhancer=LemmaContextAwareEnhancer())

    def reference(self, text: str) -> set[Finding]:
        results = self.whole.analyze(
            text=text, language="en", entities=list(DEFAULT_PII_ENTITIES), score_threshold=0.01)
        return {(r.entity_type, r.start, r.end) for r in results if r.score >= threshold(r.entity_type)}

    def scanned(self, text: str, *, force_re: bool) -> set[Finding]:
        plan = self.windowed.prefilter.plan(text, force_re=force_re)
        results: list[Any] = self.windowed.analyze(text=text, plan=plan, score_threshold=0.01) if plan else []
        return {
            (r.entity_type, r.start, r.end)
            for r in results
            if r.score >= threshold(r.entity_type) and not r.entity_type.startswith("SECRET_")
        }


@functools.cache
def differential() -> Differential:
    return Differential()


def _shown(text: str, findings: set[Finding]) -> list[tuple[str, str]]:
    return sorted((entity, text[start:end]) for entity, start, end in findings)


@pytest.mark.parametrize("force_re", [False, True], ids=["hyperscan", "re"])
def test_windowed_scan_finds_what_presidio_finds_over_the_whole_text(force_re: bool) -> None:
    """Every example: the same findings at or above threshold, same types and spans, on both prefilter paths."""
    check = differential()
    if not force_re and not check.windowed.prefilter.uses_hyperscan:
        pytest.skip("Hyperscan is not installed")
    differences = []
    for text in texts(TEMPLATES):
        expected, found = check.reference(text), check.scanned(text, force_re=force_re)
        if expected != found:
            differences.append(
                (text, "missed", _shown(text, expected - found), "extra", _shown(text, found - expected)))
    assert [] == differences[:20], len(differences)


#: Misses this audit found: ``(text, entity, value)``, each a finding Presidio reports over the whole text.
MISSES = [
    # A digit run glued to a word at one end opened no window at all, though the part up to its last (from its
    # first) separator is a number on its own.
    ("card 4111 1111 1111 1111 2nd attempt", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("SSN 536-22-8726 3rd request", "US_SSN", "536-22-8726"),
    ("ITIN 912-70-1234 2nd copy", "US_ITIN", "912-70-1234"),
    ("NHS number 943 476 5919 1st appointment", "UK_NHS", "943 476 5919"),
    ("call 415.555.0132 4pm", "PHONE_NUMBER", "415.555.0132"),
    ("Ref A1 4111-1111-1111-1111", "CREDIT_CARD", "4111-1111-1111-1111"),
    # A bare number in parentheses: phonenumbers keeps the "(", so the number is not bare to the recognizer.
    ("(4155550132)", "PHONE_NUMBER", "(4155550132"),
    # ... and one before a ")": the recognizer's candidate takes it, so needs no context word within 48 characters;
    # the enhancer then finds "mobile" five keywords back.
    ("mobile (weekdays, after six in the evening, or weekends) jane.doe@example.com 4155550132)", "PHONE_NUMBER",
     "4155550132"),
    # IBAN groups separated by hyphens.
    ("IBAN DE89-3704-0044-0532-0130-00", "IBAN_CODE", "DE89-3704-0044-0532-0130-00"),
    ("pay GB29-NWBK-6016-1331-9268-19 now", "IBAN_CODE", "GB29-NWBK-6016-1331-9268-19"),
    # A NINO in lower or mixed case (Presidio's regex ignores case).
    ("my ni number is ab 12 34 56 c", "UK_NINO", "ab 12 34 56 c"),
    ("NINO: Ab123456c", "UK_NINO", "Ab123456c"),
    # Names: a hyphenated given name with a lower-case second part, an accented initial, a title before an
    # accented capital.
    ("please contact Ji-woo Park", "PERSON", "Ji-woo Park"),
    ("contact Jean-luc Picard", "PERSON", "Jean-luc Picard"),
    ("Tomás Ó Briain", "PERSON", "Tomás Ó Briain"),
    ("Appointment with Dr. Öztürk", "PERSON", "Dr. Öztürk"),
    # German "str." for "straße".
    ("Lieferadresse: Hauptstr. 5", "STREET_ADDRESS", "Hauptstr. 5"),
    # Context words Presidio's enhancer reads (five keywords back) past the 96 characters of a neighbourhood, or
    # pushed out of the five by a word regex splitting an e-mail address into three tokens.
    ("NHS number " + ". " * 60 + "9434765919", "UK_NHS", "9434765919"),
    ("contact: " + "-" * 120 + " Ji-woo Park", "PERSON", "Ji-woo Park"),
    ("patient email jane.doe@example.com 9434765919", "UK_NHS", "9434765919"),
    # ... or behind a pasted link longer than a neighbourhood's reach: spaCy reads it as one token from its start;
    # its tail alone split into enough keywords to hide the word before it.
    ("NHS number https://example.com/" + "ab/" * 48 + " 9434765919", "UK_NHS", "9434765919"),
    ("ITIN https://example.com/" + "ab/" * 48 + " 912701234", "US_ITIN", "912701234"),
    ("contact https://example.com/" + "ab/" * 48 + " Ji-woo Park", "PERSON", "Ji-woo Park"),
    ("NHS number https://example.org/patients/records/search?query=abcdefgh&page=2&sort=desc&filter=active&session="
     "0123456789abcdef0123456789abcdef&utm_source=newsletter&utm_medium=email&utm_campaign=winter 9434765919",
     "UK_NHS", "9434765919"),
    # A bare NHS number named after it, as far as the recognizer reads past it.
    ("4841408541 is the NHS number on the letter", "UK_NHS", "4841408541"),
    ("9434765919 ((your  your  your  nhs", "UK_NHS", "9434765919"),
]
#: Misses of the Hyperscan pass only: it reads every non-ASCII character as "?", digits of other scripts too.
HYPERSCAN_MISSES = [
    ("phone ٤١٥٥٥٥٠١٣٢", "PHONE_NUMBER", "٤١٥٥٥٥٠١٣٢"),
]
#: Misses of the ``re`` fallback only: one alternation of every shape let one consume another's start.
RE_MISSES = [
    ("NINO AB123456C", "UK_NINO", "AB123456C"),  # the IBAN head took it
    ("v2 192.0.2.146", "IP_ADDRESS", "192.0.2.146"),  # the digit run "2 192.0.2.146" took it
    ("ship to 1 Infinite Loop, Cupertino", "PERSON", "Infinite Loop"),  # the street took the name pair
    ("100 N. Main Street", "STREET_ADDRESS", "100 N. Main Street"),  # a dot in the street's name
    ("123 W. 45th St", "STREET_ADDRESS", "123 W. 45th St"),
    ("contact Seán O’Brien", "PERSON", "Seán O’Brien"),  # a typographic apostrophe after the O
]


@pytest.mark.parametrize("force_re", [False, True], ids=["hyperscan", "re"])
@pytest.mark.parametrize(("text", "entity", "value"), MISSES + RE_MISSES + HYPERSCAN_MISSES)
def test_found_misses_are_found(text: str, entity: str, value: str, force_re: bool) -> None:
    """Presidio reports the value over the whole text; the windowed scan now does too, on both paths."""
    check = differential()
    if not force_re and not check.windowed.prefilter.uses_hyperscan:
        pytest.skip("Hyperscan is not installed")
    start = text.index(value)
    finding = (entity, start, start + len(value))
    assert finding in check.reference(text)
    assert finding in check.scanned(text, force_re=force_re)


#: Findings the windowed scan reported and Presidio does not: ``(text, entity, value)``. A window's region reaches
#: back over words before it (``_LOOK_BEHIND``); where it reached over an earlier window's candidate, that one was
#: analyzed again without the words before it (here the "Firmware" that makes it a version).
EXTRAS = [
    ("Firmware 10.2.14.3 fixes the boot loop seen on some racks in the lab; 4.19.0.12 is unaffected.", "IP_ADDRESS",
     "10.2.14.3"),
    ("Firmware 10.2.14.3 fixes the boot loop (seen on the rack), while 4.19.0.12 is unaffected.", "IP_ADDRESS",
     "10.2.14.3"),
]


@pytest.mark.parametrize("force_re", [False, True], ids=["hyperscan", "re"])
@pytest.mark.parametrize(("text", "entity", "value"), EXTRAS)
def test_found_extras_are_gone(text: str, entity: str, value: str, force_re: bool) -> None:
    """Presidio does not report the value over the whole text; the windowed scan no longer does either."""
    check = differential()
    if not force_re and not check.windowed.prefilter.uses_hyperscan:
        pytest.skip("Hyperscan is not installed")
    start = text.index(value)
    finding = (entity, start, start + len(value))
    assert finding not in check.reference(text)
    assert check.reference(text) == check.scanned(text, force_re=force_re)
