"""A deliberately strict URL splitter for egress checks.

``urllib.parse`` and the WHATWG URL standard (which httpx, aiohttp/yarl and browsers follow to
varying degrees) disagree on edge cases: WHATWG turns ``\\`` into ``/`` and drops tabs and
newlines, so ``http://evil.com\\@api.openai.com`` reaches ``evil.com`` although ``urlsplit`` says
``api.openai.com``. Instead of emulating every parser, this one refuses every input on which they
could disagree: control characters, whitespace, backslashes, userinfo, missing or extra slashes.
What remains has exactly one reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loomllm._egress.hosts import Host, HostError, normalize_host

__all__ = ["DEFAULT_PORTS", "ParsedURL", "URLError", "parse_url", "redact_url"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PORT = re.compile(r"^[0-9]{1,5}$")


class URLError(ValueError):
    """The URL is refused before any policy is consulted. ``host`` is a safe display value."""

    def __init__(self, reason: str, *, host: str = "<invalid>") -> None:
        self.reason = reason
        self.host = host
        super().__init__(reason)


@dataclass(frozen=True)
class ParsedURL:
    """The parts of a URL that decide where bytes go. Never holds userinfo, query or fragment."""

    scheme: str
    host: Host
    port: int
    explicit_port: bool
    path: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, with the port only when it is not the scheme's default."""
        port = f":{self.port}" if self.port != DEFAULT_PORTS[self.scheme] else ""
        return f"{self.scheme}://{self.host.display}{port}"

    @property
    def redacted(self) -> str:
        """The URL without userinfo, query string and fragment: safe to log and to print."""
        return self.origin + self.path


def parse_url(url: str) -> ParsedURL:
    """Split ``url`` into scheme, canonical host and effective port. Raises :class:`URLError`."""
    if not isinstance(url, str) or not url:
        raise URLError("empty URL")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise URLError("URL contains whitespace, control characters or backslashes")
    match = _SCHEME.match(url)
    if match is None:
        raise URLError("URL has no scheme")
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    if scheme not in DEFAULT_PORTS:
        raise URLError(f"unsupported scheme {scheme!r}" if rest.startswith("//") else "URL has no scheme")
    if not rest.startswith("//") or rest.startswith("///"):
        raise URLError("URL must have exactly two slashes after the scheme")
    authority, path = _split_authority(rest[2:])
    if "@" in authority:
        raise URLError("URL carries userinfo (credentials)", host=_safe_host_hint(authority.rsplit("@", 1)[1]))
    raw_host, raw_port = _split_host_port(authority)
    try:
        host = normalize_host(raw_host)
    except HostError as exc:
        raise URLError(str(exc)) from None
    port = _parse_port(raw_port, scheme, host)
    return ParsedURL(scheme=scheme, host=host, port=port, explicit_port=raw_port is not None, path=path)


def redact_url(url: str) -> str:
    """A printable form of ``url``: without credentials and query string, or ``<invalid URL>``."""
    try:
        return parse_url(url).redacted
    except URLError:
        return "<invalid URL>"


def _split_authority(rest: str) -> tuple[str, str]:
    end = len(rest)
    for sep in "/?#":
        index = rest.find(sep)
        if index != -1:
            end = min(end, index)
    path = rest[end:]
    for sep in "?#":
        path = path.split(sep, 1)[0]
    return rest[:end], path


def _split_host_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise URLError("unbalanced brackets in host")
        host, tail = authority[: close + 1], authority[close + 1 :]
        if tail and not tail.startswith(":"):
            raise URLError("unexpected characters after IPv6 address")
        return host, (tail[1:] if tail else None)
    if authority.count(":") > 1:
        raise URLError("host contains more than one ':' (IPv6 addresses need brackets)")
    host, sep, port = authority.partition(":")
    return host, (port if sep else None)


def _parse_port(raw: str | None, scheme: str, host: Host) -> int:
    if raw is None or raw == "":
        return DEFAULT_PORTS[scheme]
    if not _PORT.match(raw) or not 0 < int(raw) <= 65535:
        raise URLError("invalid port", host=str(host))
    return int(raw)


def _safe_host_hint(raw: str) -> str:
    """The host part after userinfo, for error messages, if it normalizes cleanly."""
    try:
        return str(normalize_host(_split_host_port(raw)[0]))
    except (HostError, URLError):
        return "<invalid>"
