"""Review of issue 12: gaps found by the audit (expected to fail until fixed)."""

from __future__ import annotations

from typing import Any

from loomllm import instrument

PROMPT = "List three risks in the vendor contract renewal due on 3 March"


class TestTraceContext:
    async def test_call_span_is_a_child_of_the_callers_span(self, make_loom: Any, otel: Any) -> None:
        """The app's request span must be the parent of loomllm's call span (default background export).

        The exporter runs on a worker thread and starts the call span there, long after the call,
        with no context: the span becomes the root of a new trace, cut off from the app's trace.
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
