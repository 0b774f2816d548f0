"""OpenTelemetry spans and GenAI histograms, checked with the SDK's in-memory exporter and reader."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm import BudgetExceeded, instrument
from loomllm.testing import Reply, WireServer

PROMPT = "Summarise the attached board minutes from 14 February in three bullet points"


def attach(loom: Any, otel: Any) -> Any:
    return instrument(loom, metrics=False, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)


class TestSpans:
    async def test_call_span_with_attempt_child_follows_genai_conventions(self, make_loom: Any, otel: Any) -> None:
        """One CLIENT span per call and one child per attempt, with the GenAI attributes."""
        from opentelemetry.trace import SpanKind

        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        spans = otel.finished()
        call = next(s for s in spans if s.name == "chat smart")
        attempt = next(s for s in spans if s.name == "chat gpt-4o-mini")
        assert SpanKind.CLIENT == call.kind == attempt.kind
        assert call.context.span_id == attempt.parent.span_id
        assert call.start_time <= attempt.start_time <= attempt.end_time <= call.end_time
        expected = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "smart",
            "gen_ai.response.model": "gpt-4o-mini",
            "server.address": "127.0.0.1",
            "gen_ai.agent.name": "planner",
        }
        assert expected == {k: call.attributes[k] for k in expected}
        assert 0 < call.attributes["gen_ai.usage.input_tokens"]
        assert 0 < call.attributes["gen_ai.usage.output_tokens"]
        assert "error.type" not in call.attributes

    async def test_failed_attempt_then_fallback_gives_two_children(self, make_loom: Any, otel: Any,
                                                                   wire_server: WireServer) -> None:
        """A 500 then a fallback answer: two attempt spans, the first with error.type, the call span without."""
        wire_server.route(Reply.status(500), model="broken-model")
        loom = make_loom("agents: {worker: {model: broken}}")
        telemetry = attach(loom, otel)
        await loom.agent("worker").chat(PROMPT)
        telemetry.flush()
        spans = otel.finished()
        call = next(s for s in spans if s.name == "chat broken")
        children = [s for s in spans if s.parent is not None and s.parent.span_id == call.context.span_id]
        errors = [s.attributes.get("error.type") for s in children]
        assert "InternalServerError" in errors
        assert None in errors
        assert "claude-haiku-4-5" == call.attributes["gen_ai.response.model"]
        assert "anthropic" == call.attributes["gen_ai.provider.name"]

    async def test_policy_refusal_is_an_error_span_with_a_decision_event(self, make_loom: Any, otel: Any) -> None:
        """A budget refusal gives a span with error.type and a policy.decision span event (no values)."""
        from opentelemetry.trace import StatusCode

        loom = make_loom("""
            agents: {planner: {model: smart, budget: tight}}
            budgets: {policies: {tight: {limits: [{tokens: 5, per: day}]}}}
        """)
        telemetry = attach(loom, otel)
        with pytest.raises(BudgetExceeded):
            await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        [call] = otel.finished()
        assert "BudgetExceeded" == call.attributes["error.type"]
        assert StatusCode.ERROR == call.status.status_code
        [event] = call.events
        assert "policy.decision" == event.name
        assert "budget" == event.attributes["loomllm.policy"]
        assert "refused" == event.attributes["loomllm.decision"]

    async def test_budget_key_values_stay_out_of_span_events(self, make_loom: Any, otel: Any) -> None:
        """A refusal under a call-time scope names the limit (per_user[0]), never the user's key value."""
        loom = make_loom("""
            agents: {planner: {model: smart}}
            budgets:
              policies: {per_user: {limits: [{tokens: 5, per: day}]}}
              scopes: {user: {default: per_user}}
        """)
        telemetry = attach(loom, otel)
        with pytest.raises(BudgetExceeded):
            await loom.agent("planner").chat(PROMPT, budget_keys={"user": "amara.nwosu@example.org"})
        telemetry.flush()
        dumped = " ".join(str(dict(s.attributes)) + str([dict(e.attributes or {}) for e in s.events])
                          for s in otel.finished())
        assert "per_user[0]" in dumped
        assert "amara.nwosu" not in dumped

    async def test_no_message_content_in_spans(self, make_loom: Any, otel: Any) -> None:
        """No span attribute or event carries any word of the prompt or the answer."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        answer = await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        dumped = " ".join(str(dict(s.attributes)) + str([dict(e.attributes or {}) for e in s.events])
                          for s in otel.finished())
        for word in ("board", "minutes", "February", *answer.split()[1:4]):
            assert word not in dumped

    async def test_stream_is_traced(self, make_loom: Any, otel: Any) -> None:
        """A streamed call ends in one call span once the stream is consumed."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        async for _ in loom.agent("planner").stream(PROMPT):
            pass
        telemetry.flush()
        assert ["chat smart"] == [s.name for s in otel.finished() if s.parent is None]


class TestHistograms:
    async def test_token_usage_and_duration_are_recorded(self, make_loom: Any, otel: Any) -> None:
        """gen_ai.client.token.usage has an input and an output point; duration has one point."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        tokens = otel.histogram_points("gen_ai.client.token.usage")
        assert {"input", "output"} == {p.attributes["gen_ai.token.type"] for p in tokens}
        [duration] = otel.histogram_points("gen_ai.client.operation.duration")
        assert 1 == duration.count
        assert "chat" == duration.attributes["gen_ai.operation.name"]


class TestParentSpan:
    """The call span is a child of the span that was current where the app made the call."""

    @pytest.mark.parametrize("background", [True, False])
    async def test_async_call_is_a_child_of_the_callers_span(self, make_loom: Any, otel: Any,
                                                             background: bool) -> None:
        """Both export modes: the caller's context travels with ``llm.call.start``; attempts stay in its trace."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = instrument(loom, metrics=False, tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider, background=background)
        with otel.tracer_provider.get_tracer("app").start_as_current_span("POST /plans") as app_span:
            await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        spans = {s.name: s for s in otel.finished()}
        app = app_span.get_span_context()
        assert app.span_id == spans["chat smart"].parent.span_id
        assert {app.trace_id} == {spans[n].context.trace_id for n in ("chat smart", "chat gpt-4o-mini")}

    async def test_calls_outside_a_span_are_roots(self, make_loom: Any, otel: Any) -> None:
        """No current span: the call span starts a trace of its own (and two calls do not share one)."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        await loom.agent("planner").chat(PROMPT)
        await loom.agent("planner").chat(PROMPT + " and a fourth")
        telemetry.flush()
        calls = [s for s in otel.finished() if s.name == "chat smart"]
        assert [None, None] == [s.parent for s in calls]
        assert calls[0].context.trace_id != calls[1].context.trace_id

    def test_sync_call_is_a_child_of_the_callers_span(self, make_loom: Any, otel: Any) -> None:
        """``chat_sync`` inside an app span: the call span is its child too (the loop thread runs the call in a
        copy of the calling thread's contextvars: ``call_soon_threadsafe`` copies them)."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = attach(loom, otel)
        with otel.tracer_provider.get_tracer("app").start_as_current_span("nightly job") as app_span:
            loom.agent("planner").chat_sync(PROMPT)
        telemetry.flush()
        call = next(s for s in otel.finished() if s.name == "chat smart")
        assert call.parent is not None and app_span.get_span_context().span_id == call.parent.span_id


class TestPending:
    """Only calls in flight are buffered."""

    def _tracing(self, otel: Any) -> Any:
        from loomllm._telemetry.config import TelemetryConfig
        from loomllm._telemetry.deployments import Deployments
        from loomllm._telemetry.tracing import Tracing

        return Tracing(Deployments([]), TelemetryConfig(), tracer_provider=otel.tracer_provider,
                       meter_provider=otel.meter_provider)

    def test_a_late_event_of_an_ended_call_is_dropped(self, otel: Any) -> None:
        """A decision that arrives after its call's ``llm.call`` is not kept (its span has ended)."""
        tracing = self._tracing(otel)
        tracing({"event": "llm.call.start", "call_id": "c1", "model_group": "smart"})
        tracing({"event": "llm.call", "call_id": "c1", "model_group": "smart", "latency_ms": 3.0})
        tracing({"event": "policy.decision", "call_id": "c1", "policy": "parameter", "decision": "allowed"})
        assert {} == dict(tracing._pending)
        assert 1 == len(otel.finished())

    def test_events_without_a_call_id_are_not_buffered(self, otel: Any) -> None:
        """A decision with no call has no span to go on: nothing waits for it."""
        tracing = self._tracing(otel)
        tracing({"event": "policy.decision", "call_id": None, "policy": "budget", "decision": "refused"})
        assert {} == dict(tracing._pending)

    def test_ended_ids_and_pending_calls_are_bounded(self, otel: Any) -> None:
        """Calls that never end and ids of ended calls are both capped."""
        from loomllm._telemetry import tracing as module

        tracing = self._tracing(otel)
        for i in range(module._MAX_ENDED + 10):
            tracing({"event": "llm.call", "call_id": f"e{i}", "model_group": "smart"})
        for i in range(module._MAX_PENDING + 10):
            tracing({"event": "llm.call.start", "call_id": f"p{i}", "model_group": "smart"})
        assert (module._MAX_ENDED, module._MAX_PENDING) == (len(tracing._ended), len(tracing._pending))


class TestSampledOut:
    async def test_a_sampled_out_call_still_records_histograms(self, make_loom: Any, otel: Any) -> None:
        """With a sampler that drops every trace there are no spans, and the GenAI histograms still count."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        dropping = TracerProvider(sampler=ALWAYS_OFF)
        dropping.add_span_processor(SimpleSpanProcessor(otel.spans))
        loom = make_loom("agents: {planner: {model: smart, budget: b}}\nbudgets: {policies: {b: {limits: "
                         "[{tokens: 100000, per: day}]}}}")
        telemetry = instrument(loom, metrics=False, tracer_provider=dropping, meter_provider=otel.meter_provider)
        await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        assert [] == otel.finished()
        assert 1 == sum(p.count for p in otel.histogram_points("gen_ai.client.operation.duration"))
        assert {} == dict(telemetry.tracing._pending)
