"""OpenTelemetry spans and GenAI metrics built from loomllm's event stream (extra ``loomllm[otel]``).

One CLIENT span per call (``chat smart``) with one child CLIENT span per Router attempt, following
the GenAI semantic conventions; spans are created when the call's event arrives, with explicit
start and end times taken from the measured latencies. The call span's parent is the caller's
span: :meth:`Tracing.with_parent` runs on the caller's side (not on the export worker) and puts
the caller's OpenTelemetry context into ``llm.call.start``. Policy decisions of a call become span
events. The ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` histograms go
to the meter provider. No message contents are recorded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .config import TelemetryConfig
from .deployments import Deployments
from .labels import limit_label

__all__ = ["Tracing"]

_OPERATIONS = {"completion": "chat", "stream": "chat", "embedding": "embeddings", "moderation": "moderation"}
# Advisory bucket boundaries from the GenAI semantic conventions.
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_MAX_PENDING = 10_000  # calls whose attempts are buffered; a call that never ends must not leak memory
_MAX_ENDED = 1_000  # ids of the last calls that ended: a late event of one of them is dropped, not buffered
PARENT_CONTEXT = "_otel_parent"
"""The key of ``llm.call.start`` that carries the caller's OpenTelemetry context (see :meth:`Tracing.with_parent`)."""
_METRIC_KEYS = ("gen_ai.response.model", "server.address", "error.type")  # span attributes the histograms take
_MAX_METRIC_SETS = 1_000
_TRACED = frozenset({"llm.call.start", "llm.attempt", "llm.call", "policy.decision", "ratelimit.wait"})


@dataclass
class _PendingCall:
    """What a call in flight has for its span: the caller's context and its events so far, with their times."""

    parent: Any = None
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _otel() -> Any:
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("OpenTelemetry tracing needs opentelemetry-api: pip install 'loomllm[otel]'") from exc
    return trace, metrics


class Tracing:
    """An event listener that turns call, attempt and policy events into spans and GenAI histograms."""

    def __init__(self, deployments: Deployments, config: TelemetryConfig, *, tracer_provider: Any = None,
                 meter_provider: Any = None) -> None:
        trace, metrics = _otel()
        self._trace = trace
        from opentelemetry.context import get_current

        self._current_context = get_current
        from loomllm import __version__

        self._tracer = trace.get_tracer("loomllm", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("loomllm", __version__, meter_provider=meter_provider)
        self._token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
        self._deployments = deployments
        self._config = config
        self._pending: OrderedDict[str, _PendingCall] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._metric_sets: dict[tuple[Any, ...], tuple[dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]]] = {}
        self._lock = threading.Lock()

    def with_parent(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event``, and for ``llm.call.start`` a copy with the caller's context: call it on the caller's side.

        The exporters may run later on a worker thread, where the caller's current span is unknown.
        """
        if event.get("event") != "llm.call.start":
            return event
        return {**event, PARENT_CONTEXT: self._current_context()}

    def __call__(self, event: dict[str, Any], at: int | None = None) -> None:
        name = event.get("event")
        call_id = event.get("call_id")
        if name not in _TRACED or call_id is None:
            return  # an event of no call has no span to go on
        agent = event.get("agent")
        if agent is not None and not self._config.traces_for(str(agent)):
            return
        now = at if at is not None else time.time_ns()
        if name == "llm.call":
            self._finish_call(event, now)
        elif name == "llm.call.start":
            self._start_call(str(call_id), event.get(PARENT_CONTEXT))
        else:
            self._buffer(str(call_id), now, event)

    def _start_call(self, call_id: str, parent: Any) -> None:
        with self._lock:
            self._pending[call_id] = _PendingCall(parent)
            self._bound()

    def _buffer(self, call_id: str, at: int, event: dict[str, Any]) -> None:
        with self._lock:
            if call_id in self._ended:
                return  # its span has ended: buffering it would keep it until the cap evicts it
            pending = self._pending.get(call_id)
            if pending is None:
                pending = self._pending[call_id] = _PendingCall()
                self._bound()
            pending.events.append((at, event))

    def _bound(self) -> None:
        while len(self._pending) > _MAX_PENDING:
            self._pending.popitem(last=False)

    def _take(self, call_id: str) -> _PendingCall:
        """The call's pending record, removed; its id is remembered as ended."""
        with self._lock:
            self._ended[call_id] = None
            if len(self._ended) > _MAX_ENDED:
                self._ended.popitem(last=False)
            return self._pending.pop(call_id, None) or _PendingCall()

    def _finish_call(self, event: dict[str, Any], end: int) -> None:
        pending = self._take(str(event.get("call_id")))
        kind = str(event.get("kind") or "completion")
        operation = _OPERATIONS.get(kind, kind)
        group = event.get("model_group")
        info = self._deployments.lookup(event.get("deployment"), group)
        start = end - int(float(event.get("latency_ms") or 0.0) * 1_000_000)
        attributes = _common(operation, info.semconv_provider, group, event)
        attributes.update(_usage(event))
        if event.get("deployment") is not None:
            attributes["gen_ai.response.model"] = info.model
            if info.host:
                attributes["server.address"] = info.host
        outcome = str(event.get("outcome") or "ok")
        if outcome not in ("ok", "abandoned"):
            attributes["error.type"] = outcome
        span = self._tracer.start_span(f"{operation} {group}", context=pending.parent,
                                       kind=self._trace.SpanKind.CLIENT, start_time=start, attributes=attributes)
        recording = span.is_recording()  # sampled out: its events would be dropped, do not build them
        for at, item in pending.events:
            if item["event"] == "llm.attempt":
                self._attempt_span(span, at, item, operation, group)
            elif recording:
                span.add_event(str(item["event"]), attributes=_event_attributes(item), timestamp=at)
        if "error.type" in attributes:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, outcome))
        span.end(end_time=end)
        self._record_metrics(operation, info.semconv_provider, group, event, attributes)

    def _attempt_span(self, parent: Any, end: int, item: dict[str, Any], operation: str, group: Any) -> None:
        info = self._deployments.lookup(item.get("deployment"), item.get("model_group") or group)
        start = end - int(float(item.get("latency_ms") or 0.0) * 1_000_000)
        attributes = _common(operation, info.semconv_provider, item.get("model_group") or group, item)
        attributes["gen_ai.response.model"] = info.model
        attributes.update(_usage(item))
        if item.get("host") or info.host:
            attributes["server.address"] = str(item.get("host") or info.host)
        if item.get("error_type"):
            attributes["error.type"] = str(item["error_type"])
        if item.get("status_code") is not None:
            attributes["http.response.status_code"] = int(item["status_code"])
        context = self._trace.set_span_in_context(parent)
        span = self._tracer.start_span(f"{operation} {info.model}", context=context,
                                       kind=self._trace.SpanKind.CLIENT, start_time=start, attributes=attributes)
        if item.get("outcome") == "refused":
            span.add_event("policy.decision", attributes={"loomllm.policy.decision": "refused",
                                                          "loomllm.policy.reason": str(item.get("error_type"))},
                           timestamp=end)
        if "error.type" in attributes:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, attributes["error.type"]))
        span.end(end_time=end)

    def _record_metrics(self, operation: str, provider: str, group: Any, event: dict[str, Any],
                        span_attributes: dict[str, Any]) -> None:
        duration, by_type = self._metric_attributes(
            (operation, provider, str(group), *(span_attributes.get(k) for k in _METRIC_KEYS)))
        self._duration.record(float(event.get("latency_ms") or 0.0) / 1000, duration)
        if "error.type" in duration:
            return
        for count_key, attributes in by_type:
            if event.get(count_key):
                self._token_usage.record(int(event[count_key]), attributes)

    def _metric_attributes(self, key: tuple[Any, ...]) -> tuple[dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]]:
        """The histograms' attribute sets for one label combination, built once (the SDK only reads them)."""
        cached = self._metric_sets.get(key)
        if cached is None:
            if len(self._metric_sets) >= _MAX_METRIC_SETS:
                self._metric_sets.clear()
            names = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", *_METRIC_KEYS)
            duration = {name: value for name, value in zip(names, key, strict=True) if value is not None}
            by_type = tuple((count_key, {**duration, "gen_ai.token.type": kind})
                            for kind, count_key in (("input", "tokens_in"), ("output", "tokens_out")))
            cached = self._metric_sets[key] = (duration, by_type)
        return cached


def _common(operation: str, provider: str, group: Any, event: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider,
                                  "gen_ai.request.model": str(group)}
    if event.get("agent") is not None:
        attributes["gen_ai.agent.name"] = str(event["agent"])
    if event.get("call_id") is not None:
        attributes["loomllm.call_id"] = str(event["call_id"])
    if event.get("cache_hit"):
        attributes["loomllm.cache_hit"] = True
    return attributes


def _usage(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if event.get("tokens_in") is not None:
        out["gen_ai.usage.input_tokens"] = int(event["tokens_in"])
    if event.get("tokens_out") is not None:
        out["gen_ai.usage.output_tokens"] = int(event["tokens_out"])
    return out


def _event_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """Span-event attributes: scalar fields and lists of strings only (OpenTelemetry's attribute types)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in ("event", "level", "agent", "call_id") or value is None:
            continue
        if key == "limit":
            value = limit_label(item)  # a budget key's value (a user's address) stays out of traces
        elif key == "scope_name" and item.get("scope") == "key":
            continue
        if isinstance(value, bool | int | float | str):
            out[f"loomllm.{key}"] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[f"loomllm.{key}"] = list(value)
        elif isinstance(value, dict):
            out.update({f"loomllm.{key}.{k}": v for k, v in value.items() if isinstance(v, bool | int | float | str)})
    return out
