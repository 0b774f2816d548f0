"""No amount of padding hides PII: an e-mail, phone, card or IBAN after thousands of harmless PII-shaped tokens.

Each PII shape of the prefilter counts its own hits; past ``MAX_PII_HITS`` the entities of that shape run over
the whole text, so a noisy shape (dates, IPs, names) neither pushes out the others nor hides its own entities.
Every padding below saturates its shape (more than ``MAX_PII_HITS`` hits), and is new for each test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._guardrails.guard import scanner_for
from loomllm._guardrails.padding import MAX_PII_HITS, MAX_WHOLE_TEXT_CHARS, SCAN_TOO_LARGE
from loomllm.errors import GuardrailViolation
from loomllm.testing import Reply, WireServer

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Moore"]
PATHS = ["/health", "/api/v1/items", "/login", "/static/app.js", "/metrics"]


def _date(rng: random.Random) -> str:
    return f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


#: Padding family -> one harmless item; the entities whose shape it saturates.
FAMILIES: dict[str, tuple[Callable[[random.Random], str], frozenset[str]]] = {
    "dates": (lambda rng: f"on {_date(rng)}", frozenset({"PHONE_NUMBER", "CREDIT_CARD"})),
    "IP log lines": (
        lambda rng: f"10.{rng.randrange(100)}.{rng.randrange(10)}.{rng.randrange(1, 99)} GET "
        f"{rng.choice(PATHS)} 200\n",
        frozenset({"IP_ADDRESS"}),
    ),
    "table rows": (
        lambda rng: f"| {_date(rng)} | {rng.randrange(10**4):,}.{rng.randrange(100):02d} | {rng.randrange(99)} |\n",
        frozenset({"PHONE_NUMBER", "CREDIT_CARD"}),
    ),
    "names": (lambda rng: f"{rng.choice(FIRST)} {rng.choice(LAST)},", frozenset({"PERSON"})),
    "phone-like ids": (lambda rng: f"order {rng.randrange(10**9, 10**10)}", frozenset({"PHONE_NUMBER"})),
}
#: What comes after the padding: (words before it, the value, the entity, the standard profile's action).
VALUES: dict[str, tuple[str, str, str, str]] = {
    "e-mail": ("write to", "jane.doe@gmail.com", "EMAIL_ADDRESS", "redact"),
    "phone": ("call me on", "+44 20 7946 0958", "PHONE_NUMBER", "redact"),
    "card": ("my card is", "4111 1111 1111 1111", "CREDIT_CARD", "mask"),
    "IBAN": ("pay to IBAN", "GB82 WEST 1234 5698 7654 32", "IBAN_CODE", "mask"),
}


def padding(family: str, rng: random.Random, items: int = MAX_PII_HITS + 300) -> str:
    """``items`` new harmless items of ``family``, more than one shape's cap."""
    make = FAMILIES[family][0]
    return " ".join(make(rng) for _ in range(items))


def padded(family: str, value: str, seed: str) -> tuple[str, int]:
    """The padding, then the value in its sentence; and where the value starts."""
    words, text = VALUES[value][:2]
    head = padding(family, random.Random(seed)) + f" {words} "
    return head + text + " today.", len(head)


@pytest.fixture(scope="module")
def standard() -> Guard:
    """The built-in standard profile."""
    return Guard.from_config(GuardrailsConfig(), "standard")


class TestThePaddingSaturatesItsShape:
    @pytest.mark.parametrize("force_re", [False, True], ids=["hyperscan", "re"])
    @pytest.mark.parametrize("family", sorted(FAMILIES))
    def test_its_entities_run_over_the_whole_text(self, family: str, force_re: bool) -> None:
        """More than MAX_PII_HITS hits of one shape: its entities leave the windows for the whole text."""
        prefilter = scanner_for(GuardrailsConfig()).analyzer.prefilter
        plan = prefilter.plan(padding(family, random.Random(family)), force_re=force_re)
        assert FAMILIES[family][1] <= plan.whole
        assert not plan.whole & set(plan.pii)


class TestAValueAfterThePadding:
    @pytest.mark.parametrize("value", sorted(VALUES))
    @pytest.mark.parametrize("family", sorted(FAMILIES))
    def test_is_found_and_acted_on(self, standard: Guard, family: str, value: str) -> None:
        """The value gets the standard profile's action, and the protected text no longer holds it."""
        text, start = padded(family, value, family + value)
        _, secret, entity, action = VALUES[value]
        decisions = standard.decide(text, "input", message_index=0, agent="t")
        covering = {(d.entity_type, d.action) for d in decisions if d.start <= start and d.end >= start + len(secret)}
        assert (entity, action) in covering
        out = standard.protect_input_sync([{"role": "user", "content": text}], standard.new_vault(), agent="t")
        assert secret not in out[0]["content"]

    @pytest.mark.parametrize("family", sorted(FAMILIES))
    def test_a_secret_after_the_padding_blocks(self, standard: Guard, family: str) -> None:
        """Secret triggers never counted against the cap; they still block after every padding."""
        key = "AKIAZ7QK3MWN5TXB2P6R"
        text = padding(family, random.Random(family + "key")) + f" aws_access_key_id={key}"
        with pytest.raises(GuardrailViolation) as caught:
            standard.protect_input_sync([{"role": "user", "content": text}], standard.new_vault(), agent="t")
        assert "SECRET_AWS_ACCESS_KEY" in {f.entity_type for f in caught.value.findings}
        assert key not in str(caught.value)


SECTION = """
agents:
  gpt: {model: smart, max_tokens: 20}
guardrails:
  default: standard
"""


class TestInsideAMessageTheAgentSends:
    @pytest.mark.parametrize("value", sorted(VALUES))
    @pytest.mark.parametrize("family", ["IP log lines", "names", "phone-like ids"])
    async def test_the_wire_server_receives_no_value(
        self, make_loom: Any, wire_server: WireServer, family: str, value: str
    ) -> None:
        """The provider gets the padding and a placeholder or mask, never the value."""
        wire_server.route(Reply.text("noted"))
        text, _ = padded(family, value, "agent" + family + value)
        assert "noted" == await make_loom(SECTION).agent("gpt").chat(text)
        secret = VALUES[value][1]
        sent = json.dumps(wire_server.requests[-1].body)
        assert secret not in sent and json.dumps(secret)[1:-1] not in sent


class TestTooLargeToScanCompletely:
    @pytest.mark.parametrize("on_analyzer_error", ["fail_closed", "fail_open"])
    def test_a_saturated_text_over_the_limit_is_refused_without_its_value(self, on_analyzer_error: str) -> None:
        """Past MAX_WHOLE_TEXT_CHARS, a text with a saturated shape is refused, even when analyzer errors fail open."""
        guard = Guard.from_config(GuardrailsConfig(on_analyzer_error=on_analyzer_error), "standard")
        items = MAX_WHOLE_TEXT_CHARS // 13 + 1000
        text = padding("dates", random.Random("large"), items) + " write to jane.doe@gmail.com"
        assert len(text) > MAX_WHOLE_TEXT_CHARS
        with pytest.raises(GuardrailViolation) as caught:
            guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="t")
        assert {SCAN_TOO_LARGE} == {f.entity_type for f in caught.value.findings}
        assert "jane.doe" not in str(caught.value)


class TestPhoneWindowsAreNotCapped:
    def test_a_phone_number_after_thousands_of_phone_shaped_serials_is_found(self) -> None:
        """More phone-shaped candidates than the old 2,000-window cap: the number after them is still parsed."""
        from loomllm._guardrails.analyzer import _PHONE_CANDIDATE, WindowedPhoneRecognizer, _merged_windows

        rng = random.Random("serials")
        serial = lambda: f"{rng.randrange(10, 99)}-{rng.randrange(10**4, 10**5)}-{rng.randrange(10, 99)}"  # noqa: E731
        serials = " ".join(f"{serial()} is on the shelf" for _ in range(2200))
        text = serials + " call me on +44 20 7946 0958 today"
        assert len(_merged_windows(_PHONE_CANDIDATE, text, 8, min_digits=7)) > 2000
        recognizer = WindowedPhoneRecognizer()
        found = {text[r.start : r.end] for r in recognizer.analyze(text, ["PHONE_NUMBER"])}
        assert "+44 20 7946 0958" in found
