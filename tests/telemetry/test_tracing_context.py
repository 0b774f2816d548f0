"""Call spans join the app's trace, and the call's policy decisions land on its span (background export)."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm import instrument

PROMPT = "List three risks in the vendor contract renewal due on 3 March"


class TestTraceContext:
    async def test_call_span_is_a_child_of_the_callers_span(self, make_loom: Any, otel: Any) -> None:
        """The app's request span is the parent of loomllm's call span (default background export).

        The exporter runs on a worker thread and starts the call span there, after the call: the
        caller's context is captured on the call path, or the span would root a trace of its own.
        """
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = instrument(loom, metrics=False, tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider)
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("POST /tickets") as app_span:
            await loom.agent("planner").chat(PROMPT)
        telemetry.flush()
        call = next(s for s in otel.finished() if s.name == "chat smart")
        assert call.context.trace_id == app_span.get_span_context().trace_id
        assert call.parent is not None and call.parent.span_id == app_span.get_span_context().span_id


ANSWER = ("Thanks for reaching out. Your order 48213 shipped on Tuesday. If it does not arrive by Friday, "
          "reply here and we will wire the funds back to your card within five business days.")
FLAG = r"""
    agents: {support: {model: smart}}
    output_policy:
      default: audit
      policies: {audit: {action: flag, hold_back_chars: 40, deny: {patterns: ["(?i)order\\s+\\d{5}"]}}}
"""


class TestDecisionsOnSpans:
    """``emit_allowed`` sends the call's allowed decisions after ``llm.call``: Tracing has already ended the
    span, so they are buffered in ``Tracing._pending`` under a call id that never ends again (never on a
    span; one leaked entry per call until the 10 000-entry cap evicts the oldest)."""

    async def _call_span(self, make_loom: Any, otel: Any, wire_server: Any, stream: bool) -> tuple[Any, Any]:
        from loomllm.testing import Reply

        wire_server.route(Reply.text(ANSWER))
        loom = make_loom(FLAG)
        telemetry = instrument(loom, metrics=False, tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider)
        if stream:
            parts = [c.choices[0].delta.content or "" async for c in loom.agent("support").stream("Where?")
                     if c.choices]
            assert ANSWER == "".join(parts)
        else:
            assert ANSWER == await loom.agent("support").chat("Where is my order?")
        telemetry.flush()
        return telemetry, next(s for s in otel.finished() if s.name == "chat smart")

    @pytest.mark.parametrize("stream", [False, True])
    async def test_allowed_decisions_are_events_of_the_call_span(self, make_loom: Any, otel: Any,
                                                                wire_server: Any, stream: bool) -> None:
        _, call = await self._call_span(make_loom, otel, wire_server, stream)
        decisions = [dict(e.attributes or {}) for e in call.events if e.name == "policy.decision"]
        assert any(d.get("loomllm.decision") == "flagged" for d in decisions), decisions
        assert any(d.get("loomllm.policy") == "parameter" and d.get("loomllm.decision") == "allowed"
                   for d in decisions), decisions

    @pytest.mark.parametrize("stream", [False, True])
    async def test_nothing_stays_pending_after_the_call(self, make_loom: Any, otel: Any, wire_server: Any,
                                                        stream: bool) -> None:
        telemetry, _ = await self._call_span(make_loom, otel, wire_server, stream)
        left = {k: [(e["event"], e.get("policy"), e.get("decision")) for e in v]
                for k, v in telemetry.tracing._pending.items()}
        assert {} == left
