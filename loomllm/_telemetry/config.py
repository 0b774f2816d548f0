"""The ``loomllm.telemetry:`` section: Prometheus metrics and OpenTelemetry traces.

The audit stream (``policy.decision`` events) is always on the event log; it needs no switch.

The YAML shape::

    telemetry:
      prometheus: {enabled: true, agent_label: true}
      otel: {enabled: true}
      background: true              # export on a worker thread, off the call path
      agents:                       # per-agent opt-out
        scratchpad: {metrics: false, traces: false}

Nothing is exported unless a section is enabled (or the app calls :func:`loomllm.instrument`).
Telemetry never carries message contents: names, numbers, hosts and error types only.
"""

from __future__ import annotations

from pydantic import Field

from .._base import Flag, StrictModel

__all__ = ["AgentTelemetry", "OtelConfig", "PrometheusConfig", "TelemetryConfig"]


class PrometheusConfig(StrictModel):
    """Prometheus metrics (extra ``loomllm[prometheus]``)."""

    enabled: Flag = False
    agent_label: Flag = Field(default=True, description="Add an 'agent' label to per-call metrics.")


class OtelConfig(StrictModel):
    """OpenTelemetry spans and GenAI histograms (extra ``loomllm[otel]``)."""

    enabled: Flag = False


class AgentTelemetry(StrictModel):
    """Per-agent switches."""

    metrics: Flag = True
    traces: Flag = True


class TelemetryConfig(StrictModel):
    """The ``loomllm.telemetry`` section."""

    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    otel: OtelConfig = Field(default_factory=OtelConfig)
    background: Flag = Field(default=True, description="Export on a worker thread, off the call path.")
    agents: dict[str, AgentTelemetry] = Field(default_factory=dict)

    def metrics_for(self, agent: str) -> bool:
        """Whether ``agent``'s calls are counted."""
        switches = self.agents.get(agent)  # (asked once per event: no default model built per call)
        return switches is None or switches.metrics

    def traces_for(self, agent: str) -> bool:
        """Whether ``agent``'s calls are traced."""
        switches = self.agents.get(agent)
        return switches is None or switches.traces
