"""The single-pass prefilter: which recognizer runs on which window of a text.

Every secret trigger (literals, case-insensitive) and every PII shape (digit runs, ``@``, ``:hex:``, hex
pairs, IPv4 heads, IBAN and NINO heads, base58 runs) is compiled into one Hyperscan database, which reports
every occurrence of every pattern in a single pass over the text (about 20 µs for 2 KB). Without Hyperscan
(an unsupported platform) two ``re`` passes do the same job about thirty times slower: a trie-shaped
alternation of the literals over the lower-cased text, and one pattern per PII shape.

Each hit opens a window (a span around the hit, wide enough for the longest value its recognizer can match);
windows of one recognizer are merged. The analyzer then runs each recognizer on its windows only, and context
enhancement only where a candidate was found. A text with no hit is never analyzed.

Standard library only.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .padding import MAX_PII_HITS, SHAPE_ENTITIES, ShapeCounter
from .secret_patterns import SecretSpec

__all__ = ["MAX_PII_HITS", "Plan", "Prefilter", "named_as_an_id"]

#: A secret window reaches this far before a trigger (identifiers before ``password``) and after it.
SECRET_BEFORE = 200
SECRET_AFTER = 640
#: Formats whose value can run for kilobytes after the trigger (PEM bodies).
LONG_AFTER = 16_384
_LONG_SPECS = frozenset({"pem_private_key", "gcp_service_account_private_key"})

Window = tuple[int, int]


@dataclass
class Plan:
    """Windows per secret spec (by index) and per PII entity; ``whole`` entities run on the whole text.

    An entity whose shape had more than :data:`MAX_PII_HITS` hits is in ``whole`` and has no windows (see
    :mod:`.padding`).
    """

    secrets: dict[int, list[Window]] = field(default_factory=dict)
    pii: dict[str, list[Window]] = field(default_factory=dict)
    whole: set[str] = field(default_factory=set)
    #: Where encoded tokens (16+ base64/hex characters) start; ``None``: not planned, look everywhere.
    encoded: list[int] | None = field(default_factory=list)
    #: Whether the text has a percent escape.
    percent: bool = True

    def __bool__(self) -> bool:
        return bool(self.secrets or self.pii or self.whole)

    def entities(self, specs: Sequence[SecretSpec]) -> list[str]:
        """Entity types with at least one window."""
        return sorted({specs[i].entity for i in self.secrets} | set(self.pii) | self.whole)


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, shaped as a trie so the longest word at a position wins."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict) -> str:  # type: ignore[type-arg]
        terminal = "" in node
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if terminal:
            return "(?:" + body + ")?" if len(branches) > 1 or len(body) > 1 else body + "?"
        return body

    return render(trie)


def _case_sensitive(spec: SecretSpec, literal: str) -> bool:
    """Whether ``literal`` can trigger ``spec`` only in its own case: the spec says so (``triggers_ignore_case``
    unset), its regex has no case-insensitive part and holds the literal as written.

    Twilio's ``SK`` then no longer opens windows on "SKU", "task" and "risk", nor Mailchimp's ``-us`` on
    "en-US": the regex could not match there anyway.
    """
    if spec.triggers_ignore_case or "(?i" in spec.regex or spec.compiled.flags & re.IGNORECASE:
        return False
    return literal in spec.regex or re.escape(literal) in spec.regex


def _merge(windows: list[Window]) -> list[Window]:
    windows.sort()
    merged: list[Window] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


#: A title before a capital: accented ones too ("Dr. Öztürk": the recognizer's name words start on any of them).
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?[ \t]+[A-ZÀ-ÖØ-Þ\u0100-\u017f]"
#: Two name words, the first possibly hyphenated with a lower-case second part ("Ji-woo Park", "Jean-luc"),
#: an initial between them possibly accented ("Tomás Ó Briain"), the second possibly after ``O’``.
_NAME_PAIR = (
    r"[A-ZÀ-ÖØ-Þ\u0100-\u017f][a-zß-öø-ÿ\u0100-\u017f]+(?:-[A-Za-zÀ-ÖØ-öø-ÿ\u0100-\u017f][a-zß-öø-ÿ\u0100-\u017f]+)?"
    r"[ \t]+(?:[A-ZÀ-ÖØ-Þ\u0100-\u017f]\.?[ \t]+)?(?:Mc|Mac|O['’])?"
    r"[A-ZÀ-ÖØ-Þ\u0100-\u017f][a-zß-öø-ÿ\u0100-\u017f]"
)
#: The same for Hyperscan, which sees every non-ASCII character as "?" (accented names: "Sof?a Ram?rez").
_HS_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?[ \t]+[A-Z?]"
_HS_NAME_PAIR = r"[A-Z?][a-z?]+(?:-[A-Za-z?][a-z?]+)?[ \t]+(?:[A-Z?]\.?[ \t]+)?(?:Mc|Mac|O')?[A-Z?][a-z?]"
_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|"
    r"Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Crescent|Cres|Close|Grove|Gardens|Mews|Row|Walk|Trail|Plaza|Alley|"
    r"Loop|Pike|Path|Hill|Park"
)
_STREET_OTHER = (
    r"(?:stra.e|strasse|str\.|weg|gasse|platz|allee|ring|damm)[ \t]+\d|P\.?[ \t]?O\.?[ \t]?Box[ \t]+\d|Post Office Box"
)
#: (A direction or a name may be abbreviated: "100 N. Main Street", "123 W. 45th St".)
_STREET = r"\d{1,6}[A-Za-z]?[ \t]+[A-Z0-9][A-Za-z0-9'. \t]{1,60}[ \t](?:" + _STREET_TYPES + r")\b|" + _STREET_OTHER

#: The characters of a Bitcoin address after its prefix: Base58 (``1``/``3`` addresses: no ``0``, ``O``, ``I``,
#: ``l``) and Bech32 (``bc1`` addresses, lower-case: ``0`` and ``l`` but no ``1``, ``b``, ``i``, ``o``). Presidio's
#: checksum accepts nothing else, so a seed of either finds every address it can report.
_BASE58 = "[a-km-zA-HJ-NP-Z1-9]"
_BECH32 = "[02-9ac-hj-np-z]"
_BECH32_RUN = re.compile(_BECH32 + "+")

#: The IBAN and NINO heads: Presidio's IBAN regex takes a space or a hyphen between groups
#: ("DE89-3704-0044-..."), its NINO regex ignores case ("ab 12 34 56 c") and sits between word boundaries.
_IBAN_HEAD = r"[A-Z]{2}\d{2}[ \-]?[A-Z0-9]{4}"
_NINO_HEAD = r"\b[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]\b"

#: PII shapes for the ``re`` pass, one pattern per shape: a single alternation would let one shape consume the
#: text another starts in (an IBAN head holds every NINO, a digit run an IPv4 address, a street a name pair),
#: where Hyperscan reports every shape.
_PII_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("at", r"@"),
        ("colon", r"::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}"),
        ("crypto", r"bc1" + _BECH32 + r"{25,}|[13]" + _BASE58 + r"{25,}"),
        ("hexsep", r"(?:[0-9A-Fa-f]{2}(?P<sep>[:\-]))(?:[0-9A-Fa-f]{2}(?P=sep)){2}[0-9A-Fa-f]{2}"
         r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\."),
        ("ipv4", r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
        ("street", _STREET),
        ("iban", _IBAN_HEAD),
        ("nino", _NINO_HEAD),
        ("title", _TITLE),
        ("name", _NAME_PAIR),
    )
)
#: The Unicode dashes phonenumbers reads as group separators (the guardrails' phone candidates and stream hold-back
#: take them too).
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"
#: The punctuation between digit groups: one or two dots, hyphens, slashes or Unicode dashes.
SEPARATOR_MARKS = rf"[\-./{DASHES}]{{1,2}}"
#: Digit groups separated as phonenumbers reads them: up to three spaces or tabs, or separator marks with spaces
#: around ("415 - 555 - 0132", "+44 20  7946  0958", "415–555–0132").
GROUP_SEPARATOR = rf"[ \t]{{1,3}}|[ \t]{{0,2}}{SEPARATOR_MARKS}[ \t]{{0,2}}"
#: A digit run with at least seven digits (the fewest any digit-based recognizer needs), its groups also separated by
#: parentheses. (A digit is tried before the separators: the same runs, matched with fewer failed branches per digit.)
_NUM = re.compile(rf"\d(?:\d|(?:{GROUP_SEPARATOR}|\) ?|\()\d){{6,}}")
#: A Unicode dash next to a digit: Hyperscan reads it as "?", so ``re`` looks for the runs it joins.
_WIDE_SEPARATOR = re.compile(rf"\d[ \t]{{0,2}}[{DASHES}]|[{DASHES}][ \t]{{0,2}}\d")
#: A decimal digit of another script.
_WIDE_DIGIT = re.compile(r"(?![0-9])\d")
_ISO_DATE = re.compile(r"(?:19|20)\d\d[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12]\d|3[01])(?:[ T]\d\d)?(?!\d)")
#: Presidio's phone context words: an unformatted digit run is a phone number only next to one of them.
_PHONE_CONTEXT = re.compile(r"(?i:phone|number|telephone|cell|mobile|call|tel\b|fax)")
#: The same words for ASCII text, lower-cased ("telephone" holds "phone"; "tel" is looked for apart: its \b).
_PHONE_WORDS = ("phone", "number", "cell", "mobile", "call", "fax")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_PHONE_REACH = 48


def _phone_word_before(text: str, start: int) -> bool:
    """Whether :data:`_PHONE_CONTEXT` matches in the 48 characters before ``start`` (a case-insensitive regex
    alternation tries every word at every position: ASCII text is lower-cased once and searched word by word)."""
    lo = max(0, start - _PHONE_REACH)
    before = text[lo:start]
    if not before.isascii():
        return _PHONE_CONTEXT.search(text, lo, start) is not None
    before = before.lower()
    if any(word in before for word in _PHONE_WORDS):
        return True
    at = before.find("tel")
    while at >= 0:
        if before[at + 3 : at + 4] not in _WORD_CHARS:  # the end of the slice is a \b too
            return True
        at = before.find("tel", at + 1)
    return False
#: Words before a number that make it an order, parcel, voucher or case number, not a phone number.
_ID_WORD_BEFORE = re.compile(
    r"(?i:\b(?:order|invoice|inv|ticket|ref|reference|rma|refund|awb|tracking|shipment|parcel|case|po|sku|part|"
    r"serial|voucher|gift[ \t]?card|coupon|promo|confirmation|booking|transaction|txn|claim|job|build|lot|batch|"
    r"receipt|membership|loyalty|barcode)\b(?:[ \t]+(?:no\.?|number|num|#|id|code))?[ \t:#.]*)\Z"
)


def named_as_an_id(text: str, start: int) -> bool:
    """Whether the number starting at ``start`` is introduced as an id ("order 39581892", "RMA 08686-6419")."""
    return _ID_WORD_BEFORE.search(text[max(0, start - 40) : start]) is not None  # a slice: \b may start it
_TOKEN_STOP = frozenset(" \t\r\n\"'<>()[]{},;")


def _token_around(text: str, index: int) -> Window:
    """The span of the whitespace- or quote-delimited token holding ``text[index]`` (bounded), padded by one."""
    start, end = index, index + 1
    floor, ceiling = max(0, index - 128), min(len(text), index + 256)
    while start > floor and text[start - 1] not in _TOKEN_STOP:
        start -= 1
    while end < ceiling and text[end] not in _TOKEN_STOP:
        end += 1
    return start - 1, end + 1


_ENCODED_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_NOT_DIGIT = str.maketrans("", "", " \t-./()" + DASHES)
_DATE_SEPARATORS = frozenset("-/.")
_DATE_CENTURIES = frozenset({"19", "20"})

#: PII entity -> minimum digits in a run for the entity's recognizer to run on it, and the window padding.
_DIGIT_RULES: dict[str, tuple[int, int]] = {
    "PHONE_NUMBER": (7, 56),
    "CREDIT_CARD": (12, 4),
    "US_SSN": (9, 4),
    "US_ITIN": (9, 4),
    "UK_NHS": (10, 32),  # the recognizer reads "is the NHS number" after a bare number
    "US_BANK_NUMBER": (8, 4),
    "US_PASSPORT": (8, 4),
}
#: Entities found through the shapes above; the others run on the whole text when their trigger fires.
WINDOWED_PII = frozenset(
    {*_DIGIT_RULES, "EMAIL_ADDRESS", "IP_ADDRESS", "MAC_ADDRESS", "CRYPTO", "IBAN_CODE", "UK_NINO", "PERSON"}
    | {"STREET_ADDRESS"}
)
_WHOLE_TEXT_TRIGGERS: dict[str, re.Pattern[str]] = {
    "DATE_TIME": re.compile(r"\d"),
    "URL": re.compile(r"\w\.\w"),
    "MEDICAL_LICENSE": re.compile(r"[A-Za-z]{2}\d{7}"),
    "US_DRIVER_LICENSE": re.compile(r"\w\d"),
}


class Prefilter:
    """Plans a scan: one pass for secret triggers, one for PII shapes."""

    def __init__(self, specs: Sequence[SecretSpec], pii_entities: Iterable[str]) -> None:
        self.specs = tuple(specs)
        self.pii_entities = frozenset(pii_entities)
        by_literal: dict[str, set[int]] = {}
        exact: dict[tuple[str, str], set[int]] = {}  # (literal, what follows it): matched in their own case only
        self._regex_triggers: list[tuple[int, re.Pattern[str]]] = []
        for index, spec in enumerate(self.specs):
            if spec.trigger_regex is not None:
                self._regex_triggers.append((index, re.compile(spec.trigger_regex, re.IGNORECASE)))
            for literal in spec.triggers:
                by_literal.setdefault(literal.lower(), set()).add(index)
                if _case_sensitive(spec, literal):
                    exact.setdefault((literal, spec.trigger_then), set()).add(index)
        # A matched literal implies every literal inside it; literals that start inside it and run past its end
        # are checked explicitly (the alternation consumes the match).
        self._closure = {
            literal: frozenset(i for other, ids in by_literal.items() if other in literal for i in ids)
            for literal in by_literal
        }
        self._overlaps = {
            literal: tuple(
                (offset, other)
                for other in by_literal
                for offset in range(1, len(literal))
                if other not in literal and other.startswith(literal[offset:])
            )
            for literal in by_literal
        }
        self._literals = re.compile(_trie_regex(by_literal))
        self._after = [LONG_AFTER if spec.name in _LONG_SPECS else SECRET_AFTER for spec in self.specs]
        self._whole = {e: p for e, p in _WHOLE_TEXT_TRIGGERS.items() if e in self.pii_entities}
        self._literal_ids = by_literal
        caseless = {literal: ids - {i for (other, _), e in exact.items() if other.lower() == literal for i in e}
                    for literal, ids in by_literal.items()}
        self._hyperscan = _HyperscanPass.build(
            {literal: ids for literal, ids in caseless.items() if ids}, self._regex_triggers,
            self.pii_entities & WINDOWED_PII, exact=exact,
        )

    @property
    def uses_hyperscan(self) -> bool:
        """Whether the single Hyperscan pass is in use (else the ``re`` fallback)."""
        return self._hyperscan is not None

    def plan(self, text: str, *, force_re: bool = False) -> Plan:
        """Where each recognizer must look in ``text``."""
        plan = Plan()
        if self._hyperscan is not None and not force_re:
            plan.percent = False
            self._plan_hyperscan(text, plan)
        else:
            plan.encoded = None
            self._plan_secrets(text, plan)
            self._plan_pii(text, plan)
        for entity, trigger in self._whole.items():
            if trigger.search(text):
                plan.whole.add(entity)
        return plan

    def _plan_hyperscan(self, text: str, plan: Plan) -> None:
        assert self._hyperscan is not None
        size = len(text)
        secret_windows: dict[int, list[Window]] = {}
        pii = _PiiWindows(self.pii_entities & WINDOWED_PII, text)
        last_run_end = -1
        encoded: list[int] = []
        found, shapes = self._hyperscan.hits(text)
        for kind, payload, start, end in found:
            if kind == _SECRET:
                for index in payload:
                    secret_windows.setdefault(index, []).append(
                        (max(0, start - SECRET_BEFORE), min(size, start + self._after[index]))
                    )
            elif kind == _WHOLE_SECRET:
                for index in payload:
                    secret_windows.setdefault(index, []).append((0, size))
            elif payload == "num":
                start = _run_start(text, end)
                run = _NUM.match(text, start)
                if run is not None and start >= last_run_end:
                    pii.number(start, run.end(), run.group())
                    last_run_end = run.end()
            elif payload == "encoded":
                encoded.append(end - _ENCODED_SEED)
            elif payload == "percent":
                plan.percent = True
            elif payload == "street":
                pii.shape("street", _street_start(text, end), end)
            elif payload == "street_other":
                pii.shape("street", start, end)
            elif payload == "crypto":
                pii.shape("crypto", _crypto_start(text, end), end)
            else:
                pii.shape(payload, start, end)
        if not text.isascii() and pii.wanted & _SHAPE_ENTITIES["num"] and (
                _WIDE_DIGIT.search(text) or _WIDE_SEPARATOR.search(text)):
            # Hyperscan reads non-ASCII characters as "?": runs of other scripts' digits ("٤١٥٥٥٥٠١٣٢", which
            # phonenumbers reads as digits) and runs joined by Unicode dashes are found by ``re``.
            for match in _NUM.finditer(text):
                if not match.group().isascii() and shapes.count("num"):
                    pii.number(match.start(), match.end(), match.group())
        plan.secrets = {index: _merge(windows) for index, windows in secret_windows.items()}
        plan.pii = pii.merged()
        plan.encoded = encoded
        shapes.to_whole_text(plan, pii.wanted, size)

    def _plan_secrets(self, text: str, plan: Plan) -> None:
        lowered = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
        hits: dict[int, list[Window]] = {}
        size = len(text)
        for match in self._literals.finditer(lowered):
            literal, start = match.group(), match.start()
            ids = set(self._closure[literal])
            for offset, other in self._overlaps[literal]:
                if lowered.startswith(other, start + offset):
                    ids |= self._closure[other]
            for index in ids:
                window = (max(0, start - SECRET_BEFORE), min(size, start + self._after[index]))
                hits.setdefault(index, []).append(window)
        for index, trigger in self._regex_triggers:
            if trigger.search(text):
                hits.setdefault(index, []).append((0, size))
        plan.secrets = {index: _merge(windows) for index, windows in hits.items()}

    def _plan_pii(self, text: str, plan: Plan) -> None:
        wanted = self.pii_entities & WINDOWED_PII
        if not wanted:
            return
        pii = _PiiWindows(wanted, text)
        hits = ShapeCounter(_SHAPE_ENTITIES)
        if wanted & _SHAPE_ENTITIES["num"]:
            for match in _NUM.finditer(text):
                if not hits.count("num"):
                    break  # saturated: its entities run over the whole text
                pii.number(match.start(), match.end(), match.group())
        for kind, pattern in _PII_SHAPES:
            if not wanted & _SHAPE_ENTITIES[kind]:
                continue
            for match in pattern.finditer(text):
                if not hits.count(kind):
                    break
                pii.shape(kind, match.start(), match.end())
        plan.pii = pii.merged()
        hits.to_whole_text(plan, wanted, len(text))


#: The entities whose windows each PII shape opens.
_SHAPE_ENTITIES = {**SHAPE_ENTITIES, "num": frozenset(_DIGIT_RULES)}


@functools.cache
def _digit_rules(wanted: frozenset[str]) -> tuple[tuple[str, int, int], ...]:
    """``(entity, minimum digits, padding)`` of the wanted entities, fewest digits first."""
    rules = [(entity, minimum, pad) for entity, (minimum, pad) in _DIGIT_RULES.items() if entity in wanted]
    return tuple(sorted(rules, key=lambda rule: rule[1]))


def _unglued(text: str, start: int, end: int) -> Window | None:
    """The digit run ``text[start:end]`` cut to the digits between its separators where a letter or digit touches
    it on the outside (its first group glued to a word before it, its last to a word after it), or ``None``."""
    if start and text[start - 1].isalnum():
        while start < end and text[start].isdigit():
            start += 1
        while start < end and not text[start].isdigit():
            start += 1
    if end < len(text) and text[end].isalnum():
        while end > start and text[end - 1].isdigit():
            end -= 1
        while end > start and not text[end - 1].isdigit():
            end -= 1
    return (start, end) if start < end else None


class _PiiWindows:
    """Collects PII windows from shape hits and digit runs."""

    def __init__(self, wanted: frozenset[str], text: str) -> None:
        self.wanted = wanted
        self.text = text
        self.size = len(text)
        self.windows: dict[str, list[Window]] = {}
        self.digit_rules = _digit_rules(wanted)

    def add(self, entity: str, start: int, end: int) -> None:
        if entity in self.wanted:
            self.windows.setdefault(entity, []).append((max(0, start), min(self.size, end)))

    def number(self, start: int, end: int, run: str) -> None:
        text = self.text
        if (start and text[start - 1].isalnum()) or (end < self.size and text[end].isalnum()):
            # Digits inside an identifier or a hex string ("a3f9120398c", "INV2024") are no number; but the part
            # of the run past its first separator ("v2 415-555-0132") or before its last one ("4111 1111 1111
            # 1111 2nd") starts and ends on a word boundary, where every recognizer's \b holds.
            unglued = _unglued(text, start, end)
            if unglued is None:
                return
            start, end = unglued
            run = text[start:end]
        if run.isdigit():
            digits = len(run)
        else:
            if run[4:5] in _DATE_SEPARATORS and run[:2] in _DATE_CENTURIES:
                date = _ISO_DATE.match(run)
                if date is not None:  # "2024-05-17 13:45" is a timestamp, not a 12-digit number
                    run = run[date.end() :]
            digits = len(run.translate(_NOT_DIGIT))
        bare_without_context: bool | None = None  # looked up only when a phone window is at stake
        windows = self.windows
        for entity, minimum, pad in self.digit_rules:  # fewest digits first
            if digits < minimum:
                break
            if entity == "PHONE_NUMBER":
                if bare_without_context is None:
                    # "order 39581892" is an id even next to "call": the recognizer would drop it in every region.
                    bare_without_context = (
                        run.isdigit()
                        # "(4155550132", "4155550132)": the recognizer's candidate takes the parenthesis (then it is
                        # not bare, and needs no context word within its reach; phonenumbers may keep the "(")
                        and text[start - 1 : start] not in ("+", "(")
                        and text[end : end + 1] != ")"
                        and (not _phone_word_before(text, start) or named_as_an_id(text, start))
                    )
                if bare_without_context:
                    continue
            windows.setdefault(entity, []).append((max(0, start - pad), min(self.size, end + pad)))

    def shape(self, kind: str, start: int, end: int) -> None:
        if kind == "at":
            self.add("EMAIL_ADDRESS", *_token_around(self.text, start))
        elif kind == "colon":
            self.add("IP_ADDRESS", start - 40, end + 48)
            self.add("MAC_ADDRESS", start - 20, end + 24)
        elif kind == "ipv4":
            self.add("IP_ADDRESS", start - 4, end + 16)
        elif kind == "hexsep":
            self.add("MAC_ADDRESS", start - 2, end + 24)
        elif kind == "crypto":
            self.add("CRYPTO", start - 2, end + 80)
        elif kind == "iban":
            self.add("IBAN_CODE", start - 4, start + 50)
        elif kind == "nino":
            self.add("UK_NINO", start - 4, end + 4)
        elif kind in ("name", "title"):
            self.add("PERSON", start - 4, end + 48)
        elif kind == "street":
            self.add("STREET_ADDRESS", start - 80, end + 100)

    def merged(self) -> dict[str, list[Window]]:
        return {entity: _merge(found) for entity, found in self.windows.items()}


_SECRET, _WHOLE_SECRET, _SHAPE = 0, 1, 2
#: The PII shapes for Hyperscan: short seeds (a digit run is reported as overlapping seven-digit seeds).
_HS_SHAPES: dict[str, str] = {
    "at": r"@",
    "colon": r"::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}",
    "crypto": r"bc1" + _BECH32 + r"{25}|[13]" + _BASE58 + r"{25}",
    "hexsep": r"(?:[0-9A-Fa-f]{2}:){3}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{2}-){3}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.",
}
#: Shapes of encoded tokens, looked for in every text (decoding applies to secrets too).
_HS_ENCODED: dict[str, str] = {
    "encoded": r"(?:^|[^A-Za-z0-9+/_\-%])[A-Za-z0-9+/_\-]{16}",
    "percent": r"%[0-9A-Fa-f]{2}",
    "ipv4": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d",
    # Reported once per run: only a seed that starts where the run starts (the scanner reads the whole run).
    "num": r"(?:^|[^\d])\d(?:(?:[ \t]{1,3}|[ \t]{0,2}[\-./]{1,2}[ \t]{0,2}|\) ?|\()?\d){6}",
    "iban": _IBAN_HEAD,
    "nino": _NINO_HEAD,
    "title": _HS_TITLE,
    "name": _HS_NAME_PAIR,
    # Anchored on the street type (a bounded street-name run is too large for Hyperscan's start-of-match mode).
    # Start-of-match tracking made this alternative cost more than all the others together (48 µs per 2 KB):
    # it runs without it, and the start is found by walking back from the end (_street_start).
    "street": r"[A-Za-z0-9][ \t]+(?:" + _STREET_TYPES + r")\b",
    "street_other": _STREET_OTHER,
}
#: Shapes no number of PII hits before them may drop: where encoded tokens start (padding must hide none).
_UNCAPPED_SHAPES = frozenset({"encoded", "percent"})
#: Shapes compiled without start-of-match tracking (the scanner derives the start from the end). Tracking it
#: for the digit-run and encoded-token seeds, which overlap every digit and letter of a text, made the whole
#: database's scan twice as dear with cold caches (38 -> 21 µs per 2 KB ticket after a 16 MB thrash).
_NO_SOM = frozenset({"street", "num", "encoded", "crypto"})
#: Characters after the prefix in the ``encoded`` and ``crypto`` seeds (their starts: the end minus these).
_ENCODED_SEED = 16
_CRYPTO_SEED = 25
_ASCII_DIGITS = frozenset("0123456789")


def _run_start(text: str, end: int) -> int:
    """Where the digit run of the seed ending at ``end`` starts: the first of its seven ASCII digits (Hyperscan's
    ``\\d``), or the character before when that is a digit to ``re`` (non-ASCII: ``"٣"`` is a ``"?"`` to Hyperscan).
    """
    start = end - 7
    seed = text[start:end]
    if seed.isdigit() and seed.isascii():  # the usual seed: seven digits in a row
        return start - 1 if start and text[start - 1].isdigit() else start
    start, digits = end, 0
    while digits < 7:
        start -= 1
        digits += text[start] in _ASCII_DIGITS
    return start - 1 if start and text[start - 1].isdigit() else start


def _crypto_start(text: str, end: int) -> int:
    """Where the leftmost ``crypto`` seed ending at ``end`` starts (``bc1`` or ``1``/``3``, then 25 characters)."""
    start = end - _CRYPTO_SEED - 1
    if start >= 2 and text.startswith("bc1", start - 2) and _BECH32_RUN.fullmatch(text, start + 1, end):
        return start - 2
    return start


def _street_start(text: str, end: int) -> int:
    """Where a ``street`` hit ending at ``end`` starts: the character before the spaces before the street type."""
    start = end
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    return max(0, start - 1)


class _HyperscanPass:
    """One Hyperscan block-mode database holding every trigger; a scratch space per thread."""

    def __init__(self, hyperscan: Any, database: Any, payloads: list[tuple[int, Any]]) -> None:
        self._hs = hyperscan
        self._database = database
        self._payloads = payloads
        self._local = threading.local()

    @classmethod
    def build(
        cls,
        literals: dict[str, set[int]],
        regex_triggers: list[tuple[int, re.Pattern[str]]],
        pii_entities: frozenset[str],
        *,
        exact: dict[tuple[str, str], set[int]] | None = None,
    ) -> _HyperscanPass | None:
        """The compiled pass, or ``None`` when Hyperscan is not installed or cannot compile a trigger.

        ``literals`` (lower-cased) match in any case; ``exact`` ones, ``(literal, regex that follows it)``, only
        as written and followed by that regex (a hit is reported where the literal starts, as for the others).
        """
        try:
            import hyperscan
        except ImportError:
            return None
        expressions: list[bytes] = []
        flags: list[int] = []
        payloads: list[tuple[int, Any]] = []
        som = hyperscan.HS_FLAG_SOM_LEFTMOST
        triggers = [(re.escape(literal), ids, hyperscan.HS_FLAG_CASELESS) for literal, ids in sorted(literals.items())]
        triggers += [(re.escape(literal) + then, ids, 0) for (literal, then), ids in sorted((exact or {}).items())]
        for expression, ids, caseless in triggers:
            expressions.append(expression.encode())
            flags.append(som | caseless)
            payloads.append((_SECRET, tuple(sorted(ids))))
        for index, pattern in regex_triggers:
            expressions.append(pattern.pattern.encode())
            flags.append(hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)
            payloads.append((_WHOLE_SECRET, (index,)))
        shapes = {**(_HS_SHAPES if pii_entities else {}), **_HS_ENCODED}
        for kind, shape in shapes.items():
            expressions.append(shape.encode())
            flags.append(hyperscan.HS_FLAG_SINGLEMATCH if kind == "percent" else 0 if kind in _NO_SOM else som)
            payloads.append((_SHAPE, kind))
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            database.compile(
                expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags
            )
        except hyperscan.error as exc:  # a trigger Hyperscan cannot take is a bug here, not a reason to slow down
            raise RuntimeError(f"guardrail prefilter: Hyperscan cannot compile the triggers: {exc}") from None
        return cls(hyperscan, database, payloads)

    def hits(self, text: str) -> tuple[list[tuple[int, Any, int, int]], ShapeCounter]:
        """``(kind, payload, start, end)`` for every trigger occurrence, in end-offset order, and the PII shape
        counts (a saturated shape's hits past :data:`MAX_PII_HITS` are not in the list)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._database)
        found: list[tuple[int, Any, int, int]] = []
        payloads = self._payloads
        counter = ShapeCounter(_SHAPE_ENTITIES)
        count = counter.count

        def on_match(expression: int, start: int, end: int, flags: int, context: Any) -> bool:
            kind, payload = payloads[expression]
            if kind == _SHAPE and payload not in _UNCAPPED_SHAPES and not count(payload):
                return False  # a saturated shape: its entities run over the whole text (padding.py)
            found.append((kind, payload, start, end))
            return False

        # One byte per character (non-ASCII becomes "?", which no trigger contains): offsets stay char offsets.
        self._database.scan(text.encode("ascii", "replace"), match_event_handler=on_match, scratch=scratch)
        return found, counter


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})
