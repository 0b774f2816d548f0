"""The :class:`Guard`: one profile applied to requests (input), responses (output) and streams."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from loomllm._answers import (
    AnswerPath,
    AnswerString,
    answer_strings,
    envelope_strings,
    field_of,
    listed,
    put_answer_string,
)
from loomllm._events import LibraryLogger

from ..errors import ConfigError, Finding, GuardrailViolation
from .config import GuardrailProfile, GuardrailsConfig
from .padding import SCAN_TOO_LARGE, PiiScanTooLarge
from .policy import Decision, apply_decisions, decide
from .vault import Vault

if TYPE_CHECKING:
    from .analyzer import Detection, Scanner, ScanSettings
    from .stream import StreamFilter

__all__ = ["ANALYZER_ERROR", "Guard"]

_log = LibraryLogger("loomllm.guardrails")

#: Entity type of the finding raised when the analyzer fails and the policy fails closed.
ANALYZER_ERROR = "GUARDRAIL_ANALYZER_ERROR"
#: Scans larger than this (characters not yet in the cache) run in a worker thread in the async API.
OFF_LOOP_CHARS = 16 * 1024

TextFn = Callable[[str, bool], str]


def _settings(config: GuardrailsConfig) -> ScanSettings:
    from .analyzer import ScanSettings

    return ScanSettings(pii_entities=config.pii_entities, spacy_model=config.spacy_model, cache_size=config.cache_size)


def scanner_for(config: GuardrailsConfig) -> Scanner:
    """The process-wide scanner for ``config``'s analyzer settings."""
    from .analyzer import get_scanner

    return get_scanner(_settings(config))


# --- walking OpenAI-format messages ----------------------------------------------------------------------------


def _map_content(content: Any, fn: TextFn) -> Any:
    if isinstance(content, str):
        return fn(content, False)
    if isinstance(content, list):
        parts: list[Any] = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append({**part, "text": fn(part["text"], False)})
            else:
                parts.append(part)  # images, audio, files: not text, left alone
        return parts
    return content


def _map_function(function: Any, fn: TextFn) -> Any:
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        return {**function, "arguments": fn(function["arguments"], True)}
    return function


def map_message(message: dict[str, Any], fn: TextFn) -> dict[str, Any]:
    """A copy of ``message`` with every text field passed through ``fn(text, is_json)``.

    Text fields: ``content`` (string or text parts), tool-call and legacy function-call arguments.
    """
    out = dict(message)
    if "content" in out:
        out["content"] = _map_content(out["content"], fn)
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [
            {**call, "function": _map_function(call.get("function"), fn)} if isinstance(call, dict) else call
            for call in out["tool_calls"]
        ]
    if "function_call" in out:
        out["function_call"] = _map_function(out["function_call"], fn)
    return out


def _as_dict(message: Any) -> dict[str, Any]:
    """An OpenAI-format message as a dict (pydantic message objects are dumped; anything else is refused)."""
    if isinstance(message, dict):
        return message
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        dumped = dump(exclude_none=True)
        if isinstance(dumped, dict):
            return dumped
    # Never let an unknown shape through unscanned.
    raise TypeError(f"guardrails cannot scan a message of type {type(message).__name__}; pass OpenAI-format dicts")


def _looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


#: A boundary window takes this many characters from each side of two neighbouring text fields.
BOUNDARY_CHARS = 192
#: Pairs of neighbouring fields whose boundary verdict a guard remembers.
PAIR_CACHE_SIZE = 4096


def _covered(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    """Whether ``span`` is empty or lies inside one of ``spans``."""
    start, end = span
    return end <= start or any(s <= start and end <= e for s, e in spans)


def _moved(decision: Decision, start: int, end: int) -> Decision:
    return Decision(decision.entity_type, start, end, decision.score, decision.action)


def _check_ner_available(config: GuardrailsConfig, profile: str) -> None:
    from .analyzer import _spacy_model_installed as spacy_model_installed
    from .entities import NER_ENTITIES

    assert config.spacy_model is not None
    rules = config.profile(profile)
    for direction in ("input", "output"):
        for entity, rule in rules.policy(direction).rules.items():
            if entity in NER_ENTITIES and entity not in config.pii_entities and rule.action != "allow" \
                    and not spacy_model_installed(config.spacy_model):
                raise ConfigError(f"spaCy model {config.spacy_model!r} is not installed, and only it finds {entity} "
                                  f"(profile {profile!r}, {direction}: {rule.action}): install it or drop the rule",
                                  path="loomllm.guardrails.spacy_model")


def _redacting(decision: Decision) -> Decision:
    return Decision(decision.entity_type, decision.start, decision.end, decision.score, "redact")


def _merge_decisions(decisions: list[Decision], more: list[Decision]) -> list[Decision]:
    """``decisions`` plus those of ``more`` that overlap none of them, by start."""
    merged = list(decisions)
    for candidate in more:
        if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in merged):
            merged.append(candidate)
    return sorted(merged, key=lambda d: d.start)


def _is_json_field(path: AnswerPath, text: str) -> bool:
    """Whether a restored value must be JSON-escaped in this field (tool arguments, JSON content)."""
    if path[-1] == "arguments":
        return True
    return path == ("content",) and _looks_like_json(text)


class _ChoiceStrings(NamedTuple):
    """One choice of an answer as the output side walks it."""

    position: int | None  # the choice's index in the answer (None: the answer's own fields)
    choice: Any
    strings: list[AnswerString]  # of its message
    tokens: str  # its logprob tokens, joined ("" without logprobs)


def _answer_fields(response: Any) -> list[_ChoiceStrings]:
    """Every string of every choice's message that the output side scans, by choice; then the answer's own."""
    fields: list[_ChoiceStrings] = []
    for index, choice in enumerate(getattr(response, "choices", None) or []):
        message = getattr(choice, "message", None)
        if message is not None:
            fields.append(_ChoiceStrings(index, choice, answer_strings(message), _logprob_text(choice)))
    envelope = envelope_strings(response)
    if envelope:
        fields.append(_ChoiceStrings(None, None, envelope, ""))
    return fields


def _output_texts(response: Any) -> list[str]:
    """Every string of every choice's message that the output side scans."""
    return [found.text for field in _answer_fields(response) for found in field.strings]


def _tally(decisions: list[Decision], index: int | None, direction: str, blocked: list[Finding],
           changed: Counter[str], *, block_all: bool = False) -> None:
    """Add ``decisions`` to a scan's block findings (all of them with ``block_all``) and redaction counts."""
    blocked.extend(Finding(d.entity_type, index, d.start, d.end, d.score, direction)
                   for d in decisions if block_all or d.action == "block")
    if not block_all:
        changed.update(f"{d.entity_type}:{d.action}" for d in decisions if d.action != "block")


def _logprob_text(choice: Any) -> str:
    """The tokens of a choice's logprobs (content and refusal), joined: the answer once more, as the caller gets it.

    Alternatives (``top_logprobs``) follow, one line per rank (each rank's tokens joined across positions): a
    provider can spell text there as well.
    """
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return ""
    tokens: list[str] = []
    spelled = bytearray()  # the tokens' ``bytes``, which a caller may decode instead of reading the tokens
    ranks: list[list[str]] = []
    for field in ("content", "refusal"):
        for item in listed(field_of(logprobs, field)):
            token = field_of(item, "token")
            if isinstance(token, str):
                tokens.append(token)
            spelled += _token_bytes(item)
            for rank, alternative in enumerate(listed(field_of(item, "top_logprobs"))):
                other = field_of(alternative, "token")
                if isinstance(other, str):
                    while rank >= len(ranks):  # a rank before it may have had no token
                        ranks.append([])
                    ranks[rank].append(other)
    text = "".join(tokens)
    decoded = spelled.decode("utf-8", "replace")
    if decoded and decoded != text:
        ranks.insert(0, [decoded])  # bytes that spell something else are read as one more line
    return "\n\n".join([text, *("".join(rank) for rank in ranks)]) if ranks else text


def _token_bytes(item: Any) -> bytes:
    """A logprob token's ``bytes`` (a list of byte values), as bytes; empty when absent or not byte values."""
    values = field_of(item, "bytes")
    if not isinstance(values, list) or not all(isinstance(v, int) and 0 <= v < 256 for v in values):
        return b""
    return bytes(values)


# --- the guard ------------------------------------------------------------------------------------------------


_RECENT_VIEWS = 8


class OutboundView:
    """An answer as it may go on to a second provider (the moderation model checking it).

    Every span the profile acts on in either direction (block, redact or mask) is replaced by a
    placeholder of a fresh vault, never restored: the second provider sees neither what the input
    guardrail kept from the first provider nor what the output guardrail keeps from the caller.
    """

    def __init__(self, guard: Guard, agent: str) -> None:
        self._guard = guard
        self._agent = agent
        # A stream asks settled() then view() of the same growing text: one scan serves both. Growing
        # prefixes stay out of the process-wide scan cache (they would push out texts that recur).
        self._recent: OrderedDict[str, list[Decision]] = OrderedDict()

    def _decisions(self, text: str, direction: str = "both") -> list[Decision]:
        if direction == "input":
            return self._guard.decide(text, "input", message_index=None, agent=self._agent, cache=False)
        known = self._recent.get(text)
        if known is None:
            inputs = self._guard.decide(text, "input", message_index=None, agent=self._agent, cache=False)
            outputs = self._guard.decide(text, "output", message_index=None, agent=self._agent, cache=False)
            known = self._recent[text] = _merge_decisions(inputs, outputs)
            while len(self._recent) > _RECENT_VIEWS:
                self._recent.popitem(last=False)
        return known

    def view(self, text: str, start: int, end: int) -> str:
        """``text[start:end]``, the bounds widened so that no value is cut in half, values replaced."""
        decisions = self._decisions(text)
        for decision in decisions:
            if decision.start < start < decision.end:
                start = decision.start
            if decision.start < end < decision.end:
                end = decision.end
        vault = self._guard.new_vault()
        view = apply_decisions(text, [_redacting(d) for d in decisions], vault, restore=False, start=start, end=end)
        again = self._decisions(view, "input")  # as the moderation attempt's request check will scan it
        return apply_decisions(view, [_redacting(d) for d in again], vault, restore=False) if again else view

    def settled(self, text: str) -> int:
        """How much of a growing ``text`` can no longer grow into (part of) a value."""
        from .stream import hold_point

        return hold_point(text, 0, self._decisions(text))



class Guard:
    """One profile, ready to apply. Cheap to create per agent; shares the process-wide analyzer and scan cache."""

    def __init__(self, config: GuardrailsConfig, profile_name: str) -> None:
        self.config = config
        self.profile_name = profile_name
        self.profile: GuardrailProfile = config.profile(profile_name)
        self._allow_patterns = tuple(re.compile(p) for p in self.profile.allow_patterns)
        # Boundary-window verdicts per neighbouring pair: a resent conversation re-checks no old boundary.
        self._pairs: OrderedDict[bytes, tuple[list[Decision], list[Decision]]] = OrderedDict()
        self._scanner: Scanner | None = None

    @classmethod
    def from_config(cls, config: GuardrailsConfig, profile: str) -> Guard:
        """The guard for ``profile`` (``KeyError`` if the config does not define it).

        A configured spaCy model that is not installed is a :class:`ConfigError` when the profile
        acts on an entity only that model finds (its rule would silently never fire); otherwise the
        guard runs without NER, as it does with no model configured.
        """
        guard = cls(config, profile)
        if config.spacy_model is not None:
            _check_ner_available(config, profile)
        return guard

    @property
    def scanner(self) -> Scanner:
        """The shared scanner (Presidio analyzer + LRU of findings)."""
        if self._scanner is None:  # looked up once: a call reads it several times
            self._scanner = scanner_for(self.config)
        return self._scanner

    def new_vault(self) -> Vault:
        """A fresh placeholder map for one call or conversation."""
        return Vault()

    def __repr__(self) -> str:
        return f"Guard(profile={self.profile_name!r})"

    # -- scanning -------------------------------------------------------------------------------------------

    def scan(
        self, text: str, *, direction: str, message_index: int | None, agent: str | None, cache: bool = True
    ) -> tuple[Detection, ...]:
        """Detections in ``text``; on analyzer failure raise (fail_closed) or log and return none (fail_open).

        A text too large to scan completely is refused under either policy (fail_open would let padding through).
        """
        try:
            return self.scanner.scan(text, cache=cache)
        except PiiScanTooLarge as exc:
            _log.warning("guardrail.scan_too_large", agent=agent, direction=direction, chars=exc.chars,
                         entities=sorted(exc.entities))
            finding = Finding(SCAN_TOO_LARGE, message_index, 0, len(text), 1.0, direction)
            raise GuardrailViolation(agent=agent, direction=direction, findings=[finding]) from None
        except Exception as exc:  # any analyzer failure: the exception text may quote the input, so drop it
            error_type = type(exc).__name__
        _log.error(
            "guardrail.analyzer_failed",
            agent=agent,
            direction=direction,
            error_type=error_type,
            policy=self.config.on_analyzer_error,
        )
        if self.config.on_analyzer_error == "fail_open":
            return ()
        finding = Finding(ANALYZER_ERROR, message_index, 0, len(text), 1.0, direction)
        raise GuardrailViolation(agent=agent, direction=direction, findings=[finding])

    def decide(
        self, text: str, direction: str, *, message_index: int | None, agent: str | None, cache: bool = True
    ) -> list[Decision]:
        """The profile's decisions for ``text``."""
        detections = self.scan(text, direction=direction, message_index=message_index, agent=agent, cache=cache)
        if not detections:
            return []
        return decide(text, detections, self.profile, direction, self._allow_patterns)

    def is_clean(self, text: str, direction: str = "input", *, agent: str | None = None) -> bool:
        """Whether ``text`` triggers no rule of this profile (cached: a text seen before costs a hash lookup).

        Analyzer failures follow ``on_analyzer_error`` like every scan (fail_closed raises).
        """
        return not text or not self.decide(text, direction, message_index=None, agent=agent)

    def unclean(self, texts: list[str], direction: str = "input", *, agent: str | None = None) -> list[int]:
        """Indices of the texts in ``texts`` that trigger a rule (each distinct text scanned once)."""
        verdicts: dict[str, bool] = {}
        for text in texts:
            if text not in verdicts:
                verdicts[text] = self.is_clean(text, direction, agent=agent)
        return [index for index, text in enumerate(texts) if not verdicts[text]]

    # -- input ----------------------------------------------------------------------------------------------

    def protect_input_sync(self, messages: list[dict[str, Any]], vault: Vault, *, agent: str) -> list[dict[str, Any]]:
        """Redacted/masked copies of ``messages``; raise :class:`GuardrailViolation` on block findings.

        Every text field is scanned on its own (cached) and, with its neighbour, as one boundary window, so a
        secret split across two messages or content parts is found too.
        """
        blocked: list[Finding] = []
        changed: Counter[str] = Counter()
        dicts = [_as_dict(message) for message in messages]
        fields = self._input_fields(dicts)
        extra = self._boundary_decisions(fields, agent=agent)
        position = iter(range(len(fields)))

        def make_fn(index: int) -> TextFn:
            def transform(text: str, is_json: bool) -> str:
                decisions = self.decide(text, "input", message_index=index, agent=agent)
                more = extra.get(next(position, -1))
                if more:
                    decisions = _merge_decisions(decisions, more)
                if not decisions:
                    return text
                _tally(decisions, index, "input", blocked, changed)
                return apply_decisions(text, decisions, vault, restore=False)

            return transform

        protected = [map_message(message, make_fn(index)) for index, message in enumerate(dicts)]
        vault.record("input", changed)
        self._report(blocked, changed, direction="input", agent=agent)
        return protected

    @staticmethod
    def _input_fields(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """``(message index, text)`` of every text field, in the order :func:`map_message` visits them."""
        fields: list[tuple[int, str]] = []
        for index, message in enumerate(messages):

            def collect(text: str, is_json: bool, index: int = index) -> str:
                fields.append((index, text))
                return text

            map_message(message, collect)
        return fields

    def _boundary_decisions(self, fields: list[tuple[int, str]], *, agent: str) -> dict[int, list[Decision]]:
        """Decisions that only a window across two neighbouring fields finds, split back onto each field."""
        extra: dict[int, list[Decision]] = {}
        for k in range(len(fields) - 1):
            (left_index, left), (right_index, right) = fields[k], fields[k + 1]
            if not left or not right:
                continue
            base = max(0, len(left) - BOUNDARY_CHARS)
            on_left, on_right = self._pair_decisions(left, right, left_index, right_index, agent)
            for d in on_left:
                extra.setdefault(k, []).append(_moved(d, d.start + base, d.end + base))
            if on_right:
                extra.setdefault(k + 1, []).extend(on_right)
        return extra

    def _pair_decisions(
        self, left: str, right: str, left_index: int, right_index: int, agent: str
    ) -> tuple[list[Decision], list[Decision]]:
        """The boundary-only decisions of one pair, in tail and head offsets (remembered per pair)."""
        tail, head = left[-BOUNDARY_CHARS:], right[:BOUNDARY_CHARS]
        key = hashlib.blake2b(f"{tail}\0{head}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cached = self._pairs.get(key)
        if cached is not None:
            self._pairs.move_to_end(key)
            return cached
        # What each side finds alone: the whole fields' (cached) decisions, clipped to the tail and the head.
        base = len(left) - len(tail)
        own_left = [
            (max(d.start, base) - base, d.end - base)
            for d in self.decide(left, "input", message_index=left_index, agent=agent)
            if d.end > base
        ]
        own_right = [
            (d.start, min(d.end, len(head)))
            for d in self.decide(right, "input", message_index=right_index, agent=agent)
            if d.start < len(head)
        ]
        on_left: list[Decision] = []
        on_right: list[Decision] = []
        cut = len(tail)
        for joiner in ("", " "):
            gap = len(joiner)
            for d in self.decide(tail + joiner + head, "input", message_index=right_index, agent=agent):
                left_part = (d.start, min(d.end, cut))
                right_part = (max(d.start, cut + gap) - cut - gap, d.end - cut - gap)
                if _covered(left_part, own_left) and _covered(right_part, own_right):
                    continue  # each side finds it alone
                if left_part[1] > left_part[0]:
                    on_left.append(_moved(d, *left_part))
                if right_part[1] > right_part[0]:
                    on_right.append(_moved(d, *right_part))
        result = (on_left, on_right)
        self._pairs[key] = result
        while len(self._pairs) > PAIR_CACHE_SIZE:
            self._pairs.popitem(last=False)
        return result

    async def protect_input(self, messages: list[dict[str, Any]], vault: Vault, *, agent: str) -> list[dict[str, Any]]:
        """Async :meth:`protect_input_sync`; large uncached scans run in a worker thread."""
        texts = self.input_texts(messages)
        # Only a large request can hold enough unscanned text to go off the loop: smaller ones skip the lookups.
        if sum(map(len, texts)) > OFF_LOOP_CHARS and sum(map(len, self._uncached(texts))) > OFF_LOOP_CHARS:
            return await asyncio.to_thread(self.protect_input_sync, messages, vault, agent=agent)
        return self.protect_input_sync(messages, vault, agent=agent)

    @staticmethod
    def input_texts(messages: list[dict[str, Any]]) -> list[str]:
        """The texts of ``messages`` the input side scans (content, text parts, tool-call arguments)."""
        texts: list[str] = []

        def collect(text: str, is_json: bool) -> str:
            texts.append(text)
            return text

        for message in messages:
            map_message(_as_dict(message), collect)
        return texts

    def _uncached(self, texts: list[str]) -> list[str]:
        scanner = self.scanner
        return [t for t in dict.fromkeys(texts) if t and not scanner.is_cached(t)]

    # -- output ---------------------------------------------------------------------------------------------

    def protect_output_sync(self, response: Any, vault: Vault, *, agent: str) -> Any:
        """Scan every string of every choice's message; block, redact or mask; restore placeholders.

        Content, reasoning, refusal, tool-call ids, names and arguments, annotations, thinking blocks and any
        field LiteLLM adds later (see :func:`loomllm._answers.answer_strings`). Mutates and returns ``response`` (a
        ``litellm.ModelResponse``).
        """
        return self._protect_answer(response, _answer_fields(response), vault, agent=agent)

    def _protect_answer(self, response: Any, fields: list[_ChoiceStrings], vault: Vault, *, agent: str) -> Any:
        blocked: list[Finding] = []
        changed: Counter[str] = Counter()
        for index, choice, strings, tokens in fields:
            before = sum(changed.values())
            for found in strings:
                protected = self._protect_output_text(found, index, vault, agent, blocked, changed)
                if protected != found.text:
                    put_answer_string(found, protected)
            if sum(changed.values()) != before and getattr(choice, "logprobs", None) is not None:
                choice.logprobs = None  # its tokens spell out what was just redacted
            elif tokens and tokens not in {found.text for found in strings}:
                self._protect_logprobs(choice, tokens, index, agent, blocked, changed)
        vault.record("output", changed)
        self._report(blocked, changed, direction="output", agent=agent)
        return response

    def _protect_logprobs(
        self, choice: Any, tokens: str, index: int | None, agent: str, blocked: list[Finding], changed: Counter[str]
    ) -> None:
        """Logprobs whose tokens hold what the rules act on: a block blocks, anything else drops the logprobs.

        Their tokens normally spell the message, checked already; a provider may send others.
        """
        decisions = self.decide(tokens, "output", message_index=index, agent=agent)
        _tally(decisions, index, "output", blocked, changed)
        if decisions:
            choice.logprobs = None

    def restores_into(self, response: Any, vault: Vault) -> bool:
        """Whether :meth:`protect_output` would put a value from ``vault`` back into ``response``."""
        if not self.profile.restore or not len(vault):
            return False
        return any(vault.issued_in(text) for text in _output_texts(response))

    async def protect_output(self, response: Any, vault: Vault, *, agent: str) -> Any:
        """Async :meth:`protect_output_sync`; large uncached scans run in a worker thread.

        An answer whose every string was scanned before and found clean, with no placeholder to put back,
        is returned as it is (one cache lookup per string).
        """
        fields = _answer_fields(response)
        texts = list(dict.fromkeys([*(found.text for field in fields for found in field.strings),
                                    *(field.tokens for field in fields if field.tokens)]))
        scanner = self.scanner
        known = [scanner.cached(t) for t in texts]
        if all(k == () for k in known) and not (self.profile.restore and len(vault)):
            scanner.stats.cache_hits += len(texts)  # each string served from the cache, as a scan counts it
            return response
        fresh = sum(len(t) for t, k in zip(texts, known, strict=True) if k is None)
        if fresh > OFF_LOOP_CHARS:
            return await asyncio.to_thread(self._protect_answer, response, fields, vault, agent=agent)
        return self._protect_answer(response, fields, vault, agent=agent)

    def _protect_output_text(
        self,
        found: AnswerString,
        index: int | None,
        vault: Vault,
        agent: str,
        blocked: list[Finding],
        changed: Counter[str],
    ) -> str:
        text = found.text
        decisions = self.decide(text, "output", message_index=index, agent=agent)
        if not found.writable:  # a tuple's member cannot be rewritten: any finding in it blocks
            _tally(decisions, index, "output", blocked, changed, block_all=True)
            return text
        _tally(decisions, index, "output", blocked, changed)
        return apply_decisions(text, decisions, vault, restore=self.profile.restore,
                               json_escape=_is_json_field(found.path, text))

    def outbound(self, agent: str) -> OutboundView:
        """This profile as the input of another provider (a moderation model) needs it: see :class:`OutboundView`."""
        return OutboundView(self, agent)

    # -- streams --------------------------------------------------------------------------------------------

    def stream_filter(self, vault: Vault, *, agent: str) -> StreamFilter:
        """A filter for one streamed answer: feed it chunks, emit what it returns, call ``flush`` at the end."""
        from .stream import StreamFilter

        return StreamFilter(self, vault, agent=agent)

    # -- reporting ------------------------------------------------------------------------------------------

    def _report(self, blocked: list[Finding], changed: Counter[str], *, direction: str, agent: str | None) -> None:
        if changed:
            _log.info(
                "guardrail.redacted",
                agent=agent,
                profile=self.profile_name,
                direction=direction,
                entity_types=sorted({key.split(":")[0] for key in changed}),
                counts=dict(sorted(changed.items())),
            )
        if blocked:
            self.raise_blocked(blocked, direction=direction, agent=agent)

    def raise_blocked(self, findings: list[Finding], *, direction: str, agent: str | None) -> None:
        """Log ``guardrail.blocked`` (types and counts only) and raise :class:`GuardrailViolation`."""
        counts = Counter(f.entity_type for f in findings)
        _log.warning(
            "guardrail.blocked",
            agent=agent,
            profile=self.profile_name,
            direction=direction,
            entity_types=sorted(counts),
            counts=dict(sorted(counts.items())),
        )
        raise GuardrailViolation(agent=agent, direction=direction, findings=findings)
