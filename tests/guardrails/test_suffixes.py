"""The e-mail domain check without tldextract's trie: same answers as tldextract, few GC-tracked objects."""

from __future__ import annotations

import json
import pkgutil
import random
import re
import string
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import idna
import pytest
import tldextract
from tldextract.suffix_list import extract_tlds_from_suffix_list

from loomllm._guardrails.suffixes import has_registrable_domain

HERE = Path(__file__).resolve().parent
ORACLE = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
_snapshot = pkgutil.get_data("tldextract", ".tld_set_snapshot")
assert _snapshot is not None
PUBLIC, PRIVATE = extract_tlds_from_suffix_list(_snapshot.decode("utf-8"))
# Presidio's EmailRecognizer pattern (presidio_analyzer 2.2), the domain part after the ``@``.
PRESIDIO_DOMAIN = re.compile(r"@(\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+)\b")


def expected(hostname: str) -> bool:
    return bool(ORACLE(hostname).fqdn != "")


def mismatches(hostnames: Iterable[str]) -> list[tuple[str, bool]]:
    """The hostnames where the two disagree, with tldextract's answer."""
    return [(h, want) for h in dict.fromkeys(hostnames) if (want := expected(h)) != has_registrable_domain(h)]


def with_labels_in_front(rules: Iterable[str]) -> list[str]:
    hosts = []
    for rule in rules:
        bare = rule.lstrip("*!.")
        for host in {rule, bare}:
            hosts += [host, f"shop.{host}", f"www.shop.{host}"]
        if rule.startswith("*."):
            hosts += [bare, f"x.{bare}", f"a.x.{bare}", f"b.a.x.{bare}", f"a.*.{bare}"]
        if rule.startswith("!"):
            hosts += [f"a.{rule}", f"b.a.{bare}", f"a.{bare.partition('.')[2]}"]
    return hosts


def idn_variants(rules: Iterable[str]) -> list[str]:
    """IDN suffixes in punycode (``xn--``), whole and label by label, upper-cased too."""
    hosts = []
    for rule in rules:
        if rule.isascii() or rule[0] in "*!":
            continue
        try:
            ace = idna.encode(rule).decode("ascii")
        except idna.IDNAError:
            ace = ".".join("xn--" + label.encode("punycode").decode("ascii") for label in rule.split("."))
        hosts += [ace, f"shop.{ace}", f"a.b.{ace}", f"SHOP.{ace.upper()}", f"shop.{rule.upper()}"]
    return hosts


def corpus_domains() -> list[str]:
    domains = []
    for path in sorted(HERE.glob("**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "@" in line:
                text = json.loads(line).get("text", "")
                domains += PRESIDIO_DOMAIN.findall(text)
                domains += [part.rpartition("@")[2] for part in text.split() if "@" in part]
    return domains


def random_domains(count: int) -> list[str]:
    rng = random.Random(20261202)
    alphabet = string.ascii_letters + string.digits + "-_"
    suffixes = PUBLIC + PRIVATE
    hosts = []
    for _ in range(count):
        labels = ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(rng.randint(0, 3))]
        suffix = rng.choice(suffixes).replace("*", rng.choice(["x", "www", "city", "*"])).lstrip("!")
        hosts.append(".".join([*labels, suffix]))
    return hosts


EDGE_CASES = [
    "", ".", "..", "...", "com", "COM", "com.", "example.com", "EXAMPLE.COM", "Example.Com.", "example.com..",
    "a..com", "..com", ".com", "a.com.", "a.b..co.uk", "a..co.uk", ".co.uk", "co.uk", "a.co.uk", "a..ck",
    ".ck", "ck", "www.ck", "a.www.ck", "!www.ck", "a.!www.ck", "*.ck", "a.*.ck", "foo.ck", "a.foo.ck", "a.b.foo.ck",
    "city.kawasaki.jp", "x.city.kawasaki.jp", "kawasaki.jp", "a.kawasaki.jp", "b.a.kawasaki.jp", "a..kawasaki.jp",
    "localhost", "LOCALHOST", "localhost.", "intranet", "a", "1", "-", "_", "a_b.com", "a-.com", "-a.com",
    "127.0.0.1", "1.2.3.4", "256.1.1.1", "1.2.3.4.com", "10.0.0.1.nip.io", "[::1]", "[2001:db8::1]", "::1",
    "[::ffff:1.2.3.4]", "[a.com]", "[a.com", "a.com]", "user@example.com", "a@b@example.co.uk", "user:pw@a.com",
    "example.com:8080", "example.com:", ":80", "http://example.com/path", "https://user:pw@example.co.uk:443/x?y#z",
    "//example.com", "ftp://a.com", "1http://a.com", "mailto:a@b.com", "a.com/x", "a.com?x", "a.com#x",
    "example\u3002com", "example\uff0ecom", "example\uff61com", "example.com\u3002", "a\u3002\u3002com",
    "xn--", "xn--.com", "a.xn--", "xn--a.com", "a.xn--zz-", "xn--p1ai", "a.xn--p1ai", "a.XN--P1AI", "a.xn--p1ai.",
    "a.рф", "a.РФ", "a.公司.cn", "a.xn--55qx5d.cn", "xn--55qx5d.cn", "a.xn--55qx5d", "a.İ", "a.com\u0130",
    "blogspot.com", "a.blogspot.com", "b.a.blogspot.com", "github.io", "a.github.io", "s3.amazonaws.com",
    "a.compute.amazonaws.com", "a.b.compute.amazonaws.com", "  example.com  ", "example .com", "exa mple.com",
    "müller.de", "MÜLLER.DE", "straße.de", "例え.テスト", "a.b.c.d.e.f.g.uk", "x" * 300 + ".com", "123.45",
]


def spelling_variants(rules: Iterable[str]) -> list[str]:
    """``shop.<rule>`` upper-cased, with trailing, doubled and unicode dots, userinfo, a port, a scheme, brackets."""
    hosts = []
    for rule in rules:
        host = f"shop.{rule}"
        hosts += [host.upper(), host + ".", host + "..", host.replace(".", "\u3002"), host.replace(".", "..")]
        hosts += [f"user@{host}", f"{host}:25", f"smtp://{host}/", f"[{host}]", f".{host}", f"a..{host}"]
    return hosts


RANDOM_COUNT = 50_000


class TestEquivalence:
    """``has_registrable_domain(h) == (TLDExtract(snapshot only)(h).fqdn != "")``, for every kind of input."""

    def test_every_public_rule(self) -> None:
        """Each ICANN rule as a host, with one and two labels in front; wildcard parents and exception names."""
        assert [] == mismatches(with_labels_in_front(PUBLIC))

    def test_every_private_rule(self) -> None:
        """Private rules are not suffixes for the default extractor: a name under them has a registrable domain."""
        assert [] == mismatches(with_labels_in_front(PRIVATE))

    def test_punycode(self) -> None:
        """``xn--`` forms of real IDN suffixes decode to match; garbage ``xn--`` labels stay as they are."""
        garbage = [f"{p}.{rule}" for p in ("xn--", "xn--a", "xn--zz-", "xn--abc") for rule in ("com", "co.uk", "рф")]
        garbage += [f"a.{g}" for g in ("xn--", "xn--a", "xn--zz-", "xn--abc", "xn--p1ai-", "xn--55qx5d-")]
        assert [] == mismatches(idn_variants(PUBLIC + PRIVATE) + garbage)

    def test_case_dots_and_edges(self) -> None:
        """Upper case, trailing and unicode dots, empty labels, IPs, ports, userinfo, schemes, single labels."""
        assert [] == mismatches(EDGE_CASES + spelling_variants(PUBLIC + PRIVATE[::3]))

    def test_random_labels_on_real_suffixes(self) -> None:
        """Random labels (letters, digits, ``-``, ``_``) in front of real suffixes, wildcards filled in."""
        assert [] == mismatches(random_domains(RANDOM_COUNT))

    def test_corpus_email_domains(self) -> None:
        """The domains of every e-mail-looking token in the guardrail corpora."""
        domains = corpus_domains()
        assert len(domains) > 100
        assert [] == mismatches(domains + [d.lower() for d in domains])

    def test_presidio_email_domains(self) -> None:
        """Domains Presidio's e-mail regex can produce: ``\\w`` is unicode, hyphen runs, digits, underscores."""
        rng = random.Random(7)
        pieces = ["a", "mail", "x1", "123", "_", "a_b", "ü", "é", "例", "ß", "xn--p1ai", "XN--P1AI", "co", "uk"]
        tails = ["com", "co.uk", "io", "de", "jp", "ck", "kawasaki.jp", "рф", "xn--p1ai", "local", "0", "blogspot.com"]
        hosts = []
        for _ in range(3000):
            labels = [rng.choice(pieces) + rng.choice(["", "-", "--", "-x"]) * rng.randint(0, 1) for _ in range(3)]
            labels = [label if not label.endswith("-") else label + "z" for label in labels]
            hosts.append(".".join([*labels[: rng.randint(1, 3)], rng.choice(tails)]))
        text = " ".join(f"u{i}@{h}" for i, h in enumerate(hosts))
        assert [] == mismatches(PRESIDIO_DOMAIN.findall(text))

    def test_set_size(self) -> None:
        """The equivalence tests above cover tens of thousands of distinct hosts."""
        total = {
            *with_labels_in_front(PUBLIC),
            *with_labels_in_front(PRIVATE),
            *idn_variants(PUBLIC + PRIVATE),
            *spelling_variants(PUBLIC + PRIVATE[::3]),
            *random_domains(RANDOM_COUNT),
            *EDGE_CASES,
        }
        assert len(total) > 150_000


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_loaded_rules_add_few_tracked_objects() -> None:
    """Loading the rules adds a handful of GC-tracked objects, not tldextract's ~50,000 trie nodes and dicts."""
    code = (
        "import gc\n"
        "from loomllm._guardrails.suffixes import has_registrable_domain\n"
        "gc.collect(); before = len(gc.get_objects())\n"
        "assert has_registrable_domain('example.co.uk')\n"
        "gc.collect(); print(len(gc.get_objects()) - before)\n"
    )
    assert int(_run(code)) < 100


def test_a_scan_builds_no_tldextract_trie() -> None:
    """Scanning a text with an e-mail address never builds tldextract's ``Trie`` (in a fresh process)."""
    code = (
        "import gc, tldextract.tldextract as t\n"
        "from loomllm._guardrails.analyzer import Scanner, ScanSettings\n"
        "from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES\n"
        "found = Scanner(ScanSettings(pii_entities=DEFAULT_PII_ENTITIES)).scan('mail jane.doe@example.co.uk today')\n"
        "assert 'EMAIL_ADDRESS' in {d.entity_type for d in found}, found\n"
        "gc.collect(); print(sum(isinstance(o, t.Trie) for o in gc.get_objects()))\n"
    )
    assert "0" == _run(code)


@pytest.mark.parametrize(
    ("hostname", "registrable"),
    [
        ("example.co.uk", True),
        ("co.uk", False),
        ("a.blogspot.com", True),
        ("foo.ck", False),
        ("www.ck", True),
        ("a.xn--p1ai", True),
        ("localhost", False),
        ("127.0.0.1", False),
        ("a..com", False),
        ("a..ck", True),
        ("example.com.", True),
    ],
)
def test_known_answers(hostname: str, registrable: bool) -> None:
    """A few answers spelled out (the oracle agrees with them too)."""
    assert registrable == has_registrable_domain(hostname) == expected(hostname)
