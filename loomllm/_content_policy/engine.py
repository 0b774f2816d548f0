"""Output content policies at run time: check an answer (whole or streamed), then block or flag it."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from loomllm._telemetry.audit import POLICY_DECISION, emit_decision
from loomllm.errors import ConfigError, ContentPolicyViolation, PolicyViolation

from .config import ContentPolicyConfig, ModerationConfig
from .rules import DenyMatcher, UserCheck, load_callable, moderation_categories, run_user_check

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = ["ContentPolicies", "ContentPolicy", "ContentStreamFilter", "Moderator", "RouterModerator"]


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

    async def verdict(self, text: str, *, agent: str, call_id: str, start: int = 0,
                      end: int | None = None) -> tuple[str, list[str]] | None:
        """``(source, categories)`` of the first check ``text[start:]`` fails, or None.

        The moderation model sees ``text[start:end]`` only (a stream's text up to what can no longer
        grow into a value the guardrail acts on).

        Deny rules and the user callable run in this process and see the provider's text; the
        moderation model is another provider and gets the guardrail's outbound view of it.
        A failed moderation call gives ``("moderation_error", [error type])`` when the policy fails
        closed, ``("unchecked", [error type])`` when it fails open.
        """
        window = text[start:]
        if not window:
            return None
        found = self._deny.matches(window)
        if found:
            return "deny", found
        if self._user_check is not None:
            reasons = await run_user_check(self._user_check, window)
            if reasons:
                return "callable", reasons
        if self._moderator is not None and self.config.moderation is not None:
            stop = len(text) if end is None else end
            outbound = self.outbound.view(text, start, stop) if self.outbound is not None else text[start:stop]
            return await self._moderate(outbound, self.config.moderation, agent=agent, call_id=call_id)
        return None

    async def _moderate(self, text: str, config: ModerationConfig, *, agent: str,
                        call_id: str) -> tuple[str, list[str]] | None:
        assert self._moderator is not None
        try:
            response = await self._moderator(text, agent=agent, call_id=call_id)
        except PolicyViolation:
            raise  # the moderation call itself was refused (budget, egress): that refusal is the answer
        except Exception as exc:
            source = "moderation_error" if self.config.on_error == "fail_closed" else "unchecked"
            return source, [type(exc).__name__]
        categories = moderation_categories(response, config)
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

    async def enforce(self, text: str, *, agent: str, call_id: str, events: _Events, start: int = 0,
                      end: int | None = None) -> bool:
        """Check ``text[start:]`` and act on the verdict; True when it was flagged (a block raises)."""
        verdict = await self.verdict(text, agent=agent, call_id=call_id, start=start, end=end)
        if verdict is None:
            return False
        if verdict[0] == "unchecked":  # the moderation call failed and the policy fails open: say so loudly
            events.emit(POLICY_DECISION, level="error", agent=agent, call_id=call_id, policy="content",
                        decision="unchecked", reason=verdict[1][0], content_policy=self.name)
            return False
        self.report(verdict, agent=agent, call_id=call_id, events=events)
        return True

    async def check_response(self, response: Any, *, agent: str, call_id: str, events: _Events) -> Any:
        """Check a complete answer (every choice's text and tool-call arguments); returns it unchanged."""
        flagged = await self.enforce(response_text(response), agent=agent, call_id=call_id, events=events)
        if flagged:
            hidden = getattr(response, "_hidden_params", None)
            if isinstance(hidden, dict):
                hidden["loomllm_content_flagged"] = True
        return response

    def stream_filter(self, *, agent: str, call_id: str, events: _Events) -> ContentStreamFilter:
        """A filter for one streamed answer (see :class:`ContentStreamFilter`)."""
        return ContentStreamFilter(self, agent=agent, call_id=call_id, events=events)


class ContentStreamFilter:
    """Holds back the last ``hold_back`` characters of a stream until they are checked.

    Works on whole chunks, in order: a chunk is released once the text after it is at least
    ``hold_back`` characters long and the text so far (with ``hold_back`` characters of already
    released context) passed the policy. With a moderation model or a callable, text is released in
    batches of ``hold_back`` characters, one check per batch. A deny word or pattern shorter than
    the hold-back is therefore seen whole before any of it reaches the caller.
    """

    def __init__(self, policy: ContentPolicy, *, agent: str, call_id: str, events: _Events) -> None:
        self._policy = policy
        self._agent = agent
        self._call_id = call_id
        self._events = events
        self._held: deque[tuple[Any, int]] = deque()
        self._text = ""
        self._released = 0  # characters of text released so far
        self._flagged = False

    async def feed(self, chunks: list[Any], *, final: bool = False) -> list[Any]:
        """Add ``chunks``; return the chunks that may be shown now (all of them when ``final``)."""
        for chunk in chunks:
            text = chunk_text(chunk)
            self._held.append((chunk, len(text)))
            self._text += text
        count, chars = self._releasable(final)
        if count == 0:
            return []
        if not self._flagged and (final or chars > 0):
            start = max(0, self._released - self._policy.hold_back)
            end = None if final else self._released + chars
            self._flagged = await self._policy.enforce(self._text, start=start, end=end, agent=self._agent,
                                                       call_id=self._call_id, events=self._events)
        out = [self._held.popleft()[0] for _ in range(count)]
        self._released += chars
        return out

    def _releasable(self, final: bool) -> tuple[int, int]:
        if final:
            return len(self._held), sum(n for _, n in self._held)
        count, chars = self._within(len(self._text) - self._policy.hold_back)
        outbound = self._policy.outbound
        if count and self._policy.moderates and outbound is not None:
            # Moderated text goes to another provider: never past a value that is still arriving.
            count, chars = self._within(min(len(self._text) - self._policy.hold_back, outbound.settled(self._text)))
        return count, chars

    def _within(self, limit: int) -> tuple[int, int]:
        """How many held chunks (and characters) end at or before ``limit`` in the text."""
        count, chars = 0, 0
        for _, n in self._held:
            if self._released + chars + n > limit:
                break
            count, chars = count + 1, chars + n
        if self._policy.batched and not self._flagged and chars < max(1, self._policy.hold_back):
            return 0, 0
        return count, chars


def response_text(response: Any) -> str:
    """The text of every choice of a chat response: content, then tool-call arguments."""
    parts: list[str] = []
    for choice in getattr(response, "choices", None) or []:
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        if isinstance(content, str):
            parts.append(content)
        for call in getattr(message, "tool_calls", None) or []:
            arguments = getattr(getattr(call, "function", None), "arguments", None)
            if isinstance(arguments, str):
                parts.append(arguments)
    return "\n".join(parts)


def chunk_text(chunk: Any) -> str:
    """The text a stream chunk adds: content and tool-call argument deltas."""
    parts: list[str] = []
    for choice in getattr(chunk, "choices", None) or []:
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None)
        if isinstance(content, str):
            parts.append(content)
        for call in getattr(delta, "tool_calls", None) or []:
            arguments = getattr(getattr(call, "function", None), "arguments", None)
            if isinstance(arguments, str):
                parts.append(arguments)
    return "".join(parts)


class RouterModerator:
    """Calls a moderation model group through the Loom's Router: egress-checked, budgeted, logged.

    The call is charged to the agent whose answer is checked, under the agent's budget, and logged
    as an ``llm.call`` event of kind ``moderation``.
    """

    def __init__(self, loom: Loom, group: str) -> None:
        self._loom = loom
        self._group = group

    async def __call__(self, text: str, *, agent: str, call_id: str) -> Any:
        from loomllm._budget import Usage, estimate_call

        loom = self._loom
        deployments = loom.config.groups.get(self._group, [])
        policy = loom.egress_policy(agent)
        self._check_egress(deployments, policy, agent)
        reservation = None
        if loom.ledger.applies_to(agent):
            estimate = estimate_call([{"role": "user", "content": text}], deployments=deployments, max_tokens=0,
                                     default_output_cap=0)
            reservation = await loom.ledger.reserve(agent, estimate)
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
            outcome, refused = type(exc).__name__, isinstance(exc, PolicyViolation)
            raise
        finally:
            tokens = reservation.estimate.input_tokens if reservation is not None else 0
            if reservation is not None:
                if outcome == "ok":
                    await reservation.settle(Usage(input_tokens=tokens, output_tokens=0, cost_usd=0.0))
                else:
                    await reservation.release()
            hidden = getattr(response, "_hidden_params", None) or {}
            loom.events.emit("llm.call", agent=agent, call_id=moderation_id, parent_call_id=call_id,
                             kind="moderation", model_group=self._group, deployment=hidden.get("model_id"),
                             tokens_in=tokens if outcome == "ok" else 0, tokens_out=0, cost_usd=0.0,
                             cache_hit=False, latency_ms=round((time.perf_counter() - started) * 1000, 2),
                             outcome=outcome, refused=refused)

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
                config = self._section.policies[name]
                moderator = RouterModerator(self._loom, config.moderation.model) if config.moderation else None
                self._built[agent] = ContentPolicy(name, config, user_check=self._checks.get(name),
                                                   moderator=moderator, outbound=self._outbound(agent))
        return self._built[agent]
