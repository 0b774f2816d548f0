"""Views of a text that see through obfuscation, each able to map its offsets back to the original.

A :class:`View` is a transformed copy of the scanned text (NFKC, zero-width and other format characters
removed, tag characters read as the ASCII they spell, Cyrillic and Greek look-alikes glued to Latin text read
as Latin, JSON string escapes or HTML character references decoded, string literals that code joins inside a
token read as one) plus, per view character, the span of original characters it came from.
Findings are made on views and always reported, redacted and restored on the original text.

Decoded layers (:func:`decoded_views`) go one step further: every base64, hex or percent-encoded token is
decoded, the decoded texts are joined into one view whose every character maps back to its whole encoded token,
and that view is scanned (so a finding in it covers the whole token). Nothing caps the number of tokens: each
is decoded once and a layer is never longer than the text it came from, so the cost stays linear in the text
however much harmless encoded padding precedes a secret. The lines of a wrapped blob (``base64`` output, PEM
bodies, ``xxd -p``) are decoded as one token; bytes that do not read as text (binary padding around a secret,
invalid UTF-8) only split the decoded text, they never make a token unreadable.

Decoded layers are decoded again, :data:`MAX_DECODE_DEPTH` deep (base64 of base64, base64 inside a
percent-encoded URL). Deeper nesting is deliberate obfuscation, like encryption, which no scanner sees through.

Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import html.entities
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

__all__ = ["MAX_DECODE_DEPTH", "View", "decoded_candidates", "decoded_layer", "decoded_views", "views"]

#: How many times decoded text is searched for encoded tokens again: base64 of base64, base64 in a
#: percent-encoded URL and a Kubernetes ``.dockerconfigjson`` (base64 of JSON whose ``auth`` is base64) take two.
MAX_DECODE_DEPTH = 3
_MIN_BASE64_CHARS = 16
_MIN_HEX_CHARS = 24
#: Readable runs shorter than this in decoded bytes are noise (an identifier that happens to be valid base64).
_MIN_READABLE = 8
#: Between two decoded tokens of a layer: no value, digit run or ``key = value`` pattern runs across it.
_LAYER_SEPARATOR = "\n\x00\n"
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]+")
_LINE_BREAK = re.compile(r"\r?\n")

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
#: Escapes that matter for detection: a plain ``\n`` in code is left to the original view.
_JSON_ESCAPE_HINT = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"/])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# A token may follow "=" (``key=<base64>``); after "%" it belongs to a percent-encoded token instead.
_ENCODED_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-%])[A-Za-z0-9+/_\-]{16,}={0,2}(?![A-Za-z0-9+/_\-])")
_PERCENT_TOKEN = re.compile(r"[^\s\"'<>]*%[0-9A-Fa-f]{2}[^\s\"'<>]*")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: A browser reads leading zeros (``&#00065;``) and, before a character that cannot continue the number, no ``;``.
_HTML_NUMERIC = re.compile(r"&#(?:0*([0-9]{1,7})(?![0-9])|[xX]0*([0-9a-fA-F]{1,6})(?![0-9a-fA-F]));?")
_HTML_NAMED = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_HTML_REFERENCE = re.compile(_HTML_NUMERIC.pattern + "|" + _HTML_NAMED.pattern)


@dataclass(frozen=True, slots=True)
class View:
    """``text`` derived from an original; ``starts[i]``/``ends[i]`` bound the original characters of ``text[i]``.

    ``starts is None`` means the identity (the original itself).
    """

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of ``text[start:end]``."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            position = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return position, position
        return self.starts[start], self.ends[end - 1]

    def then(self, inner: View) -> View:
        """A view of this view, mapped straight to the original."""
        if inner.starts is None or inner.ends is None:
            return self
        if self.starts is None or self.ends is None:
            return inner
        starts = [self.starts[s] for s in inner.starts]
        ends = [self.ends[e - 1] if e > 0 else 0 for e in inner.ends]
        return View(inner.text, starts, ends)


def _unicode_view(text: str) -> View:
    """NFKC per character with format characters (zero-width, BOM, soft hyphen, bidi marks) dropped, and tag
    characters read as the ASCII they spell."""
    if text.isascii():
        return View(text)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    for match in _NON_ASCII.finditer(text):
        if match.start() > cursor:
            pieces.append(text[cursor : match.start()])
            starts.extend(range(cursor, match.start()))
            ends.extend(range(cursor + 1, match.start() + 1))
        run = [(match.start() + offset, _TAG_ASCII.get(ch) or unicodedata.normalize("NFKC", ch))
               for offset, ch in enumerate(match.group()) if ch in _TAG_ASCII or unicodedata.category(ch) != "Cf"]
        if run and _spoofs_latin(text, match.start(), match.end(), run):
            run = [(position, _LATIN_TWIN.get(ch, ch)) for position, ch in run]
        for position, replacement in run:
            pieces.append(replacement)
            starts.extend([position] * len(replacement))
            ends.extend([position + 1] * len(replacement))
        cursor = match.end()
    if cursor < len(text):
        pieces.append(text[cursor:])
        starts.extend(range(cursor, len(text)))
        ends.extend(range(cursor + 1, len(text) + 1))
    normalized = "".join(pieces)
    if normalized == text:
        return View(text)
    return View(normalized, starts, ends)


#: Unicode tag characters, invisible format characters that spell ASCII ("ASCII smuggling"): models read them.
_TAG_ASCII = {chr(0xE0000 + code): chr(code) for code in range(0x20, 0x7F)}
#: Cyrillic and Greek letters drawn like a Latin one (Unicode TR39 confusables mapping to one ASCII letter).
_LATIN_TWIN = {
    **dict(zip("АВЕКМНОРСТХУІЈЅаеорсухіјѕԁһԛԝ", "ABEKMHOPCTXYIJSaeopcyxijsdhqw", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν", "ABEZHIKMNOPTYXoiv", strict=True)),
}


def _spoofs_latin(text: str, start: int, end: int, run: list[tuple[int, str]]) -> bool:
    """Whether a run of non-ASCII letters stands in for Latin ones: every one has a Latin twin and the run is glued
    to ASCII letters or digits ("АKIA...", "ghp_хY..."); words of Russian or Greek prose are left as they are."""
    # A character NFKC already made ASCII (fullwidth "Ｅ") counts as Latin: "Ｅр" beside a key is one spoof.
    if not all(ch in _LATIN_TWIN or ch.isascii() for _, ch in run) or all(ch.isascii() for _, ch in run):
        return False
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum())


def _json_view(text: str) -> View | None:
    """``text`` with JSON string escapes decoded, or ``None`` when it has none worth decoding."""
    if "\\" not in text:
        return None
    # In a JSON document (a tool result, arguments) every escape may hide the start of a secret;
    # in prose or code a plain ``\n`` is left to the original view.
    looks_json = text.lstrip()[:1] in ("{", "[")
    if (_JSON_ESCAPE if looks_json else _JSON_ESCAPE_HINT).search(text) is None:
        return None
    return _unescaped(text, _JSON_ESCAPE, _json_char)


def _json_char(match: re.Match[str]) -> str:
    escape = match.group()
    return chr(int(escape[2:], 16)) if escape[1] == "u" else _JSON_SIMPLE[escape[1]]


def _html_view(text: str) -> View | None:
    """``text`` with HTML character references decoded, or ``None`` without any worth decoding.

    Numeric ones (``&#65;``, ``&#x41;``) always; named ones (``&commat;``, ``&period;``) when one of them
    stands for a letter, digit or a character of addresses and keys: the ``&amp;`` of ordinary markup alone
    costs no second view.
    """
    if "&" not in text:
        return None
    if not (("&#" in text and _HTML_NUMERIC.search(text)) or any(
            _NAMED_CHARACTERS.get(m.group(1)) in _BUILDING_CHARACTERS for m in _HTML_NAMED.finditer(text))):
        return None
    return _unescaped(text, _HTML_REFERENCE, _html_char)


def _html_char(match: re.Match[str]) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_CHARACTERS.get(name, "\ufffd")
    number = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return chr(number) if 0 < number <= 0x10FFFF and not 0xD800 <= number <= 0xDFFF else "\ufffd"


#: HTML5's named references that stand for one character (``html.entities.html5``, its ``;`` forms).
_NAMED_CHARACTERS = {name[:-1]: value for name, value in html.entities.html5.items()
                     if name.endswith(";") and len(value) == 1}
_BUILDING_CHARACTERS = frozenset(string.ascii_letters + string.digits + "@.:/=_-+%")


def _unescaped(text: str, escape: re.Pattern[str], decode: Callable[[re.Match[str]], str]) -> View:
    """``text`` with every match of ``escape`` replaced by ``decode(match)`` (one character), offsets mapped."""
    return _spliced(text, [(m.start(), m.end(), decode(m)) for m in escape.finditer(text)])


def _spliced(text: str, edits: list[tuple[int, int, str]]) -> View:
    """``text`` with each ``(start, end, replacement)`` applied, in order; a replacement is one character (mapped
    to the whole span it replaces) or none. An edit that overlaps the one before it is skipped."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    for start, end, replacement in edits:
        if start < cursor:
            continue
        pieces.append(text[cursor:start])
        starts.extend(range(cursor, start))
        ends.extend(range(cursor + 1, start + 1))
        if replacement:
            pieces.append(replacement)
            starts.append(start)
            ends.append(end)
        cursor = end
    pieces.append(text[cursor:])
    starts.extend(range(cursor, len(text)))
    ends.extend(range(cursor + 1, len(text) + 1))
    return View("".join(pieces), starts, ends)


def views(text: str) -> list[View]:
    """The views to scan for ``text``: the normalized text; its JSON- or HTML-unescaped form when it has
    escapes (a text with both gets a view of each: a JSON document may hold HTML, and the reverse); and, when
    string literals are joined in it, the text with their joins removed."""
    out = [_unicode_view(text)]
    for unescape in (_json_view, _html_view):
        unescaped = unescape(text)
        if unescaped is not None:
            out.append(unescaped.then(_unicode_view(unescaped.text)))
    joined = _joined_literals_view(out[0].text)
    if joined is not None:
        out.append(out[0].then(joined))
    return out


#: Where code joins two string literals: ``"ghp_a1B2" + "c3D4"``, ``'...' . '...'`` (PHP), ``"..." || "..."``
#: (SQL), adjacent literals (``"..." "..."``, over a line break too, or after a ``\\``). Matched at a quote.
_LITERAL_JOIN = re.compile(r"([\"'`])[ \t]*(?:(?:\+|\.|\|\|)[ \t]*)?(?:\\?\r?\n[ \t]*(?:(?:\+|\.|\|\|)[ \t]*)?)?\1")
#: What a key is made of on both sides of a join (a join between words of prose is left alone).
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "_-+/=")


def _literal_joins(text: str) -> list[tuple[int, int]]:
    """The joins between string literals inside what reads as one token, in order."""
    joins: list[tuple[int, int]] = []
    for quote in ('"', "'", "`"):
        at = text.find(quote, 1)
        while at != -1:
            match = _LITERAL_JOIN.match(text, at)
            if match is not None and text[at - 1] in _TOKEN_CHARS and text[match.end():match.end() + 1] in _TOKEN_CHARS:
                joins.append(match.span())
            at = text.find(quote, at + 1)
    return sorted(joins)


def _joined_literals_view(text: str) -> View | None:
    """``text`` with the joins between string literals removed (a key split over them reads whole), or ``None``."""
    joins = _literal_joins(text)
    return _spliced(text, [(start, end, "") for start, end in joins]) if joins else None


def _readable(data: bytes) -> str | None:
    """The text in ``data``: its readable runs of at least eight characters, joined by spaces (``None``: none).

    Control characters and invalid UTF-8 split the text instead of disqualifying it, so binary bytes around a
    secret do not hide it.
    """
    text = data.decode("utf-8", "replace")
    if _UNREADABLE.search(text) is None:
        return text if len(text) >= _MIN_READABLE else None
    runs = [run for run in _UNREADABLE.split(text) if len(run) >= _MIN_READABLE]
    return " ".join(runs) or None


def _decode_base64(token: str) -> str | None:
    body = token.rstrip("=")
    if len(body) % 4 == 1:
        body = body[:-1]  # one stray character: decode the rest
    padded = body + "=" * (-len(body) % 4)
    try:
        if "-" in body or "_" in body:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(data)


def _decode_hex(token: str) -> str | None:
    try:
        return _readable(bytes.fromhex(token[: len(token) & ~1]))  # an odd last digit: decode the rest
    except ValueError:
        return None


def _decode_token(token: str) -> str | None:
    """``token`` (base64 or hex, line breaks already removed) decoded, when it reads as text."""
    if _HEX.fullmatch(token):
        return _decode_hex(token) if len(token) >= _MIN_HEX_CHARS else None
    if len(token) >= _MIN_BASE64_CHARS:
        return _decode_base64(token)
    return None


def _token_matches(text: str, starts: list[int] | None) -> Iterator[re.Match[str]]:
    if starts is None:
        yield from _ENCODED_TOKEN.finditer(text)
        return
    end = -1
    for start in starts:
        if start < end:
            continue
        match = _ENCODED_TOKEN.match(text, start)
        if match is not None:
            end = match.end()
            yield match


def _continues_blob(text: str, piece: re.Match[str], following: re.Match[str]) -> bool:
    """Whether ``following`` is the next line of the same wrapped blob as ``piece`` (a full, unpadded line)."""
    gap = text[piece.end() : following.start()]
    return gap in ("\n", "\r\n") and len(piece.group()) % 4 == 0 and not piece.group().endswith("=")


def _encoded_spans(text: str, starts: list[int] | None) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every base64/hex token; the lines of a wrapped blob make one span."""
    first: re.Match[str] | None = None
    last: re.Match[str] | None = None
    for match in _token_matches(text, starts):
        if first is not None and last is not None:
            if _continues_blob(text, last, match):
                last = match
                continue
            yield first.start(), last.end()
        first = last = match
    if first is not None and last is not None:
        yield first.start(), last.end()


def _percent_candidates(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for match in _PERCENT_TOKEN.finditer(text):
        token = match.group()
        decoded = _readable(unquote_to_bytes(token))  # one escape is enough to hide a key: "key%3DAKIA..."
        if decoded is not None and decoded != token:
            found.append((match.start(), match.end(), decoded))
    return found


def decoded_candidates(
    text: str, *, starts: list[int] | None = None, percent: bool = True
) -> list[tuple[int, int, str]]:
    """``(start, end, decoded)`` for every encoded token of ``text`` that holds readable text, by start.

    ``starts`` (from the prefilter) are where tokens may start; ``None`` looks everywhere. ``percent=False``
    skips the percent-escape pass (the prefilter saw no ``%XX``). A base64 or hex token inside a decoded
    percent-encoded token is left to the next layer, where it appears verbatim: no character of ``text`` is
    decoded twice, so the candidates together are never longer than ``text``.
    """
    found = _percent_candidates(text) if percent and "%" in text else []
    covered = [(start, end) for start, end, _ in found]
    cursor = 0
    for start, end in _encoded_spans(text, starts):
        while cursor < len(covered) and covered[cursor][1] <= start:
            cursor += 1
        if cursor < len(covered) and covered[cursor][0] < end:
            continue  # overlaps a decoded percent-encoded token
        token = text[start:end]
        decoded = _decode_token(_LINE_BREAK.sub("", token) if "\n" in token else token)
        if decoded is not None:
            found.append((start, end, decoded))
    return sorted(found, key=lambda candidate: candidate[0]) if covered else found


def decoded_layer(text: str, *, starts: list[int] | None = None, percent: bool = True) -> View | None:
    """Every decoded token of ``text`` in one view, each decoded character mapped to its whole token (or ``None``).

    Arguments as for :func:`decoded_candidates`.
    """
    pieces: list[str] = []
    starts_map: list[int] = []
    ends_map: list[int] = []
    separator = len(_LAYER_SEPARATOR)
    for start, end, decoded in decoded_candidates(text, starts=starts, percent=percent):
        if pieces:
            pieces.append(_LAYER_SEPARATOR)
            previous = ends_map[-1]
            starts_map += [previous] * separator
            ends_map += [previous] * separator
        pieces.append(decoded)
        starts_map += [start] * len(decoded)
        ends_map += [end] * len(decoded)
    if not pieces:
        return None
    return View("".join(pieces), starts_map, ends_map)


def decoded_views(text: str, *, starts: list[int] | None = None, percent: bool = True) -> Iterator[View]:
    """The decoded layers of ``text``, at most :data:`MAX_DECODE_DEPTH`, each mapped to ``text``'s offsets.

    Each layer is no longer than the one before it, so all of them together cost at most
    ``MAX_DECODE_DEPTH`` times a scan of ``text``. Arguments (for the first layer) as for
    :func:`decoded_candidates`.
    """
    layer = decoded_layer(text, starts=starts, percent=percent)
    for depth in range(1, MAX_DECODE_DEPTH + 1):
        if layer is None:
            return
        yield layer
        if depth < MAX_DECODE_DEPTH:
            inner = decoded_layer(layer.text)
            layer = None if inner is None else layer.then(inner)
