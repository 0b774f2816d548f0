"""Views of a text that see through obfuscation, each able to map its offsets back to the original.

A :class:`View` is a transformed copy of the scanned text (NFKC, zero-width and other format characters
removed, JSON string escapes decoded) plus, per view character, the span of original characters it came from.
Findings are made on views and always reported, redacted and restored on the original text.

Decoded candidates (:func:`decoded_candidates`) go one step further: a base64, hex or percent-encoded token is
decoded, the decoded text is scanned, and any finding in it covers the whole encoded token.

Standard library only; everything is bounded (candidate count, token length) so a hostile text cannot make a
scan expensive.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["View", "decoded_candidates", "views"]

#: At most this many encoded tokens are decoded per text, each at most this long.
MAX_DECODED_CANDIDATES = 32
MAX_CANDIDATE_CHARS = 8192
_MIN_BASE64_CHARS = 16
_MIN_HEX_CHARS = 24

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
#: Escapes that matter for detection: a plain ``\n`` in code is left to the original view.
_JSON_ESCAPE_HINT = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"/])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENCODED_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_\-%])[A-Za-z0-9+/_\-]{16,}={0,2}(?![A-Za-z0-9+/=_\-])")
_PERCENT_TOKEN = re.compile(r"[^\s\"'<>]*%[0-9A-Fa-f]{2}[^\s\"'<>]*")
_HEX = re.compile(r"[0-9a-fA-F]+")


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
    """NFKC per character with format characters (zero-width, BOM, soft hyphen, bidi marks) dropped."""
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
        for offset, ch in enumerate(match.group()):
            position = match.start() + offset
            if unicodedata.category(ch) == "Cf":
                continue
            replacement = unicodedata.normalize("NFKC", ch)
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


def _json_view(text: str) -> View | None:
    """``text`` with JSON string escapes decoded, or ``None`` when it has none worth decoding."""
    if "\\" not in text:
        return None
    # In a JSON document (a tool result, arguments) every escape may hide the start of a secret;
    # in prose or code a plain ``\n`` is left to the original view.
    looks_json = text.lstrip()[:1] in ("{", "[")
    if (_JSON_ESCAPE if looks_json else _JSON_ESCAPE_HINT).search(text) is None:
        return None
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    for match in _JSON_ESCAPE.finditer(text):
        if match.start() > cursor:
            pieces.append(text[cursor : match.start()])
            starts.extend(range(cursor, match.start()))
            ends.extend(range(cursor + 1, match.start() + 1))
        escape = match.group()
        decoded = chr(int(escape[2:], 16)) if escape[1] == "u" else _JSON_SIMPLE[escape[1]]
        pieces.append(decoded)
        starts.append(match.start())
        ends.append(match.end())
        cursor = match.end()
    if cursor < len(text):
        pieces.append(text[cursor:])
        starts.extend(range(cursor, len(text)))
        ends.extend(range(cursor + 1, len(text) + 1))
    return View("".join(pieces), starts, ends)


def views(text: str) -> list[View]:
    """The views to scan for ``text``: the normalized text, and its JSON-unescaped form when it has escapes."""
    base = _unicode_view(text)
    out = [base]
    unescaped = _json_view(text)
    if unescaped is not None:
        out.append(unescaped.then(_unicode_view(unescaped.text)))
    return out


def _printable(data: bytes) -> str | None:
    """``data`` as text when it reads as text (UTF-8, almost no control characters), else ``None``."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded or sum(1 for ch in decoded if not ch.isprintable() and ch not in "\n\r\t") > len(decoded) // 20:
        return None
    return decoded


def _decode_base64(token: str) -> str | None:
    body = token.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        if "-" in body or "_" in body:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(data)


def _decode_hex(token: str) -> str | None:
    if len(token) % 2:
        return None
    try:
        return _printable(bytes.fromhex(token))
    except ValueError:
        return None


def _encoded_tokens(text: str, starts: list[int] | None) -> Iterator[re.Match[str]]:
    if starts is None:
        yield from _ENCODED_TOKEN.finditer(text)
        return
    for start in starts:
        match = _ENCODED_TOKEN.match(text, start)
        if match is not None:
            yield match


def decoded_candidates(
    text: str, *, starts: list[int] | None = None, percent: bool = True
) -> Iterator[tuple[int, int, str]]:
    """``(start, end, decoded)`` for encoded tokens of ``text`` that decode to readable text (bounded).

    ``starts`` (from the prefilter) are where tokens may start; ``None`` looks everywhere. ``percent=False``
    skips the percent-escape pass (the prefilter saw no ``%XX``).
    """
    count = 0
    for match in _encoded_tokens(text, starts):
        token = match.group()
        if len(token) > MAX_CANDIDATE_CHARS:
            continue
        if _HEX.fullmatch(token):
            decoded = _decode_hex(token) if len(token) >= _MIN_HEX_CHARS else None
        elif len(token) >= _MIN_BASE64_CHARS:
            decoded = _decode_base64(token)
        else:
            decoded = None
        if decoded is not None and len(decoded) >= 8:
            yield match.start(), match.end(), decoded
            count += 1
            if count >= MAX_DECODED_CANDIDATES:
                return
    if not percent or "%" not in text:
        return
    for match in _PERCENT_TOKEN.finditer(text):
        token = match.group()
        if len(token) > MAX_CANDIDATE_CHARS or token.count("%") < 2:
            continue
        decoded = unquote(token, errors="strict") if _safe_unquote(token) else None
        if decoded is not None and decoded != token:
            yield match.start(), match.end(), decoded
            count += 1
            if count >= MAX_DECODED_CANDIDATES:
                return


def _safe_unquote(token: str) -> bool:
    try:
        unquote(token, errors="strict")
    except UnicodeDecodeError:
        return False
    return True
