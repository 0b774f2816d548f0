"""Fixtures for telemetry tests: a private Prometheus registry and in-memory OpenTelemetry exporters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Otel:
    """An SDK tracer provider and meter provider that keep what they export in memory."""

    spans: Any
    metrics: Any
    tracer_provider: Any
    meter_provider: Any

    def finished(self) -> list[Any]:
        """Finished spans, oldest first."""
        return list(self.spans.get_finished_spans())

    def histogram_points(self, name: str) -> list[Any]:
        """The data points of histogram ``name`` collected so far."""
        data = self.metrics.get_metrics_data()
        points: list[Any] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def registry() -> Any:
    """A fresh ``prometheus_client`` registry (never the process-wide one)."""
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


@pytest.fixture
def otel() -> Iterator[Otel]:
    """OpenTelemetry SDK providers with in-memory span exporter and metric reader."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()
