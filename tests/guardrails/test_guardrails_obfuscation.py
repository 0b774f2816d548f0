"""Obfuscation: zero-width and full-width characters, JSON escapes, base64 / hex / percent encodings.

Findings are made on normalized or decoded views of the text; every span is reported, redacted and restored
on the original text.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from guardrail_values import AWS_KEY, EMAIL, GITHUB_TOKEN

from loomllm._guardrails import Guard
from loomllm._guardrails.normalize import views
from loomllm.errors import GuardrailViolation

#: One documented format per vendor (random values, never issued).
KEYS = {
    "SECRET_GITHUB_TOKEN": GITHUB_TOKEN,
    "SECRET_AWS_ACCESS_KEY": AWS_KEY,
    "SECRET_STRIPE_KEY": "sk_live_51Hq2ZpLk8RtW3vXy9NcB7mQa",
    "SECRET_SLACK_TOKEN": "xoxb-2154873690-4817263950123-Zq8RtW3vXy9NcB7mQaLk2Hd1",
    "SECRET_OPENAI_API_KEY": "sk-proj-Qm8vT2xLr9Kp4Zw7Nc1Bh6Yd3Fs5Jg0Ea2Vu8Ri4Ot7Wl9Xn",
    "SECRET_GCP_API_KEY": "AIzaSyD8Kq2Lm4Xz7Tn1Vb9Wc3Yd6Ep0Hs5Ju2A",
}
ZWSP = "\u200b"


#: Latin letters drawn the same as a Cyrillic (А В Е К М Н О Р С Т Х а е о р с х) or Greek (Ζ Ι Ν) letter.
LOOK_ALIKES = str.maketrans("ABEKMHOPCTXaeopcxZIN", "АВЕКМНОРСТХаеорсхΖΙΝ")


def user(content: Any) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": content}


def every(n: int, value: str, mark: str = ZWSP) -> str:
    """``value`` with ``mark`` inserted after every ``n`` characters."""
    return mark.join(value[i : i + n] for i in range(0, len(value), n))


def full_width(value: str) -> str:
    """ASCII letters and digits as their full-width forms (U+FF01..)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in value)


def tags(value: str) -> str:
    """``value`` spelled in Unicode tag characters (U+E0020..U+E007E): invisible, yet models read them."""
    return "".join(chr(0xE0000 + ord(c)) for c in value)


def blocked_types(guard: Guard, text: str) -> set[str]:
    """Entity types of the block findings for one user message (empty when it passes)."""
    try:
        guard.protect_input_sync([user(text)], guard.new_vault(), agent="t")
    except GuardrailViolation as exc:
        return {f.entity_type for f in exc.findings}
    return set()


TRANSFORMS = {
    "one zero-width space": lambda v: v[:6] + ZWSP + v[6:],
    "zero-width every 4 chars": lambda v: every(4, v),
    "word joiner and soft hyphen": lambda v: v[:5] + "\u2060" + v[5:12] + "\u00ad" + v[12:],
    "full-width": full_width,
    "base64 of the key": lambda v: base64.b64encode(v.encode()).decode(),
    "base64 of a KEY=value line": lambda v: base64.b64encode(f"API_TOKEN={v}\n".encode()).decode(),
    "hex of the key": lambda v: v.encode().hex(),
    "percent-encoded line": lambda v: quote(f"token={v}&x=1", safe=""),
    "Cyrillic and Greek look-alikes": lambda v: v.translate(LOOK_ALIKES),
    "Unicode tag characters (ASCII smuggling)": lambda v: tags(v),
    "a whole line in tag characters": lambda v: tags(f"the deploy key is {v}, keep it"),
    "split over joined string literals": lambda v: f'"{v[:9]}" + "{v[9:]}"',
    "split over adjacent literals on two lines": lambda v: f"(\n    '{v[:11]}'\n    '{v[11:]}'\n)",
    "split three ways (PHP)": lambda v: f"'{v[:5]}' . '{v[5:14]}' . '{v[14:]}'",
    "HTML character references": lambda v: "".join(f"&#{ord(c)};" if i % 2 else f"&#x{ord(c):x};"
                                                    for i, c in enumerate(v)),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("entity", sorted(KEYS))
def test_obfuscated_keys_still_block(guard: Guard, entity: str, transform: str) -> None:
    """Every vendor format survives every obfuscation as a block finding of its own type (or a generic one)."""
    text = f"please deploy with {TRANSFORMS[transform](KEYS[entity])} today"
    found = blocked_types(guard, text)
    assert found, f"{transform} of {entity} passed"
    assert entity in found or found & {"SECRET_GENERIC_CREDENTIAL", "SECRET_HIGH_ENTROPY_STRING"}


@pytest.mark.parametrize("entity", sorted(KEYS))
def test_json_escapes_in_tool_arguments_block(guard: Guard, entity: str) -> None:
    """A key behind ``\\u00XX``, ``\\/`` or ``\\"`` escapes inside tool-call arguments is found."""
    value = KEYS[entity]
    escaped = "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(value))
    arguments = '{"cmd": "curl -H \\"X: ' + escaped + '\\" https:\\/\\/api.example.com"}'
    json.loads(arguments)  # the arguments are valid JSON
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "run", "arguments": arguments}}],
    }
    with pytest.raises(GuardrailViolation):
        guard.protect_input_sync([message], guard.new_vault(), agent="t")


def test_finding_spans_cover_the_original_characters(guard: Guard) -> None:
    """A zero-width-split key is reported with offsets into the original text, zero-width characters included."""
    hidden = every(4, GITHUB_TOKEN)
    text = f"token {hidden} end"
    with pytest.raises(GuardrailViolation) as info:
        guard.protect_input_sync([user(text)], guard.new_vault(), agent="t")
    finding = info.value.findings[0]
    assert hidden == text[finding.start : finding.end]


def test_redaction_acts_on_the_original_text(guard: Guard) -> None:
    """A full-width e-mail address is replaced in place; restore brings back the original characters."""
    address = full_width(EMAIL.replace("@", "＠"))
    text = f"write to {address} today"
    vault = guard.new_vault()
    [protected] = guard.protect_input_sync([user(text)], vault, agent="t")
    assert address not in protected["content"]
    assert protected["content"].startswith("write to <EMAIL_ADDRESS_") and protected["content"].endswith(" today")
    assert text == vault.restore(protected["content"])


def test_tag_characters_are_redacted_in_place(guard: Guard) -> None:
    """An e-mail address smuggled in tag characters is replaced where it hides; the visible text stays."""
    text = "write to " + tags(EMAIL) + " today"
    [protected] = guard.protect_input_sync([user(text)], guard.new_vault(), agent="t")
    assert protected["content"].startswith("write to <EMAIL_ADDRESS_") and protected["content"].endswith(" today")
    assert not any(0xE0000 <= ord(c) <= 0xE007F for c in protected["content"])


def test_joined_literals_are_redacted_with_their_joins(guard: Guard) -> None:
    """An address split over two string literals is replaced whole, the join with it; the code around stays."""
    text = f'to = "{EMAIL[:6]}" + "{EMAIL[6:]}";'
    [protected] = guard.protect_input_sync([user(text)], guard.new_vault(), agent="t")
    assert protected["content"].startswith('to = "<EMAIL_ADDRESS_') and protected["content"].endswith('";')


def test_plain_ascii_needs_no_second_view() -> None:
    """ASCII text without escapes is scanned as it is (no copy, no offset map)."""
    [view] = views("plain ascii text, order 1234")
    assert view.starts is None


@pytest.mark.parametrize(
    "text",
    [
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "aGVsbG8gd29ybGQsIHRoaXMgaXMgYSBwbGFpbiBzZW50ZW5jZS4=",  # "hello world, this is a plain sentence."
        "https://example.com/search?q=caf%C3%A9%20au%20lait&lang=fr",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "\u200bzero\u200bwidth\u200bprose\u200b with nothing secret",
        "ｆｕｌｌ－ｗｉｄｔｈ ｐｒｏｓｅ ｏｒｄｅｒ １２３４",
        'digest = "sha256:" + "9f86d081884c7d659a2feaa0c55ad015" + "a3bf4f1b2b0b822cd15d6c15b0f00a08"',
        "msg = 'Request failed: ' + 'retrying in 5 seconds' + 'the dogs' 'toys'",
    ],
)
def test_decoding_adds_no_false_positives(guard: Guard, text: str) -> None:
    """Hashes, encoded prose, escaped URLs and joined literals of harmless parts stay clean."""
    assert set() == blocked_types(guard, text)


def test_look_alikes_read_as_latin_only_when_glued_to_latin_text() -> None:
    """Russian and Greek prose stays as written; look-alikes touching ASCII letters or digits read as Latin."""
    prose = "Привет, мир! Это АКСЕСС к серверу. Καλημέρα ΟΚ"
    assert [prose] == [view.text for view in views(prose)]
    [view] = views("id АКІА7Q and ghp_хY2")
    assert "id AKIA7Q and ghp_xY2" == view.text


def test_html_references_map_back_to_the_original_characters(guard: Guard) -> None:
    """An e-mail address written as character references is redacted over its references, nothing else."""
    encoded = "".join(f"&#{ord(c)};" for c in EMAIL)
    text = f"<p>write to {encoded} today &amp; tomorrow</p>"
    vault = guard.new_vault()
    [protected] = guard.protect_input_sync([user(text)], vault, agent="t")
    assert protected["content"].startswith("<p>write to <EMAIL_ADDRESS_")
    assert protected["content"].endswith(" today &amp; tomorrow</p>")
    assert text == vault.restore(protected["content"])
