"""Red team of this session's guardrail changes: answer envelopes, logprobs, look-alike letters, HTML references.

Each test names what an attacker (or an odd provider) sends and what must come of it. Tests that pass document
what held; a hole still open is an ``xfail(strict=True)`` whose reason starts with ``hole:``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "guardrails"))

from guardrail_values import (  # type: ignore[import-not-found]
    AWS_KEY,
    CARD,
    EMAIL,
    GITHUB_TOKEN,
    STANDARD_GUARDRAILS,
)

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._litellm import litellm_module
from loomllm.errors import GuardrailViolation

TYPES = litellm_module().types.utils
MASKED_CARD = "**** **** **** 1111"


@pytest.fixture(scope="module")
def guard() -> Guard:
    """The ``standard`` profile of tests/guardrails/conftest.py (module-scoped: one guard for the whole file)."""
    config = GuardrailsConfig.model_validate(STANDARD_GUARDRAILS)
    return Guard.from_config(config, "standard")


def answer(choice: dict[str, Any] | None = None, **fields: Any) -> Any:
    """A ``ModelResponse`` whose message says "Done." with ``choice``'s own fields and the answer's ``fields``."""
    return litellm_module().ModelResponse(
        choices=[{"index": 0, "finish_reason": "stop", **(choice or {}),
                  "message": {"role": "assistant", "content": "Done."}}],
        **fields,
    )


def chunk(content: str | None, choice: dict[str, Any] | None = None, **fields: Any) -> Any:
    """A stream chunk whose delta carries ``content``, with ``choice``'s own fields and the chunk's ``fields``."""
    return TYPES.ModelResponseStream(
        choices=[TYPES.StreamingChoices(index=0, delta=TYPES.Delta(content=content), **(choice or {}))], **fields
    )


def guarded(guard: Guard, response: Any) -> str:
    """What the caller receives of ``response`` after the output guardrail, as JSON."""
    return str(guard.protect_output_sync(response, guard.new_vault(), agent="a").model_dump_json())


def streamed(guard: Guard, chunks: list[Any]) -> str:
    """Everything the caller receives of a stream of ``chunks``, as JSON."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    out = [emitted for c in chunks for emitted in stream.feed(c)] + stream.flush()
    return " ".join(c.model_dump_json() for c in out)


def nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def protected_input(guard: Guard, text: str) -> str:
    [message] = guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="a")
    return str(message["content"])


def html_refs(text: str, template: str = "&#{};") -> str:
    return "".join(template.format(ord(ch)) for ch in text)


# --- 1. the answer's own fields --------------------------------------------------------------------------------


class TestEnvelopeHeld:
    def test_a_key_in_a_tuple_of_citations_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(citations=(f"key={AWS_KEY}",)))

    def test_a_key_in_a_choices_unknown_field_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(choice={"debug": {"trace": [f"key={AWS_KEY}"]}}))

    def test_a_key_in_a_streamed_choices_own_field_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            streamed(guard, [chunk("a ", choice={"provider_specific_fields": {"n": [f"key={AWS_KEY}"]}})])

    def test_a_value_that_changes_after_a_repeat_is_scanned(self, guard: Guard) -> None:
        """The repeat skip looks at the value just before: a clean value twice, then a key, still blocks."""
        chunks = [chunk(f"{w} ", notes="see https://example.com/status") for w in ("one", "two")]
        with pytest.raises(GuardrailViolation):
            streamed(guard, [*chunks, chunk("three ", notes=f"key={AWS_KEY}")])

    def test_odd_shapes_do_not_crash(self, guard: Guard) -> None:
        """None, numbers, booleans, 1000-deep lists, a dict that holds itself: no exception but a violation."""
        cyclic: dict[str, Any] = {"a": "x"}
        cyclic["self"] = cyclic
        response = answer(notes=None, n=5, f=1.5, b=True, deep=nested("x", 1000), cyclic=cyclic)
        response.choices.append(None)
        assert guard.protect_output_sync(response, guard.new_vault(), agent="a") is response
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        stream.feed(chunk("a ", notes=None, n=5, deep=nested("x", 1000), cyclic=cyclic))
        stream.flush()


class TestEnvelopeFixed:
    """The repeat skip of a stream's envelope remembered the raw value: a value the guard rewrote (a masked card)
    went out unmasked in every later chunk that repeated it. Fixed: only a value that went out unchanged is
    skipped when it repeats."""

    def test_a_masked_card_repeated_in_the_next_chunk_is_masked_again(self, guard: Guard) -> None:
        out = streamed(guard, [chunk(f"{w} ", notes=f"pay {CARD} now") for w in ("a", "b", "c")])
        assert CARD not in out
        assert 3 == out.count(MASKED_CARD)

    def test_a_masked_card_repeated_in_a_choices_own_field_is_masked_again(self, guard: Guard) -> None:
        chunks = [chunk(f"{w} ", choice={"provider_specific_fields": {"n": f"pay {CARD} now"}}) for w in ("a", "b")]
        out = streamed(guard, chunks)  # each chunk its own dict: the provider's decoder makes a new one per chunk
        assert CARD not in out

    def test_logprobs_of_a_chunk_without_a_delta_go(self, guard: Guard) -> None:
        """A last chunk with ``delta=None`` and logprobs that spell a key: no text was scanned for them."""
        last = chunk("x", choice={"finish_reason": "stop",
                                  "logprobs": {"content": [{"token": AWS_KEY, "logprob": -1.0, "top_logprobs": []}]}})
        last.choices[0].delta = None
        assert AWS_KEY not in streamed(guard, [chunk("Hi "), last])


class TestEnvelopeShapes:
    """Shapes the walk reads whole (too deep, bytes, dict keys, sets): any finding there blocks."""

    def test_a_key_nested_17_deep_in_citations_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(citations=nested(f"key={AWS_KEY}", 17)))

    def test_a_key_nested_20_deep_in_a_chunk_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            streamed(guard, [chunk("a ", notes=nested(f"key={AWS_KEY}", 20))])

    def test_a_key_as_bytes_in_an_extra_field_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(notes=f"key={AWS_KEY}".encode()))

    def test_a_key_as_a_dict_key_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(notes={f"key={AWS_KEY}": 1}))

    def test_a_key_in_a_set_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, answer(notes={f"key={AWS_KEY}"}))


# --- 2. logprobs -----------------------------------------------------------------------------------------------


def with_logprobs(logprobs: Any) -> Any:
    """An answer whose choice carries ``logprobs`` as given (set after construction: no validation)."""
    response = answer()
    response.choices[0].logprobs = logprobs
    return response


class TestLogprobsHeld:
    @pytest.mark.parametrize("as_object", [False, True], ids=["dict", "object"])
    def test_a_key_in_the_tokens_blocks(self, guard: Guard, as_object: bool) -> None:
        items = [{"token": t, "logprob": -0.1, "top_logprobs": []} for t in (AWS_KEY[:10], AWS_KEY[10:])]
        logprobs: Any = {"content": items}
        if as_object:
            logprobs = TYPES.ChoiceLogprobs(**logprobs)
        with pytest.raises(GuardrailViolation):
            guarded(guard, with_logprobs(logprobs))

    def test_a_key_in_a_rank_that_is_shorter_blocks(self, guard: Guard) -> None:
        """Rank 1 exists at two of three positions only: its tokens still join into the key."""
        items = [
            {"token": "a", "top_logprobs": [{"token": "b"}, {"token": AWS_KEY[:10]}]},
            {"token": "c", "top_logprobs": [{"token": "d"}]},
            {"token": "e", "top_logprobs": [{"token": "f"}, {"token": AWS_KEY[10:]}]},
        ]
        with pytest.raises(GuardrailViolation):
            guarded(guard, with_logprobs({"content": items}))

    @pytest.mark.parametrize("logprobs", [5, "text", {"content": None}, {"content": [None, 3, {"token": None}]}])
    def test_odd_logprobs_do_not_crash(self, guard: Guard, logprobs: Any) -> None:
        guarded(guard, with_logprobs(logprobs))

    def test_a_card_in_the_tokens_drops_them(self, guard: Guard) -> None:
        items = [{"token": f"pay {CARD}", "logprob": -0.1, "top_logprobs": []}]
        assert CARD not in guarded(guard, with_logprobs({"content": items}))


class TestLogprobsFixed:
    """A rank whose token is not a string (None, a number) left a gap: the next rank's index was past the end of
    the list of ranks and ``_logprob_text`` raised IndexError. Fixed: ranks are padded."""

    @pytest.mark.parametrize("first", [{"token": None}, 5], ids=["none-token", "int"])
    def test_a_rank_after_a_gap_is_read(self, guard: Guard, first: Any) -> None:
        items = [{"token": "x", "top_logprobs": [first, {"token": AWS_KEY}]}]
        with pytest.raises(GuardrailViolation):
            guarded(guard, with_logprobs({"content": items}))


class TestLogprobsExtras:
    """What logprobs carry besides their tokens' text is read too: a block finding there blocks."""

    def test_a_key_in_an_extra_field_of_logprobs_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation):
            guarded(guard, with_logprobs({"content": [], "note": f"key={AWS_KEY}"}))

    def test_token_bytes_that_spell_a_key_block(self, guard: Guard) -> None:
        items = [{"token": "x", "bytes": list(AWS_KEY.encode()), "logprob": -1.0, "top_logprobs": []}]
        with pytest.raises(GuardrailViolation):
            guard.protect_output_sync(answer(choice={"logprobs": {"content": items}}), guard.new_vault(), agent="a")

    def test_streamed_token_bytes_that_spell_something_else_go(self, guard: Guard) -> None:
        items = [{"token": "hi ", "bytes": list(b"AKIA"), "logprob": -1.0, "top_logprobs": []}]
        out = streamed(guard, [chunk("hi ", choice={"logprobs": {"content": items}})])
        assert "[65, 75, 73, 65]" not in out.replace(" ", "").replace(",", ", ")
        assert '"logprobs":null' in out.replace(" ", "")

    def test_a_streamed_logprob_items_extra_field_blocks(self, guard: Guard) -> None:
        items = [{"token": "hi ", "logprob": -1.0, "top_logprobs": [], "note": f"key={AWS_KEY}"}]
        with pytest.raises(GuardrailViolation):
            streamed(guard, [chunk("hi ", choice={"logprobs": {"content": items}})])

    def test_a_streamed_logprobs_extra_field_blocks(self, guard: Guard) -> None:
        logprobs = {"content": [{"token": "hi ", "logprob": -1.0, "top_logprobs": []}], "note": f"key={AWS_KEY}"}
        with pytest.raises(GuardrailViolation):
            streamed(guard, [chunk("hi ", choice={"logprobs": logprobs})])


# --- 3. look-alike letters and HTML references ----------------------------------------------------------------


class TestViewsHeld:
    @pytest.mark.parametrize("text", [
        "А" + AWS_KEY[1:],  # Cyrillic А
        AWS_KEY.replace("AKIA", "АКІА"),  # the whole prefix Cyrillic, glued to the ASCII rest
        GITHUB_TOKEN.replace("Ep", "Ер"),
        "key " + html_refs("АКІА" + AWS_KEY[4:]),  # Cyrillic inside HTML references
        "key " + html_refs(AWS_KEY, "&#x{:x};"),
    ], ids=["cyrillic-A", "cyrillic-prefix", "cyrillic-inside", "html-cyrillic", "html-hex"])
    def test_a_disguised_key_blocks(self, guard: Guard, text: str) -> None:
        with pytest.raises(GuardrailViolation):
            protected_input(guard, text)

    @pytest.mark.parametrize(("text", "expected"), [
        ("mail jane&#46;doe&#64;gmail.com now ok", "mail <EMAIL_ADDRESS_1> now ok"),
        ("mail jane.doe&#x40;gmail.com now ok", "mail <EMAIL_ADDRESS_1> now ok"),
        ("write to jаne.dое@gmail.com please", "write to <EMAIL_ADDRESS_1> please"),
        ("карта " + CARD + " ок", "карта " + MASKED_CARD + " ок"),
    ], ids=["html-decimal", "html-hex", "cyrillic", "russian-context"])
    def test_redaction_lands_on_the_original_span(self, guard: Guard, text: str, expected: str) -> None:
        assert expected == protected_input(guard, text)

    @pytest.mark.parametrize("text", [
        "Привет, как дела? Ответ: КАРТА МЕСЯЦА — это АКЦИЯ. Позвоните в офис.",
        "Γεια σου κόσμε, ΑΒΓΔ ΕΖΗΘ ΙΚΛΜ ΝΞΟΠ — ο ΟΤΕ και η ΕΡΤ.",
        "Привіт, як справи? Їжак і ґанок, АЕС та ЄС.",
        "Купите iPhone 15 Рro и Galaxy S24 Ultrа за 100 000 ₽; MacBook Аir M2, Сhromebook",
        "Модель ТХ500 и СМ-2000В, артикул ВАЗ2107, серия АВ1234567, КАМАЗ-5490",
        "&#1055;&#1088;&#1080;&#1074;&#1077;&#1090; &#8212; &#169; 2024 &#8364;100 &#x263A; &#160;&#160;" * 20,
        "Item &#1 and &#2, ticket &#12345 &#0; &#99999999; &#55357;&#56832;",
    ], ids=["russian", "greek", "ukrainian", "mixed-products", "model-codes", "html-page", "odd-refs"])
    def test_prose_and_pages_have_no_findings(self, guard: Guard, text: str) -> None:
        for direction in ("input", "output"):
            assert [] == guard.decide(text, direction, message_index=None, agent="a", cache=False)

    @pytest.mark.parametrize("text", [
        "&#65;" * 100_000,
        "x" + "а" * 100_000,
        "xа" * 50_000,
        "&#" * 50_000,
        "&#" + "0" * 100_000,
    ], ids=["100k-refs", "100k-lookalikes", "alternating", "bare-ampersand-hash", "long-zeros"])
    def test_large_texts_stay_cheap(self, guard: Guard, text: str) -> None:
        started = time.perf_counter()
        guard.decide(text, "input", message_index=None, agent="a", cache=False)
        assert time.perf_counter() - started < 2.0


class TestViewsFixed:
    """Fixed in normalize.py: a run mixing a character NFKC makes ASCII (fullwidth ``Ｅ``) with a Cyrillic twin was
    not read as Latin; HTML references with leading zeros past seven digits, or without their ``;`` (browsers
    decode both), were not decoded."""

    @pytest.mark.parametrize("text", [
        GITHUB_TOKEN.replace("Ep", "\uff25р"),
        html_refs(AWS_KEY, "&#{}"),
        html_refs(AWS_KEY, "&#00000000{};"),
        html_refs(AWS_KEY, "&#x00000000{:x};"),
    ], ids=["fullwidth-and-cyrillic", "no-semicolon", "leading-zeros", "hex-leading-zeros"])
    def test_a_disguised_key_blocks(self, guard: Guard, text: str) -> None:
        with pytest.raises(GuardrailViolation):
            protected_input(guard, text)

    def test_an_email_in_references_without_semicolons_is_redacted(self, guard: Guard) -> None:
        assert "mail <EMAIL_ADDRESS_1> ok" == protected_input(guard, f"mail {html_refs(EMAIL, '&#{}')} ok")


class TestViewsHoles:
    @pytest.mark.xfail(strict=True, reason="hole: HTML references and JSON \\u escapes mixed in one key: each view "
                                           "decodes one kind only")
    def test_a_key_half_html_half_json_escapes_blocks(self, guard: Guard) -> None:
        mixed = html_refs(AWS_KEY[:10]) + "".join(f"\\u{ord(c):04x}" for c in AWS_KEY[10:])
        with pytest.raises(GuardrailViolation):
            protected_input(guard, '{"k": "' + mixed + '"}')

    @pytest.mark.xfail(strict=True, reason="hole: a card spelled in HTML references is masked digit by digit in the "
                                           "raw markup (`&#**;...&#49;&#49;`), not as the card the reader sees")
    def test_a_card_in_html_references_is_masked_as_the_reader_sees_it(self, guard: Guard) -> None:
        assert f"card {MASKED_CARD} end" == protected_input(guard, f"card {html_refs(CARD)} end")

    def test_an_email_with_a_named_reference_is_redacted(self, guard: Guard) -> None:
        assert "mail <EMAIL_ADDRESS_1> now" == protected_input(guard, "mail jane.doe&commat;gmail.com now")
