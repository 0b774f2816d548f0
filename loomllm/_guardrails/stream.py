"""Output guardrails for streamed answers: scan as text arrives, hold back only what may still change.

A :class:`StreamFilter` keeps, per choice, one text stream for each field that arrives in pieces (``content``,
``reasoning_content``, ``refusal``, thinking blocks, legacy ``function_call`` arguments) and one per tool call
(function arguments or a custom tool's input). Each feed
scans the new text together with a short look-back of what was already emitted (so ``password = `` in one
chunk and the value in the next are seen together), then releases everything except the trailing region that
could still grow into a finding or a placeholder:

- the last word: text after the last whitespace, quote, bracket, comma or semicolon (``<EMA`` of
  ``<EMAIL_ADDRESS_1>``, half a token);
- digit groups separated by single spaces before it (phone and card numbers);
- an unterminated PEM private-key block;
- any finding that touches the end of the buffer.

Every other string of a delta (tool-call ``id`` and ``name``, annotations, a thinking block's signature,
``provider_specific_fields``, fields LiteLLM adds later) arrives whole in one chunk from every provider: it is
scanned where it arrives, together with the previous piece of the same field (a value split in two is still
seen whole), and blocked or rewritten in that chunk.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loomllm._answers import (
    AnswerString,
    answer_strings,
    envelope_strings,
    field_of,
    is_streamed,
    listed,
    only_fields,
    put_answer_string,
)

from ..errors import Finding
from .policy import Decision, apply_decisions
from .prefilter import SEPARATOR_MARKS

if TYPE_CHECKING:
    from .guard import Guard
    from .vault import Vault

__all__ = ["StreamFilter", "hold_point"]

_LOOKBACK = 256
_TRAILING_REGION = 256
_MAX_HOLD = 4096
_MAX_PEM_HOLD = 64 * 1024
# A "word" for hold-back purposes: no credential, PII value or placeholder contains whitespace, quotes,
# brackets, commas or semicolons (so compact JSON streams word by word too).
_WORD = r"[^\s\"'{}\[\],;]"
# The held tail: up to six words with a digit or separators standing alone ("415 - 555 - 0132" is one phone number),
# and the last word.
_LONE_SEPARATOR = rf"(?<![^ \t]){SEPARATOR_MARKS}"
_TRAILING = re.compile(rf"(?:(?:{_WORD}*\d{_WORD}*|{_LONE_SEPARATOR})[ \t]+){{0,6}}{_WORD}*\Z")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")
# A BEGIN line whose header has not fully arrived yet (it may turn out to be a private key).
_PEM_HEADER_ARRIVING = re.compile(r"-{3,5}(?:B(?:E(?:G(?:I(?:N(?: [A-Z0-9 ]*)?)?)?)?)?)?\Z")


class _TextStream:
    """One growing text (a choice's content or one tool call's arguments)."""

    def __init__(self, guard: Guard, vault: Vault, *, agent: str, index: int, json_escape: bool) -> None:
        self.guard = guard
        self.vault = vault
        self.agent = agent
        self.index = index
        self.json_escape = json_escape
        self.tail = ""  # the last emitted raw characters, scanned again as context
        self.pending = ""  # received, not yet emitted
        self.emitted = 0  # raw characters emitted so far

    def push(self, text: str) -> str:
        """Add ``text``; return what is safe to emit now (rewritten)."""
        self.pending += text
        return self._release(final=False)

    def finish(self) -> str:
        """Release everything still held (end of this text)."""
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        if not self.pending:
            return ""
        window = self.tail + self.pending
        offset = len(self.tail)
        decisions = self.guard.decide(window, "output", message_index=self.index, agent=self.agent, cache=False)
        blocks = [d for d in decisions if d.action == "block" and d.end > offset]
        if blocks:
            base = self.emitted - offset
            findings = [
                Finding(d.entity_type, self.index, base + d.start, base + d.end, d.score, "output") for d in blocks
            ]
            self.guard.raise_blocked(findings, direction="output", agent=self.agent)
        hold = len(window) if final else self._hold_point(window, offset, decisions)
        if hold <= offset:
            return ""
        out = apply_decisions(
            window,
            decisions,
            self.vault,
            restore=self.guard.profile.restore,
            json_escape=self.json_escape,
            start=offset,
            end=hold,
        )
        applied = Counter(f"{d.entity_type}:{d.action}" for d in decisions if offset <= d.start < hold)
        if applied:  # each finding is counted in the release that rewrites it, never again as context
            self.vault.record("output", applied)
        raw = window[offset:hold]
        self.emitted += len(raw)
        self.tail = (self.tail + raw)[-_LOOKBACK:]
        self.pending = window[hold:]
        return out

    @staticmethod
    def _hold_point(window: str, offset: int, decisions: list[Decision]) -> int:
        n = len(window)
        match = _TRAILING.search(window, max(offset, n - _TRAILING_REGION))
        hold = match.start() if match else n
        hold = max(hold, n - _MAX_HOLD)
        for decision in decisions:
            if decision.start < hold < decision.end or (decision.end >= n and decision.start < hold):
                hold = min(hold, decision.start)
        header = _PEM_HEADER_ARRIVING.search(window, max(0, n - _TRAILING_REGION))
        if header is not None:
            hold = min(hold, header.start())
        begin = None
        for begin_match in _PEM_BEGIN.finditer(window):
            begin = begin_match.start()
        if begin is not None and "-----END" not in window[begin:] and n - begin < _MAX_PEM_HOLD:
            hold = min(hold, begin)
        return max(hold, offset)


def hold_point(text: str, offset: int, decisions: list[Decision]) -> int:
    """Where a growing ``text`` must stop being released: nothing after it is final yet (from ``offset`` on)."""
    return _TextStream._hold_point(text, offset, decisions)


def _keep_spelled_logprobs(choice: Any, content: Any, refusal: Any, delta: Any) -> None:
    """A chunk's logprobs go on only when their tokens spell the chunk's text and that text went out as it came.

    Held-back or rewritten text would be spelled out by its tokens, and tokens that spell something else were
    never scanned (a stream cannot hold them back with the text): either way the chunk loses its logprobs. The
    alternatives (``top_logprobs``) never spell the text: in a stream they are dropped, the chosen tokens' kept.
    """
    logprobs = choice.logprobs
    items = [*listed(field_of(logprobs, "content")), *listed(field_of(logprobs, "refusal"))]
    arrived = (content if isinstance(content, str) else "") + (refusal if isinstance(refusal, str) else "")
    unchanged = getattr(delta, "content", None) == content and getattr(delta, "refusal", None) == refusal
    spelled = "".join(str(field_of(item, "token") or "") for item in items)
    if not unchanged or spelled != arrived or any(_bytes_differ(item) for item in items):
        choice.logprobs = None
        return
    for item in items:
        if field_of(item, "top_logprobs"):
            _put(item, "top_logprobs", [])


def _bytes_differ(item: Any) -> bool:
    """Whether a token's ``bytes`` are there and are not its text's UTF-8 (then they spell something unscanned)."""
    values = field_of(item, "bytes")
    token = field_of(item, "token")
    return values is not None and (not isinstance(token, str) or values != list(token.encode("utf-8", "replace")))


@dataclass
class _ChoiceState:
    content: _TextStream
    reasoning: _TextStream
    #: Other streamed fields of the delta, by name (``refusal``, ``thinking``, ``function_call``).
    fields: dict[str, _TextStream] = field(default_factory=dict)
    tools: dict[int, _TextStream] = field(default_factory=dict)
    #: Tool calls whose stream is a custom tool's ``input`` (not function arguments).
    custom_tools: set[int] = field(default_factory=set)
    finished_tools: set[int] = field(default_factory=set)
    #: The last characters of each whole-value field (by path, tool calls by their index), scanned again as context.
    whole_tails: dict[tuple[Any, ...], str] = field(default_factory=dict)


#: Streamed fields of a delta besides content and reasoning: their name in ``_ChoiceState.fields``.
_REFUSAL, _THINKING, _FUNCTION_CALL = "refusal", "thinking", "function_call"


def _put(node: Any, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    else:
        setattr(node, key, value)


class StreamFilter:
    """Applies a guard's output policy to ``litellm.ModelResponseStream`` chunks, in order.

    ``feed`` returns the chunks to emit now (possibly none: text is held back only as long as a finding or a
    placeholder could still span the next chunk); ``flush`` returns what is left at the end of the stream.
    Raises :class:`~loomllm.errors.GuardrailViolation` (direction ``output``) on a block finding.
    """

    def __init__(self, guard: Guard, vault: Vault, *, agent: str) -> None:
        self.guard = guard
        self.vault = vault
        self.agent = agent
        self._choices: dict[int, _ChoiceState] = {}
        self._last_chunk: Any = None
        self._envelope_last: dict[tuple[Any, ...], str] = {}  # each envelope field's last value, by path
        self._envelope_tails: dict[tuple[Any, ...], str] = {}

    def _state(self, index: int) -> _ChoiceState:
        state = self._choices.get(index)
        if state is None:
            content = _TextStream(self.guard, self.vault, agent=self.agent, index=index, json_escape=False)
            reasoning = _TextStream(self.guard, self.vault, agent=self.agent, index=index, json_escape=False)
            state = self._choices[index] = _ChoiceState(content, reasoning)
        return state

    def _tool_stream(
        self, state: _ChoiceState, choice_index: int, tool_index: int, *, custom: bool = False
    ) -> _TextStream:
        stream = state.tools.get(tool_index)
        if stream is None:
            stream = _TextStream(self.guard, self.vault, agent=self.agent, index=choice_index, json_escape=not custom)
            state.tools[tool_index] = stream
            if custom:
                state.custom_tools.add(tool_index)
        return stream

    def _field_stream(self, state: _ChoiceState, choice_index: int, name: str) -> _TextStream:
        stream = state.fields.get(name)
        if stream is None:
            stream = _TextStream(
                self.guard, self.vault, agent=self.agent, index=choice_index, json_escape=name == _FUNCTION_CALL
            )
            state.fields[name] = stream
        return stream

    def _scan_whole_values(self, state: _ChoiceState, choice_index: int, delta: Any) -> None:
        """Scan (and rewrite) every string of ``delta`` that arrives whole, with its field's previous piece."""
        # tool calls by their own index: a call's pieces share one tail
        found = [f for f in answer_strings(delta) if not is_streamed(f.path)]
        self._scan_whole(found, state.whole_tails, choice_index)

    def _scan_envelope(self, chunk: Any) -> None:
        """Scan (and rewrite) the chunk's own strings and its choices' (``citations``, provider extras...).

        A provider may repeat them in every chunk: a value the same as the last one at its path, which went out
        unchanged, was checked already.
        """
        fresh = [f for f in envelope_strings(chunk) if self._envelope_last.get(f.path) != f.text]
        if fresh:
            changed = self._scan_whole(fresh, self._envelope_tails, None)
            # Only a value that went out as it came may be skipped when it repeats: one the guard rewrote
            # (a masked card) must be rewritten again in every chunk that repeats it.
            for found in fresh:
                if found.path in changed:
                    self._envelope_last.pop(found.path, None)
                else:
                    self._envelope_last[found.path] = found.text

    def _scan_whole(
        self, strings: list[AnswerString], tails: dict[tuple[Any, ...], str], index: int | None
    ) -> set[tuple[Any, ...]]:
        """Scan each string with the last piece of its field before it; block, or rewrite it in place.

        Returns the paths of the strings that had a finding (rewritten).
        """
        rewritten: set[tuple[Any, ...]] = set()
        for found in strings:
            path, text = found.path, found.text
            previous = tails.get(path, "")
            window = previous + text
            offset = len(previous)
            decisions = self.guard.decide(window, "output", message_index=index, agent=self.agent, cache=False)
            # A tuple's member cannot be rewritten: any finding in it blocks.
            blocks = [d for d in decisions if (d.action == "block" or not found.writable) and d.end > offset]
            if blocks:
                findings = [
                    Finding(d.entity_type, index, d.start - offset, d.end - offset, d.score, "output")
                    for d in blocks
                ]
                self.guard.raise_blocked(findings, direction="output", agent=self.agent)
            out = apply_decisions(window, decisions, self.vault, restore=self.guard.profile.restore, start=offset)
            applied = Counter(f"{d.entity_type}:{d.action}" for d in decisions if d.end > offset)
            if applied:
                self.vault.record("output", applied)
                rewritten.add(path)
            if out != text and found.writable:
                put_answer_string(found, out)
                rewritten.add(path)
            tails[path] = window[-_LOOKBACK:]
        return rewritten

    def may_restore(self) -> bool:
        """Whether a chunk fed now may get a value of the vault back (the caller must then feed a copy).

        Without a placeholder to restore, the filter only holds back, blocks, redacts or masks, which
        LiteLLM (its logging holds the chunk it yielded) may see done in place: the provider's own text
        or less of it, never a value the input guardrail kept from the provider.
        """
        return bool(self.guard.profile.restore and len(self.vault))

    def feed(self, chunk: Any) -> list[Any]:
        """The chunks safe to emit after ``chunk`` arrived (``chunk`` itself, rewritten, or nothing)."""
        self._last_chunk = chunk
        self._scan_envelope(chunk)
        for choice in getattr(chunk, "choices", None) or []:
            self._feed_choice(choice)
        return [chunk] if _has_payload(chunk) else []

    def _feed_choice(self, choice: Any) -> None:
        plain = _text_only(choice)
        if plain is not None:  # the usual chunk: what follows would find nothing else to read
            index, text_delta, text = plain
            state = self._state(index)
            if text:
                text_delta.content = state.content.push(text)
            return
        index = getattr(choice, "index", 0) or 0
        state = self._state(index)
        delta = getattr(choice, "delta", None)
        if delta is None:
            if getattr(choice, "logprobs", None) is not None:
                choice.logprobs = None  # no text went out for its tokens to spell: they were never scanned
            return
        self._scan_whole_values(state, index, delta)
        content = getattr(delta, "content", None)
        refusal = getattr(delta, "refusal", None)
        if isinstance(content, str) and content:
            delta.content = state.content.push(content)
        reasoning = getattr(delta, "reasoning_content", None)
        if isinstance(reasoning, str) and reasoning:
            delta.reasoning_content = state.reasoning.push(reasoning)
        self._feed_other_fields(state, index, delta)
        if getattr(choice, "logprobs", None) is not None:
            _keep_spelled_logprobs(choice, content, refusal, delta)
        calls = list(getattr(delta, "tool_calls", None) or [])
        before: list[Any] = []
        for call in calls:
            tool_index = getattr(call, "index", 0) or 0
            # Tool calls stream one after another: a new index means the earlier ones are complete.
            before += self._finish_tools(state, lambda j, k=tool_index: j < k)
            function = getattr(call, "function", None)
            arguments = getattr(function, "arguments", None)
            if function is not None and isinstance(arguments, str) and arguments:
                function.arguments = self._tool_stream(state, index, tool_index).push(arguments)
            custom = getattr(call, "custom", None)
            tool_input = getattr(custom, "input", None)
            if custom is not None and isinstance(tool_input, str) and tool_input:
                custom.input = self._tool_stream(state, index, tool_index, custom=True).push(tool_input)
        after: list[Any] = []
        if getattr(choice, "finish_reason", None):
            rest = state.content.finish()
            if rest:
                delta.content = (getattr(delta, "content", None) or "") + rest
            thought = state.reasoning.finish()
            if thought:
                delta.reasoning_content = (getattr(delta, "reasoning_content", None) or "") + thought
            self._finish_other_fields(state, delta)
            after = self._finish_tools(state, lambda j: True)
        if before or after:
            delta.tool_calls = before + calls + after

    def _feed_other_fields(self, state: _ChoiceState, index: int, delta: Any) -> None:
        """``refusal``, thinking-block text and legacy ``function_call`` arguments, each through its text stream."""
        refusal = getattr(delta, "refusal", None)
        if isinstance(refusal, str) and refusal:
            delta.refusal = self._field_stream(state, index, _REFUSAL).push(refusal)
        for block in getattr(delta, "thinking_blocks", None) or []:
            thinking = field_of(block, "thinking")
            if isinstance(thinking, str) and thinking:
                _put(block, "thinking", self._field_stream(state, index, _THINKING).push(thinking))
        function_call = getattr(delta, "function_call", None)
        arguments = field_of(function_call, "arguments")
        if function_call is not None and isinstance(arguments, str) and arguments:
            _put(function_call, "arguments", self._field_stream(state, index, _FUNCTION_CALL).push(arguments))

    def _finish_other_fields(self, state: _ChoiceState, delta: Any) -> None:
        """Put what the other streamed fields still hold into ``delta`` (the choice's last chunk)."""
        for name, value in self._other_fields_rest(state).items():
            if name == _REFUSAL:
                delta.refusal = (getattr(delta, "refusal", None) or "") + value
            elif name == _THINKING:
                delta.thinking_blocks = [*(getattr(delta, "thinking_blocks", None) or []), value]
            else:
                delta.function_call = value

    def _other_fields_rest(self, state: _ChoiceState) -> dict[str, Any]:
        """What the other streamed fields still hold, as ``Delta`` keyword arguments (``thinking`` as a block)."""
        from .._litellm import litellm_module

        rest: dict[str, Any] = {}
        for name, stream in state.fields.items():
            text = stream.finish()
            if not text:
                continue
            if name == _REFUSAL:
                rest[name] = text
            elif name == _THINKING:
                rest[name] = {"type": "thinking", "thinking": text}
            else:
                rest[name] = litellm_module().types.utils.FunctionCall(arguments=text)
        return rest

    def _finish_tools(self, state: _ChoiceState, which: Any) -> list[Any]:
        released: list[Any] = []
        for tool_index, stream in sorted(state.tools.items()):
            if tool_index in state.finished_tools or not which(tool_index):
                continue
            state.finished_tools.add(tool_index)
            text = stream.finish()
            if text:
                released.append(_tool_delta(tool_index, text, custom=tool_index in state.custom_tools))
        return released

    def flush(self) -> list[Any]:
        """Whatever is still held at the end of the stream, as one final chunk (or nothing)."""
        from .._litellm import litellm_module

        types = litellm_module().types.utils
        choices: list[Any] = []
        for index, state in sorted(self._choices.items()):
            content = state.content.finish()
            reasoning = state.reasoning.finish()
            tools = self._finish_tools(state, lambda j: True)
            other = self._other_fields_rest(state)
            if content or reasoning or tools or other:
                thinking = other.pop(_THINKING, None)
                delta = types.Delta(content=content or None, reasoning_content=reasoning or None,
                                    tool_calls=tools or None, thinking_blocks=[thinking] if thinking else None,
                                    **other)
                choices.append(types.StreamingChoices(index=index, delta=delta))
        if not choices:
            return []
        last = self._last_chunk
        return [
            types.ModelResponseStream(
                choices=choices,
                id=getattr(last, "id", None),
                created=getattr(last, "created", None),
                model=getattr(last, "model", None),
            )
        ]


def _tool_delta(index: int, text: str, *, custom: bool = False) -> Any:
    from .._litellm import litellm_module

    types = litellm_module().types.utils
    if custom:
        payload = types.ChatCompletionDeltaCustomToolCallPayload(input=text)
        return types.ChatCompletionDeltaCustomToolCall(index=index, type="custom", custom=payload)
    return types.ChatCompletionDeltaToolCall(index=index, function=types.Function(arguments=text))


#: The fields of a choice, and of its delta, that a chunk carrying only text has (any other must hold nothing).
_TEXT_CHOICE = frozenset({"index", "delta", "finish_reason", "logprobs"})
_TEXT_DELTA = frozenset({"content", "role"})


def _text_only(choice: Any) -> tuple[int, Any, str] | None:
    """``(index, delta, content)`` of a choice whose delta carries its text and nothing else: no finish reason, no
    logprobs, no tool call, refusal, reasoning or thinking, no extra field with anything in it (``None``: read it
    field by field)."""
    fields = only_fields(choice, _TEXT_CHOICE)
    if fields is None or fields.get("finish_reason") or fields.get("logprobs") is not None:
        return None
    delta = fields.get("delta")
    found = only_fields(delta, _TEXT_DELTA)
    if found is None:
        return None
    content, role = found.get("content"), found.get("role")
    if (content is not None and type(content) is not str) or (role is not None and type(role) is not str):
        return None
    return fields.get("index", 0) or 0, delta, content or ""


def _has_payload(chunk: Any) -> bool:
    if getattr(chunk, "usage", None) is not None:
        return True
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return True
    for choice in choices:
        if getattr(choice, "finish_reason", None):
            return True
        delta = getattr(choice, "delta", None)
        if delta is None:
            continue
        if getattr(delta, "content", None) or getattr(delta, "reasoning_content", None) or getattr(delta, "role", None):
            return True
        if getattr(delta, "refusal", None) or getattr(delta, "thinking_blocks", None):
            return True
        function_call = getattr(delta, "function_call", None)
        if field_of(function_call, "arguments") or field_of(function_call, "name"):
            return True
        for call in getattr(delta, "tool_calls", None) or []:
            function = getattr(call, "function", None)
            custom = getattr(call, "custom", None)
            if getattr(call, "id", None) or getattr(function, "name", None) or getattr(function, "arguments", None):
                return True
            if getattr(custom, "name", None) or getattr(custom, "input", None):
                return True
    return False
