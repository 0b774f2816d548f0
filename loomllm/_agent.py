"""``UnifiedAgent``: the class agent code subclasses. Its call path is the architecture.

Every call, sync or async, streamed or not, goes the same way (:meth:`UnifiedAgent._call`)::

    render prompt → input guardrails → budget reserve → Router (egress hook on each attempt)
        → output guardrails → budget settle → log event
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import BaseModel

from loomllm._attempt import CallState, call_scope, strings_of
from loomllm._budget import Estimate, PricingPlan, Usage, estimate_call, pricing_plan, quick_estimate
from loomllm._litellm import count_tokens, model_output_limit, supports_response_schema, write_response_cache
from loomllm._litellm.callbacks import call_metadata, unwrap_stop
from loomllm._litellm.errors import maybe_processed, to_provider_error
from loomllm._middleware import agent_namespace, deployment_limit, has_tpm, request_material
from loomllm._output import Schema, ToolCall, tool_calls
from loomllm._params import check_call_params
from loomllm._telemetry import emit_allowed, emit_decision, emit_redactions, is_refusal
from loomllm.config import AgentConfig, deployment_id
from loomllm.errors import (
    ConfigError,
    Finding,
    ForbiddenParameter,
    LoomError,
    OutputValidationError,
    PolicyViolation,
)
from loomllm.prompts import resolve_system_prompt

if TYPE_CHECKING:
    # litellm.ModelResponse and litellm.EmbeddingResponse are these (mypy cannot follow litellm's lazy names)
    from litellm.types.utils import EmbeddingResponse, ModelResponse, ModelResponseStream

    from loomllm._budget import LimitStatus, Reservation
    from loomllm._content_policy import ContentStreamFilter
    from loomllm._guardrails import Guard, Vault
    from loomllm._runtime import Loom

Messages = str | Sequence[Mapping[str, Any]]

# Call parameters that carry no text: every other one is scanned by the input guardrail like messages.
_NOT_TEXT_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "n", "seed", "logprobs", "top_logprobs",
                              "presence_penalty", "frequency_penalty", "parallel_tool_calls", "stream_options",
                              "timeout", "cache", "caching", "num_retries", "reasoning_effort", "top_k",
                              "verbosity", "logit_bias",
                              "budget_keys"})  # budget_keys: a budget scope, never sent (and never redacted)


#: After a quick bound gave way to the counted estimate (a limit is near), count first for this long.
_COUNT_NEAR_LIMIT_S = 2.0


@dataclass
class _Call:
    """One request on its way through the call path."""

    kind: str  # "completion" | "stream" | "embedding"
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started: float = field(default_factory=time.perf_counter)
    state: CallState | None = None  # what the attempt half sees of this call
    cache_lookup: bool = False  # the response cache was consulted (for hit/miss counts)
    shared: bool = False  # answered by an identical in-flight call (single-flight): costs nothing
    vault: Vault | None = None  # the guardrail's vault of this call (its redaction counts reach the audit)
    estimate: Estimate | None = None  # the worst case, once counted (the budget and the tpm bucket share it)
    budget_keys: Any = None  # the call-time budget scope (never sent; part of the single-flight key)


class UnifiedAgent:
    """An agent whose model, spend, data and destinations are decided by the YAML config.

    Subclass it and set class attributes (``name``, ``model``, ``system_prompt``, ``defaults``...),
    or get one from YAML alone with ``loom.agent("planner")``. Values in the YAML file override
    class attributes, so swapping a model never needs a code change.
    """

    name: ClassVar[str | None] = None
    model: ClassVar[str | None] = None
    embedding_model: ClassVar[str | None] = None
    system_prompt: ClassVar[str | None] = None
    prompt_file: ClassVar[str | None] = None
    prompt: ClassVar[str | None] = None
    defaults: ClassVar[Mapping[str, Any]] = {}
    budget: ClassVar[str | None] = None
    guardrails: ClassVar[str | None] = None
    egress: ClassVar[str | None] = None

    def __init__(self, loom: Loom, name: str | None = None) -> None:
        agent_name = name or type(self).name
        if not agent_name:
            raise TypeError(f"{type(self).__name__} needs a name (class attribute `name` or the `name` argument)")
        self.loom = loom
        self.agent_name: str = agent_name
        self.spec: AgentConfig = self._resolve_spec(loom, agent_name)
        self._template = loom.template(self.spec.prompt) if self.spec.prompt else None
        # The agent's own system prompt (prompt_file, else inline); the template's system part is
        # rendered per call, with the caller's variables.
        self._system_override = resolve_system_prompt(
            prompt_file=self.spec.prompt_file,
            system_prompt=self.spec.system_prompt,
            template=None,
            base_dir=loom.config.base_dir,
        )
        self._deployments = loom.reachable_deployments(agent_name)
        self._guard: Guard | None = loom.guard(agent_name)
        self._egress_policy = loom.egress_policy(agent_name)
        self._budgeted = loom.ledger.applies_to(agent_name)
        self._content = loom.content_policies.for_agent(agent_name)
        self._allowed_extra = frozenset(self.spec.allow_params)
        self._check_default_params()
        self._output_limit_cache: tuple[int | None] | None = None
        self._pricing: PricingPlan | None = None
        self._namespace: str | None = None  # the agent's cache namespace (a digest of the cache's identity)
        # Until then, reservations hold the counted estimate: a limit of this agent (any of its budget keys) is near.
        self._count_until = 0.0
        self._allowed_cache: tuple[tuple[str, str], ...] | None = None

    # --- public API: async ------------------------------------------------------------------

    async def complete(self, messages: Messages | None = None, *, variables: Mapping[str, Any] | None = None,
                       **params: Any) -> ModelResponse:
        """Send a chat completion; returns LiteLLM's ``ModelResponse`` (OpenAI format).

        ``messages`` is a string (one user message) or OpenAI-format messages. With ``variables``
        the agent's prompt template is rendered first.
        """
        call = _Call("completion", self._render(messages, variables), self._params(params))
        return cast("ModelResponse", await self._call(call))

    def stream(self, messages: Messages | None = None, *, variables: Mapping[str, Any] | None = None,
               **params: Any) -> AsyncIterator[ModelResponseStream]:
        """Stream a chat completion: an async iterator of ``ModelResponseStream`` chunks.

        Usage is always counted (``stream_options.include_usage`` is injected); a consumer that
        stops early is charged for what was produced.
        """
        call = _Call("stream", self._render(messages, variables), self._params(params))
        return self._call_stream(call)

    async def chat(self, user: str, system: str | None = None, **params: Any) -> str:
        """Ask one question, get the answer's text."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user})
        response = await self.complete(messages, **params)
        return str(response.choices[0].message.content or "")

    async def json(self, prompt: Messages, schema: type[BaseModel] | Mapping[str, Any], **params: Any) -> Any:
        """Ask for structured output validated against ``schema`` (a pydantic model or a JSON schema).

        Uses the provider's structured-output mode where the model supports it, else JSON mode
        with the schema in the instructions. Invalid output is re-asked once with the validation
        error; after that :class:`~loomllm.errors.OutputValidationError` carries the raw text.
        """
        spec = Schema(schema)
        if spec.remote_refs():
            raise ForbiddenParameter(agent=self.agent_name, parameter="schema",
                                     reason="a $ref outside the schema would be fetched; inline the definitions")
        native = self._supports_response_schema()
        messages = self._render(prompt, None)
        if not native:
            messages.insert(_after_system(messages), {"role": "system", "content": spec.instruction()})
        params = {**params, "response_format": spec.response_format(native)}
        text = await self._answer_text(messages, params)
        try:
            return spec.validate(text)
        except ValueError as first_error:
            messages += [
                {"role": "assistant", "content": text},
                {"role": "user", "content": f"That reply is invalid: {first_error}. "
                                            "Reply again with only JSON that matches the schema."},
            ]
        text = await self._answer_text(messages, params)
        try:
            return spec.validate(text)
        except ValueError as second_error:
            raise OutputValidationError(f"agent {self.agent_name!r}: structured output invalid after one re-ask: "
                                        f"{second_error}", raw=text) from None

    async def embed(self, texts: str | Sequence[str], **params: Any) -> list[list[float]]:
        """Embed ``texts`` with the agent's ``embedding_model`` group."""
        response = await self.embed_response(texts, **params)
        return [list(item["embedding"]) for item in response.data]

    async def embed_response(self, texts: str | Sequence[str], **params: Any) -> EmbeddingResponse:
        """Like :meth:`embed`, returning LiteLLM's ``EmbeddingResponse`` (vectors, model, usage)."""
        if self.spec.embedding_model is None:
            raise LoomError(f"agent {self.agent_name!r} has no embedding_model configured")
        items = [texts] if isinstance(texts, str) else list(texts)
        call = _Call("embedding", [{"role": "user", "content": t} for t in items],
                     self._params(params, kind="embedding"))
        return cast("EmbeddingResponse", await self._call(call))

    @staticmethod
    def tool_calls(response: Any) -> list[ToolCall]:
        """The tool calls in ``response``, arguments parsed (see :func:`loomllm.tool_calls`)."""
        return tool_calls(response)

    async def budget_status(self) -> list[LimitStatus]:
        """Spend, reserved and remaining for every limit that applies to this agent."""
        return await self.loom.budgets(self.agent_name)

    # --- public API: sync twins (same path, run on a private loop) ----------------------------

    def complete_sync(self, messages: Messages | None = None, *, variables: Mapping[str, Any] | None = None,
                      **params: Any) -> ModelResponse:
        """Synchronous :meth:`complete`."""
        return cast("ModelResponse", self.loom.run_sync(self.complete(messages, variables=variables, **params)))

    def stream_sync(self, messages: Messages | None = None, *, variables: Mapping[str, Any] | None = None,
                    **params: Any) -> Iterator[ModelResponseStream]:
        """Synchronous :meth:`stream`: an iterator of chunks."""
        return cast("Iterator[ModelResponseStream]",
                    self.loom.iterate_sync(self.stream(messages, variables=variables, **params)))

    def chat_sync(self, user: str, system: str | None = None, **params: Any) -> str:
        """Synchronous :meth:`chat`."""
        return self.loom.run_sync(self.chat(user, system, **params))  # type: ignore[no-any-return]

    def json_sync(self, prompt: Messages, schema: type[BaseModel] | Mapping[str, Any], **params: Any) -> Any:
        """Synchronous :meth:`json`."""
        return self.loom.run_sync(self.json(prompt, schema, **params))

    def embed_sync(self, texts: str | Sequence[str], **params: Any) -> list[list[float]]:
        """Synchronous :meth:`embed`."""
        return self.loom.run_sync(self.embed(texts, **params))  # type: ignore[no-any-return]

    def budget_status_sync(self) -> list[LimitStatus]:
        """Synchronous :meth:`budget_status`."""
        return self.loom.budgets_sync(self.agent_name)

    # --- the call path ------------------------------------------------------------------------

    async def _call(self, call: _Call) -> Any:
        """The whole path of one non-streaming call, in order."""
        vault = self._guard.new_vault() if self._guard else None
        state = self._new_state(call)
        reservation = await self._admit(call, vault, state)
        response = await self._send(call, reservation, state)
        outcome, refused = "ok", False
        try:
            await self._check_content(response, call)
            response = await self._guard_output(response, vault, call, state)
        except BaseException as exc:
            outcome, refused = type(exc).__name__, is_refusal(exc)
            raise
        finally:
            usage = self._usage(response) if not call.shared else Usage(input_tokens=0, output_tokens=0, cost_usd=0.0)
            await self._settle(reservation, usage)
            await self._refund_rate(call, usage)
            self._log_call(call, usage, response=response, outcome=outcome, refused=refused)
        return response

    async def _call_stream(self, call: _Call) -> AsyncIterator[Any]:
        """The streaming path: same steps, settled when the stream ends or is abandoned.

        Every step of the stream runs inside the call's scope: LiteLLM falls back to another
        deployment *while the caller iterates* when a stream fails before its first chunk, and
        that attempt must meet the same checks (and the transport guard the same policy).
        """
        vault = self._guard.new_vault() if self._guard else None
        state = self._new_state(call)
        reservation = await self._admit(call, vault, state)
        wants_usage = bool((call.params.get("stream_options") or {}).get("include_usage"))
        call.params["stream_options"] = {**(call.params.get("stream_options") or {}), "include_usage": True}
        stream = await self._send(call, reservation, state)
        tally = _StreamTally()
        filtered = None
        if self._guard is not None and vault is not None:
            filtered = self._guard.stream_filter(vault, agent=self.agent_name)
        content = self._content.stream_filter(agent=self.agent_name, call_id=call.call_id,
                                              events=self.loom.events) if self._content else None
        outcome, refused = "ok", False
        try:
            while True:
                with call_scope(state):
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        break
                tally.add(chunk)
                for out in _guarded(filtered, await _police(content, [chunk])):
                    if out.choices or wants_usage:
                        yield out
            for out in _guarded(filtered, await _police(content, [], final=True), final=True):
                if out.choices or wants_usage:
                    yield out
        except GeneratorExit:
            outcome = "abandoned"
            raise
        except BaseException as exc:
            translated = self._translate(exc, state)
            outcome, refused = type(translated).__name__, is_refusal(translated)
            if translated is exc:
                raise
            raise translated from _cause(exc)
        finally:
            with suppress(Exception), call_scope(state):
                await stream.aclose() if hasattr(stream, "aclose") else None
            try:
                tokens_in, tokens_out = tally.tokens(self._model_name_for_count(), call)
            except Exception:  # counting must never leave the reservation held: charge the worst case
                estimate = self._worst_case(call, reservation)
                tokens_in, tokens_out = (estimate.input_tokens, estimate.output_tokens) if estimate else (0, 0)
            if outcome != "ok" and tally.reported is None and reservation is not None:
                # Stopped before the provider's usage: it may go on generating (and billing) up to the cap.
                tokens_out = max(tokens_out, reservation.estimate.output_tokens)
            usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out,
                          cost_usd=self._cost(tally.deployment, tokens_in, tokens_out), deployment=tally.deployment)
            await self._settle(reservation, usage)
            await self._refund_rate(call, usage)
            self._log_call(call, usage, outcome=outcome, deployment=tally.deployment, refused=refused)

    # --- steps --------------------------------------------------------------------------------

    def _render(self, messages: Messages | None, variables: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Step 1: the messages to send (template rendered, system prompt in front)."""
        if variables is not None or messages is None:
            if self._template is None:
                raise LoomError(f"agent {self.agent_name!r}: no messages given and no prompt template configured")
            rendered: list[dict[str, Any]] = [dict(m) for m in self._template.render(**(variables or {}))]
            if self._system_override is not None:
                rendered = [m for m in rendered if m["role"] != "system"]
                rendered.insert(0, {"role": "system", "content": self._system_override})
            return rendered + _as_messages(messages) if messages is not None else rendered
        out = _as_messages(messages)
        system = self._system_override
        if system is None and self._template is not None:
            system = self._template.render_system()
        if system is not None and not any(m.get("role") == "system" for m in out):
            out.insert(0, {"role": "system", "content": system})
        return out

    def _params(self, params: Mapping[str, Any], *, kind: str = "completion") -> dict[str, Any]:
        """The call's parameters: the caller's (allowlisted and bounded) over the agent's defaults."""
        params = {key: _plain_param(value) for key, value in params.items()}
        if kind == "embedding":
            # chat defaults (temperature, max_tokens...) mean nothing to embeddings
            merged = dict(params)
        else:
            # The agent's defaults (YAML params, class ``defaults``) pass the same allowlist as the caller's.
            merged = {**{k: _plain_param(v) for k, v in self.spec.default_params().items()}, **params}
        check_call_params(merged, agent=self.agent_name, kind=kind, allowed_extra=self._allowed_extra,
                          max_n=self.spec.max_n, max_output_tokens=self._output_limit())
        if kind == "embedding":
            return merged
        if "max_completion_tokens" in merged:
            # One output cap, the one the estimate reads: LiteLLM maps it per provider.
            cap = merged.pop("max_completion_tokens")
            merged["max_tokens"] = params.get("max_tokens", cap)
        if (self._budgeted or "budget_keys" in params) and merged.get("max_tokens") is None:
            # Bound the worst case so that the reservation is a real upper limit.
            merged["max_tokens"] = self.loom.config.loom.budgets.default_output_cap
        return merged

    def _check_default_params(self) -> None:
        """The agent's own defaults (YAML ``params``, class ``defaults``) are held to the caller allowlist."""
        defaults = {k: _plain_param(v) for k, v in self.spec.default_params().items()}
        try:
            check_call_params(defaults, agent=self.agent_name, kind="completion", allowed_extra=self._allowed_extra,
                              max_n=self.spec.max_n)
        except (ForbiddenParameter, TypeError) as error:
            key = getattr(error, "parameter", "params")
            reason = getattr(error, "reason", str(error))
            raise ConfigError(f"default parameter {key!r} refused: {reason}", file=self.loom._file,
                              path=f"loomllm.agents.{self.agent_name}.params.{key}") from None

    def _new_state(self, call: _Call) -> CallState:
        call.state = CallState(loom_id=self.loom.id, agent=self.agent_name, call_id=call.call_id,
                               egress=self._egress_policy, guard=self._guard)
        return call.state

    async def _admit(self, call: _Call, vault: Vault | None, state: CallState) -> Reservation | None:
        """Steps 2 and 3, announced to telemetry; a refusal is logged as a call and a policy decision."""
        self.loom.events.notify("llm.call.start", agent=self.agent_name, call_id=call.call_id,
                                model_group=self.spec.embedding_model if call.kind == "embedding" else self.spec.model)
        call.vault = vault
        try:
            await self._guard_input(call, vault, state)
            return await self._reserve(call, state)
        except PolicyViolation as refusal:
            emit_decision(self.loom.events, refusal, agent=self.agent_name, call_id=call.call_id)
            self._log_call(call, None, outcome=type(refusal).__name__, refused=True)
            raise

    async def _guard_input(self, call: _Call, vault: Vault | None, state: CallState) -> None:
        """Step 2: block or redact secrets and PII before anything else sees the request.

        Messages and every call parameter that carries text (tool descriptions, schemas, ``user``,
        ``stop``, metadata...) are scanned; redactions are applied to both. What was scanned is
        remembered, so that the per-attempt scan of the final request only looks at what is new.
        """
        if self._guard is None or vault is None:
            return
        call.messages = await self._guard.protect_input(call.messages, vault, agent=self.agent_name)
        state.seen.update(self._guard.input_texts(call.messages))
        await self._guard_joined_parts(call.messages)
        extras = {k: v for k, v in call.params.items() if k not in _NOT_TEXT_PARAMS}
        if not extras:
            return
        # Each string on its own, as it will be sent (a JSON dump would hide a secret behind an escape).
        texts = list(dict.fromkeys(strings_of(extras)))
        scanned = await self._guard.protect_input([{"role": "user", "content": t} for t in texts], vault,
                                                  agent=self.agent_name)
        replaced = {t: m["content"] for t, m in zip(texts, scanned, strict=True) if m["content"] != t}
        if replaced:
            call.params.update({k: _replace_strings(v, replaced) for k, v in extras.items()})
        state.seen.update(m["content"] for m in scanned)

    async def _guard_joined_parts(self, messages: list[dict[str, Any]]) -> None:
        """Text parts of one message scanned as one text too: several adapters join them with no separator."""
        assert self._guard is not None
        for index, message in enumerate(messages):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            parts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if len(parts) < 2:
                continue
            for joined in dict.fromkeys(("".join(parts), "\n".join(parts))):
                decisions = self._guard.decide(joined, "input", message_index=index, agent=self.agent_name)
                if decisions:
                    findings = [Finding(d.entity_type, index, d.start, d.end, d.score, "input") for d in decisions]
                    self._guard.raise_blocked(findings, direction="input", agent=self.agent_name)

    async def _reserve(self, call: _Call, state: CallState) -> Reservation | None:
        """Step 3: reserve the worst-case cost against every budget limit that applies."""
        keys = call.budget_keys = call.params.pop("budget_keys", None)  # a budget scope, never sent to the provider
        if not self._budgeted and not keys:
            return None
        bound = self._quick_estimate(call) if time.monotonic() >= self._count_until else None
        if bound is None:
            reservation = await self.loom.ledger.reserve(self.agent_name, self._call_estimate(call), keys=keys)
        else:
            reservation = await self.loom.ledger.reserve(self.agent_name, bound, keys=keys,
                                                         exact=lambda: self._call_estimate(call))
            if reservation.estimate is not bound:  # near a limit: count exactly for a while, at one store trip
                self._count_until = time.monotonic() + _COUNT_NEAR_LIMIT_S
        if call.kind != "embedding" and reservation is not None:
            state.reserved_output = reservation.estimate.output_tokens
        return reservation

    async def _send(self, call: _Call, reservation: Reservation | None, state: CallState) -> Any:
        """Step 4: the Router call (the attempt checks run before each attempt, fallbacks included).

        If it fails, the reservation is given back and the error is translated: a policy error
        that refused any attempt wins over the provider error the Router re-raises.
        """
        try:
            with call_scope(state):
                return await self._route_once(call, state)
        except BaseException as exc:
            if reservation is not None and state.started is not None and maybe_processed(exc):
                # The provider may have run it: charge the worst case.
                estimate = self._worst_case(call, reservation) or reservation.estimate
                await reservation.settle(Usage(input_tokens=estimate.input_tokens, output_tokens=estimate.output_tokens,
                                               cost_usd=estimate.cost_usd, deployment=state.deployment))
            await self._release(reservation)
            error = self._translate(exc, state)
            emit_decision(self.loom.events, error, agent=self.agent_name, call_id=call.call_id)
            self._log_call(call, None, outcome=type(error).__name__, refused=is_refusal(error))
            if error is exc:  # already translated (single-flight): keep its LiteLLM cause
                raise
            raise error from _cause(exc)

    async def _route_once(self, call: _Call, state: CallState) -> Any:
        """Single-flight: an identical call of this agent already in flight answers this one too."""
        middleware = self.loom.middleware
        if not middleware.coalesces(self.agent_name, call.kind, call.params):
            return await self._route(call)
        # Callers under different budget scopes (tenants, users) each pay for their own answer.
        params = {**call.params, "budget_keys": call.budget_keys} if call.budget_keys else call.params
        material = request_material(self.agent_name, call.kind, self.spec.model, call.messages, params)
        key = hashlib.sha256(material).hexdigest()
        response, call.shared = await middleware.coalesce(material, key, lambda: self._route_translated(call, state))
        return response

    async def _route_translated(self, call: _Call, state: CallState) -> Any:
        try:
            return await self._route(call)
        except Exception as exc:  # followers share the leader's error, already in loomllm's terms
            error = self._translate(exc, state)
            if error is exc:
                raise
            raise error from _cause(exc)

    async def _route(self, call: _Call) -> Any:
        await self._wait_for_rate(call)
        router = self.loom._litellm_router()
        params = dict(call.params)
        metadata = dict(params.pop("metadata", None) or {})
        metadata.update(call_metadata(self.loom.id, self.agent_name, call.call_id))
        if call.kind == "embedding":
            return await router.aembedding(model=self.spec.embedding_model,
                                           input=[m["content"] for m in call.messages], metadata=metadata, **params)
        params["cache"] = {**(params.get("cache") or {}), **self._cache_control(call)}
        if params.get("tools") and not any(t.get("type") == "mcp" for t in params["tools"]):
            # litellm 1.106.2 imports its MCP gateway (proxy code needing the `mcp` package) for any
            # request with tools; plain function tools never need it.
            params["_skip_mcp_handler"] = True
        return await router.acompletion(model=self.spec.model, messages=call.messages, metadata=metadata,
                                        stream=call.kind == "stream", **params)

    async def _guard_output(self, response: Any, vault: Vault | None, call: _Call, state: CallState) -> Any:
        """Step 5: scan the answer; block, redact, and restore placeholders for the caller.

        The response cache gets the answer only after this step, as the guardrail left it but with
        placeholders not restored (a blocked answer is never cached).
        """
        if self._guard is None or vault is None or call.kind == "embedding":
            return response
        caching = state.cache_request is not None and not _is_cache_hit(response)
        # LiteLLM's logging still holds `response` (it runs after we return): restoring placeholders
        # in place would hand it the originals, so restore works on a copy. Without a placeholder to
        # restore, the guardrail only blocks, redacts or masks, which LiteLLM may see done in place.
        restores = caching or self._guard.restores_into(response, vault)
        target = copy.deepcopy(response) if restores else response
        guarded = await self._guard.protect_output(target, vault, agent=self.agent_name)
        if caching and state.cache_request is not None:
            for_cache = await self._guard.protect_output(copy.deepcopy(response), self._guard.new_vault(),
                                                         agent=self.agent_name)
            await write_response_cache(for_cache, state.cache_request)
        return guarded

    async def _check_content(self, response: Any, call: _Call) -> None:
        """Step 5a: the output content policy, on the provider's own text.

        Before the guardrail restores placeholders: a moderation model is a provider too, and must
        never receive the values the input guardrail kept from the first one.
        """
        if self._content is not None and call.kind != "embedding":
            await self._content.check_response(response, agent=self.agent_name, call_id=call.call_id,
                                               events=self.loom.events)

    async def _settle(self, reservation: Reservation | None, usage: Usage) -> None:
        """Step 6: replace the reservation by what the call actually used."""
        if reservation is not None:
            await reservation.settle(usage)

    async def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            await reservation.release()

    def _log_call(self, call: _Call, usage: Usage | None, *, response: Any = None, outcome: str = "ok",
                  deployment: str | None = None, refused: bool = False) -> None:
        """Step 7: one event per call (and one for the attempt that answered): names and numbers only."""
        hidden = getattr(response, "_hidden_params", None) or {}
        if call.state is not None and usage is not None and outcome == "ok":
            self.loom.attempts.succeeded(call.state, tokens_in=usage.input_tokens, tokens_out=usage.output_tokens,
                                         cost_usd=usage.cost_usd, cache_hit=bool(usage.cache_hit))
        self._audit(call, outcome)  # before llm.call, which ends the call's span: decisions are its events
        self.loom.events.emit(
            "llm.call",
            agent=self.agent_name,
            call_id=call.call_id,
            kind=call.kind,
            model_group=self.spec.embedding_model if call.kind == "embedding" else self.spec.model,
            deployment=deployment or hidden.get("model_id"),
            tokens_in=usage.input_tokens if usage else 0,
            tokens_out=usage.output_tokens if usage else 0,
            cost_usd=round(usage.cost_usd, 8) if usage else 0.0,
            cache_hit=bool(usage.cache_hit) if usage else False,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 2),
            outcome=outcome,
            refused=refused,
            cache_lookup=call.cache_lookup,
            shared=call.shared,
        )

    def _audit(self, call: _Call, outcome: str) -> None:
        """The call's policy decisions that were not refusals: redactions, and what let it through."""
        if call.vault is not None and call.vault.findings:
            emit_redactions(self.loom.events, call.vault.findings, agent=self.agent_name, call_id=call.call_id)
        if outcome == "ok":
            emit_allowed(self.loom.events, self._allowed_by(), agent=self.agent_name, call_id=call.call_id)

    def _allowed_by(self) -> tuple[tuple[str, str], ...]:
        """``(policy, reason)`` of every policy a call of this agent passed when it went through."""
        if self._allowed_cache is None:
            policies = [("parameter", "allowlisted")]
            if self._guard is not None:
                policies.append(("guardrail", "scanned"))
            if self._budgeted:
                policies.append(("budget", "within_limits"))
            if self._egress_policy is not None:
                policies.append(("egress", "host_allowed"))
            if self._content is not None:
                policies.append(("content", "passed"))
            if self.loom.middleware.rates_enforced and any(deployment_limit(d) for d in self._deployments):
                policies.append(("rate_limit", "within_limit"))
            self._allowed_cache = tuple(policies)
        return self._allowed_cache

    # --- helpers ------------------------------------------------------------------------------

    def _resolve_spec(self, loom: Loom, name: str) -> AgentConfig:
        cls = type(self)
        if cls.model is None:
            if name not in loom.config.loom.agents:
                known = ", ".join(sorted(loom.config.loom.agents)) or "none"
                raise ConfigError(f"agent {name!r} is not in the config and {cls.__name__} sets no model "
                                  f"(known agents: {known})", path="loomllm.agents")
            return loom.spec(name)
        from_class = AgentConfig(
            model=cls.model,
            embedding_model=cls.embedding_model,
            system_prompt=cls.system_prompt,
            prompt_file=cls.prompt_file,
            prompt=cls.prompt,
            params=dict(cls.defaults),
            budget=cls.budget,
            guardrails=cls.guardrails,
            egress=cls.egress,
        )
        return loom.register_agent(name, from_class)

    def _estimate(self, call: _Call) -> Estimate:
        budgets = self.loom.config.loom.budgets
        if call.kind == "embedding":
            return estimate_call(call.messages, deployments=self._deployments, max_tokens=0,
                                 default_output_cap=0, config=budgets, plan=self._pricing_plan())
        return estimate_call(
            call.messages,
            deployments=self._deployments,
            max_tokens=self._output_cap(call),
            default_output_cap=budgets.default_output_cap,
            tools=call.params.get("tools"),
            config=budgets,
            plan=self._pricing_plan(),
        )

    def _worst_case(self, call: _Call, reservation: Reservation | None) -> Estimate | None:
        """What a call that may have run is charged: its counted estimate, else the (quick) one it reserved."""
        if reservation is None:
            return None
        try:
            return self._call_estimate(call)
        except Exception:  # counting must never leave the reservation held
            return reservation.estimate

    def _quick_estimate(self, call: _Call) -> Estimate | None:
        """An upper bound of the estimate without counting tokens (plain chat messages), else ``None``.

        Not for calls under a tpm limit: the rate gate counts them anyway (``_wait_for_rate``).
        """
        if call.kind == "embedding" or call.params.get("tools"):
            return None
        if self.loom.middleware.rates_enforced and has_tpm(self._deployments):
            return None
        return quick_estimate(call.messages, plan=self._pricing_plan(), max_tokens=self._output_cap(call),
                              default_output_cap=self.loom.config.loom.budgets.default_output_cap)

    @staticmethod
    def _output_cap(call: _Call) -> int | None:
        choices = max(1, int(call.params.get("n") or 1))
        max_tokens = call.params.get("max_tokens")
        return max_tokens * choices if max_tokens is not None else None

    def _pricing_plan(self) -> PricingPlan:
        if self._pricing is None:
            self._pricing = pricing_plan(self._deployments, self.loom.config.loom.budgets)
        return self._pricing

    def _usage(self, response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        hidden = getattr(response, "_hidden_params", None) or {}
        model_id = hidden.get("model_id")
        # Our price, not LiteLLM's response_cost: the Router prices unmapped models at $0, and
        # streamed calls are priced here too (one pricing function for both).
        return Usage(input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=self._cost(model_id, tokens_in,
                     tokens_out), cache_hit=bool(hidden.get("cache_hit")), deployment=model_id)

    def _cost(self, model_id: str | None, tokens_in: int, tokens_out: int) -> float:
        """USD of a call on deployment ``model_id``; unknown deployment: the dearest one the agent reaches."""
        costs = []
        for dep, price in zip(self._deployments, self._pricing_plan().prices, strict=True):
            if price is None:
                continue
            cost = price.cost(tokens_in, tokens_out)
            if deployment_id(dep) == model_id:
                return cost
            costs.append(cost)
        return max(costs, default=0.0)

    def _cache_control(self, call: _Call) -> dict[str, Any]:
        if not self.spec.cache:
            return {"no-cache": True, "no-store": True}
        cache_params = self.loom.config.litellm_settings.get("cache_params") or {}
        if self._namespace is None:
            self._namespace = agent_namespace(self.agent_name, cache_params)
        base = {"namespace": self._namespace} if self.loom.config.loom.cache.scope == "agent" else {}
        control = self.loom.middleware.cache_policy.cache_control(self.agent_name, call.params, base, cache_params)
        call.cache_lookup = "no-cache" not in control and bool(self.loom.config.litellm_settings.get("cache"))
        return control

    async def _wait_for_rate(self, call: _Call) -> None:
        """Tell the rate gate what each attempt takes from a tpm bucket (the gate waits per deployment,
        in the Router's pre-call check: ``Loom._before_deployment``)."""
        middleware = self.loom.middleware
        if call.state is None or not middleware.rates_enforced or not has_tpm(self._deployments):
            return
        estimate = self._call_estimate(call)
        call.state.rate_tokens = estimate.input_tokens + estimate.output_tokens

    async def _refund_rate(self, call: _Call, usage: Usage) -> None:
        """Give the answering deployment's tpm bucket back what the call took beyond its real usage."""
        state = call.state
        if state is None or not state.rate_tokens or call.shared or usage.deployment is None:
            return
        used = 0 if usage.cache_hit else usage.input_tokens + usage.output_tokens
        if used < state.rate_tokens:
            with suppress(Exception):  # a refund is a courtesy to later callers; the call has its answer
                await self.loom.middleware.refund_tokens(self._deployments, usage.deployment,
                                                         state.rate_tokens - used)

    def _call_estimate(self, call: _Call) -> Estimate:
        if call.estimate is None:
            call.estimate = self._estimate(call)
        return call.estimate

    def _translate(self, exc: BaseException, state: CallState) -> BaseException:
        """The error the caller sees: a refused attempt's policy error, else a ProviderError; scrubbed."""
        error = state.violation or unwrap_stop(exc) or (state.denials[0] if state.denials else None)
        if error is None and isinstance(exc, Exception):
            error = to_provider_error(exc, agent=self.agent_name)
        scrubber = self.loom.scrubber
        scrubber.scrub_exception(exc)
        if error is None:
            return exc
        scrubber.scrub_exception(error)
        return error

    def _output_limit(self) -> int | None:
        if self._output_limit_cache is None:
            self._output_limit_cache = (_output_limit(self._deployments),)
        return self._output_limit_cache[0]

    def _supports_response_schema(self) -> bool:
        group = self.loom.config.deployments_for(self.spec.model)  # aliases and wildcards resolved
        return bool(group) and supports_response_schema(str(group[0]["litellm_params"]["model"]))

    def _model_name_for_count(self) -> str:
        group = self.loom.config.deployments_for(self.spec.model)  # aliases and wildcards resolved
        return str(group[0]["litellm_params"]["model"]) if group else "gpt-4o-mini"

    async def _answer_text(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        response = await self.complete(messages, **params)
        message = response.choices[0].message
        return str(message.content or "")


class _StreamTally:
    """Counts what a stream produced, for settling when it ends or is abandoned."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reported: Any = None
        self.deployment: str | None = None

    def add(self, chunk: Any) -> None:
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None):
            self.reported = usage
        hidden = getattr(chunk, "_hidden_params", None) or {}
        self.deployment = self.deployment or hidden.get("model_id")
        for choice in getattr(chunk, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None)
            if content:
                self.text.append(content)
            for tool_call in getattr(delta, "tool_calls", None) or []:
                function = getattr(tool_call, "function", None)
                if function is not None and getattr(function, "arguments", None):
                    self.text.append(function.arguments)

    def tokens(self, model: str, call: _Call) -> tuple[int, int]:
        """(input, output) tokens: as the provider reported them, else counted with the tokenizer."""
        if self.reported is not None:
            return int(self.reported.prompt_tokens or 0), int(self.reported.completion_tokens or 0)
        tokens_in = count_tokens(model, messages=call.messages)
        tokens_out = count_tokens(model, text="".join(self.text)) if self.text else 0
        return tokens_in, tokens_out


def _as_messages(messages: Messages) -> list[dict[str, Any]]:
    """Plain dict copies of the messages (message objects, e.g. a response's message, are dumped)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [_plain(m) for m in messages]


def _plain(value: Any) -> Any:
    """``value`` as plain data (pydantic objects and other mappings dumped, strings exact), so guardrails
    see all of it and what they saw is what is sent."""
    if isinstance(value, str):
        return _exact_str(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if not isinstance(value, type) and hasattr(value, "model_dump"):
        return _plain(value.model_dump(exclude_none=True))
    return value


def _after_system(messages: list[dict[str, Any]]) -> int:
    index = 0
    while index < len(messages) and messages[index].get("role") == "system":
        index += 1
    return index


def _exact_str(value: str) -> str:
    """``value`` as an exact ``str`` (a subclass could fake its hash, equality or printing)."""
    return value if type(value) is str else str.encode(value, "utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def _plain_param(value: Any) -> Any:
    """A call parameter as plain JSON-like data: pydantic classes become their schema, mappings dicts."""
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        from loomllm._litellm import response_format_of

        return _plain(response_format_of(value))
    return _plain(value)


def _replace_strings(value: Any, replaced: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return replaced.get(value, value)
    if isinstance(value, dict):
        return {replaced.get(k, k) if isinstance(k, str) else k: _replace_strings(v, replaced)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, replaced) for v in value]
    return value


def _is_cache_hit(response: Any) -> bool:
    return bool((getattr(response, "_hidden_params", None) or {}).get("cache_hit"))


def _output_limit(deployments: Sequence[Mapping[str, Any]]) -> int | None:
    """The largest output any reachable deployment allows (None: unknown), bounding ``max_tokens``."""
    limits = [model_output_limit(str(d["litellm_params"]["model"])) for d in deployments]
    known = [limit for limit in limits if limit]
    return max(known) if known and len(known) == len(limits) else None


def _guarded(filtered: Any, chunks: list[Any], *, final: bool = False) -> list[Any]:
    """``chunks`` through the output guardrail's stream filter (flushed at the end), if there is one."""
    if filtered is None:
        return chunks
    # A copy only where a placeholder may be restored: LiteLLM's logging keeps the chunk it yielded.
    out = [o for chunk in chunks for o in filtered.feed(copy.deepcopy(chunk) if filtered.may_restore() else chunk)]
    return out + list(filtered.flush()) if final else out


async def _police(content: ContentStreamFilter | None, chunks: list[Any], *, final: bool = False) -> list[Any]:
    """The chunks the output content policy lets through now (all of them without a policy)."""
    return chunks if content is None else await content.feed(chunks, final=final)


def _cause(exc: BaseException) -> BaseException | None:
    """What to chain a translated error to: the LiteLLM error, but never a policy wrapper."""
    return None if unwrap_stop(exc) is not None else exc
