"""The Presidio side: recognizers, the tokenizer-only NLP engine, the prefilter and the scan cache.

Imported on first scan only (Presidio takes about a second to import). One :class:`Scanner` exists per
process per analyzer settings (:func:`get_scanner`); it owns an ``AnalyzerEngine`` and a bounded LRU of
findings keyed by a hash of the scanned text — the cache never holds the text itself.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import structlog
from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    LocalRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
)

from .secret_patterns import SECRET_SPECS, SecretSpec, looks_like_placeholder, shannon_entropy

__all__ = ["Detection", "ScanSettings", "Scanner", "get_scanner"]

_log = structlog.get_logger("loomllm.guardrails")
_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Detection:
    """One analyzer result: type, span and score (never the matched text)."""

    entity_type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ScanSettings:
    """Everything that changes what the analyzer finds; one :class:`Scanner` per distinct value."""

    pii_entities: tuple[str, ...]
    spacy_model: str | None = None
    cache_size: int = 10_000


# --- NLP engine -----------------------------------------------------------------------------------------------


class TokenizerNlpEngine(NlpEngine):  # type: ignore[misc]
    """spaCy's rule-based English tokenizer (``spacy.blank("en")``) and nothing else: no model download.

    Lemmas are the lower-cased tokens, so Presidio's context enhancer still finds context words
    ("password", "ssn", "card") before a match.
    """

    def __init__(self) -> None:
        self.nlp: Any = None

    def load(self) -> None:
        """Build the blank pipeline (tokenizer only)."""
        import spacy

        self.nlp = spacy.blank(_LANGUAGE)

    def is_loaded(self) -> bool:
        """Whether :meth:`load` ran."""
        return self.nlp is not None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Artifacts that tokenize ``text`` only when first read (most texts yield no match to enhance)."""
        return _LazyArtifacts(text, self, language)

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs: Any
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        """Tokenize each text."""
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        """spaCy's English stop-word list."""
        return bool(self.nlp.vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        """spaCy's punctuation test."""
        return bool(self.nlp.vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        """None: this engine runs no NER."""
        return []

    def get_supported_languages(self) -> list[str]:
        """English only."""
        return [_LANGUAGE]


class _LazyArtifacts(NlpArtifacts):  # type: ignore[misc]
    """``NlpArtifacts`` whose tokens, lemmas and keywords are computed on first access.

    Presidio builds artifacts before running recognizers but reads them only to enhance a match with context
    words; a text without matches never pays for tokenization.
    """

    def __init__(self, text: str, engine: TokenizerNlpEngine, language: str) -> None:
        # NlpArtifacts.__init__ would tokenize eagerly; set the plain attributes ourselves.
        self._text = text
        self._engine = engine
        self._doc: Any = None
        self._indices: list[int] = []
        self._lemmas: list[str] = []
        self._keywords: list[str] = []
        self.entities: list[Any] = []
        self.scores: list[float] = []
        self.nlp_engine = engine
        self.language = language

    def _load(self) -> None:
        if self._doc is None:
            # Presidio's context enhancer only iterates tokens and takes their length: plain strings do, and
            # iterating the spaCy Doc once here is far cheaper than once per match.
            quads = [(t.idx, t.text, t.lower_, t.is_stop or t.is_punct) for t in self._engine.nlp(self._text)]
            self._indices = [idx for idx, _, _, _ in quads]
            self._lemmas = [lemma for _, _, lemma, _ in quads]
            # Same rule as NlpArtifacts.set_keywords (no stop words, no punctuation, split on ":"), without a
            # vocabulary lookup per token.
            self._keywords = _Keywords(
                part
                for _, _, lemma, skip in quads
                if not skip and lemma not in ("-pron-", "be")
                for part in lemma.split(":")
            )
            tokens = _Tokens(text for _, text, _, _ in quads)
            tokens.ends = [idx + len(text) for idx, text, _, _ in quads]
            self._doc = tokens

    @property
    def tokens(self) -> Any:  # type: ignore[override]
        """The token texts."""
        self._load()
        return self._doc

    @property
    def tokens_indices(self) -> list[int]:  # type: ignore[override]
        """Character offset of each token."""
        self._load()
        return self._indices

    @property
    def lemmas(self) -> list[str]:  # type: ignore[override]
        """Lower-cased tokens (the blank pipeline has no lemmatizer)."""
        self._load()
        return self._lemmas

    @property
    def keywords(self) -> list[str]:  # type: ignore[override]
        """Lemmas that are neither stop words nor punctuation."""
        self._load()
        return self._keywords


class _Tokens(list[str]):
    """Token texts that also know where each token ends (for a binary search)."""

    ends: list[int]


class _Keywords(list[str]):
    """Keywords with set-speed membership (the enhancer tests ``lemma in keywords`` for every step)."""

    def __init__(self, words: Iterable[str]) -> None:
        super().__init__(words)
        self._set = frozenset(self)

    def __contains__(self, word: object) -> bool:
        return word in self._set


class FastContextEnhancer(LemmaContextAwareEnhancer):  # type: ignore[misc]
    """Presidio's lemma context enhancer with a binary search for the token under a match.

    The stock enhancer walks all tokens from the start for every result, quadratic on texts with many
    matches (a 90 KB digit table took 12 s); with token end offsets known it is logarithmic.
    """

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
        ends = getattr(tokens, "ends", None)
        if ends is None:
            return int(LemmaContextAwareEnhancer._find_index_of_match_token(word, start, tokens, tokens_indices))
        index = bisect.bisect_right(ends, start)
        if index >= len(ends):
            raise ValueError("match is past the last token")
        return index


def _spacy_model_installed(name: str) -> bool:
    """An installed spaCy package, or a directory with a saved pipeline (never a download)."""
    import spacy.util

    return bool(spacy.util.is_package(name)) or (Path(name).is_dir() and (Path(name) / "config.cfg").is_file())


def _build_nlp_engine(spacy_model: str | None) -> tuple[Any, bool]:
    """The NLP engine and whether it runs NER (only when the named spaCy model is installed)."""
    if spacy_model is not None:
        if _spacy_model_installed(spacy_model):
            from presidio_analyzer.nlp_engine import SpacyNlpEngine

            return SpacyNlpEngine(models=[{"lang_code": _LANGUAGE, "model_name": spacy_model}]), True
        _log.warning("guardrail.spacy_model_missing", model=spacy_model, fallback="tokenizer-only, no NER entities")
    return TokenizerNlpEngine(), False


# --- recognizers ----------------------------------------------------------------------------------------------


class SecretRecognizer(LocalRecognizer):  # type: ignore[misc]
    """All patterns of one ``SECRET_*`` entity: regex, then placeholder, entropy and format checks."""

    def __init__(self, entity: str, specs: Sequence[SecretSpec]) -> None:
        self.specs = tuple(specs)
        context = sorted({word for spec in specs for word in spec.context})
        super().__init__(supported_entities=[entity], name=f"loomllm:{entity}", context=context)

    def load(self) -> None:
        """Nothing to load: patterns are compiled with their specs."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Every non-placeholder match of every pattern of this entity."""
        results: list[RecognizerResult] = []
        entity = self.supported_entities[0]
        name = f"loomllm:{entity}"
        for spec in self.specs:
            for match in spec.compiled.finditer(text):
                span = match.span("s") if "s" in spec.compiled.groupindex and match.group("s") else match.span()
                value = text[span[0] : span[1]]
                quoted = "q" in spec.compiled.groupindex and bool(match.group("q"))
                if not value or not _secret_value_ok(spec, value, quoted=quoted):
                    continue
                results.append(
                    RecognizerResult(
                        entity_type=entity,
                        start=span[0],
                        end=span[1],
                        score=spec.score,
                        analysis_explanation=AnalysisExplanation(
                            recognizer=name, original_score=spec.score, pattern_name=spec.name
                        ),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
        return results


def _secret_value_ok(spec: SecretSpec, value: str, *, quoted: bool) -> bool:
    if looks_like_placeholder(value):
        return False
    if spec.min_entropy and shannon_entropy(value) < spec.min_entropy:
        return False
    check = spec.literal_check if quoted and spec.literal_check is not None else spec.check
    return check is None or check(value)


def _offline_tld_extractor() -> Any:
    import tldextract

    # No suffix-list URLs and no disk cache: the bundled public-suffix snapshot, never the network.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
    """Presidio's email recognizer validating domains against tldextract's bundled snapshot (no download)."""

    def __init__(self) -> None:
        super().__init__()
        self._extract = _offline_tld_extractor()

    def validate_result(self, pattern_text: str) -> bool:
        """A known public suffix after the ``@``."""
        return bool(self._extract(pattern_text).fqdn != "")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """Presidio's matches, minus ``password@host`` inside a URL's userinfo (``https://user:pass@host``)."""
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if not _URL_USERINFO.search(text, max(0, r.start - 200), r.start)]


_URL_USERINFO = re.compile(r"://[^\s/@]*\Z")
_VERSION_PREFIX = re.compile(r"(?:\bv|version\s*|ver\.?\s*|build\s*|==|>=|<=|~=)\Z", re.IGNORECASE)


class FilteredIpRecognizer(IpRecognizer):  # type: ignore[misc]
    """Presidio's IP recognizer without loopback/unspecified addresses and version strings (``v1.2.3.4``)."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """Addresses that identify a host."""
        import ipaddress

        kept = []
        for result in super().analyze(text, entities, nlp_artifacts, regex_flags):
            try:
                address = ipaddress.ip_interface(text[result.start : result.end]).ip
            except ValueError:
                kept.append(result)
                continue
            if address.is_loopback or address.is_unspecified:
                continue
            if _VERSION_PREFIX.search(text, max(0, result.start - 10), result.start):
                continue
            kept.append(result)
        return kept


# Digit groups shaped like a phone number: an optional +country code, then groups of 2-5 digits after the first.
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .\-]?)?\(?\d{1,5}\)?(?:[ .\-/]?\(?\d{2,5}\)?){1,5}(?!\w)")
_PHONE_PAD = 8
_MAX_WINDOW = 96
#: Digit-dense texts (tables, logs) stop producing phone windows here, bounding the cost of one scan.
_MAX_WINDOWS = 2000
_BARE_DIGITS = re.compile(r"\d+")
_DATE = re.compile(r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{2,4}")
_BARE_DIGITS_SCORE = 0.1


class WindowedPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
    """Presidio's phone recognizer run on short windows around digit runs instead of the whole text.

    ``phonenumbers.PhoneNumberMatcher`` walks the text once per region; on windows it sees a few dozen
    characters, and findings are identical because phone numbers never span more than a window.
    """

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Phone numbers inside digit-run windows, with offsets in ``text``."""
        results: list[RecognizerResult] = []
        for start, end in _merged_windows(_PHONE_CANDIDATE, text, _PHONE_PAD, min_digits=7):
            window = text[start:end]
            # An international number (leading +) parses the same under any default region.
            international = window.lstrip(" (\n\t").startswith("+")
            regions = self.supported_regions[:1] if international else self.supported_regions
            spans: dict[tuple[int, int], str] = {}
            for region in regions:  # every region finds the same number again: keep one result per span
                for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=self._leniency):
                    spans.setdefault((match.start, match.end), region)
            found = [self._result(s, e, region) for (s, e), region in spans.items()]
            for result in found:
                result.start += start
                result.end += start
                if _glued_to_token(text, result.start, result.end):
                    continue  # part of a UUID, a decimal, an identifier
                if _BARE_DIGITS.fullmatch(text, result.start, result.end):
                    # An unformatted digit run (timestamp, order id) counts only with a context word nearby,
                    # which Presidio's context enhancer adds back.
                    result.score = _BARE_DIGITS_SCORE
                results.append(result)
        return results

    @property
    def _leniency(self) -> int:
        return 1 if self.leniency is None else int(self.leniency)

    def _result(self, start: int, end: int, region: str) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer="PhoneRecognizer",
            original_score=self.SCORE,
            textual_explanation=f"Recognized as {region} region phone number, using PhoneRecognizer",
        )
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=self.SCORE,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: "PhoneRecognizer",
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


def _glued_to_token(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    if before.isalnum() or before in "-._/":
        return True
    return bool(after) and (after[0].isalnum() or (len(after) == 2 and after[0] in "-._" and after[1].isalnum()))


def _merged_windows(pattern: re.Pattern[str], text: str, pad: int, *, min_digits: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        if sum(ch.isdigit() for ch in match.group()) < min_digits or _DATE.fullmatch(match.group()):
            continue
        start, end = max(0, match.start() - pad), min(len(text), match.end() + pad)
        if windows and start <= windows[-1][1] and end - windows[-1][0] <= _MAX_WINDOW:
            windows[-1] = (windows[-1][0], end)
        elif len(windows) < _MAX_WINDOWS:
            windows.append((start, end))
        else:
            break
    return windows


_PII_RECOGNIZERS: dict[str, Callable[[], Any]] = {
    "CREDIT_CARD": CreditCardRecognizer,
    "CRYPTO": CryptoRecognizer,
    "DATE_TIME": DateRecognizer,
    "EMAIL_ADDRESS": OfflineEmailRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "IP_ADDRESS": FilteredIpRecognizer,
    "MAC_ADDRESS": MacAddressRecognizer,
    "MEDICAL_LICENSE": MedicalLicenseRecognizer,
    "PHONE_NUMBER": WindowedPhoneRecognizer,
    "UK_NHS": NhsRecognizer,
    "URL": lambda: UrlRecognizer(),
    "US_BANK_NUMBER": UsBankRecognizer,
    "US_DRIVER_LICENSE": UsLicenseRecognizer,
    "US_ITIN": UsItinRecognizer,
    "US_PASSPORT": UsPassportRecognizer,
    "US_SSN": UsSsnRecognizer,
}

# Cheap tests: a recognizer runs only when its trigger occurs in the text.
_DIGITS = r"\d"
_PII_TRIGGERS: dict[str, str] = {
    "CREDIT_CARD": r"\d{4}[ \-]?\d{3,4}[ \-]?\d{3,4}",
    "CRYPTO": r"(?:bc1|[13])[a-km-zA-HJ-NP-Z1-9]{25}",
    "DATE_TIME": _DIGITS,
    "EMAIL_ADDRESS": r"\w@\w",
    "IBAN_CODE": r"(?i)\b[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]{4}){2}",
    "IP_ADDRESS": r"\d\.\d+\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:|::",
    "MAC_ADDRESS": r"[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.",
    "MEDICAL_LICENSE": r"[A-Za-z]{2}\d{7}",
    "PHONE_NUMBER": r"\d[\d ().\-/]{5,}\d",
    "UK_NHS": r"\d{3}[ \-]?\d{3}[ \-]?\d{4}",
    "URL": r"\w\.\w",
    "US_BANK_NUMBER": r"\d{8}",
    "US_DRIVER_LICENSE": r"\w\d",
    "US_ITIN": r"9\d{2}[ \-]?\d{2}[ \-]?\d{4}",
    "US_PASSPORT": r"\d{9}|[A-Za-z]\d{8}",
    "US_SSN": r"\d{3}[ \-.]?\d{2}[ \-.]?\d{4}|\d{5}-\d{4}",
}


@dataclass(frozen=True)
class _Trigger:
    entity: str
    literals: tuple[str, ...] = ()
    ignore_case: bool = False
    pattern: re.Pattern[str] | None = None

    def fires(self, text: str, lowered: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        haystack = lowered if self.ignore_case else text
        return any(literal in haystack for literal in self.literals)


def _secret_triggers() -> list[_Trigger]:
    triggers: list[_Trigger] = []
    for spec in SECRET_SPECS:
        if spec.trigger_regex is not None:
            triggers.append(_Trigger(spec.entity, pattern=re.compile(spec.trigger_regex)))
        else:
            literals = tuple(t.lower() for t in spec.triggers) if spec.triggers_ignore_case else spec.triggers
            triggers.append(_Trigger(spec.entity, literals, spec.triggers_ignore_case))
    return triggers


def _recognizers(settings: ScanSettings) -> list[Any]:
    by_entity: dict[str, list[SecretSpec]] = {}
    for spec in SECRET_SPECS:
        by_entity.setdefault(spec.entity, []).append(spec)
    recognizers: list[Any] = [SecretRecognizer(entity, specs) for entity, specs in by_entity.items()]
    recognizers += [_PII_RECOGNIZERS[entity]() for entity in settings.pii_entities]
    return recognizers


def build_analyzer(settings: ScanSettings, *, nlp_engine: Any = None) -> tuple[Any, bool]:
    """A Presidio ``AnalyzerEngine`` with loomllm's recognizers; and whether it runs NER."""
    # Presidio's debug logging quotes the scanned text (context words): never let it through.
    logging.getLogger("presidio-analyzer").setLevel(max(logging.INFO, logging.getLogger("presidio-analyzer").level))
    ner = False
    if nlp_engine is None:
        nlp_engine, ner = _build_nlp_engine(settings.spacy_model)
    registry = RecognizerRegistry(supported_languages=[_LANGUAGE])
    for recognizer in _recognizers(settings):
        registry.add_recognizer(recognizer)
    if ner:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "NRP", "ORGANIZATION"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[_LANGUAGE],
            context_aware_enhancer=FastContextEnhancer(),
        )
    return engine, ner


# --- the scanner ----------------------------------------------------------------------------------------------


@dataclass
class ScanStats:
    """Counters for tests and benchmarks."""

    cache_hits: int = 0
    analyzer_calls: int = 0
    prefilter_skips: int = 0


@dataclass
class Scanner:
    """Finds secrets and PII in one text at a time: prefilter, then Presidio, with an LRU of findings.

    Thread-safe: Presidio's analyzer holds no per-call state; the cache is guarded by a lock.
    """

    settings: ScanSettings
    stats: ScanStats = field(default_factory=ScanStats)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._cache: OrderedDict[bytes, tuple[Detection, ...]] = OrderedDict()
        self._analyzer: Any = None
        self._ner = False
        self._triggers = _secret_triggers() + [
            _Trigger(entity, pattern=re.compile(_PII_TRIGGERS[entity])) for entity in self.settings.pii_entities
        ]

    @property
    def analyzer(self) -> Any:
        """The Presidio ``AnalyzerEngine``, built on first use."""
        if self._analyzer is None:
            with self._build_lock:
                if self._analyzer is None:
                    self._analyzer, self._ner = build_analyzer(self.settings)
        return self._analyzer

    def scan(self, text: str, *, cache: bool = True) -> tuple[Detection, ...]:
        """All detections in ``text`` (any score above zero), from the cache when this text was seen before.

        ``cache=False`` neither reads nor fills the cache (stream windows: each is seen once).
        """
        if not text:
            return ()
        if not cache:
            return self._analyze(text)
        key = _content_key(text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.stats.cache_hits += 1
                return cached
        detections = self._analyze(text)
        if self.settings.cache_size:
            with self._lock:
                self._cache[key] = detections
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
        return detections

    def is_cached(self, text: str) -> bool:
        """Whether a scan of ``text`` is in the cache (does not touch LRU order)."""
        with self._lock:
            return _content_key(text) in self._cache

    def triggered_entities(self, text: str) -> list[str]:
        """Entity types whose recognizer may match ``text`` (the prefilter)."""
        lowered = text.lower()
        return sorted({t.entity for t in self._triggers if t.fires(text, lowered)})

    def _analyze(self, text: str) -> tuple[Detection, ...]:
        analyzer = self.analyzer
        entities = self.triggered_entities(text)
        if self._ner:
            entities = [*entities, "PERSON", "LOCATION", "NRP", "ORGANIZATION"]
        if not entities:
            self.stats.prefilter_skips += 1
            return ()
        self.stats.analyzer_calls += 1
        results = analyzer.analyze(text=text, language=_LANGUAGE, entities=entities, score_threshold=0.01)
        detections = {Detection(r.entity_type, r.start, r.end, round(float(r.score), 4)) for r in results}
        return tuple(sorted(detections, key=lambda d: (d.start, -d.end, d.entity_type)))

    def clear_cache(self) -> None:
        """Forget every cached scan."""
        with self._lock:
            self._cache.clear()


def _content_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


_scanners: dict[ScanSettings, Scanner] = {}
_scanners_lock = threading.Lock()


def get_scanner(settings: ScanSettings) -> Scanner:
    """The process-wide scanner for ``settings`` (created on first call; the analyzer on first scan)."""
    with _scanners_lock:
        scanner = _scanners.get(settings)
        if scanner is None:
            scanner = _scanners[settings] = Scanner(settings)
        return scanner
