"""The scanner: real Presidio, placeholders, cache, offline operation, analyzer failure modes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from guardrail_values import AWS_KEY, EMAIL, GITHUB_TOKEN

from loomllm._guardrails import Guard, GuardrailsConfig, scan_text
from loomllm._guardrails.analyzer import Detection, Scanner, ScanSettings
from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES
from loomllm.errors import GuardrailViolation

PLACEHOLDERS = [
    "OPENAI_API_KEY=sk-...",
    "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "api_key = 'YOUR_API_KEY'",
    "token: <token>",
    "password = os.environ['DB_PASSWORD']",
    "export GITHUB_TOKEN=${GITHUB_TOKEN}",
    "password: changeme",
    "secret: ****",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "DATABASE_URL=postgres://user:password@localhost:5432/db",
    "Authorization: Bearer <your-token>",
    "api_key: ${{ secrets.API_KEY }}",
    "token = settings.API_TOKEN",
    "password=self.password",
    "ANTHROPIC_API_KEY=sk-ant-...",
]


def _corpus(name: str) -> list[dict[str, Any]]:
    path = Path(__file__).parent / "corpus" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fresh_scanner(**overrides: Any) -> Scanner:
    """A scanner of its own (not the process-wide one), so its analyzer is built inside the test."""
    settings = ScanSettings(pii_entities=overrides.pop("pii_entities", DEFAULT_PII_ENTITIES), **overrides)
    return Scanner(settings)


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholders_are_not_findings(text: str) -> None:
    """Stand-ins for credentials are not reported."""
    assert [] == [f for f in scan_text(text) if f.entity_type.startswith("SECRET_")]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        (f"GITHUB_TOKEN={GITHUB_TOKEN}", "SECRET_GITHUB_TOKEN"),
        (f"aws_access_key_id = {AWS_KEY}", "SECRET_AWS_ACCESS_KEY"),
        ("postgres://app:Zq8#rT2vLm9x@db.internal:5432/app", "SECRET_DATABASE_PASSWORD"),
        ('password = "h7$Kq2!mPzR4"', "SECRET_PASSWORD"),
        (f"mail {EMAIL} please", "EMAIL_ADDRESS"),
        ("card 4111 1111 1111 1111", "CREDIT_CARD"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN_CODE"),
    ],
)
def test_known_formats_are_found(text: str, entity: str) -> None:
    """A few representative formats through the public scan_text."""
    assert entity in {f.entity_type for f in scan_text(text)}


def test_checksums_reject_invalid_numbers() -> None:
    """A card number failing Luhn and an IBAN failing mod-97 are not findings."""
    types = {f.entity_type for f in scan_text("card 4111 1111 1111 1112 and IBAN DE89 3704 0044 0532 0130 01")}
    assert not types & {"CREDIT_CARD", "IBAN_CODE"}


class TestCache:
    def test_second_scan_skips_the_analyzer(self) -> None:
        """The same text scanned twice reaches Presidio once."""
        scanner = fresh_scanner()
        text = f"reach me at {EMAIL}"
        first = scanner.scan(text)
        calls = scanner.stats.analyzer_calls
        assert first == scanner.scan(text)
        assert calls == scanner.stats.analyzer_calls
        assert 1 == scanner.stats.cache_hits

    def test_cache_holds_findings_not_text(self) -> None:
        """Cache keys are digests and values are Detection tuples; the text appears nowhere."""
        scanner = fresh_scanner()
        text = f"token {GITHUB_TOKEN}"
        scanner.scan(text)
        for key, value in scanner._cache.items():
            assert isinstance(key, bytes) and 16 == len(key)
            assert all(isinstance(d, Detection) for d in value)
            assert GITHUB_TOKEN not in repr(value) and GITHUB_TOKEN.encode() not in key

    def test_cache_is_bounded(self) -> None:
        """The LRU never grows past cache_size."""
        scanner = fresh_scanner(cache_size=3)
        for i in range(10):
            scanner.scan(f"message number {i} to {EMAIL}")
        assert 3 == len(scanner._cache)

    def test_region_cache_changes_no_finding(self) -> None:
        """A stream's re-scans (``cache=False``) take recognizer results and context outcomes from the region
        cache: the same detections as a scanner that computes every one, on every corpus text, twice."""
        remembering, computing = fresh_scanner(), fresh_scanner()
        texts = [row["text"] for name in ("pii", "mixed", "families") for row in _corpus(name)][:400]
        for text in texts:
            expected = computing._analyze(text)
            assert expected == remembering.scan(text, cache=False) == remembering.scan(text, cache=False), text
            grown = text + " and the rest of the answer"
            assert computing._analyze(grown) == remembering.scan(grown, cache=False)
        assert remembering.regions.hits > len(texts) and 0 == computing.regions.hits  # _analyze computes

    def test_context_enhancement_copies_only_what_it_writes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The enhancer copies a result and its explanation instead of deep-copying everything: every call over
        the corpus returns what Presidio's deep-copying enhancer returns, and leaves its input untouched."""
        import copy

        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        from loomllm._guardrails.analyzer import FastContextEnhancer

        def state(results: list[Any]) -> list[Any]:
            return [(r.entity_type, r.start, r.end, r.score, dict(r.recognition_metadata or {}),
                     dict(vars(r.analysis_explanation)) if r.analysis_explanation else None) for r in results]

        light = FastContextEnhancer.enhance_using_context
        compared = {"calls": 0, "raised": 0}

        def both(self: Any, text: str, raw: list[Any], artifacts: Any, recognizers: list[Any],
                 context: Any = None) -> list[Any]:
            before = state(raw)
            stock = LemmaContextAwareEnhancer.enhance_using_context(self, text, copy.deepcopy(raw), artifacts,
                                                                     recognizers, context)
            ours = light(self, text, raw, artifacts, recognizers, context)
            assert state(ours) == state(stock) and state(raw) == before, text
            compared["calls"] += 1
            compared["raised"] += sum(o.score != r.score for o, r in zip(ours, raw, strict=True))
            return ours

        monkeypatch.setattr(FastContextEnhancer, "enhance_using_context", both)
        scanner = fresh_scanner()
        for text in [row["text"] for name in ("pii", "mixed", "families") for row in _corpus(name)]:
            scanner.scan(text)
        assert compared["calls"] > 100 and compared["raised"] > 20, compared  # context words did raise scores

    def test_region_cache_holds_no_text(self) -> None:
        """Region keys are digests; the remembered results hold offsets, scores and labels, not the values."""
        scanner = fresh_scanner()
        text = f"Call Maria Gonzalez on +1 415-555-0143 or mail {EMAIL}; card 4111 1111 1111 1111, NI AB123456C."
        assert scanner.scan(text, cache=False)
        kept = scanner.regions._found
        assert kept
        for key, results in kept.items():
            assert isinstance(key, bytes) and 16 == len(key)
            dumped = repr([(vars(r), vars(r.analysis_explanation) if r.analysis_explanation else None)
                           for r in results])
            for value in (EMAIL, "Maria", "Gonzalez", "415-555-0143", "4111", "AB123456C"):
                assert value not in dumped

    def test_prefilter_skips_texts_without_triggers(self) -> None:
        """Plain prose never reaches the analyzer."""
        scanner = fresh_scanner()
        assert () == scanner.scan("Hello there, how are you today")
        assert 0 == scanner.stats.analyzer_calls and 1 == scanner.stats.prefilter_skips


def test_no_socket_is_opened_during_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the analyzer and scanning emails (tldextract) never touches the network."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access during a guardrail scan")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    scanner = fresh_scanner(cache_size=0)
    types = {d.entity_type for d in scanner.scan(f"mail {EMAIL}, or bob@example.co.uk, or ops@startup.io")}
    assert "EMAIL_ADDRESS" in types


class TestAnalyzerFailure:
    def broken_guard(self, mode: str, monkeypatch: pytest.MonkeyPatch) -> Guard:
        """A guard whose Presidio analyzer raises (fault injected on the real engine)."""
        config = GuardrailsConfig(on_analyzer_error=mode, cache_size=0)  # type: ignore[arg-type]
        guard = Guard.from_config(config, "standard")

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"analyzer broke on {GITHUB_TOKEN}")

        monkeypatch.setattr(guard.scanner.analyzer, "analyze", explode)
        return guard

    def test_fails_closed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """fail_closed blocks the message, without echoing the exception text."""
        guard = self.broken_guard("fail_closed", monkeypatch)
        with pytest.raises(GuardrailViolation) as info:
            guard.protect_input_sync([{"role": "user", "content": f"x {EMAIL}"}], guard.new_vault(), agent="a")
        assert "GUARDRAIL_ANALYZER_ERROR" == info.value.findings[0].entity_type
        assert GITHUB_TOKEN not in str(info.value) and info.value.__cause__ is None

    def test_fails_open(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """fail_open lets the message through unchanged."""
        guard = self.broken_guard("fail_open", monkeypatch)
        messages = [{"role": "user", "content": f"x {EMAIL}"}]
        assert messages == guard.protect_input_sync(messages, guard.new_vault(), agent="a")


def test_missing_spacy_model_falls_back_to_patterns() -> None:
    """A configured but uninstalled spaCy model logs a warning; pattern recognizers keep working."""
    from structlog.testing import capture_logs

    scanner = fresh_scanner(spacy_model="en_core_web_sm", cache_size=0)
    with capture_logs() as logs:
        types = {d.entity_type for d in scanner.scan(f"token {GITHUB_TOKEN} mail {EMAIL}")}
    assert {"SECRET_GITHUB_TOKEN", "EMAIL_ADDRESS"} <= types
    assert any(e["event"] == "guardrail.spacy_model_missing" for e in logs)


def test_import_is_lazy() -> None:
    """Importing the guardrails package loads neither Presidio, spaCy nor litellm."""
    import subprocess
    import sys

    code = (
        "import sys, loomllm._guardrails; "
        "print([m for m in ('presidio_analyzer', 'spacy', 'litellm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip()


def test_re_fallback_finds_what_hyperscan_finds() -> None:
    """Without Hyperscan (no wheel for the platform) the ``re`` prefilter plans the same findings."""
    fast, slow = fresh_scanner(cache_size=0), fresh_scanner(cache_size=0)
    assert fast.analyzer.prefilter.uses_hyperscan
    slow.analyzer.prefilter._hyperscan = None
    texts = [
        f"GITHUB_TOKEN={GITHUB_TOKEN} and aws_access_key_id = {AWS_KEY}",
        f"mail {EMAIL} or call +1 415-555-0132; card 4111 1111 1111 1111",
        "MAC 00:1A:2B:3C:4D:5E from 203.0.113.45, IBAN DE89 3704 0044 0532 0130 00",
        "Please escalate to Maria Gonzalez; ship to 742 Evergreen Terrace. NI number AB 12 34 56 C",
        "the password for the staging db is Vq7#Lm2x!Rt9pK",
        *(f"pay to {address} today" for address in BITCOIN_ADDRESSES),
    ]
    for text in texts:
        assert fast.scan(text) == slow.scan(text), text


#: Bitcoin addresses from their specifications (BIP-173 and BIP-350 examples; Bech32 has ``0`` and ``l``, which
#: Base58 lacks) and the Bitcoin wiki's P2PKH and P2SH examples.
BITCOIN_ADDRESSES = [
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
]


@pytest.mark.parametrize("address", BITCOIN_ADDRESSES)
def test_bitcoin_addresses_are_found(address: str) -> None:
    """Every valid address is a CRYPTO finding over its whole length, in prose and in JSON."""
    for text in (f"Send the refund to {address} please.", f'{{"wallet": "{address}"}}'):
        start = text.index(address)
        assert ("CRYPTO", start, start + len(address)) in {(f.entity_type, f.start, f.end) for f in scan_text(text)}


class TestPhoneIds:
    """Order numbers near phone context words: skipped before the parse, with the same findings as before."""

    @pytest.mark.parametrize(
        ("text", "phones"),
        [
            ("Support call on Monday lasted 12 minutes. Order 39581892 was placed at 10:00.", 0),
            ("Refund for order 13826204 is approved; call the customer on the mobile app.", 0),
            ("Call the store manager back on +1 415-555-0132, not about order 39581892.", 1),
            ("Order 39581892: please call 020 7946 0958 tomorrow.", 1),
        ],
    )
    def test_phone_findings(self, text: str, phones: int) -> None:
        """Only the real phone numbers are PHONE_NUMBER findings (any score)."""
        from loomllm._guardrails import GuardrailsConfig
        from loomllm._guardrails.guard import scanner_for

        found = scanner_for(GuardrailsConfig(default="standard")).scan(text, cache=False)
        assert phones == sum(1 for d in found if d.entity_type == "PHONE_NUMBER")


class TestAddressesInUrls:
    """An address in a URL's query or path is an address; a URL's userinfo password is not."""

    @pytest.mark.parametrize("text", [
        "callback https://crm.example.com/unsubscribe?email=priya.raman@northwind-logistics.com&list=7",
        "GET /api/v2/users/priya.raman@northwind-logistics.com/profile HTTP/1.1",
        "https://status.example.org/#contact=priya.raman@northwind-logistics.com",
        "see https://crm.example.com/u?email=priya.raman%40northwind-logistics.com",
    ])
    def test_address_in_a_url_is_found(self, text: str) -> None:
        found = [f for f in scan_text(text, profile="standard") if f.entity_type == "EMAIL_ADDRESS"]
        assert found and all(f.action == "redact" for f in found)
        covered = "".join(text[f.start:f.end] for f in found)
        assert "priya.raman" in covered and "northwind-logistics.com" in covered

    def test_userinfo_is_still_no_address(self) -> None:
        assert [] == [f for f in scan_text("psql https://report:Tr0ub4dor@db.example.com/sales", profile="standard")
                      if f.entity_type == "EMAIL_ADDRESS"]
