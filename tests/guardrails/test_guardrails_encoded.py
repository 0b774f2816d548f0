"""Encoded secrets: no amount of padding, wrapping, stray characters, binary bytes or nesting hides one.

Every encoded token of a text is decoded (no cap on their number), the decoded texts are scanned as one layer,
and decoded layers are decoded again ``MAX_DECODE_DEPTH`` deep; a layer is never longer than the text it came
from, so the cost stays linear in the text.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from urllib.parse import quote

import pytest
from guardrail_values import AWS_KEY

from loomllm._guardrails import Guard
from loomllm._guardrails.normalize import MAX_DECODE_DEPTH, decoded_views
from loomllm.errors import GuardrailViolation

LINE = f"aws_access_key_id={AWS_KEY}"
WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "quiet", "words", "travel",
    "across", "many", "fields",
]


def b64(data: str | bytes) -> str:
    """Standard base64 of ``data`` (UTF-8 for text)."""
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def blocked_types(guard: Guard, text: str) -> set[str]:
    """Entity types of the block findings for one user message (empty when it passes)."""
    try:
        guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="t")
    except GuardrailViolation as exc:
        return {f.entity_type for f in exc.findings}
    return set()


def padding(kind: str, size: int, rng: random.Random) -> str:
    """About ``size`` characters of harmless ``kind`` tokens, new for each call."""
    phrase: Callable[[], str] = lambda: " ".join(rng.choice(WORDS) for _ in range(6))  # noqa: E731
    make: dict[str, Callable[[], str]] = {
        "base64 prose": lambda: b64(phrase()),
        "base64 with numbers": lambda: b64(f"just some harmless words number {rng.randrange(10**9)}"),
        "hex prose": lambda: phrase().encode().hex(),
        "percent-encoded prose": lambda: "q=" + quote(phrase(), safe=""),
        "dates": lambda: f"on 2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "binary base64 ids": lambda: b64(rng.randbytes(24)),
    }
    out: list[str] = []
    while sum(len(piece) + 1 for piece in out) < size:
        out.append(make[kind]())
    return " ".join(out)


PADDINGS = ["base64 prose", "base64 with numbers", "hex prose", "percent-encoded prose", "dates", "binary base64 ids"]
ENCODINGS: dict[str, Callable[[str], str]] = {
    "base64": b64,
    "hex": lambda v: v.encode().hex(),
    "percent": lambda v: quote(v, safe=""),
}


class TestPadding:
    @pytest.mark.parametrize("encoding", sorted(ENCODINGS))
    @pytest.mark.parametrize("kind", PADDINGS)
    def test_an_encoded_key_after_20_kb_of_padding_blocks(self, guard: Guard, kind: str, encoding: str) -> None:
        """20 KB of harmless tokens (hundreds of decodable ones, or thousands of dates) before the key: blocked."""
        text = padding(kind, 20_000, random.Random(kind + encoding)) + " " + ENCODINGS[encoding](LINE)
        assert "SECRET_AWS_ACCESS_KEY" in blocked_types(guard, text)

    @pytest.mark.parametrize("kind", PADDINGS)
    def test_the_padding_alone_is_clean_of_secrets(self, guard: Guard, kind: str) -> None:
        """The padding itself blocks nothing (decoding it adds no secret findings)."""
        assert set() == blocked_types(guard, padding(kind, 20_000, random.Random(kind)))

    @pytest.mark.parametrize("kind", PADDINGS)
    def test_layers_are_never_longer_than_the_text(self, kind: str) -> None:
        """The bound that keeps a scan linear: each decoded layer is at most as long as what it decodes."""
        text = padding(kind, 20_000, random.Random(kind))
        previous = len(text)
        for layer in decoded_views(text):
            assert len(layer.text) <= previous
            previous = len(layer.text)


class TestInsideTheToken:
    @pytest.mark.parametrize(
        "encoded",
        [
            pytest.param(b64(b"\x00\xff\xfe" * 300 + LINE.encode() + b"\x89PNG" * 200), id="binary around it"),
            pytest.param(b64(("harmless prose " * 600 + LINE).encode()), id="9 KB of text before it"),
            pytest.param(b64(LINE) + "Q", id="a stray base64 character"),
            pytest.param(LINE.encode().hex() + "a", id="an odd hex digit"),
            pytest.param(quote("\udcff", safe="", errors="surrogateescape") + quote(LINE, safe=""), id="bad UTF-8"),
            pytest.param(base64.urlsafe_b64encode(LINE.encode()).decode().rstrip("="), id="url-safe unpadded"),
        ],
    )
    def test_the_key_is_found(self, guard: Guard, encoded: str) -> None:
        """Bytes around the key, or one character too many, do not make the token unreadable."""
        assert "SECRET_AWS_ACCESS_KEY" in blocked_types(guard, f"config: {encoded} end")

    def test_a_token_after_an_equals_sign_is_decoded(self, guard: Guard) -> None:
        """``KEY=<base64>`` (env files, query strings): the value is a token of its own."""
        assert "SECRET_AWS_ACCESS_KEY" in blocked_types(guard, f"SETTINGS={b64(LINE)}")

    @pytest.mark.parametrize("width", [64, 76])
    def test_a_wrapped_blob_is_decoded_as_one(self, guard: Guard, width: int) -> None:
        """``base64`` output wrapped at 76 columns (PEM bodies at 64), the key split across two lines."""
        line_bytes = width * 3 // 4
        blob = b64("x" * (line_bytes - len(LINE) + 10) + LINE + "\nmore=settings\n")  # the key's last 10 bytes wrap
        wrapped = "\n".join(blob[i : i + width] for i in range(0, len(blob), width))
        assert AWS_KEY not in base64.b64decode(wrapped.split("\n")[0]).decode()
        assert "SECRET_AWS_ACCESS_KEY" in blocked_types(guard, "here is the file:\n" + wrapped + "\nthanks")

    def test_the_finding_covers_the_whole_wrapped_blob(self, guard: Guard) -> None:
        """The reported span is the whole encoded blob, every line of it."""
        blob = b64("y" * 60 + LINE)
        wrapped = "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
        text = "file:\n" + wrapped + "\n"
        with pytest.raises(GuardrailViolation) as caught:
            guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="t")
        spans = {(f.start, f.end) for f in caught.value.findings if f.entity_type == "SECRET_AWS_ACCESS_KEY"}
        assert (6, 6 + len(wrapped)) in spans


NESTINGS: dict[str, Callable[[str], str]] = {
    "base64 of base64": lambda v: b64(b64(v)),
    "base64 of base64 of base64": lambda v: b64(b64(b64(v))),
    "hex of base64": lambda v: b64(v).encode().hex(),
    "base64 in a percent-encoded URL": lambda v: "https://example.com/cb?state=" + quote(b64(v), safe=""),
    "percent of percent": lambda v: quote(quote(v, safe=""), safe=""),
    "docker config auth": lambda v: b64('{"auths":{"registry.example.com":{"auth":"' + b64("bot " + v) + '"}}}'),
}


class TestNesting:
    @pytest.mark.parametrize("nesting", sorted(NESTINGS))
    def test_nested_encodings_block(self, guard: Guard, nesting: str) -> None:
        """Up to MAX_DECODE_DEPTH encodings deep, the key is found."""
        assert "SECRET_AWS_ACCESS_KEY" in blocked_types(guard, "x " + NESTINGS[nesting](LINE) + " y")

    def test_the_documented_depth(self) -> None:
        """Three layers are decoded (base64 of base64 of base64); the fourth encoding is left as it is."""
        text = b64(b64(b64(b64(LINE))))
        layers = [layer.text for layer in decoded_views(text)]
        assert MAX_DECODE_DEPTH == len(layers) == 3
        assert LINE not in layers[-1]
        assert b64(LINE) == layers[-1]

    def test_layer_offsets_map_to_the_outer_token(self) -> None:
        """A finding three layers down covers the outermost token in the original text."""
        token = b64(b64(b64(LINE)))
        text = "before " + token + " after"
        *_, deepest = decoded_views(text)
        at = deepest.text.index(AWS_KEY)
        assert (7, 7 + len(token)) == deepest.to_original(at, at + len(AWS_KEY))


@pytest.mark.parametrize(
    "text",
    [
        b64(random.Random(3).randbytes(30_000)),  # an inline image-sized binary blob
        " ".join(b64(random.Random(i).randbytes(16)) for i in range(300)),  # random ids
        "getUserAccountSettingsForTenant handleIncomingWebhookPayload",  # identifiers that are valid base64
        "id=" + "7f3a" * 12 + " sha=" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ],
    ids=["binary blob", "random ids", "identifiers", "hashes"],
)
def test_decoding_everything_adds_no_false_positives(guard: Guard, text: str) -> None:
    """Binary blobs, ids, identifiers and hashes decode to nothing that blocks."""
    assert set() == blocked_types(guard, text)
