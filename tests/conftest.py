"""Shared fixtures: build a Loom from YAML against the local wire server."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loomllm import Loom
from loomllm.testing import WireServer

LoomFactory = Callable[..., Loom]


def deployments_yaml(server: WireServer) -> str:
    """model_list + router_settings used by most core tests: OpenAI, Anthropic, a broken group."""
    return textwrap.dedent(
        f"""
        model_list:
          - model_name: smart
            litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", api_key: sk-test}}
          - model_name: claude
            litellm_params: {{model: anthropic/claude-haiku-4-5, api_base: "{server.anthropic_base}",
                              api_key: sk-ant-test}}
          - model_name: broken
            litellm_params: {{model: openai/broken-model, api_base: "{server.openai_base}", api_key: sk-test}}
          - model_name: embeddings
            litellm_params: {{model: openai/text-embedding-3-small, api_base: "{server.openai_base}",
                              api_key: sk-test}}
        router_settings:
          num_retries: 0
          retry_after: 0
          fallbacks: [{{broken: [claude]}}]
        """
    )


@pytest.fixture
def make_loom(tmp_path: Path, wire_server: WireServer) -> Iterator[LoomFactory]:
    """Build a Loom from ``deployments_yaml`` plus a ``loomllm:`` section (YAML text); closed after the test."""
    looms: list[Loom] = []

    def build(loom_section: str = "", *, head: str | None = None, extra: str = "", **kwargs: Any) -> Loom:
        text = (head if head is not None else deployments_yaml(wire_server)) + extra
        text += "\nloomllm:\n" + textwrap.indent(textwrap.dedent(loom_section), "  ") if loom_section else ""
        path = tmp_path / f"loom{len(looms)}.yaml"
        path.write_text(text)
        loom = Loom(path, **kwargs)
        looms.append(loom)
        return loom

    yield build
    for loom in looms:
        loom.close()


@pytest.fixture
def redis_url() -> str:
    """A real Redis on 127.0.0.1:6379 (skipped outside CI if none is running; CI must have one)."""
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("no Redis on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


# --- telemetry: a private Prometheus registry and in-memory OpenTelemetry exporters ------------------


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
