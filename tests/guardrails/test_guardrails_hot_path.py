"""The fast paths of the output guardrail keep its promises: no copy is made only when none is needed."""

from __future__ import annotations

import asyncio
from typing import Any

from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer

EMAIL = "jane.doe@acme-corp.com"
SECTION = """
agents:
  gpt: {model: smart, max_tokens: 50}
guardrails:
  default: standard
"""
REDACTING_OUTPUT = """
agents:
  gpt: {model: smart, max_tokens: 50}
guardrails:
  default: strict
  profiles:
    strict:
      output: {SECRET: block, EMAIL_ADDRESS: redact}
"""


async def _answer_and_logged(make_loom: Any, prompt: str, section: str = SECTION) -> tuple[str, list[str]]:
    """The agent's answer to ``prompt`` and what LiteLLM's success callbacks were handed as the response."""
    from litellm.integrations.custom_logger import CustomLogger

    seen: list[str] = []

    class Spy(CustomLogger):  # type: ignore[misc]
        async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                          end_time: Any) -> None:
            seen.append(repr(response_obj) + repr(kwargs.get("standard_logging_object")))

    spy = Spy()
    litellm_module().callbacks.append(spy)
    try:
        answer = await make_loom(section).agent("gpt").chat(prompt)
        for _ in range(100):  # LiteLLM's logging worker runs in the background
            if seen:
                break
            await asyncio.sleep(0.05)
    finally:
        _hooks.unregister(spy)
    return answer, seen


class TestRestoreOnACopy:
    async def test_restored_value_never_reaches_litellm_logging(self, make_loom: Any,
                                                                 wire_server: WireServer) -> None:
        """With no response cache, the caller gets the value back while LiteLLM's logging keeps the placeholder."""
        wire_server.route(Reply.echo(prefix="Sure: "))
        answer, seen = await _answer_and_logged(make_loom, f"Write to {EMAIL} about the launch")
        assert EMAIL in answer
        assert seen and all(EMAIL not in s for s in seen)
        assert "<EMAIL_ADDRESS_1>" in "".join(seen)

    async def test_redaction_in_the_answer_is_applied_for_the_caller(self, make_loom: Any,
                                                                      wire_server: WireServer) -> None:
        """An answer that needs no restore is redacted in place: the caller never sees the address."""
        wire_server.route(Reply.text(f"Contact {EMAIL} for access."))
        answer, _ = await _answer_and_logged(make_loom, "Who do I contact?", REDACTING_OUTPUT)
        assert EMAIL not in answer and "<EMAIL_ADDRESS_1>" in answer


class TestRestoresInto:
    def _response(self, content: str, arguments: str | None = None) -> Any:
        types = litellm_module().types.utils
        tool_calls = None
        if arguments is not None:
            tool_calls = [types.ChatCompletionMessageToolCall(id="c1", type="function",
                                                             function=types.Function(name="f", arguments=arguments))]
        message = types.Message(role="assistant", content=content, tool_calls=tool_calls)
        return types.ModelResponse(choices=[types.Choices(index=0, message=message, finish_reason="stop")])

    def test_only_a_placeholder_the_vault_issued_needs_a_copy(self, make_loom: Any) -> None:
        """An empty vault, or an answer without one of its placeholders, restores nothing."""
        guard = make_loom(SECTION).guard("gpt")
        assert guard is not None
        vault = guard.new_vault()
        assert not guard.restores_into(self._response("Hello <EMAIL_ADDRESS_1>"), vault)
        placeholder = vault.placeholder_for("EMAIL_ADDRESS", EMAIL)
        assert not guard.restores_into(self._response("Hello <EMAIL_ADDRESS_2> and <PERSON_1>"), vault)
        assert guard.restores_into(self._response(f"Hello {placeholder}"), vault)
        assert guard.restores_into(self._response("ok", arguments=f'{{"to": "{placeholder}"}}'), vault)


def _corpus_texts() -> list[str]:
    import json
    from pathlib import Path

    texts: list[str] = []
    for path in sorted((Path(__file__).parent / "corpus").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


class TestPatternScreen:
    def test_no_screen_match_means_no_result(self) -> None:
        """Where the union of a recognizer's patterns finds nothing, the recognizer itself finds nothing."""
        from loomllm._guardrails.config import GuardrailsConfig
        from loomllm._guardrails.guard import scanner_for

        analyzer = scanner_for(GuardrailsConfig()).analyzer
        screened = {e: s for e, s in analyzer._screens.items() if s is not None}
        assert {"US_SSN", "US_ITIN", "EMAIL_ADDRESS", "CREDIT_CARD"} <= set(screened)
        skipped = 0
        for text in _corpus_texts():
            for entity, screen in screened.items():
                if screen.search(text) is None:
                    skipped += 1
                    assert [] == analyzer._pii[entity].analyze(text, [entity], None), entity
        assert skipped  # the corpus has texts the screen rules out


class TestCleanAnswerFastPath:
    """An answer already scanned clean costs a cache lookup per string; anything else takes the full path."""

    async def test_a_clean_answer_seen_before_is_returned_untouched(self, guard: Any, make_response: Any) -> None:
        first = await guard.protect_output(make_response("The launch ships a beta on Monday."), guard.new_vault(),
                                           agent="t")
        hits = guard.scanner.stats.cache_hits
        again = make_response("The launch ships a beta on Monday.")
        assert await guard.protect_output(again, guard.new_vault(), agent="t") is again
        assert again.choices[0].message.content == first.choices[0].message.content
        assert guard.scanner.stats.cache_hits == hits + 1

    async def test_a_cached_answer_with_a_finding_is_still_acted_on(self, guard: Any, make_response: Any) -> None:
        text = "Card on file: 4111 1111 1111 1111."
        hits = []
        for _ in range(2):  # the second time its detections come from the cache
            hits.append(guard.scanner.stats.cache_hits)
            answer = await guard.protect_output(make_response(text), guard.new_vault(), agent="t")
            assert "4111 1111 1111 1111" not in answer.choices[0].message.content
        assert guard.scanner.stats.cache_hits - hits[1] == 1  # one lookup counted once

    async def test_a_placeholder_to_restore_takes_the_full_path(self, guard: Any, make_response: Any) -> None:
        vault = guard.new_vault()
        [sent] = await guard.protect_input([{"role": "user", "content": "Mail jane.doe@acme-corp.com today"}], vault,
                                           agent="t")
        placeholder = sent["content"].split()[1]
        assert placeholder != "jane.doe@acme-corp.com"
        text = f"I will write to {placeholder}."
        await guard.protect_output(make_response(text), guard.new_vault(), agent="t")  # now cached clean
        answer = await guard.protect_output(make_response(text), vault, agent="t")
        assert answer.choices[0].message.content == "I will write to jane.doe@acme-corp.com."


class TestLargeScansLeaveTheLoop:
    """A request or answer with more than 16 KB of text not scanned before is scanned in a worker thread."""

    @staticmethod
    def _threads_of(guard: Any, name: str) -> list[int]:
        import threading

        seen: list[int] = []
        original = getattr(guard, name)

        def recording(*args: Any, **kwargs: Any) -> Any:
            seen.append(threading.get_ident())
            return original(*args, **kwargs)

        setattr(guard, name, recording)
        return seen

    async def test_input_off_the_loop_only_when_large_and_new(self, guard: Any) -> None:
        import threading

        seen = self._threads_of(guard, "protect_input_sync")
        big = " ".join(f"line {i}: the shipment left the depot on time." for i in range(500))
        assert len(big) > 16 * 1024
        for text in ("A short note about the launch.", big, big):
            await guard.protect_input([{"role": "user", "content": text}], guard.new_vault(), agent="t")
        loop_thread = threading.get_ident()
        assert [t == loop_thread for t in seen] == [True, False, True]  # small; large and new; large, cached

    async def test_output_off_the_loop_only_when_large_and_new(self, guard: Any, make_response: Any) -> None:
        import threading

        seen = self._threads_of(guard, "_protect_answer")
        big = " ".join(f"step {i}: the parcel was scanned at the hub." for i in range(500))
        await guard.protect_output(make_response(big), guard.new_vault(), agent="t")
        await guard.protect_output(make_response("Card on file: 4111 1111 1111 1111."), guard.new_vault(), agent="t")
        assert [t == threading.get_ident() for t in seen] == [False, True]


class TestLogprobTokens:
    """Logprob tokens reach the caller too: what the rules act on there blocks, or drops the logprobs."""

    @staticmethod
    def _answer(content: str, tokens: list[str]) -> Any:
        logprobs = {"content": [{"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []}
                                for t in tokens]}
        return litellm_module().ModelResponse(choices=[{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                                                         "message": {"role": "assistant", "content": content}}])

    async def test_a_secret_only_in_the_tokens_blocks(self, guard: Any) -> None:
        import pytest

        from loomllm.errors import GuardrailViolation

        answer = self._answer("Here is the key you asked for.", ["key=", "AKIAZ7QK", "3MWN5TXB", "2P6R"])
        with pytest.raises(GuardrailViolation):
            await guard.protect_output(answer, guard.new_vault(), agent="t")

    async def test_a_masked_value_only_in_the_tokens_drops_them(self, guard: Any) -> None:
        for _ in range(2):  # the second time the content is a cached clean string
            answer = self._answer("The card is on file.", ["Card ", "4111 1111", " 1111 1111"])
            guarded = await guard.protect_output(answer, guard.new_vault(), agent="t")
            assert guarded.choices[0].logprobs is None
            assert guarded.choices[0].message.content == "The card is on file."

    async def test_tokens_that_spell_a_clean_answer_stay(self, guard: Any) -> None:
        answer = self._answer("The launch ships a beta.", ["The", " launch", " ships", " a", " beta", "."])
        guarded = await guard.protect_output(answer, guard.new_vault(), agent="t")
        assert [t.token for t in guarded.choices[0].logprobs.content][:2] == ["The", " launch"]

    @staticmethod
    def _with_alternatives(content: str, tokens: list[str], alternatives: list[str]) -> Any:
        logprobs = {"content": [{"token": t, "logprob": -0.1, "top_logprobs": [{"token": a, "logprob": -3.0}]}
                                for t, a in zip(tokens, alternatives, strict=True)]}
        return litellm_module().ModelResponse(choices=[{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                                                         "message": {"role": "assistant", "content": content}}])

    async def test_a_secret_spelled_by_the_alternatives_blocks(self, guard: Any) -> None:
        """top_logprobs reach the caller too: each rank's tokens, read across positions, are checked."""
        import pytest

        from loomllm.errors import GuardrailViolation

        answer = self._with_alternatives("Here is the key.", ["Here", " is", " the", " key."],
                                         ["key=", "AKIAZ7QK", "3MWN5TXB", "2P6R"])
        with pytest.raises(GuardrailViolation):
            await guard.protect_output(answer, guard.new_vault(), agent="t")

    async def test_clean_alternatives_stay(self, guard: Any) -> None:
        answer = self._with_alternatives("The launch ships.", ["The", " launch", " ships."], ["A", " beta", " goes."])
        guarded = await guard.protect_output(answer, guard.new_vault(), agent="t")
        assert [" beta"] == [a.token for a in guarded.choices[0].logprobs.content[1].top_logprobs]

    async def test_a_secret_in_content_and_tokens_is_reported_once(self, guard: Any) -> None:
        import pytest

        from loomllm.errors import GuardrailViolation

        text = "key=AKIAZ7QK3MWN5TXB2P6R"
        with pytest.raises(GuardrailViolation) as caught:
            await guard.protect_output(self._answer(text, [text]), guard.new_vault(), agent="t")
        assert len(caught.value.findings) == 1
