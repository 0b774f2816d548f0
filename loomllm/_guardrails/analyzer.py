"""The Presidio side: recognizers, the tokenizer-only NLP engine, the prefilter and the scan cache.

Imported on first scan only (Presidio takes about a second to import). One :class:`Scanner` exists per
process per analyzer settings (:func:`get_scanner`); it owns an ``AnalyzerEngine`` and a bounded LRU of
findings keyed by a hash of the scanned text — the cache never holds the text itself.
"""

from __future__ import annotations

import bisect
import copy
import functools
import hashlib
import logging
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    LocalRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import (
    CryptoRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    PhoneRecognizer,
    UkNinoRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
)

from loomllm._events import LibraryLogger

from . import phone_validity
from .entities import NER_ENTITIES
from .normalize import decoded_views, views
from .pii import (
    ContextualNhsRecognizer,
    FilteredItinRecognizer,
    FilteredSsnRecognizer,
    MastercardAwareCreditCardRecognizer,
    PersonNameRecognizer,
    StreetAddressRecognizer,
    not_a_phone_number,
    not_an_email_address,
)
from .prefilter import GROUP_SEPARATOR, Plan, Prefilter, named_as_an_id
from .secret_patterns import SECRET_SPECS, SecretSpec, looks_like_placeholder, shannon_entropy
from .suffixes import has_registrable_domain

__all__ = ["Detection", "ScanSettings", "Scanner", "get_scanner"]

_log = LibraryLogger("loomllm.guardrails")
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
        self._nlp: Any = None
        self._nlp_lock = threading.Lock()

    @property
    def nlp(self) -> Any:
        """The blank pipeline, built on first use.

        The windowed scan tokenizes candidate neighbourhoods with the tokenizer's rules alone (:class:`_SpacyRules`)
        and never reaches it: a pipeline costs ~0.1 s and ~3k long-lived objects (every full garbage collection
        walks them), and its vocabulary would keep every string it tokenized.
        """
        if self._nlp is None:
            with self._nlp_lock:
                if self._nlp is None:
                    import spacy

                    self._nlp = spacy.blank(_LANGUAGE)
        return self._nlp

    def load(self) -> None:
        """Nothing to load up front (see :attr:`nlp`)."""

    def is_loaded(self) -> bool:
        """Always: the pipeline is built when first used."""
        return True

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
            quads = self._quads()
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

    def _quads(self) -> list[tuple[int, str, str, bool]]:
        """``(offset, text, lower, stop word or punctuation)`` of each token of the text."""
        return [(t.idx, t.text, t.lower_, t.is_stop or t.is_punct) for t in self._engine.nlp(self._text)]

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


class _NeighbourhoodArtifacts(_LazyArtifacts):
    """Artifacts of a candidate's neighbourhood, tokenized as spaCy's English tokenizer would (whatever the engine).

    spaCy tokenizes each whitespace-delimited chunk on its own, so a neighbourhood that starts and ends on
    whitespace has the tokens the whole text has there: context enhancement reads the same keywords before a
    candidate. (A word regex does not: it splits "jane@example.com" into five tokens, which push a context word
    out of the five the enhancer reads.) The tokens come from :class:`_SpacyRules`, which applies the tokenizer's
    own rules without its vocabulary: spaCy's string store keeps every string it has tokenized, for good.
    """

    def _quads(self) -> list[tuple[int, str, str, bool]]:
        return _spacy_rules().tokens(self._text)


class _SpacyRules:
    """The tokenization of ``spacy.blank("en")`` (what :class:`TokenizerNlpEngine` runs), computed in Python from the
    tokenizer's own rules: special cases, prefix, suffix and infix patterns, URL match (as ``Tokenizer.explain``
    applies them), and the lexical attributes its vocabulary would give each token.

    Unlike the tokenizer, it adds nothing to a vocabulary: spaCy's string store keeps every token it has seen, a
    value from a user's text included, for the life of the process. A chunk's split is remembered by digest, as
    token lengths (no text).
    """

    def __init__(self, tokenizer: Any, cache_size: int = 4096) -> None:
        from spacy.attrs import IS_PUNCT, IS_STOP, ORTH

        never = re.compile("a^")
        self._prefix = tokenizer.prefix_search or never.search
        self._suffix = tokenizer.suffix_search or never.search
        self._infixes = tokenizer.infix_finditer or never.finditer
        self._token_match = tokenizer.token_match or never.match
        self._url_match = tokenizer.url_match or never.match
        self._specials = {orth: [piece[ORTH] for piece in pieces] for orth, pieces in tokenizer.rules.items()}
        getters = tokenizer.vocab.lex_attr_getters
        self._is_stop, self._is_punct = getters[IS_STOP], getters[IS_PUNCT]
        #: The vocabulary's stop words (its ``is_stop(word)`` is ``word.lower() in stops``).
        self.stops = frozenset(getters[IS_STOP].keywords["stops"])
        # The special cases as the tokenizer's phrase matcher finds them after affixes are split off ("(Dr." ->
        # "(", "Dr", "." -> "(", "Dr."; ":)" -> ":", ")" -> ":)"): each case's affix split, without special cases.
        self._phrases = {pieces: orth for orth in self._specials if len(pieces := tuple(self._pieces(orth, {}))) > 1}
        self._longest_phrase = max(map(len, self._phrases), default=1)
        self._splits: OrderedDict[bytes, tuple[tuple[int, bool], ...]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def tokens(self, text: str) -> list[tuple[int, str, str, bool]]:
        """``(offset, text, lower, stop word or punctuation)`` of each token of ``text``, whitespace tokens too."""
        out: list[tuple[int, str, str, bool]] = []
        specials, stops = self._specials, self.stops
        for run in _RUNS.finditer(text):
            start, span = run.start(), run.group()
            if span[0] == " " and out:  # one space after a token is that token's trailing whitespace
                start, span = start + 1, span[1:]
                if not span:
                    continue
            if span.isalpha() and span.isascii() and span not in specials:  # a plain word: no affix, infix or case
                lower = span.lower()
                out.append((start, span, lower, lower in stops))
                continue
            for length, skip in self._split(span):
                piece = text[start : start + length]
                out.append((start, piece, piece.lower(), skip))
                start += length
        return out

    def _split(self, span: str) -> tuple[tuple[int, bool], ...]:
        """``(length, stop word or punctuation)`` of each token of one run of ``tokens``."""
        if span.isspace():
            return ((len(span), False),)  # one token, neither a stop word nor punctuation
        key = hashlib.blake2b(span.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            known = self._splits.get(key)
            if known is not None:
                self._splits.move_to_end(key)
                return known
        pieces = self._with_phrases(self._pieces(span))
        known = tuple((len(piece), bool(self._is_stop(piece) or self._is_punct(piece))) for piece in pieces)
        with self._lock:
            self._splits[key] = known
            while len(self._splits) > self._size:
                self._splits.popitem(last=False)
        return known

    def _with_phrases(self, tokens: list[str]) -> list[str]:
        """``tokens`` with every run that spells a special case replaced by that case's pieces (longest runs
        first, then the earliest: the tokenizer's ``filter_spans``)."""
        found = [
            (start, end)
            for start in range(len(tokens))
            for end in range(start + 1, min(len(tokens), start + self._longest_phrase) + 1)
            if tuple(tokens[start:end]) in self._phrases
        ]
        if not found:
            return tokens
        kept: list[tuple[int, int]] = []
        taken: set[int] = set()
        for start, end in sorted(found, key=lambda span: (span[0] - span[1], span[0])):
            if not taken.intersection(range(start, end)):
                kept.append((start, end))
                taken.update(range(start, end))
        out: list[str] = []
        position = 0
        for start, end in sorted(kept):
            out += tokens[position:start] + self._specials[self._phrases[tuple(tokens[start:end])]]
            position = end
        return out + tokens[position:]

    def _pieces(self, substring: str, specials: Mapping[str, list[str]] | None = None) -> list[str]:
        """``Tokenizer.explain``'s reading of one whitespace-free span (``specials``: the special cases, by default
        the tokenizer's)."""
        specials = self._specials if specials is None else specials
        prefix, suffix, token_match = self._prefix, self._suffix, self._token_match
        tokens: list[str] = []
        suffixes: list[str] = []
        while substring:
            if substring in specials:
                tokens += specials[substring]
                substring = ""
                continue
            while prefix(substring) or suffix(substring):
                if token_match(substring):
                    tokens.append(substring)
                    substring = ""
                    break
                if substring in specials:
                    tokens += specials[substring]
                    substring = ""
                    break
                found = prefix(substring)
                if found:
                    split = found.end()
                    if split == 0:
                        break
                    tokens.append(substring[:split])
                    substring = substring[split:]
                    if substring in specials:
                        continue
                found = suffix(substring)
                if found:
                    split = found.start()
                    if split == len(substring):
                        break
                    suffixes.append(substring[split:])
                    substring = substring[:split]
            if not substring:
                continue
            if token_match(substring) or self._url_match(substring):
                tokens.append(substring)
            elif substring in specials:
                tokens += specials[substring]
            else:
                tokens += _infix_split(substring, self._infixes)
            substring = ""
        tokens.extend(reversed(suffixes))
        return tokens


def _infix_split(substring: str, infixes: Callable[[str], Iterator[re.Match[str]]]) -> list[str]:
    pieces: list[str] = []
    offset = 0
    for match in infixes(substring):
        if offset == 0 and match.start() == 0:
            continue
        pieces += [piece for piece in (substring[offset : match.start()], match.group()) if piece]
        offset = match.end()
    if substring[offset:]:
        pieces.append(substring[offset:])
    return pieces


_RUNS = re.compile(r"\s+|\S+")


@functools.cache
def _spacy_rules() -> _SpacyRules:
    """The rules of ``spacy.blank("en")``'s tokenizer (built once)."""
    import spacy

    return _SpacyRules(spacy.blank(_LANGUAGE).tokenizer)


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
    """Presidio's lemma context enhancer with a binary search for the token under a match, and copies of only
    what it writes.

    The stock enhancer walks all tokens from the start for every result, quadratic on texts with many
    matches (a 90 KB digit table took 12 s); with token end offsets known it is logarithmic. It also
    deep-copies every result (metadata, explanation, its pattern text) before it raises a score; it writes
    only the score and two fields of the explanation, so a copy of the result and of its explanation does.
    """

    def enhance_using_context(
        self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: Any, recognizers: list[Any],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """Presidio's enhancement, on results copied as far as it writes into them."""
        enhanced: list[RecognizerResult] = super().enhance_using_context(
            text, _CopiedAsWritten(raw_results), nlp_artifacts, recognizers, context)
        return enhanced

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
        ends = getattr(tokens, "ends", None)
        if ends is None:
            return int(LemmaContextAwareEnhancer._find_index_of_match_token(word, start, tokens, tokens_indices))
        index = bisect.bisect_right(ends, start)
        if index >= len(ends):
            raise ValueError("match is past the last token")
        return index


class _CopiedAsWritten(list[RecognizerResult]):
    """Results whose ``copy.deepcopy`` (the enhancer's first step) copies each result and its explanation, the
    objects the enhancer writes into; the metadata it only reads stays shared."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[RecognizerResult]:
        copies = []
        for result in self:
            copied = copy.copy(result)
            if result.analysis_explanation is not None:
                copied.analysis_explanation = copy.copy(result.analysis_explanation)
            copies.append(copied)
        return copies


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
        for spec in self.specs:
            results += self.analyze_windows(text, spec, [(0, len(text))])
        return results

    def analyze_windows(self, text: str, spec: SecretSpec, windows: list[tuple[int, int]]) -> list[RecognizerResult]:
        """Non-placeholder matches of ``spec`` inside ``windows`` of ``text`` (offsets in ``text``)."""
        results: list[RecognizerResult] = []
        entity = self.supported_entities[0]
        name = f"loomllm:{entity}"
        for lo, hi in windows:
            for match in spec.compiled.finditer(text, lo, hi):
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


class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
    """Presidio's email recognizer validating domains against tldextract's bundled snapshot (no download)."""

    def __init__(self) -> None:
        super().__init__()
        self._known_domains: OrderedDict[str, bool] = OrderedDict()

    def validate_result(self, pattern_text: str) -> bool:
        """A known public suffix after the ``@`` (domains repeat across messages: remembered, bounded)."""
        domain = pattern_text.rpartition("@")[2].lower()
        known = self._known_domains.get(domain)
        if known is None:
            known = self._known_domains[domain] = has_registrable_domain(domain)
            if len(self._known_domains) > 4096:
                self._known_domains.popitem(last=False)
        return known

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        """Presidio's matches, minus ``password@host`` inside a URL's userinfo (``https://user:pass@host``).

        Presidio's local part takes ``/?=&:#``, so in ``https://host/cb?email=jane@acme.com`` it matches
        from the host on: the address starts after the last of those characters.
        """
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for result in results:
            at = text.find("@", result.start, result.end)
            cut = max(text.rfind(c, result.start, at) for c in _URL_PUNCTUATION) if at > 0 else -1
            if cut >= result.start:
                result.start = cut + 1
        return [
            r
            for r in results
            if not _URL_USERINFO.search(text, max(0, r.start - 200), r.start)
            and not _SCP_REMOTE.match(text, r.end)  # git@github.com:org/repo.git is a remote, not an address
            and not not_an_email_address(text, r.start, r.end)
        ]


_VERSION_CONTEXT = re.compile(r"(?i:\b(?:firmware|fw|version|release|build|kernel|bios|driver|patch)\b)[^\n]*\Z")
_SCP_REMOTE = re.compile(r":[\w~./\-]")
_URL_PUNCTUATION = "/?=&:#"
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
            if _VERSION_CONTEXT.search(text, max(0, result.start - 48), result.start):
                continue  # "firmware 10.2.14.3", "build 4.19.0.12": a four-part version
            kept.append(result)
        return kept


# Digit groups shaped like a phone number: an optional +country code, then groups of 2-5 digits after the first,
# next to each other or separated as phonenumbers reads them.
_PHONE_SEPARATOR = rf"(?:{GROUP_SEPARATOR})"
_PHONE_CANDIDATE = re.compile(
    rf"(?<![\w.])(?:\+\d{{1,3}}{_PHONE_SEPARATOR}?)?\(?\d{{1,5}}\)?(?:{_PHONE_SEPARATOR}?\(?\d{{2,5}}\)?){{1,5}}(?!\w)")
# An extension after a number ("ext. 123", "x4021", "#12"): the window reaches past it, or phonenumbers would read
# a cut extension glued to its next digit and the number would be dropped.
_EXTENSION = re.compile(r"[ \t]{0,3}[,;]?[ \t]{0,3}(?:ext(?:ension|n)?|x|#|~)\.?[ \t:=]{0,3}\d{1,20}", re.IGNORECASE)
_PHONE_PAD = 8
_MAX_WINDOW = 96
_BARE_DIGITS = re.compile(r"\d+")
_DATE = re.compile(r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{2,4}")
_BARE_DIGITS_SCORE = 0.1


class WindowedPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
    """Presidio's phone recognizer run on short windows around digit runs instead of the whole text.

    ``phonenumbers.PhoneNumberMatcher`` walks the text once per region; on windows it sees a few dozen
    characters, and findings are identical because phone numbers never span more than a window. It also reports
    what Presidio's leaves out: international numbers outside the allocated ranges (:func:`_possible_international`).
    """

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Phone numbers inside digit-run windows, with offsets in ``text``."""
        results: list[RecognizerResult] = []
        context = tuple(word.lower() for word in self.context or ())
        for start, end in _merged_windows(_PHONE_CANDIDATE, text, _PHONE_PAD, min_digits=7, context=context):
            window = text[start:end]
            spans = phone_spans(window, self.supported_regions, self._leniency)
            if not spans and self._leniency <= 1 and _INTERNATIONAL.search(window):
                spans = _possible_international(window, self.supported_regions[0])
            found = [self._result(s, e, region) for (s, e), region in spans.items()]
            for result in found:
                result.start += start
                result.end += start
                if _glued_to_token(text, result.start, result.end):
                    continue  # part of a UUID, a decimal, an identifier
                if not_a_phone_number(text, result.start, result.end):
                    continue  # an order, parcel or voucher number
                if _BARE_DIGITS.fullmatch(text, result.start, result.end):
                    # An unformatted digit run (timestamp, order id) counts only with a context word nearby,
                    # which Presidio's context enhancer adds back.
                    result.score = _BARE_DIGITS_SCORE
                results.append(result)
        return results

    def load(self) -> None:
        """Load phonenumbers' metadata for every region now (first use of a region costs milliseconds).

        Also installs the matcher's validity screen and builds the screens of these regions' country codes
        (:mod:`.phone_validity`: same numbers, found faster; :func:`phone_spans` skips hopeless windows).
        """
        super().load()
        phone_validity.install()
        for region in self.supported_regions:
            phone_validity.type_patterns(phonenumbers.country_code_for_region(region))
            for _ in phonenumbers.PhoneNumberMatcher("call 020 7946 0958 or 415-555-0132", region):
                pass

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


def phone_spans(window: str, regions: Sequence[str], leniency: int) -> dict[tuple[int, int], str]:
    """``(start, end)`` of each number ``PhoneNumberMatcher`` finds in ``window``, with the region that read it."""
    # An international number (leading +) parses the same under any default region.
    international = _INTERNATIONAL.search(window) is not None
    spans: dict[tuple[int, int], str] = {}
    regions = regions[:1] if international else regions
    if leniency >= 1:  # VALID or stricter: only valid numbers are reported
        regions = phone_validity.regions_that_may_match(window, regions)
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
            spans.setdefault((match.start, match.end), region)  # every region finds the same number again
        if spans:
            break  # a window holds one number (a few at most): the first region that reads it wins
    return spans


def _possible_international(window: str, region: str) -> dict[tuple[int, int], str]:
    """International numbers (a leading ``+``) of a possible length for their country code in no allocated range:
    "+44 20 6854 1674" reads as a phone number to anyone, and a range unused today may be allocated tomorrow.

    Not an amount ("+12 345 678", "+1.234.567": thousands groups) and at least eight national digits.
    """
    spans: dict[tuple[int, int], str] = {}
    for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE):
        raw = match.raw_string
        if not raw.startswith("+") or _THOUSANDS_GROUPS.fullmatch(raw):
            continue
        if len(phonenumbers.national_significant_number(match.number)) < _MIN_INTERNATIONAL_DIGITS:
            continue
        number_region = phonenumbers.region_code_for_country_code(match.number.country_code or 0)
        spans[(match.start, match.end)] = region if number_region == "ZZ" else number_region
    return spans


def _glued_to_token(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    if before.isalnum() or before in "-._/":
        return True
    return bool(after) and (after[0].isalnum() or (len(after) == 2 and after[0] in "-._" and after[1].isalnum()))


def _merged_windows(
    pattern: re.Pattern[str], text: str, pad: int, *, min_digits: int, context: tuple[str, ...] = ()
) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        candidate = match.group()
        if sum(map(str.isdigit, candidate)) < min_digits or _DATE.fullmatch(candidate):
            continue
        if _ISO_DATE_HEAD.match(candidate):
            continue  # "2024-05-17 13:45": a timestamp
        if _glued_to_token(text, match.start(), match.end()) and not candidate.startswith(("+", "(")):
            continue  # "INV-2024-48213", "v1.2": part of an identifier, never reported
        if context and candidate.isdigit():
            # An unformatted digit run only counts with a context word (score 0.1 otherwise): skip the parse.
            before = text[max(0, match.start() - _CONTEXT_REACH) : match.start()].lower()
            if not any(word in before for word in context):
                continue
            if named_as_an_id(text, match.start()):
                # "order 39581892": not_a_phone_number drops what any region reads here (and a run starting
                # inside it is glued to its digits), so the eight parses would find nothing to keep.
                continue
        extension = _EXTENSION.match(text, match.end())
        reach = match.end() if extension is None else extension.end()
        start, end = max(0, match.start() - pad), min(len(text), reach + pad)
        if windows and start <= windows[-1][1] and end - windows[-1][0] <= _MAX_WINDOW:
            windows[-1] = (windows[-1][0], end)
        else:
            # No cap on their number: a phone number after thousands of phone-shaped ids is still parsed (the
            # cost stays linear in the text, which padding.MAX_WHOLE_TEXT_CHARS bounds for dense texts).
            windows.append((start, end))
    return windows


_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d")
#: A leading ``+`` and digits in thousands groups: a signed amount, not a phone number.
_THOUSANDS_GROUPS = re.compile(r"\+\d{1,3}(?:[ .,]\d{3})+")
_MIN_INTERNATIONAL_DIGITS = 8
_ISO_DATE_HEAD = re.compile(r"(?:19|20)\d\d[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12]\d|3[01])(?!\d)")
_CONTEXT_REACH = 48


_PII_RECOGNIZERS: dict[str, Callable[[], Any]] = {
    "CREDIT_CARD": MastercardAwareCreditCardRecognizer,
    "CRYPTO": CryptoRecognizer,
    "DATE_TIME": DateRecognizer,
    "EMAIL_ADDRESS": OfflineEmailRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "IP_ADDRESS": FilteredIpRecognizer,
    "MAC_ADDRESS": MacAddressRecognizer,
    "MEDICAL_LICENSE": MedicalLicenseRecognizer,
    "PERSON": PersonNameRecognizer,
    "PHONE_NUMBER": WindowedPhoneRecognizer,
    "STREET_ADDRESS": StreetAddressRecognizer,
    "UK_NHS": ContextualNhsRecognizer,
    "UK_NINO": UkNinoRecognizer,
    "URL": lambda: UrlRecognizer(),
    "US_BANK_NUMBER": UsBankRecognizer,
    "US_DRIVER_LICENSE": UsLicenseRecognizer,
    "US_ITIN": FilteredItinRecognizer,
    "US_PASSPORT": UsPassportRecognizer,
    "US_SSN": FilteredSsnRecognizer,
}

def _secret_recognizers() -> list[SecretRecognizer]:
    by_entity: dict[str, list[SecretSpec]] = {}
    for spec in SECRET_SPECS:
        by_entity.setdefault(spec.entity, []).append(spec)
    return [SecretRecognizer(entity, specs) for entity, specs in by_entity.items()]


def _recognizers(settings: ScanSettings) -> list[Any]:
    return [*_secret_recognizers(), *(_PII_RECOGNIZERS[entity]() for entity in settings.pii_entities)]


#: Context words are looked for this many characters before a candidate (Presidio reads five tokens back).
_CONTEXT_BEFORE = 96
#: Presidio's enhancer reads the five keywords (tokens neither stop words nor punctuation) before a match however far
#: back they are: dot leaders and rules ("NHS number . . . . . 9434765919") put them past _CONTEXT_BEFORE. A
#: neighbourhood holds this many keywords before its candidate (five, and one for the match's own token when it is
#: none), or reaches back _CONTEXT_BEFORE_MAX characters.
_CONTEXT_KEYWORDS = 6
_CONTEXT_BEFORE_MAX = 4096
#: How far a neighbourhood's edge moves out to reach whitespace (spaCy tokenizes whitespace-delimited chunks).
_CHUNK_REACH = 64
#: ... and how far when it is inside a long chunk (a pasted link: its start is where spaCy reads it from).
_LINK_REACH = 1024


def _context_start(text: str, start: int) -> int:
    """Where the neighbourhood of a candidate starting at ``start`` starts: on whitespace, and far enough back to
    hold the keywords Presidio's enhancer reads before it over the whole text."""
    floor = max(0, start - _CONTEXT_BEFORE_MAX)
    lo = max(0, start - _CONTEXT_BEFORE)
    while True:
        edge = max(floor, lo - _CHUNK_REACH)
        while lo > edge and not text[lo - 1].isspace():
            lo -= 1
        if lo > floor and not text[lo - 1].isspace():
            # Inside a long chunk that is a pasted link: spaCy reads it from its start, a URL as one token, where its
            # tail alone would split into keywords enough to hide the context word before it. (Other long chunks, a
            # CSV line, stay cut: read whole, each candidate's neighbourhood would cost a kilobyte of tokenizing.)
            tail = _CHUNK_TAIL.search(text, max(floor, lo - _LINK_REACH), lo)
            if tail is not None and _LINK_MARK.search(text, tail.start(), start):
                lo = tail.start()
        if lo <= floor or _keywords_in(text[lo:start]) >= _CONTEXT_KEYWORDS:
            return lo
        lo = max(floor, lo - _CONTEXT_BEFORE)


def _keywords_in(text: str) -> int:
    """How many tokens of ``text`` Presidio's enhancer counts as keywords (as :class:`_LazyArtifacts` selects them),
    or at least :data:`_CONTEXT_KEYWORDS` when there are that many."""
    rules = _spacy_rules()
    # Plain words between blanks ("number", "called,") are one keyword each unless stop words: most prose
    # neighbourhoods hold enough of them, and need no tokenizing.
    plain = sum(1 for word in _PLAIN_WORD.findall(text) if word.lower() not in rules.stops)
    if plain >= _CONTEXT_KEYWORDS:
        return plain
    return sum(
        1
        for _, _, lower, skip in rules.tokens(text)
        if not skip and lower not in ("-pron-", "be") and ":" not in lower
    )


#: A word of letters alone between blanks, with at most a comma or full stop after it (spaCy: one keyword token,
#: unless a stop word).
_PLAIN_WORD = re.compile(r"(?<!\S)([A-Za-z]{2,})[,.]?(?!\S)")


def _context_end(text: str, start: int) -> int:
    """Where the neighbourhood of a candidate starting at ``start`` ends: with the whitespace-delimited chunk that
    holds its start (the enhancer reads no word after a candidate's start; the chunk is tokenized whole, as the
    whole text is, because its suffixes are split off from its end), at most ``_CHUNK_END_REACH`` further."""
    found = _WHITESPACE.search(text, start, min(len(text), start + _CHUNK_END_REACH))
    return found.start() if found else min(len(text), start + _CHUNK_END_REACH)


_WHITESPACE = re.compile(r"\s")
_CHUNK_TAIL = re.compile(r"\S*\Z")
_LINK_MARK = re.compile(r"://|www\.", re.IGNORECASE)
_CHUNK_END_REACH = 256


class WindowedAnalyzerEngine(AnalyzerEngine):  # type: ignore[misc]
    """Presidio's ``AnalyzerEngine`` that runs each recognizer only on the windows the prefilter planned.

    Recognizers, scores, validation and context enhancement are Presidio's; what changes is where they look:
    secret specs run their regex over their windows of the text (``pos``/``endpos``, so look-behinds still see
    the real neighbours), PII recognizers analyze window slices, and context words are read from a small
    tokenized neighbourhood of each candidate instead of a tokenization of the whole text.
    """

    def __init__(self, *, prefilter: Prefilter, secret_recognizers: list[SecretRecognizer], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefilter = prefilter
        self._secret_by_spec = {
            index: recognizer
            for recognizer in secret_recognizers
            for index, spec in enumerate(SECRET_SPECS)
            if spec in recognizer.specs
        }
        self._pii: dict[str, Any] = {}
        for recognizer in self.registry.recognizers:
            if not isinstance(recognizer, SecretRecognizer):
                for entity in recognizer.supported_entities:
                    self._pii.setdefault(entity, recognizer)
        self._screens = {entity: pattern_screen(recognizer) for entity, recognizer in self._pii.items()}

    def analyze(  # type: ignore[override]
        self, text: str, language: str = _LANGUAGE, *, plan: Plan | None = None, regions: RegionCache | None = None,
        **kwargs: Any,
    ) -> list[RecognizerResult]:
        """Findings in ``text`` (``plan`` from :meth:`Prefilter.plan`; computed when not given); ``regions``
        remembers what each PII recognizer found in each window's text."""
        plan = self.prefilter.plan(text) if plan is None else plan
        results: list[RecognizerResult] = []
        for index, windows in plan.secrets.items():
            results += self._secret_by_spec[index].analyze_windows(text, SECRET_SPECS[index], windows)
        pii: list[RecognizerResult] = []
        for entity, windows in plan.pii.items():
            recognizer = self._pii.get(entity)
            if recognizer is not None:
                pii += _analyze_windows(recognizer, text, entity, windows, self._screens.get(entity), regions)
        for entity in sorted(plan.whole):
            recognizer = self._pii.get(entity)
            if recognizer is not None:
                pii += recognizer.analyze(text, [entity], None)
        if pii:
            pii = self._enhance_in_neighbourhoods(text, pii, regions)
        results += pii
        results = [r for r in results if r.score >= kwargs.get("score_threshold", 0.0) and r.score > 0]
        return list(EntityRecognizer.remove_duplicates(results))

    def analyze_ner(self, text: str) -> list[RecognizerResult]:
        """The spaCy model's PERSON/LOCATION/NRP/ORGANIZATION findings over the whole text."""
        return list(super().analyze(text=text, language=_LANGUAGE, entities=list(NER_ENTITIES), score_threshold=0.01))

    def _enhance_in_neighbourhoods(
        self, text: str, results: list[RecognizerResult], regions: RegionCache | None = None
    ) -> list[RecognizerResult]:
        """Presidio's context enhancement, each group of nearby candidates against its own neighbourhood (its
        outcome remembered in ``regions``, by neighbourhood and candidates)."""
        recognizers = list({id(r): r for r in self._pii.values()}.values())
        by_id = {r.id: r for r in recognizers}
        enhanced: list[RecognizerResult] = []
        results.sort(key=lambda r: r.start)
        groups: list[tuple[int, int, list[RecognizerResult]]] = []
        for result in results:
            if not _may_gain_context(result, by_id):
                enhanced.append(result)  # Presidio's enhancer would leave it as it is
                continue
            lo, hi = _context_start(text, result.start), _context_end(text, result.start)
            if groups and lo <= groups[-1][1]:
                groups[-1] = (groups[-1][0], max(hi, groups[-1][1]), [*groups[-1][2], result])
            else:
                groups.append((lo, hi, [result]))
        for lo, hi, group in groups:
            for result in group:
                result.start -= lo
                result.end -= lo
            region = text[lo:hi]

            def enhance(region: str = region, group: list[RecognizerResult] = group) -> list[RecognizerResult]:
                artifacts = _NeighbourhoodArtifacts(region, self.nlp_engine, _LANGUAGE)  # type: ignore[arg-type]
                return list(self.context_aware_enhancer.enhance_using_context(region, group, artifacts, recognizers))

            for result in enhance() if regions is None else regions.enhanced(region, group, enhance):
                result.start += lo
                result.end += lo
                enhanced.append(result)
        return enhanced


def _may_gain_context(result: RecognizerResult, recognizers: dict[str, Any]) -> bool:
    """Whether Presidio's context enhancer can change ``result``'s score (the rules it skips results by).

    A score already at the maximum stays there; a recognizer without context words, or a result its recognizer
    already boosted, is skipped by the enhancer itself. Most candidates (validated e-mail addresses) need no
    neighbourhood tokenized at all.
    """
    if result.score >= EntityRecognizer.MAX_SCORE:
        return False
    metadata = result.recognition_metadata or {}
    recognizer = recognizers.get(str(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY)))
    if recognizer is None or not recognizer.context:
        return False
    return not metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)


#: Entities whose recognizer reads words before a match ("part number ...", "timestamp ...").
_LOOK_BEHIND = {"US_SSN": 48, "US_ITIN": 48, "UK_NHS": 48, "IP_ADDRESS": 48, "PHONE_NUMBER": 8}


def _widen_to_whitespace(text: str, start: int, end: int) -> tuple[int, int]:
    """``start``/``end`` moved out to the nearest whitespace (at most 64 characters), so no token is cut."""
    floor, ceiling = max(0, start - 64), min(len(text), end + 64)
    head, tail = text[floor:start], text[end:ceiling]
    if head and not head[-1].isspace():  # split() splits where isspace() holds: its last word is the cut token
        start -= len(head.rsplit(None, 1)[-1])
    if tail and not tail[0].isspace():
        end += len(tail.split(None, 1)[0])
    return start, end


def _pattern_only_classes() -> tuple[type, ...]:
    """Recognizers whose results are Presidio pattern matches, filtered or re-scored, never added to."""
    from .pii import ContextualNhsRecognizer, FilteredItinRecognizer, FilteredSsnRecognizer

    return (OfflineEmailRecognizer, FilteredIpRecognizer, FilteredSsnRecognizer, FilteredItinRecognizer,
            ContextualNhsRecognizer)


def pattern_screen(recognizer: Any) -> Any:
    """One ``regex`` search over the union of a pattern recognizer's patterns, or ``None`` (no shortcut).

    Presidio runs each pattern in turn and builds an explanation per match; on a window where none of them
    matches (a phone number in a US_SSN window) one search of their alternation says so for a fraction of the
    cost. Same engine, same flags: ``search`` finds a match of the alternation iff one of the patterns matches.
    """
    import regex  # type: ignore[import-untyped]
    from presidio_analyzer import PatternRecognizer

    plain = isinstance(recognizer, PatternRecognizer) and type(recognizer).analyze is PatternRecognizer.analyze
    if not (plain or type(recognizer) in _pattern_only_classes()) or not recognizer.patterns:
        return None
    sources = [pattern.regex for pattern in recognizer.patterns]
    if any(_BACKREFERENCE.search(source) for source in sources):
        return None  # groups are renumbered in an alternation
    return regex.compile("|".join(f"(?:{source})" for source in sources), flags=recognizer.global_regex_flags)


_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\\g<|\\k<")


def _analyze_windows(
    recognizer: Any, text: str, entity: str, windows: list[tuple[int, int]], screen: Any = None,
    regions: RegionCache | None = None,
) -> list[Any]:
    found: list[Any] = []
    before = _LOOK_BEHIND.get(entity, 0)
    spans: list[tuple[int, int]] = []
    for window in windows:
        start, end = _widen_to_whitespace(text, max(0, window[0] - before), window[1])
        if spans and start <= spans[-1][1]:
            # A region reaching back over an earlier window's candidate would analyze it without the words before
            # it ("Firmware 10.2.14.3 ... 4.19.0.12": the first is a version only after "Firmware"): one region.
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    for start, end in spans:
        region = text[start:end]
        if screen is not None and screen.search(region) is None:
            continue
        results = regions.found(recognizer, entity, region) if regions is not None else recognizer.analyze(
            region, [entity], None)
        for result in results or ():
            result.start += start
            result.end += start
            if "recognizer_identifier" not in (result.recognition_metadata or {}):
                result.recognition_metadata = {
                    **(result.recognition_metadata or {}),
                    RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
                }
            found.append(result)
    return found


class RegionCache:
    """What each PII recognizer found in a window's text, and what context enhancement made of a group of
    candidates in its neighbourhood, by digest (never the text itself).

    A stream's output is scanned again with every chunk, its last 256 characters included: a phone number or a
    name in them would go through Presidio (and its context enhancer, which deep-copies every result) once per
    chunk. Both are functions of what the key holds (a region's text; a neighbourhood and its candidates), so
    each is computed once while it stays the same.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._found: OrderedDict[bytes, tuple[RecognizerResult, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def found(self, recognizer: Any, entity: str, region: str) -> list[RecognizerResult]:
        """``recognizer.analyze(region, [entity], None)``: fresh copies of the remembered results."""
        key = hashlib.blake2b(f"{entity}\0{region}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return self._remembered(key, lambda: recognizer.analyze(region, [entity], None) or ())

    def enhanced(
        self, region: str, group: list[RecognizerResult], enhance: Callable[[], list[RecognizerResult]]
    ) -> list[RecognizerResult]:
        """``enhance()``, Presidio's context enhancement of ``group`` (offsets in ``region``) against ``region``:
        fresh copies of the remembered outcome. What the enhancer reads of a candidate is in the key."""
        signature = repr([(r.entity_type, r.start, r.end, r.score,
                           (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY),
                           (r.recognition_metadata or {}).get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY))
                          for r in group])
        key = hashlib.blake2b(f"\1context\0{signature}\0{region}".encode("utf-8", "surrogatepass"),
                              digest_size=16).digest()
        return self._remembered(key, enhance)

    def _remembered(self, key: bytes, compute: Callable[[], Iterable[RecognizerResult]]) -> list[RecognizerResult]:
        with self._lock:
            kept = self._found.get(key)
            if kept is not None:
                self._found.move_to_end(key)
                self.hits += 1
        if kept is None:
            kept = tuple(_copied(result) for result in compute())
            with self._lock:
                self._found[key] = kept
                while len(self._found) > self._size:
                    self._found.popitem(last=False)
        return [_copied(result) for result in kept]

    def clear(self) -> None:
        """Forget every region."""
        with self._lock:
            self._found.clear()


def _copied(result: RecognizerResult) -> RecognizerResult:
    """A copy the analyzer may move and re-label (offsets, metadata); the explanation is shared, as Presidio's
    context enhancer deep-copies results before it writes into one."""
    copied = copy.copy(result)
    copied.recognition_metadata = dict(result.recognition_metadata or {})
    return copied


def build_analyzer(settings: ScanSettings, *, nlp_engine: Any = None) -> tuple[Any, bool]:
    """A :class:`WindowedAnalyzerEngine` with loomllm's recognizers; and whether it runs NER."""
    # Presidio's debug logging quotes the scanned text (context words): never let it through.
    logging.getLogger("presidio-analyzer").setLevel(max(logging.INFO, logging.getLogger("presidio-analyzer").level))
    ner = False
    if nlp_engine is None:
        nlp_engine, ner = _build_nlp_engine(settings.spacy_model)
    registry = RecognizerRegistry(supported_languages=[_LANGUAGE])
    secret_recognizers = _secret_recognizers()
    for recognizer in [*secret_recognizers, *(_PII_RECOGNIZERS[e]() for e in settings.pii_entities)]:
        registry.add_recognizer(recognizer)
    if ner:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.add_recognizer(SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = WindowedAnalyzerEngine(
            prefilter=Prefilter(SECRET_SPECS, settings.pii_entities),
            secret_recognizers=secret_recognizers,
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
        self.regions = RegionCache()
        self._analyzer: Any = None
        self._ner = False

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

        ``cache=False`` neither reads nor fills the cache (stream windows: each is seen once), but remembers what
        the recognizers found in each window region (:class:`RegionCache`: a stream's tail comes back every chunk).
        """
        if not text:
            return ()
        if not cache:
            return self._analyze(text, self.regions)
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

    def cached(self, text: str) -> tuple[Detection, ...] | None:
        """The cached detections of ``text`` (kept as recently used; not counted as a hit), or ``None``."""
        if not text:
            return ()
        key = _content_key(text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            return cached

    def is_cached(self, text: str) -> bool:
        """Whether a scan of ``text`` is in the cache (does not touch LRU order)."""
        with self._lock:
            return _content_key(text) in self._cache

    def triggered_entities(self, text: str) -> list[str]:
        """Entity types whose recognizer may match ``text`` (the prefilter)."""
        return self.analyzer.prefilter.plan(text).entities(SECRET_SPECS)  # type: ignore[no-any-return]

    def _analyze(self, text: str, regions: RegionCache | None = None) -> tuple[Detection, ...]:
        found: set[Detection] = set()
        calls = self.stats.analyzer_calls
        for view in views(text):
            plan = self.analyzer.prefilter.plan(view.text)
            for start, end, entity, score in self._analyze_view(view.text, plan, regions=regions):
                lo, hi = view.to_original(start, end)
                found.add(Detection(entity, lo, hi, score))
            for layer in decoded_views(view.text, starts=plan.encoded, percent=plan.percent):
                for start, end, entity, score in self._analyze_view(layer.text, None, ner=False, regions=regions):
                    lo, hi = view.to_original(*layer.to_original(start, end))
                    found.add(Detection(entity, lo, hi, score))
        if calls == self.stats.analyzer_calls and not self._ner:
            self.stats.prefilter_skips += 1
        return tuple(sorted(found, key=lambda d: (d.start, -d.end, d.entity_type)))

    def _analyze_view(self, text: str, plan: Plan | None, *, ner: bool = True,
                      regions: RegionCache | None = None) -> list[tuple[int, int, str, float]]:
        """``(start, end, entity, score)`` in ``text``: the planned windows, plus NER when a model is loaded."""
        analyzer = self.analyzer
        plan = analyzer.prefilter.plan(text) if plan is None else plan
        results: list[Any] = []
        if plan:
            self.stats.analyzer_calls += 1
            results = analyzer.analyze(text=text, language=_LANGUAGE, plan=plan, regions=regions, score_threshold=0.01)
        if ner and self._ner:
            results += analyzer.analyze_ner(text)
        return [(r.start, r.end, r.entity_type, round(float(r.score), 4)) for r in results]

    def clear_cache(self) -> None:
        """Forget every cached scan (and every remembered window region)."""
        with self._lock:
            self._cache.clear()
        self.regions.clear()


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
