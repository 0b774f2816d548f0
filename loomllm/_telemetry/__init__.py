"""Telemetry: Prometheus metrics, OpenTelemetry traces and the audit stream, all fed by ``Loom.events``.

Nothing here is on the call path: each exporter is a listener of the :class:`~loomllm._events.EventLog`
(``add_listener``) and reads the events loomllm already emits (``llm.call``, ``llm.attempt``,
``budget.*``, ``policy.decision``, ``ratelimit.wait``). ``prometheus_client`` and OpenTelemetry are
imported only when enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .audit import POLICY_DECISION, decision_fields, emit_decision, policy_of
from .config import TelemetryConfig

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = [
    "POLICY_DECISION",
    "Telemetry",
    "TelemetryConfig",
    "attach_from_config",
    "decision_fields",
    "emit_decision",
    "instrument",
    "policy_of",
]


class Telemetry:
    """The exporters attached to one Loom; :meth:`detach` removes them."""

    def __init__(self, loom: Loom) -> None:
        self._loom = loom
        self.metrics: Any = None
        self.tracing: Any = None
        self.budget_collector: Any = None

    def detach(self) -> None:
        """Stop exporting this Loom's events (registered metrics stay on their registry)."""
        for listener in (self.metrics, self.tracing):
            if listener is not None:
                self._loom.events.remove_listener(listener)
        if self.budget_collector is not None and self.metrics is not None:
            self.metrics.registry.unregister(self.budget_collector)
            self.budget_collector = None


def instrument(loom: Loom, *, metrics: bool = True, traces: bool = True, registry: Any = None,
               tracer_provider: Any = None, meter_provider: Any = None, budget_gauges: bool = True) -> Telemetry:
    """Export ``loom``'s calls as Prometheus metrics and/or OpenTelemetry spans and histograms.

    ``registry`` (a ``prometheus_client.CollectorRegistry``), ``tracer_provider`` and
    ``meter_provider`` default to the process-wide ones. Budget gauges are read from the state
    store when the registry is scraped. Returns the :class:`Telemetry` handle (``detach()``).
    """
    from .deployments import Deployments

    telemetry = Telemetry(loom)
    deployments = Deployments(loom.config.model_list)
    config = loom.config.loom.telemetry
    if metrics:
        from .prometheus import BudgetCollector, PrometheusMetrics

        telemetry.metrics = PrometheusMetrics(deployments, config, registry=registry)
        loom.events.add_listener(telemetry.metrics)
        if budget_gauges and loom.config.loom.budgets.policies:
            telemetry.budget_collector = BudgetCollector(loom.budgets_sync)
            telemetry.metrics.registry.register(telemetry.budget_collector)
    if traces:
        from .tracing import Tracing

        telemetry.tracing = Tracing(deployments, config, tracer_provider=tracer_provider,
                                    meter_provider=meter_provider)
        loom.events.add_listener(telemetry.tracing)
    return telemetry


def attach_from_config(loom: Loom) -> Telemetry | None:
    """What ``loomllm.telemetry`` switches on for ``loom`` (None when nothing is enabled)."""
    config = loom.config.loom.telemetry
    if not (config.prometheus.enabled or config.otel.enabled):
        return None
    return instrument(loom, metrics=config.prometheus.enabled, traces=config.otel.enabled)
