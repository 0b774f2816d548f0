"""Telemetry: Prometheus metrics, OpenTelemetry traces and the audit stream, all fed by ``Loom.events``.

Nothing here is on the call path: each exporter is a listener of the :class:`~loomllm._events.EventLog`
(``add_listener``) and reads the events loomllm already emits (``llm.call``, ``llm.attempt``,
``budget.*``, ``policy.decision``, ``ratelimit.wait``). With tracing on, the one thing done on the
caller's side is to take the caller's OpenTelemetry context along with ``llm.call.start`` (the
parent of the call's span). ``prometheus_client`` and OpenTelemetry are imported only when enabled.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loomllm._events import LibraryLogger

from .audit import (
    POLICY_DECISION,
    decision_fields,
    emit_allowed,
    emit_decision,
    emit_redactions,
    is_refusal,
    policy_of,
)
from .config import TelemetryConfig

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = [
    "POLICY_DECISION",
    "Telemetry",
    "TelemetryConfig",
    "attach_from_config",
    "decision_fields",
    "emit_allowed",
    "emit_decision",
    "emit_redactions",
    "instrument",
    "is_refusal",
    "policy_of",
]


_log = LibraryLogger("loomllm")
_PAUSE_S = 0.05  # after a batch, the worker waits this long for the next: one wake-up per batch, not per event

Exporter = Callable[[dict[str, Any], int], None]
"""A listener that also receives the time (``time.time_ns()``) at which the event was emitted."""


class _Worker:
    """Runs the exporters on one daemon thread, off the call path: the caller only enqueues.

    Events keep their order; each carries the time it was emitted, so spans are timed correctly
    however late the worker gets to them. ``prepare`` runs on the caller's side first (it adds the
    caller's trace context to the events that need it). The worker takes what is queued in batches,
    pausing between them: waking a thread (and taking the GIL back) for each event of each call
    costs more CPU than exporting it. :meth:`flush` cuts the pause short.
    """

    def __init__(self, exporters: list[Exporter], prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                 ) -> None:
        self._exporters = exporters
        self._prepare = prepare
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], int] | threading.Event | None] = queue.SimpleQueue()
        self._hurry = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loomllm-telemetry", daemon=True)
        self._thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        if self._prepare is not None:
            event = self._prepare(event)
        self._queue.put((event, time.time_ns()))

    def _run(self) -> None:
        while self._export_batch():
            self._hurry.wait(_PAUSE_S)
            self._hurry.clear()

    def _export_batch(self) -> bool:
        """Export everything queued (waiting for the first item); False once told to stop."""
        item = self._queue.get()
        while True:
            if item is None:
                return False
            if isinstance(item, threading.Event):
                item.set()
            else:
                self._export(*item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return True

    def _export(self, event: dict[str, Any], at: int) -> None:
        for exporter in self._exporters:
            try:
                exporter(event, at)
            except Exception as exc:  # an exporter bug must not stop the others, nor the worker
                _log.warning("loomllm.telemetry_exporter_failed", exporter=type(exporter).__name__,
                             hook_event=event.get("event"), error_type=type(exc).__name__)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event enqueued so far has been exported."""
        done = threading.Event()
        self._queue.put(done)
        self._hurry.set()
        done.wait(timeout)

    def stop(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)


class Telemetry:
    """The exporters attached to one Loom; :meth:`flush` waits for them, :meth:`detach` removes them."""

    def __init__(self, loom: Loom) -> None:
        self._loom = loom
        self.metrics: Any = None
        self.tracing: Any = None
        self.budget_collector: Any = None
        self._listener: Callable[[dict[str, Any]], None] | None = None
        self._worker: _Worker | None = None

    def _start(self, background: bool) -> None:
        exporters: list[Exporter] = [e for e in (self.metrics, self.tracing) if e is not None]
        if not exporters:
            return
        prepare = self.tracing.with_parent if self.tracing is not None else None
        if background:
            self._worker = _Worker(exporters, prepare)
            self._listener = self._worker
        else:
            def listener(event: dict[str, Any]) -> None:
                if prepare is not None:
                    event = prepare(event)
                at = time.time_ns()
                for exporter in exporters:
                    exporter(event, at)

            self._listener = listener
        self._loom.events.add_listener(self._listener)

    def flush(self) -> None:
        """Wait until every event so far is reflected in the metrics and spans (tests, shutdown)."""
        if self._worker is not None:
            self._worker.flush()

    def detach(self) -> None:
        """Export what is pending, then stop exporting this Loom's events (metrics stay registered)."""
        if self._listener is not None:
            self._loom.events.remove_listener(self._listener)
            self._listener = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self.budget_collector is not None and self.metrics is not None:
            self.metrics.registry.unregister(self.budget_collector)
            self.budget_collector = None


def instrument(loom: Loom, *, metrics: bool = True, traces: bool = True, registry: Any = None,
               tracer_provider: Any = None, meter_provider: Any = None, budget_gauges: bool = True,
               background: bool | None = None) -> Telemetry:
    """Export ``loom``'s calls as Prometheus metrics and/or OpenTelemetry spans and histograms.

    ``registry`` (a ``prometheus_client.CollectorRegistry``), ``tracer_provider`` and
    ``meter_provider`` default to the process-wide ones. Budget gauges are read from the state
    store when the registry is scraped. ``background`` (default: ``telemetry.background``, true)
    exports on a worker thread, off the call path. Returns the :class:`Telemetry` handle
    (``flush()``, ``detach()``).
    """
    from .deployments import Deployments

    telemetry = Telemetry(loom)
    deployments = Deployments(loom.config.model_list)
    config = loom.config.loom.telemetry
    if metrics:
        from .prometheus import BudgetCollector, PrometheusMetrics

        telemetry.metrics = PrometheusMetrics(deployments, config, registry=registry)
        if budget_gauges and loom.config.loom.budgets.policies:
            telemetry.budget_collector = BudgetCollector(loom.budgets_sync)
            telemetry.metrics.registry.register(telemetry.budget_collector)
    if traces:
        from .tracing import Tracing

        telemetry.tracing = Tracing(deployments, config, tracer_provider=tracer_provider,
                                    meter_provider=meter_provider)
    telemetry._start(config.background if background is None else background)
    return telemetry


def attach_from_config(loom: Loom) -> Telemetry | None:
    """What ``loomllm.telemetry`` switches on for ``loom`` (None when nothing is enabled)."""
    config = loom.config.loom.telemetry
    if not (config.prometheus.enabled or config.otel.enabled):
        return None
    return instrument(loom, metrics=config.prometheus.enabled, traces=config.otel.enabled)
