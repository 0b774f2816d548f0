"""Streaming output: restoration and blocking across chunk boundaries, minimal hold-back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from guardrail_values import AWS_KEY, CARD, EMAIL, GITHUB_TOKEN

from loomllm._guardrails import Guard, GuardrailsConfig, Vault
from loomllm._litellm import litellm_module
from loomllm.errors import GuardrailViolation


def email_vault(guard: Guard) -> Vault:
    """A vault holding EMAIL as <EMAIL_ADDRESS_1>."""
    vault = guard.new_vault()
    assert "<EMAIL_ADDRESS_1>" == vault.placeholder_for("EMAIL_ADDRESS", EMAIL)
    return vault


def texts(chunks: list[Any]) -> list[str]:
    """The content of each emitted chunk."""
    return [c.choices[0].delta.content or "" for c in chunks]


def run(stream: Any, chunks: list[Any]) -> list[list[str]]:
    """Feed every chunk and flush; the emitted contents per step."""
    steps = [texts(stream.feed(chunk)) for chunk in chunks]
    steps.append(texts(stream.flush()))
    return steps


def test_placeholder_split_across_chunks_is_restored(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """`<EMA` + `IL_ADDRESS_1>` comes out as the address; text before it is not held."""
    stream = guard.stream_filter(email_vault(guard), agent="a")
    steps = run(
        stream,
        [
            make_chunk("Hello <EMA", role="assistant"),
            make_chunk("IL_ADDRESS_1>, bye"),
            make_chunk(None, finish_reason="stop"),
        ],
    )
    assert ["Hello "] == steps[0]
    assert f"Hello {EMAIL}, bye" == "".join("".join(s) for s in steps)


def test_plain_text_is_not_held(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """Text ending in whitespace with nothing to find is emitted at once."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    assert ["The answer is "] == texts(stream.feed(make_chunk("The answer is ")))
    assert ["forty two. "] == texts(stream.feed(make_chunk("forty two. ")))


def test_only_trailing_word_is_held(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """A chunk ending mid-word holds back that word only; flush releases it."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    assert ["It works "] == texts(stream.feed(make_chunk("It works wel")))
    assert ["wel"] == texts(stream.flush())


def test_secret_split_across_chunks_blocks(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """A token arriving in two halves raises before any part of it was emitted."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    emitted = texts(stream.feed(make_chunk(f"use {GITHUB_TOKEN[:14]}")))
    assert ["use "] == emitted
    with pytest.raises(GuardrailViolation) as info:
        stream.feed(make_chunk(f"{GITHUB_TOKEN[14:]} now"))
    finding = info.value.findings[0]
    assert ("SECRET_GITHUB_TOKEN", "output") == (finding.entity_type, finding.direction)
    assert (4, 4 + len(GITHUB_TOKEN)) == (finding.start, finding.end)
    assert GITHUB_TOKEN not in str(info.value)


def test_private_key_over_many_chunks_blocks(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """A PEM block is held from its BEGIN line until it can be judged, then blocked."""
    body = (
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    )
    pieces = [
        "Here it is:\n-----BEGIN RSA PRIV",
        "ATE KEY-----\n",
        body[:70],
        body[70:],
        "-----END RSA PRIVATE KEY-----\n",
    ]
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    emitted: list[str] = []
    with pytest.raises(GuardrailViolation):
        for piece in pieces:
            emitted += texts(stream.feed(make_chunk(piece)))
    assert "BEGIN" not in "".join(emitted) and "MIIE" not in "".join(emitted)


def test_card_number_split_across_chunks_is_masked(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """Digit groups separated by spaces are held until the number is complete."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    steps = run(
        stream,
        [make_chunk("pay with 4111 1111 "), make_chunk("1111 1111 today"), make_chunk(None, finish_reason="stop")],
    )
    assert "pay with **** **** **** 1111 today" == "".join("".join(s) for s in steps)


def test_tool_call_arguments_restored_across_chunks(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """Streamed tool-call arguments are restored (JSON-escaped) even with the placeholder split."""
    stream = guard.stream_filter(email_vault(guard), agent="a")
    chunks = [
        make_chunk(tool=(0, '{"to": "<EMAIL_')),
        make_chunk(tool=(0, 'ADDRESS_1>", "n": 1}')),
        make_chunk(None, finish_reason="tool_calls"),
    ]
    arguments = ""
    for chunk in chunks:
        for out in stream.feed(chunk):
            for call in out.choices[0].delta.tool_calls or []:
                arguments += call.function.arguments or ""
    for out in stream.flush():
        for call in out.choices[0].delta.tool_calls or []:
            arguments += call.function.arguments or ""
    assert {"to": EMAIL, "n": 1} == json.loads(arguments)


def test_finish_chunk_carries_the_held_text(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """The chunk with finish_reason releases everything; flush then has nothing left."""
    stream = guard.stream_filter(email_vault(guard), agent="a")
    stream.feed(make_chunk("mail <EMAIL_ADDRESS_1>"))
    final = stream.feed(make_chunk(None, finish_reason="stop"))
    assert [EMAIL] == texts(final)
    assert [] == stream.flush()


def test_compact_json_is_not_held_whole(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """JSON without spaces streams up to the last delimiter, not up to the end of the object."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    assert ['{"city":"Paris","temp"'] == texts(stream.feed(make_chunk('{"city":"Paris","temp":21')))


def test_empty_chunks_are_dropped_while_holding(guard: Guard, make_chunk: Callable[..., Any]) -> None:
    """A chunk whose whole text is held back is not emitted (no empty deltas)."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    assert [] == stream.feed(make_chunk("ghp_"))


PIECES = [
    "Hello",
    " ",
    "<EMAIL_ADDRESS_1>",
    " call +1 415-555-0132 ",
    "card 4111 1111 1111 1111",
    " and x@outlook.com.",
    "\n",
    "the order 12345 ",
    "IBAN DE89 3704 0044 0532 0130 00 ",
    '{"to":"<EMAIL_ADDRESS_1>","cc":["bob@outlook.com"],"card":"4111111111111111"}',
    f'{{"token":"{GITHUB_TOKEN[:0]}x","n":[1,2,3]}}',
]


@pytest.mark.parametrize("seed", range(40))
def test_stream_matches_whole_response(
    seed: int, guard: Guard, make_chunk: Callable[..., Any], make_response: Callable[..., Any]
) -> None:
    """However the answer is cut into chunks, the streamed text equals the non-streamed result."""
    import random

    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(3, 12)))
    expected = guard.protect_output_sync(make_response(text), email_vault(guard), agent="a").choices[0].message.content
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
    parts = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    stream = guard.stream_filter(email_vault(guard), agent="a")
    steps = [texts(stream.feed(make_chunk(part))) for part in parts] + [texts(stream.flush())]
    assert expected == "".join("".join(step) for step in steps)


def _reasoning_chunk(text: str) -> Any:
    from loomllm._litellm import litellm_module

    types = litellm_module().types.utils
    return types.ModelResponseStream(choices=[types.StreamingChoices(index=0, delta=types.Delta(
        reasoning_content=text))])


def test_reasoning_only_chunks_pass_through(guard: Guard) -> None:
    """Chunks that carry only reasoning text are emitted (held back only like content)."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    out = [c for text in ("thinking about ", "the plan ", "now") for c in stream.feed(_reasoning_chunk(text))]
    out += stream.flush()
    assert "thinking about the plan now" == "".join(c.choices[0].delta.reasoning_content or "" for c in out)


def test_secret_in_reasoning_blocks(guard: Guard) -> None:
    """A credential in streamed reasoning is blocked like one in the answer."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    with pytest.raises(GuardrailViolation):
        for text in ("the token is ", GITHUB_TOKEN[:20], GITHUB_TOKEN[20:], " ok"):
            stream.feed(_reasoning_chunk(text))
        stream.flush()


class TestTextOnlyChunks:
    """The usual chunk (text and nothing else) skips the field-by-field reading: the same chunks come out, the
    same chunks block, whatever else a chunk carries."""

    @staticmethod
    def _chunks() -> list[list[Any]]:
        types = litellm_module().types.utils

        def chunk(delta: dict[str, Any], **choice: Any) -> Any:
            return types.ModelResponseStream(
                choices=[types.StreamingChoices(index=0, delta=types.Delta(**delta), **choice)])

        def extra(content: str, **fields: Any) -> Any:
            made = chunk({"content": content})
            for name, value in fields.items():
                setattr(made.choices[0].delta, name, value)
            return made

        function = types.Function(name="f", arguments="{")
        tool = [types.ChatCompletionDeltaToolCall(index=0, id="call_1", function=function)]
        return [
            [chunk({"role": "assistant", "content": ""}), chunk({"content": "Mail "}), chunk({"content": EMAIL}),
             chunk({"content": " today."}), chunk({}, finish_reason="stop")],
            [chunk({"content": "key "}), chunk({"content": GITHUB_TOKEN[:12]}), chunk({"content": GITHUB_TOKEN[12:]})],
            [chunk({"content": "Card "}), chunk({"content": CARD}), chunk({"content": " ok"}, finish_reason="stop")],
            [chunk({"content": "Calling", "tool_calls": tool}), chunk({"content": " now"})],
            [chunk({"content": "No.", "refusal": f"see {EMAIL}"})],
            [chunk({"content": "Think", "reasoning_content": f"token {GITHUB_TOKEN}"})],
            [extra("Note ", provider_specific_fields={"trace": f"token {GITHUB_TOKEN}"})],
            [extra("Note ", annotations=[{"type": "url_citation", "url": f"https://x.test/?k={AWS_KEY}"}])],
            [extra("Fine ", provider_specific_fields={}, audio=None), chunk({"content": "text."})],
            [chunk({"content": "Tokens "},
                   logprobs={"content": [{"token": GITHUB_TOKEN, "logprob": -0.1, "top_logprobs": []}]})],
        ]

    @staticmethod
    def _outcome(guard: Guard, chunks: list[Any]) -> list[Any]:
        stream = guard.stream_filter(email_vault(guard), agent="a")
        out: list[Any] = []
        try:
            for chunk in chunks:
                out += [c.model_dump(exclude={"id", "created"}) for c in stream.feed(chunk)]
            out += [c.model_dump(exclude={"id", "created"}) for c in stream.flush()]
        except GuardrailViolation as caught:
            out.append(("blocked", [(f.entity_type, f.start, f.end) for f in caught.findings]))
        return out

    def test_the_shortcut_changes_nothing(self, guard: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
        import loomllm._guardrails.stream as stream_module

        quick = [self._outcome(guard, chunks) for chunks in self._chunks()]
        monkeypatch.setattr(stream_module, "_text_only", lambda choice: None)
        assert quick == [self._outcome(guard, chunks) for chunks in self._chunks()]
        blocked = [i for i, outcome in enumerate(quick) if outcome and isinstance(outcome[-1], tuple)]
        assert [1, 5, 6, 7] == blocked  # split token, reasoning, delta extra, annotation
        assert quick[9][0]["choices"][0]["logprobs"] is None  # tokens that do not spell the text are dropped

    def test_a_chunk_with_anything_besides_text_is_read_field_by_field(self) -> None:
        from loomllm._guardrails.stream import _text_only

        taken = [_text_only(chunks[0].choices[0]) is not None for chunks in self._chunks()]
        assert [True, True, True, False, False, False, False, False, True, False] == taken


@pytest.mark.parametrize("pieces", [["call 415 - ", "555 - 0132 now"], ["call 415 ", "- 555 - 0132 now"],
                                    ["call 415 - 555 -", " 0132 now"], ["call 415  ", "555  0132 now"],
                                    ["call 415 \u2013 ", "555 \u2013 0132 now"], ["call 415 .", ". 555 .. 0132 now"]])
def test_phone_number_with_spaced_hyphens_split_across_chunks(
    make_chunk: Callable[..., Any], pieces: list[str]
) -> None:
    """Groups joined by " - " (or two spaces, a Unicode dash, dots) are held like digit groups joined by spaces: no
    group leaves before the number is complete (phonenumbers reads "415 - 555 - 0132" as one number)."""
    config = GuardrailsConfig.model_validate(
        {"profiles": {"phones": {"output": {"PHONE_NUMBER": "redact", "default": "allow"}}}})
    guard = Guard.from_config(config, "phones")
    whole = "".join("".join(s) for s in run(guard.stream_filter(guard.new_vault(), agent="a"),
                                             [make_chunk("".join(pieces)), make_chunk(None, finish_reason="stop")]))
    assert "415" not in whole and whole.endswith(" now")
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    steps = run(stream, [*map(make_chunk, pieces), make_chunk(None, finish_reason="stop")])
    assert whole == "".join("".join(s) for s in steps)
