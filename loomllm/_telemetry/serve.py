"""``loomllm metrics serve``: a Prometheus endpoint for scripts and multiprocess apps.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set for every worker before it imports
``prometheus_client``) the endpoint aggregates what all workers wrote to that directory; with a
config, it adds the budget gauges read from the config's state store.
"""

from __future__ import annotations

import os
from typing import Any

from .prometheus import BudgetCollector, prometheus_client_module

__all__ = ["metrics_registry", "serve_metrics"]


def metrics_registry(config: str | None = None) -> tuple[Any, Any]:
    """A registry to serve: the multiprocess aggregate (or the process registry) plus budget gauges.

    Returns ``(registry, loom)``; ``loom`` (None without a config) must stay open while serving.
    """
    prom = prometheus_client_module()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = prom.REGISTRY
    loom = None
    if config is not None:
        from loomllm._runtime import Loom

        loom = Loom(config)
        if loom.config.loom.budgets.policies:
            registry.register(BudgetCollector(loom.budgets_sync))
    return registry, loom


def serve_metrics(port: int, *, host: str = "127.0.0.1", config: str | None = None) -> tuple[Any, Any, Any]:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns ``(server, thread, loom)``."""
    prom = prometheus_client_module()
    registry, loom = metrics_registry(config)
    server, thread = prom.start_http_server(port, addr=host, registry=registry)
    return server, thread, loom
