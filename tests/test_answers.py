"""The answer walker every output policy reads answers with (``loomllm._answers``)."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm._answers import KEYS, AnswerString, answer_strings, is_streamed, put_answer_string
from loomllm._litellm import litellm_module

TYPES = litellm_module().types.utils


def message(**fields: Any) -> Any:
    """The message of a ``ModelResponse`` with one assistant choice holding ``fields``."""
    response = litellm_module().ModelResponse(
        choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **fields}}]
    )
    return response.choices[0].message


def delta(**fields: Any) -> Any:
    """The delta of a ``ModelResponseStream`` chunk with one choice holding ``fields``."""
    chunk = TYPES.ModelResponseStream(choices=[TYPES.StreamingChoices(index=0, delta=TYPES.Delta(**fields))])
    return chunk.choices[0].delta


def strings(node: Any) -> dict[tuple[str | int, ...], str]:
    """``{path: text}`` of every string :func:`answer_strings` finds in ``node``."""
    return {found.path: found.text for found in answer_strings(node)}


class TestAnswerStrings:
    def test_every_text_field_of_a_message(self) -> None:
        """Content, reasoning, refusal, thinking and its signature, tool-call ids, names, arguments: all found."""
        found = strings(message(
            content="Done.", reasoning_content="Plan.", refusal="No.",
            thinking_blocks=[{"type": "thinking", "thinking": "Hmm.", "signature": "c2ln"}],
            tool_calls=[{"id": "call_7", "type": "function", "function": {"name": "send", "arguments": "{}"}}],
        ))
        assert {
            ("content",): "Done.", ("reasoning_content",): "Plan.", ("refusal",): "No.",
            ("thinking_blocks", 0, "thinking"): "Hmm.", ("thinking_blocks", 0, "signature"): "c2ln",
            ("tool_calls", 0, "id"): "call_7", ("tool_calls", 0, "function", "name"): "send",
            ("tool_calls", 0, "function", "arguments"): "{}",
            ("thinking_blocks", 0, KEYS): "thinking\nsignature",  # a dict's keys, fixed words left out
        } == found

    def test_undeclared_fields_are_walked(self) -> None:
        """Provider fields and extras LiteLLM does not declare are read like the others."""
        found = strings(message(content="hi", provider_specific_fields={"citations": ["see p. 2"]}, extra_note="x"))
        assert {("provider_specific_fields", "citations", 0): "see p. 2", ("extra_note",): "x"}.items() \
            <= found.items()

    def test_fixed_words_media_and_empty_strings_are_left_out(self) -> None:
        """Roles, types, base64 audio, ``data:`` images and empty strings are not text anyone wrote."""
        found = strings(message(
            content="",
            audio={"id": "a1", "data": "UklGRg==", "expires_at": 1, "transcript": "hello"},
            images=[{"index": 0, "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR="}}],
        ))
        assert {("audio", "id"): "a1", ("audio", "transcript"): "hello"} == found

    def test_tool_calls_are_named_by_their_own_index(self) -> None:
        """A delta's tool call is keyed by the index it extends, its container key stays its list position."""
        calls = [TYPES.ChatCompletionDeltaToolCall(index=3, function=TYPES.Function(arguments='{"a"'))]
        [found] = answer_strings(delta(tool_calls=calls))
        assert ("tool_calls", 3, "function", "arguments") == found.path
        assert (calls[0].function, "arguments") == (found.container, found.key)

    def test_tuples_are_walked_and_not_writable(self) -> None:
        """A tuple's strings are read; they cannot be replaced in place."""
        [found] = [f for f in answer_strings(message(content="hi", provider_specific_fields={"c": ("see",)}))
                   if f.path[0] == "provider_specific_fields" and f.path[-1] != KEYS]
        assert (("provider_specific_fields", "c", 0), "see", False) == (found.path, found.text, found.writable)
        with pytest.raises(TypeError):
            put_answer_string(found, "x")

    def test_nesting_beyond_the_depth_limit_is_read_whole(self) -> None:
        """Past the depth limit a value is read whole, as one read-only text (any finding in it blocks)."""
        deep: Any = "deep"
        for _ in range(20):
            deep = [deep]
        found = [f for f in answer_strings({"x": deep}) if f.path[-1] != KEYS]
        assert [("deep", False)] == [(f.text, f.writable) for f in found]

    def test_bytes_sets_and_dict_keys_are_read(self) -> None:
        """What is not a string but reaches the caller as text is read, read-only."""
        found = strings({"b": b"raw bytes", "s": {"one"}, "k": {"a key": 1, "gone": None}})
        assert {("b",): "raw bytes", ("s",): "one", ("k", KEYS): "a key"}.items() <= found.items()


class TestPutAnswerString:
    @pytest.mark.parametrize("build", [
        lambda: message(content="old"),
        lambda: delta(content="old"),
        lambda: {"content": "old"},
    ], ids=["message", "delta", "dict"])
    def test_replaces_the_string_where_it_was_found(self, build: Any) -> None:
        """The next walk finds the new text at the same path."""
        node = build()
        [found] = [f for f in answer_strings(node) if f.path == ("content",)]
        put_answer_string(found, "new")
        assert "new" == strings(node)[("content",)]

    def test_replaces_a_list_member(self) -> None:
        """A string in a list is replaced by position."""
        node = {"citations": ["old", "kept"]}
        put_answer_string(AnswerString(("citations", 0), node["citations"], 0, "old"), "new")
        assert {"citations": ["new", "kept"]} == node


class TestIsStreamed:
    @pytest.mark.parametrize("path", [
        ("content",), ("reasoning_content",), ("refusal",), ("function_call", "arguments"),
        ("thinking_blocks", 0, "thinking"), ("tool_calls", 2, "function", "arguments"),
        ("tool_calls", 0, "custom", "input"),
    ])
    def test_fields_that_arrive_in_pieces(self, path: tuple[str | int, ...]) -> None:
        """Text the provider streams piece by piece."""
        assert is_streamed(path)

    @pytest.mark.parametrize("path", [
        ("tool_calls", 0, "id"), ("tool_calls", 0, "function", "name"), ("thinking_blocks", 0, "signature"),
        ("function_call", "name"), ("annotations", 0, "url_citation", "title"), ("provider_specific_fields", "x"),
    ])
    def test_fields_that_arrive_whole(self, path: tuple[str | int, ...]) -> None:
        """Ids, names, signatures and the rest come whole in one delta."""
        assert not is_streamed(path)


def _with(node: Any, **fields: Any) -> Any:
    """``node`` with ``fields`` set as they are, past validation (what a provider adapter might leave there)."""
    node.__dict__.update(fields)
    return node


class TestUsualMessageShortcut:
    @pytest.mark.parametrize("build", [
        lambda: message(content="The launch ships a beta."),
        lambda: message(content=""),
        lambda: message(content=None),
        lambda: message(content="hi", provider_specific_fields={}),
        lambda: message(content="hi", provider_specific_fields={"refusal": None}),
        lambda: message(content="hi", provider_specific_fields={"refusal": None, "note": "kept"}),
        lambda: message(content="hi", provider_specific_fields={"citations": ["see p. 2"]}),
        lambda: message(content="hi", extra_note="x"),
        lambda: message(content="hi", annotations=[]),
        lambda: _with(message(content="x"), content=[{"type": "text", "text": "parts"}]),
        lambda: message(content="data:image/png;base64,iVBOR="),
        lambda: delta(content="piece"),
        lambda: delta(content="piece", role="assistant"),
    ], ids=["plain", "empty", "none", "empty-provider-fields", "none-provider-fields", "some-provider-fields",
            "provider-fields", "extra", "empty-list", "parts",
            "data-url", "delta", "delta-role"])
    def test_same_strings_as_the_full_walk(self, build: Any) -> None:
        """The shortcut for a message holding only text finds what walking every field finds, where it is."""
        from loomllm._answers import _strings_of

        node = build()
        walked = _strings_of(node, (), frozenset())
        assert [(f.path, f.container, f.key, f.text) for f in walked] == [
            (f.path, f.container, f.key, f.text) for f in answer_strings(node)]

    def test_a_role_that_is_no_word_is_walked(self) -> None:
        """Only a role that is a word (or none) is left unread: anything else in it is walked like any field."""
        node = _with(message(content="hi"), role={"note": "written"})
        assert {("role", "note"): "written"}.items() <= strings(node).items()
