"""PII recognizers that need no model download, and fixes to Presidio's stock ones.

- :class:`PersonNameRecognizer`: capitalised name sequences checked against the US census first- and last-name
  lists that the ``names`` package ships (1990 census, 5,494 first names, 88,799 surnames), the Latin-script
  names of 86 locales (``names_world.txt``, from Faker's person providers: 19,011 given names, 21,411 surnames),
  surname-first Chinese, Korean and Vietnamese names, plus titles.
- :class:`StreetAddressRecognizer`: house number, street name and a street type (US/UK/CA/AU usage, German
  ``-straße``), optionally followed by a unit, city, state and ZIP or UK postcode.
- :class:`MastercardAwareCreditCardRecognizer`: Presidio's card recognizer plus the Mastercard 2-series
  (2221-2720), which its regex misses.
- :class:`FilteredSsnRecognizer`: SSA area rules (no 000, 666 or 9xx area; no 00 group; no 0000 serial) and no
  part/order/serial numbers.

Imported with the analyzer (Presidio loaded); the name lists are read once, on first use.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    NhsRecognizer,
    UsItinRecognizer,
    UsSsnRecognizer,
)

from .prefilter import named_as_an_id

__all__ = [
    "ContextualNhsRecognizer",
    "FilteredItinRecognizer",
    "FilteredSsnRecognizer",
    "MastercardAwareCreditCardRecognizer",
    "PersonNameRecognizer",
    "StreetAddressRecognizer",
    "not_a_phone_number",
    "not_an_email_address",
]

#: Surnames ranked past this are mostly rare words and spellings; they do not make a name on their own.
_SURNAME_RANK_LIMIT = 40_000

#: First names that are also everyday English words: they count only before a listed surname, mid-sentence.
_AMBIGUOUS_FIRST_WORDS = (
    "will may june april august bill mark grant chase hope joy faith art don sue pat rich max dawn gay "
    "rose lane summer page sky ray jack frank earl glen guy lee van bob ivy iris amber crystal ruby hunter "
    "carol major king sterling miles price rusty sandy ginger dusty penny honey star precious"
)
_AMBIGUOUS_FIRST = frozenset(_AMBIGUOUS_FIRST_WORDS.split())
#: Capitalised words that never start or end a person's name in business prose.
_NOT_NAMES_WORDS = (
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december street st avenue road lane drive court way place boulevard "
    "inc ltd llc gmbh corp co bank group team support customer client order invoice ticket account the "
    "please thanks thank hello hi dear regards best cheers note update release version server service api "
    "north south east west new old san santa los las united states america europe london paris berlin"
)
_NOT_NAMES = frozenset(_NOT_NAMES_WORDS.split())
_UPPER = "A-ZÀ-ÖØ-Þ\u0100-\u017f"
_LOWER = "a-zß-öø-ÿ\u0100-\u017f"
#: A capitalised name word, accents included; a hyphenated second part may be lower-case (``Ji-woo``).
_NAME_WORD = rf"(?:Mc|Mac|O['’])?[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}{_LOWER}][{_LOWER}]+)?"
#: Titles and greetings open a name; they are never its first word (so "Dear Mrs. Okafor" is tried at "Mrs").
_NOT_A_GIVEN_NAME = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Dear|Hi|Hello|Hey|Thanks|Cc|Signed|Regards)\b"
_PERSON = re.compile(
    r"(?<![\w.@])(?:(?P<title>Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?[ \t]+)?"
    r"(?!" + _NOT_A_GIVEN_NAME + r")(?P<first>" + _NAME_WORD + r")"
    r"(?:[ \t](?!" + _NOT_A_GIVEN_NAME + r")"
    # a middle initial, with or without its dot ("Tomás Ó Briain", "John F Kennedy")
    r"(?P<middle>[A-Z]\.|[" + _UPPER + r"](?=[ \t][" + _UPPER + r"])|" + _NAME_WORD + r"))?"
    r"(?:[ \t](?P<last>" + _NAME_WORD + r"))?(?![\w@])"
)


@functools.cache
def _world_names() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Given names, surnames and leading (surname-first) surnames from ``names_world.txt``."""
    lists = _name_file()
    return frozenset(lists["f"]), frozenset(lists["l"]), frozenset(lists["e"])


@functools.cache
def _english_words() -> frozenset[str]:
    """Everyday English words (``names_world.txt``): never an unlisted given name."""
    return frozenset(_name_file()["x"])


@functools.cache
def _common_words() -> frozenset[str]:
    """Everyday English words and the merely common ones (``names_world.txt``): no unlisted surname."""
    return _english_words() | frozenset(_name_file()["w"])


@functools.cache
def _japanese_surnames() -> frozenset[str]:
    """Common Japanese surnames (``names_world.txt``): beside one, a Hepburn-shaped word is a given name."""
    return frozenset(_name_file()["j"])


@functools.cache
def _name_file() -> dict[str, set[str]]:
    lists: dict[str, set[str]] = {"f": set(), "l": set(), "e": set(), "x": set(), "j": set(), "w": set()}
    with open(Path(__file__).with_name("names_world.txt"), encoding="utf-8") as handle:
        for line in handle:
            kind, _, word = line.rstrip("\n").partition(" ")
            if kind in lists:
                lists[kind].add(word)
    return lists


@functools.cache
def _all_names() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Given names, surnames (census and world lists) and leading surnames, folded to lower-case ASCII."""
    census_first, census_last = _census_names()
    world_first, world_last, leading = _world_names()
    return census_first | world_first, census_last | world_last, leading


@functools.cache
def _census_names() -> tuple[frozenset[str], frozenset[str]]:
    """First names and surnames (lower-case) from the census lists shipped by the ``names`` package."""
    import names  # type: ignore[import-untyped]

    folder = Path(names.__file__).parent

    def read(filename: str, limit: int | None = None) -> frozenset[str]:
        out: set[str] = set()
        with open(folder / filename, encoding="utf-8") as handle:
            for rank, line in enumerate(handle, 1):
                if limit is not None and rank > limit:
                    break
                word = line.split(" ", 1)[0].strip().lower()
                if word:
                    out.add(word)
        return frozenset(out)

    first = read("dist.male.first") | read("dist.female.first")
    last = read("dist.all.last", _SURNAME_RANK_LIMIT)
    return first, last


def _result(recognizer: LocalRecognizer, entity: str, start: int, end: int, score: float, name: str) -> Any:
    label = f"loomllm:{entity}"
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(recognizer=label, original_score=score, pattern_name=name),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: label,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


class PersonNameRecognizer(LocalRecognizer):  # type: ignore[misc]
    """People's names from census name lists: ``First Last``, ``First M. Last``, ``Dr. Last``."""

    CONTEXT = [
        "name",
        "cc",
        "assigned",
        "candidate",
        "applicant",
        "employee",
        "tenant",
        "landlord",
        "passenger",
        "beneficiary",
        "author",
        "student",
        "driver",
        "attendees",
        "owner",
        "holder",
        "reviewed",
        "welcome",
        "ask",
        "per",
        "mother",
        "father",
        "sister",
        "brother",
        "wife",
        "husband",
        "doctor",
        "tutor",
        "teacher",
        "met",
        "best",
        "sincerely",
        "cheers",
        "mr",
        "mrs",
        "ms",
        "dr",
        "customer",
        "contact",
        "dear",
        "hi",
        "hello",
        "patient",
        "signed",
        "thanks",
        "regards",
        "spoke",
        "called",
        "emailed",
        "opened",
        "escalate",
        "manager",
        "colleague",
    ]

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="loomllm:PERSON", context=self.CONTEXT)

    def load(self) -> None:
        """Read the name lists (once per process)."""
        _all_names()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        """Every name-shaped sequence whose parts the name lists know."""
        first_names, surnames, leading = _all_names()
        results: list[Any] = []
        position = 0
        while (match := _PERSON.search(text, position)) is not None:
            score = self._score(match, text, first_names, surnames, leading)
            if not match.group("title") and _key(match.group("first")) not in first_names and match.group("last"):
                # "Student Ravi Shankar Pillai", "Thursday Li Na": the name may start at the second word
                for group in ("middle", "last"):
                    later = _PERSON.match(text, match.start(group)) if match.group(group) else None
                    if later is None:
                        continue
                    later_score = self._score(later, text, first_names, surnames, leading)
                    opener = _key(match.group("first"))
                    if later_score > score and (
                        later_score >= _CONFIRMED or opener in _NOT_NAMES or opener in _english_words()
                    ):
                        match, score = later, later_score
                        break
            if score:
                results.append(_result(self, "PERSON", match.start(), match.end(), score, "census_name"))
            position = match.end()
        return results

    @staticmethod
    def _score(
        match: re.Match[str], text: str, first: frozenset[str], surnames: frozenset[str], leading: frozenset[str]
    ) -> float:
        if _ORGANISATION_AFTER.match(text, match.end()) or _key_phrase(match.group()) in _PERSON_NAMED_FIRMS:
            return 0.0  # "Morgan Stanley", "Harley Davidson Inc": a firm named after people
        return max(_person_score(match, text, first, surnames), _leading_surname_score(match, leading, first))


def _person_score(match: re.Match[str], text: str, first_names: frozenset[str], surnames: frozenset[str]) -> float:
    title, first, middle, last = (match.group(g) for g in ("title", "first", "middle", "last"))
    words = [_key(w) for w in (first, middle, last) if w and not w.endswith(".")]
    if any(w in _NOT_NAMES for w in words):
        return 0.0
    surname = _key(last or (middle if middle and not middle.endswith(".") else None) or "")
    if title:
        return 0.85 if _is_surname(surname or _key(first), surnames) or _key(first) in first_names else 0.6
    if not last and not (middle and not middle.endswith(".")):
        return 0.0  # a lone capitalised word is not a name without a title
    given = _key(first)
    if given not in first_names:
        if _japanese_given(given) and surname in _japanese_surnames():
            return _CONFIRMED  # "Haruto Sato": given names are too many to list, their shape is not
        # An unlisted given name before a listed surname: a name only when a context word ("Hi", "contact",
        # "Dear") raises the score.
        unlisted_ok = given not in surnames and given not in _english_words()
        return 0.3 if unlisted_ok and _is_surname(surname, surnames) else 0.0
    english = given in _english_words()
    if (given in _AMBIGUOUS_FIRST or english) and _sentence_start(text, match.start()):
        return 0.0  # "My Doppler key", "Will Smith"-shaped words opening a sentence
    if _is_surname(surname, surnames):
        return _CONFIRMED
    if not english and _japanese_given(given) and _japanese_given(surname) and _JAPANESE_SURNAME_END.search(surname):
        return _CONFIRMED  # "Atsushi Odagiri": a listed given name, and an unlisted surname shaped like one
    if english:
        return 0.0  # "Too Many Requests", "Press Ctrl"
    # Without a listed surname a context word must raise the score: after a census given name ("Eric Firing"),
    # or after another listed one, before a word that is no common English word ("Armin Ronacher", but not
    # "Branch Protection").
    if given in _census_names()[0]:
        return 0.45
    return 0.3 if surname not in _common_words() else 0.0


#: The score of a name whose given name and surname are both listed.
_CONFIRMED = 0.85
#: Arabic and other particles that open a surname ("Al-Farsi", "El-Amin", "bin Said").
_SURNAME_PARTICLE = re.compile(r"(?:al|el|ad|ar|as|at|az|ash|abu|bin|ibn|ben|bint)-[a-z]{2,}")
#: A syllable of Hanyu Pinyin (tones dropped); a Chinese given name is one or two of them.
_PINYIN_SYLLABLE = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|van|ai|ei|ao|ou|an|en|in|un|vn|ia|ie|iu|ua|uo|ui|ve|er|"
    r"a|e|i|o|u|v)"
)
_PINYIN_NAME = re.compile(rf"(?:{_PINYIN_SYLLABLE}){{1,2}}")
#: Endings that mark a surname in Greek, Slavic, Romanian, Turkish and Georgian usage.
_SURNAME_ENDING = re.compile(
    r"[a-z]{3,}(?:opoulos|opoulou|idis|idou|akis|akou|iou|enko|chuk|ovich|evich|ovic|evic|ova|eva|ov|ev|sky|ska|"
    r"ski|escu|oglu|oglou|dze|shvili)|[a-z]{4,}ou"  # the last: Greek genitives, "Ioannou", "Christou"
)
#: A Japanese name in Hepburn romanization: morae, each a vowel after an optional consonant, or a closing n.
_HEPBURN_NAME = re.compile(r"(?:(?:ky|gy|sh|ch|ny|hy|by|py|my|ry|ts|[kgsztdnhbpmyrwjf])?[aeiou]|n(?![aeiouy]))+")
#: How Japanese surnames end: Yamada, Ota, Ono, Aoki, Odagiri, Nishimura, Furukawa...
_JAPANESE_SURNAME_END = re.compile(
    r"(?:moto|mura|kawa|gawa|yama|shima|jima|saki|zaki|hara|bara|wara|kami|uchi|ishi|oka|giri|hashi|bashi|sawa|"
    r"zawa|mori|naka|shita|zuka|tsuka|guchi|kuchi|da|ta|no|ki)$"
)
#: Korean and Wade-Giles given names: two syllables joined by a hyphen ("Ji-woo", "Chia-hao").
_HYPHENATED_GIVEN = re.compile(r"[a-z]{1,5}-[a-z]{2,5}")


def _is_surname(word: str, surnames: frozenset[str]) -> bool:
    """A listed surname, an Arabic-style ``Al-Name``, or a double-barrelled name with a listed part."""
    if word in surnames or _SURNAME_PARTICLE.fullmatch(word):
        return True
    if _SURNAME_ENDING.fullmatch(word) and word not in _english_words():
        return True  # "Ioannou", "Kovalchuk": surnames are too many to list, these endings mark them
    return "-" in word and any(part in surnames for part in word.split("-") if len(part) > 2)


def _leading_surname_score(match: re.Match[str], leading: frozenset[str], first_names: frozenset[str]) -> float:
    """``Liu Yang``, ``Park Ji-woo``, ``Nguyen Thi Lan``: a surname that comes first, then a given name."""
    if match.group("title") or not (match.group("middle") or match.group("last")):
        return 0.0
    family = _key(match.group("first"))
    middle = match.group("middle")
    given = _key(middle if middle and not middle.endswith(".") else match.group("last") or "")
    if family in _japanese_surnames() and _japanese_given(given):
        return 0.85  # "Sato Haruto", the order Japanese text uses
    if family not in leading or given in _NOT_NAMES or given in _english_words():
        return 0.0
    if given in first_names or _PINYIN_NAME.fullmatch(given) or _HYPHENATED_GIVEN.fullmatch(given):
        return 0.85
    return 0.0


def _japanese_shaped(word: str) -> bool:
    """A lower-case word of three letters or more shaped like a Japanese name in Hepburn spelling."""
    return len(word) >= 3 and _HEPBURN_NAME.fullmatch(word) is not None


def _japanese_given(word: str) -> bool:
    """A Japanese-shaped word that is no common English word ("Banana") or non-name."""
    return _japanese_shaped(word) and word not in _NOT_NAMES and word not in _common_words()


_FOLD = str.maketrans({"ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "'": None, "’": None})


def _key(word: str) -> str:
    """A name as the lists spell it: lower-case ASCII, no accents or apostrophes ("O'Connor" -> "oconnor")."""
    word = word.translate(_FOLD)
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word.lower()


def _key_phrase(phrase: str) -> str:
    return " ".join(_key(w) for w in re.split(r"[\s\-]+", phrase) if w)


#: Firms whose names are two people's names (a name list cannot tell them from people).
_PERSON_NAMED_FIRMS = frozenset(
    {
        "morgan stanley", "wells fargo", "goldman sachs", "johnson controls", "charles schwab", "merrill lynch",
        "lehman brothers", "dow jones", "harley davidson", "hewlett packard", "rolls royce", "aston martin",
        "alfa romeo", "mercedes benz", "louis vuitton", "estee lauder", "ralph lauren", "calvin klein",
        "tommy hilfiger", "jack daniels", "ben jerry", "marks spencer", "dolce gabbana", "bang olufsen",
        "black decker", "baker mckenzie", "ernst young", "booz allen", "smith barney", "edward jones",
        "john deere", "walt disney", "warner bros", "paul mitchell", "jenny craig", "tim hortons", "carl zeiss",
        "robert bosch", "hugo boss", "kate spade", "michael kors", "jimmy choo", "tory burch", "marc jacobs",
        "ted baker", "john lewis", "raymond james", "stanley morgan", "franklin templeton", "allen overy",
        "freshfields bruckhaus", "charles river", "wolters kluwer", "thomson reuters", "george weston",
        "morgan chase", "jp morgan", "johnson matthey", "marshall mclennan", "arthur andersen",
    }
)
#: Words after a name-shaped pair that make it a firm or a place: "Wells Fargo Bank", "Ford Motor", "Inc".
_ORGANISATION_AFTER = re.compile(
    r"[ \t]*(?:&[ \t]*[A-Z]|(?:and|&)[ \t]+(?:Co|Company|Sons|Partners)\b|,?[ \t]*(?:Inc|LLC|LLP|Ltd|Corp|"
    r"Corporation|Group|Bank|Capital|Partners|Motors?|Holdings|Industries|Labs|Technologies|Systems|Securities|"
    r"Financial|Insurance|Airlines|Hotels?|University|College|School|Hospital|Foundation|Institute|Stadium|"
    r"Associates|Brothers|Bros|GmbH|AG|SA|plc|PLC)\b)"
)


def _sentence_start(text: str, index: int) -> bool:
    before = text[max(0, index - 3) : index].rstrip(" \t")
    return not before or before[-1] in ".!?\n:\"'("


_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Crescent|Cres|Close|Grove|Gardens|Mews|Row|Walk|Trail|"
    r"Plaza|Alley|Loop|Pike|Path|Hill|Park"
)
_ADDRESS = re.compile(
    r"(?<![\w#/.\-])(?P<number>\d{1,6}[A-Za-z]?(?:-\d{1,4})?)[ \t]+"
    r"(?:(?:[NSEW]|North|South|East|West)\.?[ \t]+)?"
    r"(?P<street>(?:[A-Z][a-z']+|\d{1,3}(?:st|nd|rd|th))(?:[ \t]+[A-Z][a-z']+){0,3})[ \t]+"
    r"(?P<type>" + _STREET_TYPES + r")\b\.?"
    r"(?P<tail>(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?[ \t]*[\w\-]{1,6})?"
    r"(?:,[ \t]*[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){0,2}"
    r"(?:,?[ \t]*(?:[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}|[A-Z]{2}|\d{5}))?)?)"
)
_GERMAN_ADDRESS = re.compile(
    r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)[ \t]+\d{1,4}[a-z]?\b"
    r"(?:,[ \t]*\d{5}[ \t]+[A-ZÄÖÜ][a-zäöüß]+)?"
)
_PO_BOX = re.compile(r"\b(?:P\.?[ \t]?O\.?[ \t]?Box|Post Office Box)[ \t]+\d{1,6}\b")


class StreetAddressRecognizer(LocalRecognizer):  # type: ignore[misc]
    """Street addresses: number, street name, street type, then optionally unit, city, state/ZIP or postcode."""

    CONTEXT = ["address", "live", "lives", "located", "ship", "shipping", "deliver", "mail", "billing", "street"]

    def __init__(self) -> None:
        super().__init__(supported_entities=["STREET_ADDRESS"], name="loomllm:STREET_ADDRESS", context=self.CONTEXT)

    def load(self) -> None:
        """Nothing to load."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        """Address-shaped spans; a city, ZIP or postcode after the street raises the score."""
        results: list[Any] = []
        for match in _ADDRESS.finditer(text):
            words = match.group("street").lower().split()
            if words and words[0] in {"the", "a", "an", "and", "or", "of", "to", "on", "in"}:
                continue
            score = 0.85 if match.group("tail") else 0.7
            results.append(_result(self, "STREET_ADDRESS", match.start(), match.end(), score, "street_address"))
        for pattern, name in ((_GERMAN_ADDRESS, "german_street_address"), (_PO_BOX, "po_box")):
            for match in pattern.finditer(text):
                results.append(_result(self, "STREET_ADDRESS", match.start(), match.end(), 0.75, name))
        return results


class MastercardAwareCreditCardRecognizer(CreditCardRecognizer):  # type: ignore[misc]
    """Presidio's credit-card recognizer (Luhn-checked) plus Mastercard's 2-series BINs 2221-2720."""

    def __init__(self) -> None:
        patterns = [
            *self.PATTERNS,
            Pattern(
                "mastercard_2_series",
                r"\b2(?:2(?:2[1-9]|[3-9]\d)|[3-6]\d{2}|7(?:[01]\d|20))[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b",
                0.3,
            ),
        ]
        super().__init__(patterns=patterns)


#: Words before a nine-digit number that make it a catalogue or order number, not an SSN.
_NOT_SSN_CONTEXT = re.compile(
    r"(?i:\b(?:part|parts|sku|serial|model|order|invoice|ticket|ref|reference|item|catalog(?:ue)?|"
    r"product|tracking|po|case)\b(?:\s+(?:no\.?|number|numbers|#|id))?[\s:#]*)(?:\S+\s+(?:and|or|,)\s+)?\Z"
)


class FilteredSsnRecognizer(UsSsnRecognizer):  # type: ignore[misc]
    """Presidio's SSN recognizer with the SSA's area rules and no part, order or serial numbers."""

    def invalidate_result(self, pattern_text: str) -> bool:
        """Presidio's checks plus: area 000, 666 and 900-999 were never issued."""
        if super().invalidate_result(pattern_text):
            return True
        digits = re.sub(r"\D", "", pattern_text)
        return len(digits) == 9 and (digits[0] == "9" or digits[:3] in {"000", "666"})

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """SSN matches not introduced as a part, order or serial number."""
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if not _NOT_SSN_CONTEXT.search(text[max(0, r.start - 48) : r.start])]


class FilteredItinRecognizer(UsItinRecognizer):  # type: ignore[misc]
    """Presidio's ITIN recognizer without part, order or serial numbers."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """ITIN matches not introduced as a part, order or serial number."""
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if not _NOT_SSN_CONTEXT.search(text[max(0, r.start - 48) : r.start])]


_COUNTRY_CODE_BEFORE = re.compile(r"\+\d{1,3}[ \t.\-]?\(?\Z")


def not_a_phone_number(text: str, start: int, end: int) -> bool:
    """Whether a phone-shaped match is something else: more digits than E.164 allows, or named as an id.

    "voucher number 0717076440066297" (16 digits), "RMA 08686-6419", "AWB 179-12926643", "Refund 9461-970-377".
    """
    number = _EXTENSION_LABEL.split(text[start:end], maxsplit=1)[0]  # "+44 20 7946 0958 ext. 4021": 12 digits
    if sum(ch.isdigit() for ch in number) > 15:
        return True
    return named_as_an_id(text, start)


_EXTENSION_LABEL = re.compile(r"(?i:ext|[x#~,;])")


def not_an_email_address(text: str, start: int, end: int) -> bool:
    """``git@github.com`` (``ssh -T git@host``, ``url."git@host:"``): the SSH user of a git host, nobody's address."""
    return text[start : start + 4].lower() == "git@"


#: "NHS" a few words after a bare number: "4841408541 is the NHS number", "4841408541 (NHS no.)". It reads at
#: most 27 characters past the number: the prefilter's UK_NHS window reaches that far.
_NHS_NAMED_AFTER = re.compile(
    r"[ \t(,:\-]{1,3}(?:(?:is|was|the|my|your|his|her|their|our|an?)[ \t]{1,2}){0,3}(?i:NHS)\b"
)
_TIMESTAMP_CONTEXT = re.compile(r"(?i:\b(?:timestamp|epoch|unix|ts|time|id|order|invoice)\b)[\s:=#]*\Z")


class ContextualNhsRecognizer(NhsRecognizer):  # type: ignore[misc]
    """Presidio's NHS-number recognizer (mod-11 checked); an unformatted ten-digit run needs a context word.

    One ten-digit number in eleven passes the checksum by chance (timestamps, order ids): written as
    ``943 476 5919`` it is an NHS number, written bare it counts only next to "NHS" or "patient".
    """

    CONTEXT = ["nhs", "health", "patient", "hospital", "gp", "medical", "number"]
    BARE_SCORE = 0.2
    NAMED_AFTER_BOOST = 0.35  # what a context word before it adds

    def __init__(self) -> None:
        super().__init__(context=self.CONTEXT)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """NHS numbers; bare digit runs at a low score that context can raise, never after "timestamp"."""
        kept = []
        for result in super().analyze(text, entities, nlp_artifacts, regex_flags):
            if _TIMESTAMP_CONTEXT.search(text[max(0, result.start - 24) : result.start]):
                continue
            if _COUNTRY_CODE_BEFORE.search(text[max(0, result.start - 8) : result.start]):
                continue  # "+1 512-560-9897": a phone number that passes mod 11 by chance
            if text[result.start : result.end].isdigit():
                # Context counts only before a number (Presidio's reading); "4841408541 is my NHS number" after it.
                named_after = _NHS_NAMED_AFTER.match(text, result.end)
                result.score = self.BARE_SCORE + (self.NAMED_AFTER_BOOST if named_after else 0.0)
            kept.append(result)
        return kept
