"""The public suffix rules of tldextract's bundled snapshot, as frozensets of strings.

``tldextract.TLDExtract`` builds a ``Trie`` of the whole list on first use: about 17,000 node objects, each with its
own ``__dict__`` and ``matches`` dict, that every full garbage collection of the process re-scans. The same trie is
held here as two frozensets of dotted strings (strings are not tracked by the garbage collector), and
:func:`has_registrable_domain` walks it as ``_PublicSuffixListTLDExtractor.suffix_index`` walks the trie.

The rules come from tldextract's own snapshot file and parser; never the network, never a disk cache.
"""

from __future__ import annotations

import pkgutil
import threading
from ipaddress import AddressValueError, IPv6Address
from typing import NamedTuple

import idna
from tldextract.remote import lenient_netloc
from tldextract.suffix_list import extract_tlds_from_suffix_list

_UNICODE_DOTS = ("\u3002", "\uff0e", "\uff61")


class _SuffixTrie(NamedTuple):
    """The trie of the snapshot's ICANN rules, flattened.

    A trie node is the dotted path of rule labels from the top-level label down (``"*.kawasaki.jp"``,
    ``"!city.kawasaki.jp"``, ``"kawasaki.jp"``, ``"jp"``): ``nodes`` holds every node, ``rules`` the nodes a rule
    ends at. Wildcards and exceptions are literal labels of the trie, as in tldextract.
    """

    nodes: frozenset[str]
    rules: frozenset[str]


_trie: _SuffixTrie | None = None
_trie_lock = threading.Lock()


def _load_trie() -> _SuffixTrie:
    global _trie
    if _trie is None:
        with _trie_lock:
            if _trie is None:
                snapshot = pkgutil.get_data("tldextract", ".tld_set_snapshot")
                if snapshot is None:  # pragma: no cover - the package ships it
                    raise RuntimeError("tldextract's bundled public suffix snapshot is missing")
                # The default extractor (include_psl_private_domains=False) never sees the private rules.
                public, _private = extract_tlds_from_suffix_list(snapshot.decode("utf-8"))
                split = [rule.split(".") for rule in public]
                nodes = {".".join(labels[i:]) for labels in split for i in range(len(labels))}
                _trie = _SuffixTrie(nodes=frozenset(nodes), rules=frozenset(public))
    return _trie


def has_registrable_domain(hostname: str) -> bool:
    """Whether ``hostname`` has a domain under a public suffix of tldextract's bundled snapshot.

    Exactly ``TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)(hostname).fqdn != ""``
    for every string, without building tldextract's trie: the host is taken from a URL-like string as tldextract
    takes it (scheme, userinfo, port, path and trailing dots dropped; ideographic and full-width dots are dots),
    labels are matched lower-cased and ``xn--`` labels decoded, wildcard and exception rules apply, and PSL
    private domains are not suffixes (``blogspot.com`` is a domain under ``com``).
    """
    netloc = lenient_netloc(hostname)
    for dot in _UNICODE_DOTS:
        netloc = netloc.replace(dot, ".")
    if len(netloc) >= 4 and netloc[0] == "[" and netloc[-1] == "]" and _looks_like_ipv6(netloc[1:-1]):
        return False
    labels = netloc.split(".")
    trie = _load_trie()
    suffix_start = len(labels)
    path = ""
    for index in range(len(labels) - 1, -1, -1):
        label = _decode_punycode(labels[index])
        top = index == len(labels) - 1
        node = label if top else f"{label}.{path}"
        # A decoded label is one trie key; with a dot in it the path string would name other nodes.
        if "." not in label and node in trie.nodes:
            path = node
            if node in trie.rules:
                suffix_start = index
            continue
        if ("*" if top else f"*.{path}") in trie.nodes:
            exception = "." not in label and (f"!{label}" if top else f"!{label}.{path}") in trie.nodes
            return _has_domain(labels, index + 1 if exception else index)
        break
    return suffix_start < len(labels) and _has_domain(labels, suffix_start)


def _has_domain(labels: list[str], suffix_start: int) -> bool:
    """``ExtractResult.fqdn != ""`` when the public suffix starts at ``labels[suffix_start]`` (never private here)."""
    return suffix_start > 0 and labels[suffix_start - 1] != "" and ".".join(labels[suffix_start:]) != ""


def _decode_punycode(label: str) -> str:
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            return str(idna.decode(lowered))
        except (UnicodeError, IndexError):
            pass
    return lowered


def _looks_like_ipv6(text: str) -> bool:
    try:
        IPv6Address(text)
    except AddressValueError:
        return False
    return True
