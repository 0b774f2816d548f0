"""Output content policies at run time: check an answer (whole or streamed), then block or flag it."""

from __future__ import annotations

import time
import uuid
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from loomllm._answers import is_streamed
from loomllm._telemetry.audit import POLICY_DECISION, emit_decision, is_refusal
from loomllm.errors import ConfigError, ContentPolicyViolation, PolicyViolation

from .config import ContentPolicyConfig, ModerationConfig
from .rules import DenyMatcher, UserCheck, load_callable, moderation_categories, run_user_check, visible_offsets
from .texts import ENVELOPE, TextKey, chunk_texts, field_order, finished_choices, response_texts

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = ["ContentPolicies", "ContentPolicy", "ContentStreamFilter", "Moderator", "RouterModerator", "TextWindow"]


class _Events(Protocol):
    def emit(self, event: str, level: str = "info", **fields: Any) -> None: ...


Moderator = Callable[..., Awaitable[Any]]
"""``await moderator(text, agent=..., call_id=...)`` -> a moderation response (OpenAI format)."""

class Outbound(Protocol):
    """The agent's guardrail, as the moderation model's input needs it (none: the text goes as it is)."""

    def view(self, text: str, start: int, end: int) -> str:
        """``text[start:end]`` with every value the guardrail acts on replaced by a placeholder
        (``start`` and ``end`` widened so that no value is cut in half)."""

    def settled(self, text: str) -> int:
        """How much of a growing ``text`` can no longer grow into a value (a stream moderates that far)."""


@dataclass(frozen=True, slots=True)
class TextWindow:
    """The part of one answer text (one field of one choice) a check looks at."""

    text: str
    """The field's text so far."""
    start: int = 0
    """Checks read ``text[start:]`` (a stream: from some already released context on)."""
    end: int | None = None
    """The moderation model reads ``text[start:end]`` (None: to the end)."""


class ContentPolicy:
    """One named policy: deny rules, then the user callable, then the moderation model."""

    def __init__(self, name: str, config: ContentPolicyConfig, *, user_check: UserCheck | None = None,
                 moderator: Moderator | None = None, outbound: Outbound | None = None) -> None:
        self.name = name
        self.outbound = outbound
        self.config = config
        self._deny = DenyMatcher(config.deny)
        self._user_check = user_check
        self._moderator = moderator if config.moderation is not None else None
        # A deny word longer than the hold-back could be half-released before it is seen whole.
        self.hold_back = max(config.hold_back_chars, self._deny.longest_word)
        self.moderates = self._moderator is not None
        self.batched = self.moderates or user_check is not None

    async def verdict(self, windows: Sequence[TextWindow], *, agent: str,
                      call_id: str) -> tuple[str, list[str]] | None:
        """``(source, categories)`` of the first check the windows fail, or None.

        Deny rules see each window on its own (a word never spans two fields); the user callable and
        the moderation model get one text, the windows one per line (one call per check, not per field).
        Deny rules and the user callable run in this process and see the provider's text; the
        moderation model is another provider and gets the guardrail's outbound view of it, up to each
        window's ``end``. A failed moderation call (or an answer that checked nothing) gives
        ``("moderation_error", [error type])`` when the policy fails closed, ``("unchecked", [error
        type])`` when it fails open.
        """
        windows = [w for w in windows if w.start < len(w.text)]
        if not windows:
            return None
        found = list(dict.fromkeys(name for w in windows for name in self._deny.matches(w.text[w.start:])))
        if found:
            return "deny", found
        if self._user_check is not None:
            reasons = await run_user_check(self._user_check, "\n".join(w.text[w.start:] for w in windows))
            if reasons:
                return "callable", reasons
        if self._moderator is not None and self.config.moderation is not None:
            views = [view for view in map(self._outbound_view, windows) if view]
            if views:
                return await self._moderate("\n".join(views), self.config.moderation, agent=agent, call_id=call_id)
        return None

    def _outbound_view(self, window: TextWindow) -> str:
        stop = len(window.text) if window.end is None else window.end
        if stop <= window.start:
            return ""
        if self.outbound is None:
            return window.text[window.start:stop]
        return self.outbound.view(window.text, window.start, stop)

    async def _moderate(self, text: str, config: ModerationConfig, *, agent: str,
                        call_id: str) -> tuple[str, list[str]] | None:
        assert self._moderator is not None
        try:
            response = await self._moderator(text, agent=agent, call_id=call_id)
            categories = moderation_categories(response, config)
        except PolicyViolation:
            raise  # the moderation call itself was refused (budget, egress): that refusal is the answer
        except Exception as exc:
            source = "moderation_error" if self.config.on_error == "fail_closed" else "unchecked"
            return source, [type(exc).__name__]
        return ("moderation", categories) if categories else None

    def report(self, verdict: tuple[str, list[str]], *, agent: str, call_id: str, events: _Events) -> None:
        """Block (raise :class:`ContentPolicyViolation`) or flag (emit ``policy.decision``) per the action."""
        source, categories = verdict
        error = ContentPolicyViolation(agent=agent, policy=self.name, source=source, categories=categories)
        if self.config.action == "block" or source == "moderation_error":
            emit_decision(events, error, agent=agent, call_id=call_id)
            raise error
        events.emit(POLICY_DECISION, level="warning", agent=agent, call_id=call_id, policy="content",
                    decision="flagged", reason=type(error).__name__, source=source, categories=list(categories),
                    content_policy=self.name)

    async def enforce(self, windows: Sequence[TextWindow], *, agent: str, call_id: str, events: _Events) -> bool:
        """Check ``windows`` and act on the verdict; True when it was flagged (a block raises)."""
        verdict = await self.verdict(windows, agent=agent, call_id=call_id)
        if verdict is None:
            return False
        if verdict[0] == "unchecked":  # the moderation call failed and the policy fails open: say so loudly
            events.emit(POLICY_DECISION, level="error", agent=agent, call_id=call_id, policy="content",
                        decision="unchecked", reason=verdict[1][0], content_policy=self.name)
            return False
        self.report(verdict, agent=agent, call_id=call_id, events=events)
        return True

    async def check_response(self, response: Any, *, agent: str, call_id: str, events: _Events) -> Any:
        """Check a complete answer (every text field of every choice); returns it unchanged."""
        windows = [TextWindow(text) for text in response_texts(response)]
        flagged = await self.enforce(windows, agent=agent, call_id=call_id, events=events)
        if flagged:
            hidden = getattr(response, "_hidden_params", None)
            if isinstance(hidden, dict):
                hidden["loomllm_content_flagged"] = True
        return response

    def stream_filter(self, *, agent: str, call_id: str, events: _Events) -> ContentStreamFilter:
        """A filter for one streamed answer (see :class:`ContentStreamFilter`)."""
        return ContentStreamFilter(self, agent=agent, call_id=call_id, events=events)


class _FieldText:
    """One text of a stream (a field of a choice) as it grows, and where its visible characters are."""

    def __init__(self, streamed: bool, order: tuple[int, int] | None) -> None:
        self.streamed = streamed
        self.order = order
        self.text = ""
        self.released = 0
        self.finished = 0
        """The text up to here is complete: a later field of its choice started, or the choice ended."""
        self._visible: array[int] = array("q")  # offsets of the characters a reader sees

    def add(self, piece: str) -> int:
        base = len(self.text)
        self._visible.extend(base + offset for offset in visible_offsets(piece))
        self.text += piece
        return len(self.text)

    def back(self, end: int, visible: int) -> int:
        """The offset before ``end`` with ``visible`` visible characters between the two (0: not that many).

        Counting visible characters, not characters: whitespace or invisible characters padding a
        deny word never push its start out of the hold-back.
        """
        if visible <= 0:
            return end
        before = bisect_left(self._visible, end)
        return self._visible[before - visible] if before >= visible else 0


class ContentStreamFilter:
    """Holds back the last ``hold_back`` visible characters of every text of a stream until they are checked.

    A stream carries one text per choice and field (tool calls by their index), as the caller
    reassembles it; deltas of parallel tool calls or of several choices may alternate. Works on whole
    chunks, in order: a chunk is released once, in every text it extends, at least ``hold_back``
    visible characters follow it (or that text is finished, below), and each of those texts (with
    ``hold_back`` characters of already released context) passed the policy. Fields that arrive whole
    (a tool call's name or id) are not held back. With a moderation model or a callable, text is
    released in batches of ``hold_back`` characters, one check per batch for every text the batch
    extends. A deny word or pattern shorter than the hold-back is therefore seen whole before any of
    it reaches the caller.

    The fields of a choice arrive in an order (see :func:`.texts.field_order`): reasoning or thinking,
    then content, then tool call 0, 1, ... A later field starting finishes the earlier ones, and the
    choice's ``finish_reason`` finishes all of them. A finished text is checked whole (the moderation
    model reads it to its end, as at the end of the stream, and a batch that completes it is checked
    however short it is) and its tail is released: the content that follows a reasoning text is
    never held until the stream ends.

    A text that grows again after it was finished (no real provider does this) is held back and
    checked as before, each check reading at least ``hold_back`` visible characters of the released
    text in front of the new ones. A deny word that began in the released tail is then found when
    its last characters arrive, before any of them is released, and the policy acts on it (``block``
    ends the stream): the caller may have seen a prefix of the word, never all of it.
    """

    def __init__(self, policy: ContentPolicy, *, agent: str, call_id: str, events: _Events) -> None:
        self._policy = policy
        self._agent = agent
        self._call_id = call_id
        self._events = events
        self._held: deque[tuple[Any, dict[TextKey, int]]] = deque()  # a chunk, and where it ends in each text
        self._texts: dict[TextKey, _FieldText] = {}
        self._envelope_last: dict[TextKey, str] = {}
        self._flagged = False

    async def feed(self, chunks: list[Any], *, final: bool = False) -> list[Any]:
        """Add ``chunks``; return the chunks that may be shown now (all of them when ``final``)."""
        for chunk in chunks:
            self._held.append((chunk, self._add(chunk)))
        count = len(self._held) if final else self._releasable()
        if count == 0:
            return []
        reach = self._reach(count, final)
        if not self._flagged and reach:
            self._flagged = await self._policy.enforce(self._windows(reach, final), agent=self._agent,
                                                       call_id=self._call_id, events=self._events)
        for key, end in reach.items():
            self._texts[key].released = end
        return [self._held.popleft()[0] for _ in range(count)]

    def _add(self, chunk: Any) -> dict[TextKey, int]:
        """Add a chunk's pieces to their texts and finish the texts it ends; where it ends in each text."""
        ends: dict[TextKey, int] = {}
        for key, piece in chunk_texts(chunk).items():
            if key[0] == ENVELOPE:
                if self._envelope_last.get(key) == piece:
                    continue  # a chunk's own field repeated from the chunk before: read once
                self._envelope_last[key] = piece
            field = self._texts.get(key)
            if field is None:
                field = self._texts[key] = _FieldText(is_streamed(key[1]), field_order(key[1]))
            ends[key] = field.add(piece)
        self._finish(ends, finished_choices(chunk))
        return ends

    def _finish(self, ends: dict[TextKey, int], ended: set[int]) -> None:
        """Finish every text of the choices in ``ended``, and every text a field of this chunk comes after."""
        latest: dict[int, tuple[int, int]] = {}  # per choice, the latest field this chunk extends
        for key in ends:
            choice, order = key[0], self._texts[key].order
            if order is not None and (choice not in latest or order > latest[choice]):
                latest[choice] = order
        for (choice, _), field in self._texts.items():
            later = latest.get(choice)
            if choice in ended or (later is not None and field.order is not None and field.order < later):
                field.finished = len(field.text)

    def _reach(self, count: int, final: bool) -> dict[TextKey, int]:
        """How far each text the first ``count`` held chunks extend is released with them."""
        if final:
            return {key: len(f.text) for key, f in self._texts.items() if f.released < len(f.text)}
        reach: dict[TextKey, int] = {}
        for index in range(count):
            for key, end in self._held[index][1].items():
                reach[key] = max(reach.get(key, 0), end)
        return reach

    def _windows(self, reach: dict[TextKey, int], final: bool) -> list[TextWindow]:
        hold = self._policy.hold_back
        return [TextWindow(f.text, start=f.back(f.released, hold), end=None if final else end)
                for key, end in reach.items() for f in (self._texts[key],)]

    def _releasable(self) -> int:
        count = self._within(self._hold_limit)
        outbound = self._policy.outbound
        if count and self._policy.moderates and outbound is not None:
            # Moderated text goes to another provider: never past a value that is still arriving.
            def settled(key: TextKey) -> int:
                field = self._texts[key]
                if not field.streamed or field.finished == len(field.text):
                    # Complete: no value in it is still arriving (a resumed text is viewed again with its
                    # released context, so a value it completes is a placeholder from then on).
                    return len(field.text)
                return max(min(self._hold_limit(key), outbound.settled(field.text)), field.finished)

            count = self._within(settled)
        if self._policy.batched and not self._flagged and count:
            reach = self._reach(count, False)
            if not self._completes_a_text(reach):
                fresh = sum(end - self._texts[key].released for key, end in reach.items())
                if fresh < max(1, self._policy.hold_back):
                    return 0
        return count

    def _completes_a_text(self, reach: dict[TextKey, int]) -> bool:
        """Whether releasing to ``reach`` releases the end of a finished text (checked however short)."""
        return any(field.released < field.finished <= end
                   for key, end in reach.items() for field in (self._texts[key],))

    def _hold_limit(self, key: TextKey) -> int:
        field = self._texts[key]
        if not field.streamed:
            return len(field.text)
        return max(field.back(len(field.text), self._policy.hold_back), field.finished)

    def _within(self, limit: Callable[[TextKey], int]) -> int:
        """How many held chunks end, in every text they extend, at or before that text's ``limit``."""
        limits: dict[TextKey, int] = {}
        count = 0
        for _, ends in self._held:
            for key, end in ends.items():
                if key not in limits:
                    limits[key] = limit(key)
                if end > limits[key]:
                    return count
            count += 1
        return count


class RouterModerator:
    """Calls a moderation model group through the Loom's Router: egress-checked, budgeted, logged.

    The call is charged to the agent whose answer is checked, under the agent's budget, and logged
    as an ``llm.call`` event of kind ``moderation``.
    """

    def __init__(self, loom: Loom, group: str) -> None:
        self._loom = loom
        self._group = group

    async def __call__(self, text: str, *, agent: str, call_id: str) -> Any:
        from loomllm._budget import estimate_call

        loom = self._loom
        deployments = loom.config.groups.get(self._group, [])
        policy = loom.egress_policy(agent)
        self._check_egress(deployments, policy, agent)
        estimate = estimate_call([{"role": "user", "content": text}], deployments=deployments, max_tokens=0,
                                 default_output_cap=0, config=loom.config.loom.budgets)
        reservation = await loom.ledger.reserve(agent, estimate) if loom.ledger.applies_to(agent) else None
        moderation_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        outcome, refused, response = "ok", False, None
        # The moderation request is an attempt of this agent's call like any other: checked per attempt.
        from loomllm._attempt import CallState, call_scope
        from loomllm._litellm.callbacks import call_metadata
        from loomllm.config import deployment_id

        loom.attempts.reach.setdefault(agent, set()).update(deployment_id(d) for d in deployments)
        # With the agent's guard, the attempt check scans the moderation input as it scans any request.
        state = CallState(loom_id=loom.id, agent=agent, call_id=moderation_id, egress=policy, guard=loom.guard(agent))
        try:
            with call_scope(state):
                response = await loom._litellm_router().amoderation(
                    model=self._group, input=text, metadata=call_metadata(loom.id, agent, moderation_id))
            return response
        except BaseException as exc:
            outcome, refused = type(exc).__name__, is_refusal(exc)
            raise
        finally:
            hidden = getattr(response, "_hidden_params", None) or {}
            answered = hidden.get("model_id")
            # Moderation answers carry no usage: the input is the estimate's, the output nothing.
            tokens = estimate.input_tokens if outcome == "ok" else 0
            cost = moderation_cost(deployments, answered, tokens)
            await self._settle(reservation, outcome, tokens, cost, answered)
            loom.events.emit("llm.call", agent=agent, call_id=moderation_id, parent_call_id=call_id,
                             kind="moderation", model_group=self._group, deployment=answered,
                             tokens_in=tokens, tokens_out=0, cost_usd=cost,
                             cache_hit=False, latency_ms=round((time.perf_counter() - started) * 1000, 2),
                             outcome=outcome, refused=refused)

    @staticmethod
    async def _settle(reservation: Any, outcome: str, tokens: int, cost: float, deployment: str | None) -> None:
        if reservation is None:
            return
        if outcome != "ok":
            await reservation.release()
            return
        from loomllm._budget import Usage

        await reservation.settle(Usage(input_tokens=tokens, output_tokens=0, cost_usd=cost, deployment=deployment))

    @staticmethod
    def _check_egress(deployments: list[dict[str, Any]], policy: Any, agent: str) -> None:
        if policy is None:
            return
        from loomllm._egress import deployment_url, egress_check
        from loomllm.config import deployment_id
        from loomllm.errors import EgressDenied

        for dep in deployments:
            url = deployment_url(dep)
            if url is None:
                raise EgressDenied(agent=agent, deployment=deployment_id(dep), host="<unknown>",
                                   reason="the moderation deployment's host cannot be resolved")
            egress_check(url, policy, agent=agent, deployment=deployment_id(dep))


def moderation_cost(deployments: Sequence[Mapping[str, Any]], answered: str | None, input_tokens: int) -> float:
    """USD of a moderation call of ``input_tokens`` on deployment ``answered`` (priced as the agent prices
    its own calls); an unknown deployment: the dearest priced one of the group, unpriced ones: nothing."""
    from loomllm._budget import deployment_cost, deployment_price
    from loomllm.config import deployment_id

    costs: list[float] = []
    for deployment in deployments:
        if deployment_price(deployment) is None:
            continue
        cost = deployment_cost(deployment, input_tokens, 0)
        if deployment_id(deployment) == answered:
            return cost
        costs.append(cost)
    return max(costs, default=0.0)


class ContentPolicies:
    """The output content policies of one Loom, built per agent on first use."""

    def __init__(self, loom: Loom) -> None:
        self._loom = loom
        self._section = loom.config.loom.output_policy
        self._built: dict[str, ContentPolicy | None] = {}
        self._checks: dict[str, UserCheck | None] = {}
        self._validate()

    def _validate(self) -> None:
        file = str(self._loom.config.source) if self._loom.config.source else None
        for name, config in self._section.policies.items():
            path = f"loomllm.output_policy.policies.{name}"
            if config.moderation is not None and config.moderation.model not in self._loom.config.groups:
                known = ", ".join(sorted(self._loom.config.groups)) or "none"
                raise ConfigError(f"unknown model group {config.moderation.model!r} (known: {known})", file=file,
                                  path=f"{path}.moderation.model")
            try:
                self._checks[name] = load_callable(config.callable) if config.callable else None
            except ValueError as exc:
                raise ConfigError(str(exc), file=file, path=f"{path}.callable") from None
        for agent, spec in self._loom.config.loom.agents.items():
            self._check_moderation_prices(agent, spec.budget)

    def _check_moderation_prices(self, agent: str, budget: str | None) -> None:
        """An agent under a USD limit cannot have its answers moderated by an unpriced deployment (a
        silent $0 would make every moderation call free)."""
        name = self._section.policy_name(agent)
        moderation = self._section.policies[name].moderation if name is not None else None
        if moderation is None:
            return
        from loomllm._budget import check_prices

        check_prices(self._loom.config.loom.budgets, {agent: budget},
                     {agent: self._loom.config.groups.get(moderation.model, [])})

    def _budget_policy(self, agent: str) -> str | None:
        try:
            return self._loom.spec(agent).budget
        except KeyError:
            return None

    def _outbound(self, agent: str) -> Outbound | None:
        guard = self._loom.guard(agent)
        return None if guard is None else guard.outbound(agent)

    def for_agent(self, agent: str) -> ContentPolicy | None:
        """The policy bound to ``agent``, or None."""
        if agent not in self._built:
            name = self._section.policy_name(agent)
            if name is None:
                self._built[agent] = None
            else:
                self._check_moderation_prices(agent, self._budget_policy(agent))
                config = self._section.policies[name]
                moderator = RouterModerator(self._loom, config.moderation.model) if config.moderation else None
                self._built[agent] = ContentPolicy(name, config, user_check=self._checks.get(name),
                                                   moderator=moderator, outbound=self._outbound(agent))
        return self._built[agent]
