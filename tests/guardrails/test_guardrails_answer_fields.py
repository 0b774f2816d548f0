"""Every string the caller receives from an answer is scanned: not only content and tool arguments.

Tool-call ids and names, custom tool input, ``refusal``, thinking blocks, legacy ``function_call``, annotations,
``provider_specific_fields``, audio transcripts, whole or streamed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from guardrail_values import AWS_KEY, CARD

from loomllm._answers import answer_strings
from loomllm._guardrails import Guard
from loomllm._litellm import litellm_module
from loomllm.errors import GuardrailViolation

TYPES = litellm_module().types.utils
MASKED_CARD = "**** **** **** 1111"


def response(message: dict[str, Any], **choice: Any) -> Any:
    """A ``ModelResponse`` with one choice holding ``message``."""
    return litellm_module().ModelResponse(
        choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}, **choice}]
    )


def tool_call(**call: Any) -> dict[str, Any]:
    """A function tool call with harmless defaults, overridden by ``call``."""
    function = {"name": "lookup", "arguments": "{}", **call.pop("function", {})}
    return {"id": "call_1", "type": "function", "function": function, **call}


MESSAGES: dict[str, Callable[[str], dict[str, Any]]] = {
    "tool call id": lambda v: {"tool_calls": [tool_call(id=v)]},
    "tool call name": lambda v: {"tool_calls": [tool_call(function={"name": v})]},
    "custom tool input": lambda v: {
        "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "shell", "input": f"echo {v}"}}]
    },
    "custom tool name": lambda v: {"tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": v, "input": "x"}}]},
    "legacy function_call name": lambda v: {"function_call": {"name": v, "arguments": "{}"}},
    "refusal": lambda v: {"refusal": f"I cannot share {v}"},
    "thinking block": lambda v: {"thinking_blocks": [{"type": "thinking", "thinking": f"the key is {v}"}]},
    "annotation": lambda v: {
        "annotations": [{"type": "url_citation", "url_citation": {"url": "https://a.example", "title": v}}]
    },
    "provider field": lambda v: {"provider_specific_fields": {"citations": [f"see {v}"]}},
    "audio transcript": lambda v: {
        "audio": {"id": "a1", "data": "UklGRg==", "expires_at": 1, "transcript": f"the key is {v}"}
    },
}


class TestWholeAnswers:
    @pytest.mark.parametrize("where", sorted(MESSAGES))
    def test_a_key_anywhere_blocks(self, guard: Guard, where: str) -> None:
        """A secret in any field of the message raises instead of reaching the caller."""
        with pytest.raises(GuardrailViolation) as caught:
            guard.protect_output_sync(response(MESSAGES[where](AWS_KEY)), guard.new_vault(), agent="a")
        assert AWS_KEY not in str(caught.value)

    @pytest.mark.parametrize("where", sorted(MESSAGES))
    def test_a_card_anywhere_is_masked(self, guard: Guard, where: str) -> None:
        """A masked entity is masked in whatever field it appears."""
        answer = guard.protect_output_sync(response(MESSAGES[where](CARD)), guard.new_vault(), agent="a")
        delivered = answer.choices[0].message.model_dump_json()
        assert CARD not in delivered
        assert MASKED_CARD in delivered

    def test_clean_fields_are_left_alone(self, guard: Guard) -> None:
        """Ids, names and refusals without findings come through unchanged."""
        message = {"tool_calls": [tool_call(id="call_Xy12")], "refusal": "no"}
        answer = guard.protect_output_sync(response(message), guard.new_vault(), agent="a")
        out = answer.choices[0].message
        assert ("call_Xy12", "lookup", "no") == (out.tool_calls[0].id, out.tool_calls[0].function.name, out.refusal)

    def test_logprobs_go_when_the_guard_rewrites_the_choice(self, guard: Guard) -> None:
        """Token logprobs spell out the original text: a choice the guard masked loses them."""
        logprobs = {"content": [{"token": t, "logprob": -0.1, "top_logprobs": []} for t in CARD.split(" ")]}
        answer = guard.protect_output_sync(
            response({"content": f"card {CARD}"}, logprobs=logprobs), guard.new_vault(), agent="a"
        )
        assert answer.choices[0].logprobs is None

    @pytest.mark.parametrize("value", [AWS_KEY, CARD], ids=["blocked_entity", "masked_entity"])
    def test_a_finding_in_a_tuple_blocks(self, guard: Guard, value: str) -> None:
        """A tuple's member cannot be masked in place: the answer is blocked rather than delivered unscanned."""
        message = {"content": "hi", "provider_specific_fields": {"citations": (f"see {value}",)}}
        with pytest.raises(GuardrailViolation) as caught:
            guard.protect_output_sync(response(message), guard.new_vault(), agent="a")
        assert value not in str(caught.value)

    def test_a_clean_tuple_comes_through(self, guard: Guard) -> None:
        """Without a finding, a tuple's strings are delivered as they are."""
        message = {"content": "hi", "provider_specific_fields": {"citations": ("see page 2",)}}
        answer = guard.protect_output_sync(response(message), guard.new_vault(), agent="a")
        assert ("see page 2",) == answer.choices[0].message.provider_specific_fields["citations"]

    def test_media_bytes_and_fixed_words_are_not_scanned(self) -> None:
        """Base64 audio, ``data:`` image URLs, roles and types are not text the model wrote."""
        message = response(
            {
                "content": "hi",
                "audio": {"id": "a1", "data": "UklGRg==", "expires_at": 1, "transcript": "hello"},
                "images": [{"index": 0, "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR="}}],
            }
        ).choices[0].message
        paths = {path for path, *_ in answer_strings(message)}
        assert {("content",), ("audio", "transcript"), ("audio", "id")} <= paths
        assert not {("role",), ("audio", "data")} & paths
        assert not any("images" in path for path in paths)


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Any:
    """A stream chunk of one choice."""
    return TYPES.ModelResponseStream(
        choices=[TYPES.StreamingChoices(index=0, delta=TYPES.Delta(**delta), finish_reason=finish_reason)]
    )


def delivered(guard: Guard, chunks: list[Any]) -> str:
    """Everything the caller receives from ``chunks`` through a stream filter, as JSON text."""
    stream = guard.stream_filter(guard.new_vault(), agent="a")
    out = [emitted for c in chunks for emitted in stream.feed(c)] + stream.flush()
    return " ".join(c.model_dump_json() for c in out)


def split(value: str) -> tuple[str, str]:
    """``value`` cut in two halves."""
    return value[: len(value) // 2], value[len(value) // 2 :]


DELTAS: dict[str, Callable[[str], dict[str, Any]]] = {
    "refusal": lambda piece: {"refusal": piece},
    "thinking block": lambda piece: {"thinking_blocks": [{"type": "thinking", "thinking": piece}]},
    "legacy function_call arguments": lambda piece: {"function_call": {"arguments": piece}},
    "custom tool input": lambda piece: {
        "tool_calls": [{"index": 0, "type": "custom", "custom": {"input": piece}}]
    },
}


class TestStreams:
    @pytest.mark.parametrize("field", ["id", "name"])
    def test_a_key_as_a_tool_call_id_or_name_blocks(self, guard: Guard, field: str) -> None:
        """The first chunk of a tool call carries its id and name whole: a key there raises."""
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
        if field == "id":
            call["id"] = AWS_KEY
        else:
            call["function"]["name"] = AWS_KEY
        with pytest.raises(GuardrailViolation):
            delivered(guard, [chunk({"role": "assistant", "tool_calls": [call]})])

    def test_a_masked_entity_in_a_streamed_tuple_blocks(self, guard: Guard) -> None:
        """A delta's tuple member cannot be masked in place: the stream is blocked, the card never sent."""
        with pytest.raises(GuardrailViolation) as caught:
            delivered(guard, [chunk({"content": "hi", "provider_specific_fields": {"citations": (f"see {CARD}",)}})])
        assert CARD not in str(caught.value)

    def test_a_tool_call_name_split_in_two_chunks_blocks(self, guard: Guard) -> None:
        """A whole-value field split across chunks is scanned with its previous piece."""
        head, tail = split(AWS_KEY)
        chunks = [
            chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": f"x {head}", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": tail, "arguments": "{}"}}]}),
        ]
        with pytest.raises(GuardrailViolation):
            delivered(guard, chunks)

    @pytest.mark.parametrize("field", sorted(DELTAS))
    def test_a_key_split_across_chunks_blocks_before_any_half_is_sent(self, guard: Guard, field: str) -> None:
        """Streamed fields hold back their last word: neither half of the key is emitted before the block."""
        head, tail = split(AWS_KEY)
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        emitted = [c.model_dump_json() for c in stream.feed(chunk(DELTAS[field](f"the key {head}")))]
        assert not any(head in text for text in emitted)
        with pytest.raises(GuardrailViolation):
            stream.feed(chunk(DELTAS[field](tail + " ok")))

    @pytest.mark.parametrize("field", sorted(DELTAS))
    def test_a_streamed_card_is_masked_and_the_held_text_arrives(self, guard: Guard, field: str) -> None:
        """A card split across chunks is masked; what was held comes at the end of the stream."""
        head, tail = split(CARD)
        text = delivered(guard, [chunk(DELTAS[field](f"pay {head}")), chunk(DELTAS[field](f"{tail} now"))])
        assert CARD not in text
        assert "now" in text
        assert "****" in text

    def test_a_clean_tool_call_keeps_its_id_and_name_in_its_first_chunk(self, guard: Guard) -> None:
        """Nothing is held back from a clean id and name (consumers start the call from them)."""
        call = {"index": 0, "id": "call_Xy12", "type": "function", "function": {"name": "lookup", "arguments": ""}}
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        [first] = stream.feed(chunk({"role": "assistant", "tool_calls": [call]}))
        out = first.choices[0].delta.tool_calls[0]
        assert ("call_Xy12", "lookup") == (out.id, out.function.name)

    def test_logprobs_go_from_a_chunk_whose_text_is_held_or_rewritten(self, guard: Guard) -> None:
        """A streamed chunk's logprobs spell out its raw text: they go when the guard changed that text."""
        head, tail = split(CARD)
        logprobs = {"content": [{"token": head, "logprob": -0.1, "top_logprobs": []}]}
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        first = TYPES.ModelResponseStream(
            choices=[TYPES.StreamingChoices(index=0, delta=TYPES.Delta(content=f"pay {head}"), logprobs=logprobs)]
        )
        emitted = stream.feed(first) + stream.feed(chunk({"content": f"{tail} now"})) + stream.flush()
        assert all(getattr(c.choices[0], "logprobs", None) is None for c in emitted)
        assert CARD not in " ".join(c.model_dump_json() for c in emitted)


class TestStreamedLogprobs:
    """A streamed chunk's logprobs reach the caller only when their tokens spell the text that went out unchanged;
    alternatives (``top_logprobs``) are never scanned with the text, so a stream drops them."""

    @staticmethod
    def _chunk(content: str, tokens: list[str], alternatives: list[list[str]] | None = None) -> Any:
        items = [{"token": t, "logprob": -0.1,
                  "top_logprobs": [{"token": a, "logprob": -2.0} for a in (alternatives or [[]] * len(tokens))[i]]}
                 for i, t in enumerate(tokens)]
        return TYPES.ModelResponseStream(choices=[TYPES.StreamingChoices(
            index=0, delta=TYPES.Delta(content=content), logprobs={"content": items})])

    @staticmethod
    def _fed(guard: Guard, chunks: list[Any]) -> list[Any]:
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        return [emitted for c in chunks for emitted in stream.feed(c)] + stream.flush()

    def test_tokens_that_spell_the_chunk_stay(self, guard: Guard) -> None:
        """(A chunk that ends in whitespace goes out whole: nothing in it can still become a finding.)"""
        [out] = self._fed(guard, [self._chunk("The launch ships. ", ["The", " launch", " ships", ". "])])
        assert ["The", " launch", " ships", ". "] == [item.token for item in out.choices[0].logprobs.content]

    def test_tokens_that_spell_something_else_go(self, guard: Guard) -> None:
        """A key spelled only in the tokens, across two chunks, never reaches the caller."""
        head, tail = split(AWS_KEY)
        emitted = self._fed(guard, [self._chunk("Here it ", [head]), self._chunk("is. ", [tail])])
        assert all(c.choices[0].logprobs is None for c in emitted)
        assert head not in " ".join(c.model_dump_json() for c in emitted)

    def test_alternatives_go_and_the_chosen_tokens_stay(self, guard: Guard) -> None:
        head, tail = split(AWS_KEY)
        emitted = self._fed(guard, [self._chunk("Hi ", ["Hi "], [[head]]), self._chunk("there ", ["there "], [[tail]])])
        assert [["Hi "], ["there "]] == [[i.token for i in c.choices[0].logprobs.content] for c in emitted]
        assert all(not i.top_logprobs for c in emitted for i in c.choices[0].logprobs.content)
        assert head not in " ".join(c.model_dump_json() for c in emitted)


class TestTheAnswersOwnFields:
    """Strings outside the choices' messages reach the caller too: an answer's extra fields (``citations``,
    ``search_results``, anything a provider adds) and a choice's own (``provider_specific_fields``), whole or
    streamed. The protocol's bookkeeping (``id``, ``model``...) is not model text and is not scanned."""

    @staticmethod
    def _answer(**fields: Any) -> Any:
        choice = fields.pop("choice", {})
        return litellm_module().ModelResponse(choices=[{"index": 0, "finish_reason": "stop", **choice,
                                                         "message": {"role": "assistant", "content": "Done."}}],
                                              **fields)

    @staticmethod
    def _chunk(content: str, **fields: Any) -> Any:
        return TYPES.ModelResponseStream(
            choices=[TYPES.StreamingChoices(index=0, delta=TYPES.Delta(content=content))], **fields
        )

    async def test_a_secret_in_an_extra_field_blocks(self, guard: Guard) -> None:
        with pytest.raises(GuardrailViolation) as caught:
            await guard.protect_output(self._answer(notes=f"key={AWS_KEY}"), guard.new_vault(), agent="a")
        assert AWS_KEY not in str(caught.value)
        assert "outside the messages" in str(caught.value)

    async def test_a_card_in_the_citations_is_masked(self, guard: Guard) -> None:
        answer = self._answer(citations=[f"https://example.com/pay?card={CARD}", "https://example.com/help"])
        guarded = await guard.protect_output(answer, guard.new_vault(), agent="a")
        assert CARD not in guarded.model_dump_json()
        assert "https://example.com/help" in guarded.citations

    async def test_a_secret_in_a_choices_own_field_blocks(self, guard: Guard) -> None:
        answer = self._answer(choice={"provider_specific_fields": {"trace": {"note": f"key={AWS_KEY}"}}})
        with pytest.raises(GuardrailViolation):
            await guard.protect_output(answer, guard.new_vault(), agent="a")

    async def test_bookkeeping_is_not_scanned(self, guard: Guard) -> None:
        """A new id per answer would cost a scan per call; it is the provider's bookkeeping, not model text."""
        from loomllm._answers import envelope_strings

        answer = self._answer(id="chatcmpl-9f2c1a7b3e", system_fingerprint="fp_44709d6fcb", model="gpt-4o-mini")
        assert [] == envelope_strings(answer)
        before = guard.scanner.stats.analyzer_calls
        await guard.protect_output(answer, guard.new_vault(), agent="a")
        assert guard.scanner.stats.analyzer_calls == before

    def test_fields_that_hold_nothing_are_not_walked_and_a_string_beside_them_is(self) -> None:
        """The usual LiteLLM answer (``_response_ms``, an empty ``provider_specific_fields``, ``None`` extras)
        takes the quick answer; the same fields holding a string do not."""
        from loomllm._answers import envelope_strings

        usual = self._answer(moderation=None, count=0, flags=[], choice={"provider_specific_fields": {}})
        usual._response_ms = 252.03
        assert [] == envelope_strings(usual)
        for answer in (self._answer(moderation=f"key={AWS_KEY}", count=0),
                       self._answer(choice={"provider_specific_fields": {"note": f"key={AWS_KEY}"}}),
                       self._answer(flags=["", f"key={AWS_KEY}"])):
            assert f"key={AWS_KEY}" in [found.text for found in envelope_strings(answer)]

    def test_a_secret_in_a_stream_chunks_extra_field_blocks(self, guard: Guard) -> None:
        first = chunk({"content": "Working "})
        second = self._chunk("on it ", citations=[f"key={AWS_KEY}"])
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        stream.feed(first)
        with pytest.raises(GuardrailViolation):
            stream.feed(second)

    def test_a_card_split_across_chunks_extra_fields_is_masked(self, guard: Guard) -> None:
        head, tail = split(CARD)
        chunks = [self._chunk(t, notes=n) for t, n in (("a ", f"pay {head}"), ("b ", tail))]
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        out = [emitted for c in chunks for emitted in stream.feed(c)] + stream.flush()
        assert tail not in " ".join(c.model_dump_json() for c in out)

    def test_a_repeated_value_is_scanned_once(self, guard: Guard) -> None:
        stream = guard.stream_filter(guard.new_vault(), agent="a")
        chunks = [self._chunk(f"{w} ", notes="see https://example.com/status") for w in ("one", "two", "three")]
        seen: list[str] = []
        decide = guard.decide

        def counting(text: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(text)
            return decide(text, *args, **kwargs)

        guard.decide = counting  # type: ignore[method-assign]
        try:
            for c in chunks:
                stream.feed(c)
        finally:
            del guard.decide
        assert 1 == sum("example.com/status" in text for text in seen)
