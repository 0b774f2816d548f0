"""The estimate's token count: LiteLLM's count exactly, and an upper bound where LiteLLM cannot count."""

from __future__ import annotations

import base64
import glob
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from loomllm._budget import BudgetsConfig, estimate_call
from loomllm._budget._pricing import prompt_token_bound
from loomllm._litellm import litellm_module
from loomllm._litellm.tokens import default_image_tokens, prompt_tokens, text_tokens

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from ticket_text import make_ticket  # noqa: E402

# cl100k_base (provider prefix), o200k_base (a bare gpt-4o name), cl100k_base for another provider, the legacy
# per-message accounting, and an encoding without a native counter (token_counter counts those itself).
MODELS = ["openai/gpt-4o-mini", "gpt-4o", "anthropic/claude-sonnet-4-5", "gpt-3.5-turbo-0301", "text-davinci-003"]
TOOLS = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order by id",
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]
FLAT = BudgetsConfig.model_validate({"input_safety_factor": {"openai": 1.0}})


def _texts() -> list[str]:
    """Prose with numbers, the guardrail corpora (secrets, PII, encodings), spaCy's examples in every language,
    and texts that stress a tokenizer (special-token names, long runs, emoji, chunk boundaries, random Unicode)."""
    rng = random.Random(11)
    texts = [make_ticket(rng) for _ in range(60)]
    for path in sorted(glob.glob(str(ROOT / "tests" / "guardrails" / "*" / "*.jsonl"))):
        for line in Path(path).read_text(encoding="utf-8").splitlines()[:400]:
            with_text = json.loads(line) if line.strip().startswith("{") else {}
            if isinstance(with_text.get("text"), str) and with_text["text"]:
                texts.append(with_text["text"])
    import spacy

    for examples in sorted(Path(spacy.__file__).parent.glob("lang/*/examples.py")):
        texts.append(examples.read_text(encoding="utf-8"))
    texts += [
        "<|endoftext|> and <|fim_prefix|><|im_start|>: special-token names are plain text here",
        "a" * 5000, " " * 3000, "\n\n\n" * 700, "0" * 4096, "🙂" * 1500, "ab\u200bcd" * 500,
        "x" * 1023 + "yz", "é" * 2049, "\ud800 lone surrogate",
        "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(3000)),
    ]
    return texts


TEXTS = _texts()


class TestSameCountAsLiteLLM:
    @pytest.mark.parametrize("model", MODELS)
    def test_messages_count_equals_token_counter(self, model: str) -> None:
        """Every text, as a plain message, a named message after a system prompt with tools, and a text part
        next to an image, counts exactly what litellm.token_counter counts."""
        litellm = litellm_module()
        mismatches = []
        for text in TEXTS:
            for messages, tools in (
                ([{"role": "user", "content": text}], None),
                ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text, "name": "ana"}], TOOLS),
                ([{"role": "user", "content": [{"type": "text", "text": text},
                                               {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}],
                 None),
            ):
                expected = litellm.token_counter(model=model, messages=messages, tools=tools,
                                                 use_default_image_token_count=True)
                if expected != prompt_tokens(model, messages, tools):
                    mismatches.append(text[:40])
        assert [] == mismatches

    @pytest.mark.parametrize("model", MODELS)
    def test_text_count_equals_token_counter(self, model: str) -> None:
        """A bare text counts what token_counter(text=...) counts."""
        litellm = litellm_module()
        assert [litellm.token_counter(model=model, text=t) for t in TEXTS] == [text_tokens(model, t) for t in TEXTS]

    def test_estimate_is_the_count_times_the_factor(self) -> None:
        """estimate_call reserves the count (factor 1.0 here) and the output cap."""
        messages = [{"role": "user", "content": TEXTS[0]}]
        counted = litellm_module().token_counter(model="openai/gpt-4o-mini", messages=messages,
                                                 use_default_image_token_count=True)
        estimate = estimate_call(messages, deployments=[{"model_name": "g", "litellm_params": {
            "model": "openai/gpt-4o-mini"}}], max_tokens=64, default_output_cap=10, config=FLAT)
        assert (counted, 64) == (estimate.input_tokens, estimate.output_tokens)


def _audio_part(seconds: float) -> dict[str, Any]:
    """An input_audio part carrying ``seconds`` of 16 kHz 16-bit mono WAV (silence), base64 encoded."""
    data = base64.b64encode(b"RIFF" + bytes(int(32_000 * seconds))).decode()
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}


UNCOUNTABLE = {
    "input_audio": [{"role": "user", "content": [{"type": "text", "text": "Transcribe this."}, _audio_part(0.5)]}],
    "nested parts": [{"role": "user", "content": [[{"type": "text", "text": "Nested text parts: " + TEXTS[1]}]]}],
    "video_url": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://x.test/v.mp4"}}]}],
    "part without type": [{"role": "user", "content": [{"text": TEXTS[2]}]}],
    "bad image detail": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "max"}}]}],
}


class TestUncountableContent:
    @pytest.mark.parametrize("case", sorted(UNCOUNTABLE))
    def test_litellm_raises_a_bare_value_error(self, case: str) -> None:
        """The premise: LiteLLM's own counter gives up on these with a bare ValueError."""
        with pytest.raises(ValueError):
            litellm_module().token_counter(model="openai/gpt-4o-mini", messages=UNCOUNTABLE[case],
                                           use_default_image_token_count=True)

    @pytest.mark.parametrize("case", sorted(UNCOUNTABLE))
    def test_estimate_counts_conservatively(self, case: str) -> None:
        """estimate_call does not raise: it reserves at least every text in the messages, counted as LiteLLM
        counts text, plus an image's default count for each part that is not text."""
        messages = UNCOUNTABLE[case]
        estimate = estimate_call(messages, deployments=[{"model_name": "g", "litellm_params": {
            "model": "openai/gpt-4o-mini"}}], max_tokens=10, default_output_cap=10, config=FLAT)
        parts = [p for p in _flat(messages[0]["content"]) if isinstance(p, dict)]
        texts = [str(p.get("text")) for p in parts if "text" in p]
        media = sum(1 for p in parts if p.get("type") != "text")
        floor = sum(text_tokens("openai/gpt-4o-mini", t) for t in texts) + media * default_image_tokens()
        assert estimate.input_tokens >= floor > 0

    def test_audio_bound_grows_with_the_audio(self) -> None:
        """A longer clip reserves more: the bound follows the data, at far more than 32 tokens a second."""
        def bound(seconds: float) -> int:
            return prompt_token_bound("openai/gpt-4o-mini", [{"role": "user", "content": [_audio_part(seconds)]}])

        assert bound(2.0) > bound(1.0) > 32 * 1.0

    def test_tools_still_counted_as_litellm_counts_them(self) -> None:
        """With uncountable content, the tool definitions add at least what LiteLLM counts for them."""
        messages = UNCOUNTABLE["input_audio"]
        without = prompt_token_bound("openai/gpt-4o-mini", messages)
        with_tools = prompt_token_bound("openai/gpt-4o-mini", messages, TOOLS)
        tools_only = prompt_tokens("openai/gpt-4o-mini", [], TOOLS) - prompt_tokens("openai/gpt-4o-mini", [])
        assert with_tools - without >= tools_only > 0


def _flat(content: Any) -> list[Any]:
    if isinstance(content, list):
        return [item for part in content for item in _flat(part)]
    return [content]


class TestQuickBound:
    """``quick_estimate`` bounds ``estimate_call`` from above without a tokenizer, or declines."""

    BOUNDED = MODELS

    @staticmethod
    def _both(model: str, messages: list[dict[str, Any]]) -> tuple[Any, Any]:
        from loomllm._budget import pricing_plan, quick_estimate

        deployments = [{"model_name": "g", "litellm_params": {"model": model}, "model_info": {"id": "d"}}]
        plan = pricing_plan(deployments, FLAT)
        exact = estimate_call(messages, deployments=deployments, max_tokens=64, default_output_cap=256, config=FLAT)
        quick = quick_estimate(messages, plan=plan, max_tokens=64, default_output_cap=256)
        return quick, exact

    @pytest.mark.parametrize("model", BOUNDED)
    def test_never_below_the_count(self, model: str) -> None:
        """Every corpus text, as plain content, as text parts, with a name and a system prompt."""
        for text in TEXTS:
            for messages in (
                [{"role": "user", "content": text}],
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text, "name": "ann"}],
                [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": text[:7]}]}],
                [{"role": "assistant", "content": None}, {"role": "user", "content": text}],
            ):
                quick, exact = self._both(model, messages)
                assert quick is not None
                assert quick.input_tokens >= exact.input_tokens > 0, (model, text[:40])
                assert quick.cost_usd >= exact.cost_usd
                assert (quick.output_tokens, quick.routes) == (exact.output_tokens, exact.routes)

    @pytest.mark.parametrize("messages", [
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
        [{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                                                              "function": {"name": "f", "arguments": "{}"}}]}],
        [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}],
        [{"role": "user", "content": "x" * 1_000_001}],
        ["not a message"],
    ])
    def test_declines_what_it_cannot_bound_cheaply(self, messages: list[Any]) -> None:
        quick, _ = self._both("openai/gpt-4o-mini", messages) if messages != ["not a message"] else (
            self._quick_only(messages), None)
        assert quick is None

    @staticmethod
    def _quick_only(messages: list[Any]) -> Any:
        from loomllm._budget import pricing_plan, quick_estimate

        plan = pricing_plan([{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini"}}], FLAT)
        return quick_estimate(messages, plan=plan, max_tokens=64, default_output_cap=256)

    def test_declines_when_litellm_does_its_own_counting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where the native counter is not LiteLLM's counter (here: counting switched off), no bound is assumed."""
        from loomllm._litellm import tokens

        monkeypatch.setattr(litellm_module(), "disable_token_counter", True)
        tokens._native_params.cache_clear()
        try:
            assert self._quick_only([{"role": "user", "content": "hello"}]) is None
        finally:
            tokens._native_params.cache_clear()


class TestQuickBoundLimits:
    SHAPES = staticmethod(lambda text: [
        [{"role": "user", "content": text}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text, "name": "ann"}],
        [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": "x"}]}],
    ])

    def test_covers_the_fallback_count_of_prompts_litellm_refuses(self) -> None:
        """If LiteLLM ever refuses a shape the bound accepts, the exact estimate is ``_conservative_tokens``."""
        from loomllm._budget import pricing_plan, quick_estimate
        from loomllm._budget._pricing import _conservative_tokens

        plan = pricing_plan([{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini"}}], FLAT)
        many_parts = [{"role": "user", "content": [{"type": "text", "text": "y"}] * 200}]
        for text in [*TEXTS[:80], "a", ""]:
            for messages in [*self.SHAPES(text), many_parts]:
                quick = quick_estimate(messages, plan=plan, max_tokens=1, default_output_cap=1)
                assert quick is not None
                assert quick.input_tokens >= _conservative_tokens("openai/gpt-4o-mini", messages, None)

    def test_declines_texts_litellm_would_extrapolate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``TOKEN_COUNTER_MAX_EXACT_CHARS`` (settable by environment) set low: longer texts are counted."""
        import litellm.constants

        from loomllm._budget import pricing_plan, quick_estimate
        from loomllm._litellm.tokens import exact_count_chars

        plan = pricing_plan([{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini"}}], FLAT)
        messages = [{"role": "user", "content": "a🙂" * 1000}]
        assert quick_estimate(messages, plan=plan, max_tokens=1, default_output_cap=1) is not None
        monkeypatch.setattr(litellm.constants, "TOKEN_COUNTER_MAX_EXACT_CHARS", 1000)
        exact_count_chars.cache_clear()  # LiteLLM reads it once, at import (a default argument): so do we
        try:
            assert quick_estimate(messages, plan=plan, max_tokens=1, default_output_cap=1) is None
        finally:
            monkeypatch.undo()
            exact_count_chars.cache_clear()

    def test_declines_text_parts_with_structured_fields(self) -> None:
        from loomllm._budget import pricing_plan, quick_estimate

        plan = pricing_plan([{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini"}}], FLAT)
        part = {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
        assert quick_estimate([{"role": "user", "content": [part]}], plan=plan, max_tokens=1,
                              default_output_cap=1) is None
