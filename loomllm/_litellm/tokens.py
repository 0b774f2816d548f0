"""Prompt token counts as ``litellm.token_counter`` gives them, with LiteLLM's native tokenizer doing the counting.

``token_counter`` encodes each text with tiktoken's Python binding: about 150 µs for a 2 KB prompt, the
largest cost of a budget estimate. LiteLLM also ships a Rust build of the same two encodings
(``cl100k_base``, ``o200k_base``) whose ``count(text, fast=True)`` returns the same numbers about eight
times faster. Everything else stays LiteLLM's own code: the per-message and per-name tokens, content
parts, tool definitions, the 1 KB chunks ``token_counter`` encodes separately and its extrapolation past
4 M characters. So the count is the one ``token_counter`` returns (``tests/budget/test_budget_token_count.py``
holds the two equal on prose, code, 68 languages and the guardrail corpora); models on another encoding,
or a LiteLLM without the native extension, are counted by ``token_counter`` itself.

Each text's count is remembered by a digest of the text (never the text itself): an agent's system prompt and
the earlier turns of a conversation come back in every call, and a count is a pure function of the text.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from . import litellm_module

__all__ = ["byte_bounded", "default_image_tokens", "exact_count_chars", "prompt_tokens", "text_tokens"]

_NATIVE_ENCODINGS = frozenset({"cl100k_base", "o200k_base"})
#: Texts shorter than this are counted again (cheaper than a digest); at most this many counts are remembered.
_REMEMBER_FROM_CHARS = 256
_REMEMBERED_COUNTS = 4096


@functools.lru_cache(maxsize=64)
def _native_params(model: str) -> Any:
    """LiteLLM's per-model counting parameters with the native counter in place, or ``None`` (use token_counter).

    A pure function of the model name and LiteLLM's tables, so it is remembered per model.
    """
    litellm = litellm_module()
    if litellm.disable_token_counter is True or litellm.disable_hf_tokenizer_download is not True:
        return None  # token_counter returns 0, or may pick a Hugging Face tokenizer: let it decide
    from litellm.litellm_core_utils import token_counter as counting
    from litellm.rust_bridge import tokenizer as tokenizers

    name = counting.openai_tokenizer_encoding_name(model)
    if name not in _NATIVE_ENCODINGS:
        return None
    try:
        native = tokenizers.native_encoding(name)
    except Exception:  # the extension failed to load: count in Python
        return None
    if native is None:
        return None

    def exact(text: str) -> int:
        return int(native.count(text, True))

    params = counting._MessageCountParams(model, None)
    # The same wrappers token_counter puts around tiktoken: 1 KB chunks, extrapolation past 4 M characters.
    params.count_function = _remembered(
        counting._get_extrapolating_count_function(counting._get_tiktoken_count_function(exact))
    )
    return params


def byte_bounded(model: str) -> bool:
    """Whether ``model``'s prompt count is at most its texts' UTF-8 byte length (plus message framing).

    True for the two native encodings, byte-level BPEs whose every token is at least one byte, for texts
    LiteLLM counts exactly (up to :func:`exact_count_chars` characters).
    """
    return _native_params(model) is not None


@functools.cache
def exact_count_chars() -> int:
    """The longest text ``token_counter`` counts exactly (``TOKEN_COUNTER_MAX_EXACT_CHARS``, settable by
    environment, read once by LiteLLM: ``Final``); longer ones it extrapolates from samples, which no byte length
    bounds."""
    litellm_module()
    from litellm.constants import TOKEN_COUNTER_MAX_EXACT_CHARS

    return int(TOKEN_COUNTER_MAX_EXACT_CHARS)


def _remembered(count: Callable[[str], int]) -> Callable[[str], int]:
    """``count``, with the counts of long texts remembered by digest (bounded: forgotten all at once when full)."""
    counts: dict[bytes, int] = {}

    def remembered(text: str) -> int:
        if len(text) < _REMEMBER_FROM_CHARS:
            return count(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        found = counts.get(key)
        if found is None:
            found = count(text)
            if len(counts) >= _REMEMBERED_COUNTS:
                counts.clear()
            counts[key] = found
        return found

    return remembered


def prompt_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """``litellm.token_counter(model=model, messages=messages, tools=tools, use_default_image_token_count=True)``.

    Raises what ``token_counter`` raises for content it cannot count (``ValueError``: audio parts, nested lists).
    """
    params = _native_params(model)
    litellm = litellm_module()
    if params is None:
        return int(litellm.token_counter(model=model, messages=messages, tools=tools,
                                         use_default_image_token_count=True))
    from litellm.litellm_core_utils import token_counter as counting

    # token_counter's messages branch, line for line (count_response_tokens=False, no tool_choice).
    plain = litellm.utils.convert_list_message_to_dict(messages)
    count = counting._count_messages(params, plain, True, None)
    has_system = any(message.get("role", None) == "system" for message in plain)
    definitions: Any = tools  # LiteLLM's ChatCompletionToolParam: what the Router is sent
    return int(count + counting._count_extra(params.count_function, definitions, None, has_system))


def text_tokens(model: str, text: str) -> int:
    """``litellm.token_counter(model=model, text=text)``: the tokens of one text, without message framing."""
    params = _native_params(model)
    if params is None:
        return int(litellm_module().token_counter(model=model, text=text))
    return int(params.count_function(text))


def default_image_tokens() -> int:
    """What ``token_counter`` counts for an image it does not fetch (``use_default_image_token_count``)."""
    litellm_module()
    from litellm.constants import DEFAULT_IMAGE_TOKEN_COUNT

    return int(DEFAULT_IMAGE_TOKEN_COUNT)
