"""check_url against the bypass table, wildcards, CIDR, ports and schemes."""

from __future__ import annotations

import pytest

from loomllm._egress import EgressPolicy, check_destination, check_url, normalize_host, parse_url, redact_url
from loomllm._egress.hosts import Host, HostError

ALLOW = (
    "api.openai.com",
    "api.anthropic.com",
    "*.openai.azure.com",
    "localhost:11434",
    "https://generativelanguage.googleapis.com:443",
    "10.20.0.0/16",
    "api.example.com:8443",
    "[fd12:3456::/32]",
    "bücher.example",
)


@pytest.fixture(scope="module")
def policy() -> EgressPolicy:
    """The policy from the configuration example, plus a port, an IPv6 network and an IDN."""
    return EgressPolicy(allow=ALLOW)


BYPASSES = [
    # (id, url)
    ("userinfo-host-confusion", "https://api.openai.com@evil.example/"),
    ("userinfo-on-allowed-host", "https://user:pw@api.openai.com/"),
    ("userinfo-empty", "https://@api.openai.com/"),
    ("backslash-whatwg", "http://evil.com\\@api.openai.com"),
    ("backslash-path", "https://api.openai.com\\.evil.example/"),
    ("tab-in-host", "https://api.open\tai.com/"),
    ("newline-in-host", "https://api.openai.com\n.evil.example/"),
    ("space", "https://api.openai.com /"),
    ("leading-space", " https://api.openai.com/"),
    ("missing-scheme", "api.openai.com/v1"),
    ("missing-scheme-with-port", "localhost:11434"),
    ("scheme-relative", "//api.openai.com/v1"),
    ("single-slash", "https:/api.openai.com/"),
    ("triple-slash", "https:///api.openai.com/"),
    ("no-slashes", "https:api.openai.com"),
    ("unsupported-scheme", "ftp://api.openai.com/"),
    ("file-scheme", "file:///etc/passwd"),
    ("decimal-ip", "http://2130706433/"),
    ("hex-ip", "http://0x7f000001/"),
    ("hex-dotted-ip", "http://0x7f.0.0.1/"),
    ("octal-ip", "http://0177.0.0.1/"),
    ("short-ip", "http://127.1/"),
    ("short-ip-3", "http://127.0.1/"),
    ("metadata", "http://169.254.169.254/latest/meta-data/"),
    ("metadata-decimal", "http://2852039166/"),
    ("ipv6-loopback", "http://[::1]/"),
    ("ipv4-mapped-dotted", "http://[::ffff:127.0.0.1]/"),
    ("ipv4-mapped-hex", "http://[::ffff:7f00:1]/"),
    ("ipv6-zone", "http://[fe80::1%25eth0]/"),
    ("ipv6-unbracketed", "http://::1/"),
    ("zero-address", "http://0.0.0.0:11434/"),
    ("zero-short", "http://0:11434/"),
    ("percent-encoded-host", "https://api%2eopenai.com/"),
    ("percent-encoded-ip", "http://%31%32%37.0.0.1/"),
    ("trailing-number-label", "https://api.openai.com.0x10/"),
    ("too-many-ip-parts", "http://1.2.3.4.5/"),
    ("octal-with-8", "http://09.0.0.1/"),
    ("ip-out-of-range", "http://256.0.0.1/"),
    ("cyrillic-a-mixed", "https://\u0430pi.openai.com/"),
    ("greek-omicron-mixed", "https://api.\u03bfpenai.com/"),
    ("cyrillic-whole-label", "https://\u0430\u0440\u0456.openai.com/"),
    ("punycode-lookalike", "https://xn--pi-7ba.openai.com/"),
    ("unicode-dot-suffix", "https://api.openai.com\u3002evil.example/"),
    ("non-default-port", "https://api.openai.com:8443/"),
    ("port-zero", "https://api.openai.com:0/"),
    ("port-overflow", "https://api.openai.com:65536/"),
    ("port-not-numeric", "https://api.openai.com:https/"),
    ("http-downgrade", "http://api.openai.com/v1"),
    ("http-on-443", "http://api.openai.com:443/"),
    ("suffix-attack", "https://api.openai.com.evil.example/"),
    ("prefix-attack", "https://evilapi.openai.com/"),
    ("bare-wildcard-suffix", "https://openai.azure.com/"),
    ("wildcard-lookalike", "https://x.openai.azure.com.evil.example/"),
    ("wildcard-prefix-trick", "https://xopenai.azure.com/"),
    ("cidr-outside", "https://10.21.0.1/"),
    ("private-not-listed", "https://192.168.1.1/"),
    ("cgnat", "https://100.100.100.200/"),
    ("localhost-other-port", "http://localhost:8080/"),
    ("localhost-default-port", "http://localhost/"),
    ("localhost-subdomain", "http://evil.localhost:11434/"),
    ("loopback-ip-for-localhost-entry", "http://127.0.0.1:11434/"),
    ("gemini-http", "http://generativelanguage.googleapis.com/"),
    ("gemini-other-port", "https://generativelanguage.googleapis.com:8443/"),
    ("idn-different-punycode", "https://bucher.example/"),
    ("empty", ""),
    ("only-scheme", "https://"),
    ("empty-host-with-port", "https://:443/"),
    ("bracket-unbalanced", "http://[::1/"),
    ("nat64-embedded", "https://[64:ff9b::7f00:1]/"),
    ("sixtofour-embedded", "https://[2002:7f00:1::]/"),
    ("ipv4-compatible", "https://[::7f00:1]/"),
    ("double-trailing-dot", "https://api.openai.com../"),
    ("wildcard-literal", "https://*.openai.azure.com/"),
    ("nbsp-in-host", "https://api.openai.com\u00a0/"),
    ("ideographic-space-in-host", "https://api.openai.com\u3000.evil.example/"),
    ("port-then-userinfo", "https://api.openai.com:443@evil.example/"),
    ("fullwidth-digits-to-loopback", "http://\uff11\uff12\uff17.0.0.1/"),
]


class TestBypassTable:
    @pytest.mark.parametrize(("case", "url"), BYPASSES, ids=[c for c, _ in BYPASSES])
    def test_bypass_is_denied(self, policy: EgressPolicy, case: str, url: str) -> None:
        """Every bypass attempt in the table is refused."""
        verdict = check_url(url, policy)
        assert verdict.allowed is False, (case, verdict)
        assert verdict.reason

    @pytest.mark.parametrize(
        ("url", "host"),
        [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f000001/", "127.0.0.1"),
            ("http://0x7f.0.0.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
            ("http://[::ffff:7f00:1]/", "127.0.0.1"),
            ("http://[0:0:0:0:0:0:0:1]/", "::1"),
            ("https://API.OpenAI.COM./", "api.openai.com"),
            ("https://api.openai.com@evil.example/", "evil.example"),
            ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/", "127.0.0.1"),
        ],
    )
    def test_denial_names_the_real_host(self, policy: EgressPolicy, url: str, host: str) -> None:
        """The verdict names the host the request would actually reach."""
        assert host == check_url(url, policy).host


ALLOWED = [
    "https://api.openai.com/v1/chat/completions",
    "https://API.OPENAI.COM/v1",
    "https://api.openai.com./v1",
    "https://api.openai.com:443/v1",
    "https://api.openai.com:/v1",
    "https://api.anthropic.com/v1/messages",
    "https://myres.openai.azure.com/openai/deployments/x",
    "https://a.b.openai.azure.com/",
    "http://localhost:11434/api/chat",
    "https://localhost:11434/",
    "http://LOCALHOST:11434/",
    "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=SECRET",
    "https://10.20.0.1/v1",
    "https://10.20.255.254:443/",
    "https://[::ffff:10.20.1.1]/",
    "https://[::ffff:a14:101]/",
    "https://api.example.com:8443/",
    "https://[fd12:3456::1]/",
    "https://b\u00fccher.example/",
    "https://xn--bcher-kva.example/",
    "https://api.openai.com?x=1",
    "https://api.openai.com#frag",
    "wss://api.openai.com/v1/realtime",
    "HTTPS://api.openai.com/v1",
    "https://api.openai.com/path@evil.example",
    "https://api.openai.com?@evil.example",
    "https://api.openai.com#@evil.example",
]


class TestAllowed:
    @pytest.mark.parametrize("url", ALLOWED)
    def test_allowed(self, policy: EgressPolicy, url: str) -> None:
        """Legitimate spellings of allowed destinations pass."""
        verdict = check_url(url, policy)
        assert verdict.allowed is True, verdict

    def test_verdict_never_contains_query_or_credentials(self, policy: EgressPolicy) -> None:
        """The printable URL drops the query string (Gemini's ?key=) and userinfo."""
        verdict = check_url("https://generativelanguage.googleapis.com/v1beta/x?key=SECRET-KEY", policy)
        assert "https://generativelanguage.googleapis.com/v1beta/x" == verdict.url
        denied = check_url("https://user:SECRET@api.openai.com/", policy)
        assert "SECRET" not in repr(denied)

    def test_verdict_is_truthy_when_allowed(self, policy: EgressPolicy) -> None:
        """A verdict can be used directly in a condition."""
        assert check_url("https://api.openai.com/", policy)
        assert not check_url("https://evil.example/", policy)


class TestWildcards:
    def test_wildcard_matches_any_depth_but_not_the_suffix(self) -> None:
        """``*.example.com`` matches a.example.com and a.b.example.com, not example.com."""
        policy = EgressPolicy(allow=["*.example.com"])
        assert check_url("https://a.example.com/", policy).allowed
        assert check_url("https://a.b.example.com/", policy).allowed
        assert not check_url("https://example.com/", policy).allowed
        assert not check_url("https://aexample.com/", policy).allowed

    def test_wildcard_plus_bare_suffix(self) -> None:
        """Listing the suffix as well allows it."""
        policy = EgressPolicy(allow=["*.example.com", "example.com"])
        assert check_url("https://example.com/", policy).allowed

    def test_wildcard_never_matches_ips(self) -> None:
        """A name wildcard does not cover IP literals."""
        policy = EgressPolicy(allow=["*.example.com"])
        assert not check_url("https://93.184.216.34/", policy).allowed

    def test_private_wildcard_is_explicit(self) -> None:
        """A wildcard under a private suffix allows names below it."""
        policy = EgressPolicy(allow=["*.corp.internal"])
        assert check_url("https://llm.corp.internal/", policy).allowed

    def test_idn_wildcard_suffix(self) -> None:
        """Wildcard suffixes are compared in punycode."""
        policy = EgressPolicy(allow=["*.bücher.example"])
        assert check_url("https://api.xn--bcher-kva.example/", policy).allowed
        assert not check_url("https://api.bucher.example/", policy).allowed


class TestNetworks:
    def test_cidr_covers_range(self) -> None:
        """A CIDR entry covers exactly its addresses."""
        policy = EgressPolicy(allow=["10.20.0.0/16"])
        assert check_url("https://10.20.3.4/", policy).allowed
        assert not check_url("https://10.21.3.4/", policy).allowed

    def test_single_ip(self) -> None:
        """A single address entry matches that address in any spelling."""
        policy = EgressPolicy(allow=["10.0.0.7"])
        assert check_url("https://10.0.0.7/", policy).allowed
        assert check_url("https://167772167/", policy).allowed
        assert not check_url("https://10.0.0.8/", policy).allowed

    def test_broad_cidr_does_not_open_private_networks(self) -> None:
        """0.0.0.0/0 allows public addresses but not loopback, RFC 1918 or metadata."""
        policy = EgressPolicy(allow=["0.0.0.0/0"])
        assert check_url("https://8.8.8.8/", policy).allowed
        for url in ("https://127.0.0.1/", "https://10.0.0.1/", "https://169.254.169.254/", "https://[::ffff:7f00:1]/"):
            assert not check_url(url, policy).allowed, url

    def test_deny_private_networks_off(self) -> None:
        """With deny_private_networks false, a broad CIDR reaches private addresses too."""
        policy = EgressPolicy(allow=["0.0.0.0/0"], deny_private_networks=False)
        assert check_url("https://10.0.0.1/", policy).allowed

    def test_ipv6_network(self) -> None:
        """Bracketed and bare IPv6 networks both parse."""
        policy = EgressPolicy(allow=["[2001:4860::/32]", "2a00:1450::/32"])
        assert check_url("https://[2001:4860::8888]/", policy).allowed
        assert check_url("https://[2a00:1450::1]/", policy).allowed
        assert not check_url("https://[2a00:1451::1]/", policy).allowed

    def test_explicit_metadata_address(self) -> None:
        """A private address listed exactly is allowed (explicit beats deny_private_networks)."""
        policy = EgressPolicy(allow=["169.254.169.254"])
        assert check_url("https://169.254.169.254/", policy).allowed


class TestPortsAndSchemes:
    def test_no_port_means_default_port_only(self) -> None:
        """An entry without a port allows 443 for https and 80 for http, nothing else."""
        policy = EgressPolicy(allow=["api.example.com"], require_https=False)
        assert check_url("https://api.example.com/", policy).allowed
        assert check_url("http://api.example.com/", policy).allowed
        assert not check_url("https://api.example.com:80/", policy).allowed
        assert not check_url("http://api.example.com:443/", policy).allowed
        assert not check_url("https://api.example.com:8443/", policy).allowed

    def test_explicit_port(self) -> None:
        """An entry with a port allows that port only."""
        policy = EgressPolicy(allow=["api.example.com:8443"])
        assert check_url("https://api.example.com:8443/", policy).allowed
        assert not check_url("https://api.example.com/", policy).allowed

    def test_any_port(self) -> None:
        """``host:*`` allows every port."""
        policy = EgressPolicy(allow=["api.example.com:*"])
        assert check_url("https://api.example.com:9999/", policy).allowed

    def test_scheme_in_entry(self) -> None:
        """An entry with a scheme allows only that scheme."""
        policy = EgressPolicy(allow=["https://api.example.com"], require_https=False)
        assert check_url("https://api.example.com/", policy).allowed
        verdict = check_url("http://api.example.com/", policy)
        assert not verdict.allowed
        assert "scheme" in verdict.reason

    def test_require_https(self) -> None:
        """Plain http is refused to public hosts unless require_https is false."""
        assert not check_url("http://api.example.com/", EgressPolicy(allow=["api.example.com"])).allowed
        policy = EgressPolicy(allow=["api.example.com"], require_https=False)
        assert check_url("http://api.example.com/", policy).allowed

    def test_http_to_explicit_loopback(self) -> None:
        """Plain http to an explicitly allowed loopback host passes under require_https."""
        policy = EgressPolicy(allow=["127.0.0.1:8000", "[::1]:8000"])
        assert check_url("http://127.0.0.1:8000/", policy).allowed
        assert check_url("http://[::1]:8000/", policy).allowed

    def test_http_to_private_non_loopback_needs_https_off(self) -> None:
        """Plain http to a private vLLM host still needs require_https false."""
        policy = EgressPolicy(allow=["10.20.0.0/16:8000"])
        assert not check_url("http://10.20.0.5:8000/", policy).allowed
        relaxed = EgressPolicy(allow=["10.20.0.0/16:8000"], require_https=False)
        assert check_url("http://10.20.0.5:8000/", relaxed).allowed


class TestCheckDestination:
    @pytest.mark.parametrize(
        ("scheme", "host", "port", "allowed"),
        [
            ("https", "api.openai.com", None, True),
            ("https", "api.openai.com", 443, True),
            ("HTTPS", "API.OPENAI.COM", None, True),
            ("https", "api.openai.com", 8443, False),
            ("http", "api.openai.com", None, False),
            ("https", "2130706433", None, False),
            ("https", "::ffff:10.20.0.1", None, True),
            ("https", "[::1]", None, False),
            ("ftp", "api.openai.com", None, False),
            ("https", "api.openai.com@evil", None, False),
        ],
    )
    def test_pre_split_destinations(
        self, policy: EgressPolicy, scheme: str, host: str, port: int | None, allowed: bool
    ) -> None:
        """Destinations already split by an HTTP client get the same treatment."""
        assert allowed == check_destination(scheme, host, port, policy).allowed


class TestNormalization:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("API.OpenAI.com.", "api.openai.com"),
            ("127.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("4294967295", "255.255.255.255"),
            ("0x", "0.0.0.0"),
            ("[::FFFF:7F00:1]", "127.0.0.1"),
            ("münchen.example", "xn--mnchen-3ya.example"),
            ("ｅｘａｍｐｌｅ.com", "example.com"),
        ],
    )
    def test_normalize_host(self, raw: str, expected: str) -> None:
        """Equivalent spellings normalize to one canonical host."""
        assert expected == str(normalize_host(raw))

    @pytest.mark.parametrize("raw", ["4294967296", "1.2.3.256", "a..b", "-a.com", "a.com-", "x.0x", "[::1", "a b"])
    def test_refused_hosts(self, raw: str) -> None:
        """Ambiguous or malformed hosts raise HostError."""
        with pytest.raises(HostError):
            normalize_host(raw)

    def test_japanese_mixed_scripts_are_fine(self) -> None:
        """Han + Hiragana + Katakana in one label is a normal Japanese name, not a confusable."""
        host = normalize_host("日本語のテスト.jp")
        assert isinstance(host, Host)
        assert host.name is not None and host.name.startswith("xn--")

    def test_parse_url_keeps_path_drops_query(self) -> None:
        """parse_url returns scheme, host, effective port and path, never the query."""
        parsed = parse_url("https://api.openai.com/v1/x?key=1#f")
        assert ("https", "api.openai.com", 443, "/v1/x") == (parsed.scheme, str(parsed.host), parsed.port, parsed.path)

    def test_redact_url(self) -> None:
        """redact_url never returns credentials or query strings."""
        assert "https://api.openai.com/v1" == redact_url("https://api.openai.com/v1?key=SECRET")
        assert "<invalid URL>" == redact_url("https://user:SECRET@api.openai.com/")


def test_import_is_light() -> None:
    """Importing the egress package pulls in neither httpx, aiohttp nor litellm."""
    import subprocess
    import sys

    code = "import sys, loomllm._egress; print(sorted(m for m in ('httpx', 'aiohttp', 'litellm') if m in sys.modules))"
    assert (
        "[]" == subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )
