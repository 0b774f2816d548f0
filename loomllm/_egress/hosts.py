"""Host normalization: one canonical form per destination, whatever spelling a URL used.

A host is either an IP address or an ASCII (punycode) DNS name, lower-case, without trailing dot.
Spellings that resolvers accept but humans do not read as IPs are decoded the way glibc's
``inet_aton`` and the WHATWG URL standard do (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``127.1``), so ``http://2130706433/`` is checked as ``127.0.0.1`` rather than as a name. Anything
ambiguous (a name whose last label is a number but is no valid IPv4, ``%`` escapes, zone ids,
mixed-script labels) is refused instead of guessed.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import idna

__all__ = [
    "DENIED_NETWORKS",
    "PRIVATE_NAME_SUFFIXES",
    "Host",
    "HostError",
    "IPAddress",
    "IPNetwork",
    "is_denied_address",
    "is_loopback_host",
    "is_private_name",
    "normalize_address",
    "normalize_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused under ``deny_private_networks`` unless an allow entry names them explicitly.
DENIED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT; also Alibaba's metadata service 100.100.100.200
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local; cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
        "::/96",  # unspecified, ::1 and IPv4-compatible addresses
        "::ffff:0:0/96",  # IPv4-mapped (normalized to IPv4 before any check; listed for completeness)
        "64:ff9b::/96",  # NAT64 embeds an IPv4 address
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/32",  # Teredo embeds an IPv4 address
        "2001:db8::/32",
        "2002::/16",  # 6to4 embeds an IPv4 address
        "fc00::/7",  # unique local, includes fd00::/8 (AWS metadata fd00:ec2::254)
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)

# Names that by definition (RFC 6761, RFC 8375, ICANN's .internal) never leave the local network.
PRIVATE_NAME_SUFFIXES: tuple[str, ...] = ("localhost", "localdomain", "local", "internal", "home.arpa", "lan")
_LOOPBACK_NAME_SUFFIX = "localhost"

_IPV4_NUMBER = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_ASCII_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_FORBIDDEN_HOST_CHARS = frozenset(" \t\r\n\\/?#@:%[]<>^|*\"'`{}")
# UTS #39 "highly restrictive": scripts that may share one label with each other (and with Latin).
_SCRIPT_MIXES_ALLOWED = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)


class HostError(ValueError):
    """The host cannot be normalized unambiguously (the URL is refused)."""


@dataclass(frozen=True)
class Host:
    """A canonical destination host: exactly one of ``ip`` and ``name`` is set."""

    ip: IPAddress | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.ip is not None:
            return str(self.ip)
        return self.name or ""

    @property
    def display(self) -> str:
        """The host as it would appear in a URL authority (IPv6 in brackets)."""
        if isinstance(self.ip, ipaddress.IPv6Address):
            return f"[{self.ip}]"
        return str(self)


def normalize_address(ip: IPAddress) -> IPAddress:
    """Map IPv4-mapped IPv6 (``::ffff:127.0.0.1``) to the IPv4 address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(ip.packed)
    return ip


def is_denied_address(ip: IPAddress) -> bool:
    """True when ``ip`` lies in a loopback, private, link-local, metadata or otherwise special network."""
    ip = normalize_address(ip)
    return any(ip.version == net.version and ip in net for net in DENIED_NETWORKS)


def is_private_name(name: str) -> bool:
    """True for names that only resolve locally (``localhost``, ``*.internal``, ``*.local`` ...)."""
    return any(name == s or name.endswith("." + s) for s in PRIVATE_NAME_SUFFIXES)


def is_loopback_host(host: Host) -> bool:
    """True for loopback addresses and the ``localhost`` names."""
    if host.ip is not None:
        return normalize_address(host.ip).is_loopback
    name = host.name or ""
    return name == _LOOPBACK_NAME_SUFFIX or name.endswith("." + _LOOPBACK_NAME_SUFFIX)


@lru_cache(maxsize=4096)
def normalize_host(raw: str) -> Host:
    """Return the canonical form of a URL host (brackets included for IPv6). Raises :class:`HostError`."""
    if not raw:
        raise HostError("empty host")
    if raw.startswith("[") or raw.endswith("]"):
        return Host(ip=_parse_ipv6_literal(raw))
    if any(c in _FORBIDDEN_HOST_CHARS or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise HostError("host contains a forbidden character")
    text = raw if raw.isascii() else _idna_to_ascii(raw)
    text = text.lower()
    if text.endswith("."):
        text = text[:-1]
    if not text or len(text) > 253:
        raise HostError("host name is empty or too long")
    labels = text.split(".")
    if _IPV4_NUMBER.match(labels[-1]):
        return Host(ip=_parse_ipv4(labels))
    for label in labels:
        if not _ASCII_LABEL.match(label):
            raise HostError("host name has an empty or invalid label")
        if label.startswith("xn--"):
            _check_punycode_label(label)
    return Host(name=text)


def _parse_ipv6_literal(raw: str) -> IPAddress:
    if not (raw.startswith("[") and raw.endswith("]")):
        raise HostError("unbalanced brackets in host")
    inner = raw[1:-1]
    if "%" in inner:
        raise HostError("IPv6 zone identifiers are not allowed")
    try:
        return normalize_address(ipaddress.IPv6Address(inner))
    except ValueError:
        raise HostError("invalid IPv6 address") from None


def _parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """Parse inet_aton / WHATWG IPv4 spellings; a host ending in a number must be a valid IPv4."""
    if len(labels) > 4:
        raise HostError("host ends in a number but is not an IPv4 address")
    numbers = [_parse_ipv4_number(label) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise HostError("IPv4 address out of range")
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(label: str) -> int:
    if not _IPV4_NUMBER.match(label):
        raise HostError("host ends in a number but is not an IPv4 address")
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        if any(c in "89" for c in label):
            raise HostError("invalid octal number in IPv4 address")
        return int(label, 8)
    return int(label)


def _idna_to_ascii(raw: str) -> str:
    """UTS #46 map (fullwidth dots and digits, case) and encode to punycode; refuse confusable labels."""
    try:
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
        for label in mapped.rstrip(".").split("."):
            _check_single_script(label)
        return idna.encode(mapped, uts46=False).decode("ascii")
    except idna.IDNAError:
        raise HostError("host is not a valid internationalized domain name") from None


def _check_punycode_label(label: str) -> None:
    try:
        decoded = idna.decode(label)
    except idna.IDNAError:
        raise HostError("host has an invalid punycode label") from None
    _check_single_script(decoded)


def _check_single_script(label: str) -> None:
    scripts: set[str] = set()
    for char in label:
        if char.isascii() and not char.isalpha():
            continue
        if unicodedata.category(char)[0] in "MNPZS":  # marks, digits, punctuation: no script of their own
            continue
        scripts.add(unicodedata.name(char, "UNKNOWN").split(" ")[0])
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_MIXES_ALLOWED):
        raise HostError(f"host label mixes scripts ({', '.join(sorted(scripts))}): possible look-alike")
