"""Prometheus metrics built from loomllm's event stream (extra ``loomllm[prometheus]``).

Metric names are the seed's (``llm_requests_total``, ``llm_tokens_total``...), so dashboards
written for them work; loomllm adds an ``agent`` label and its policy metrics. Every metric is
registered on the registry the app passes (default: ``prometheus_client.REGISTRY``). In
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before import) gauges sum live processes.

Label values come from the configuration only (agents, model groups, deployments, policy names,
error class names), never from what a caller sends: a refused host that is not a configured
deployment's is ``other`` (an image URL in a message would otherwise mint one series per host),
and a budget event names its policy and limit, not the ``budget_keys`` value it was counted for.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .config import TelemetryConfig
from .deployments import Deployments
from .labels import limit_label

__all__ = ["METRIC_NAMES", "BudgetCollector", "PrometheusMetrics", "prometheus_client_module"]

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_MAX_CHILDREN = 10_000  # cached labelled series; label values come from configuration, this is a backstop

#: Every metric family loomllm exports (as Prometheus exposes it: counters end in ``_total``).
METRIC_NAMES = frozenset({
    "llm_requests_total", "llm_tokens_total", "llm_request_latency_seconds", "llm_cost_usd_total",
    "llm_cache_hits_total", "llm_cache_misses_total", "llm_rate_limit_waits_total",
    "llm_rate_limit_wait_seconds", "llm_errors_total", "llm_active_requests", "llm_attempt_failures_total",
    "llm_fallbacks_total", "llm_policy_decisions_total", "llm_guardrail_findings_total",
    "llm_egress_refusals_total", "llm_budget_events_total", "llm_single_flight_shared_total",
    "llm_budget_spent", "llm_budget_reserved", "llm_budget_remaining", "llm_budget_cap",
})


def prometheus_client_module() -> Any:
    """``prometheus_client``, or an ImportError that names the extra to install."""
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("Prometheus metrics need prometheus_client: pip install 'loomllm[prometheus]'") from exc
    return prometheus_client


class PrometheusMetrics:
    """An event listener that keeps the Prometheus metrics (see :data:`METRIC_NAMES`)."""

    def __init__(self, deployments: Deployments, config: TelemetryConfig, *, registry: Any = None) -> None:
        prom = prometheus_client_module()
        self.registry = registry if registry is not None else prom.REGISTRY
        self._deployments = deployments
        self._config = config
        self._agent_label = config.prometheus.agent_label
        self._active: dict[str, str] = {}  # call id -> provider counted in llm_active_requests
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self._labelled: dict[tuple[Any, tuple[str, ...]], Any] = {}
        # Metrics are defined once per registry: a second Loom in the process shares them.
        shared = _DEFINED.get(self.registry)
        if shared is None or shared._agent_label != self._agent_label:
            self._define(prom)
            _DEFINED[self.registry] = self
        else:
            self.__dict__.update({k: v for k, v in shared.__dict__.items() if k in _METRIC_ATTRS})

    def _labels(self, *names: str) -> list[str]:
        return ["agent", *names] if self._agent_label else list(names)

    def _define(self, prom: Any) -> None:
        reg = {"registry": self.registry}
        self.requests = prom.Counter("llm_requests_total", "LLM calls by outcome",
                                     self._labels("provider", "model", "status"), **reg)
        self.tokens = prom.Counter("llm_tokens_total", "Tokens used (type: prompt, completion)",
                                   self._labels("provider", "model", "type"), **reg)
        self.latency = prom.Histogram("llm_request_latency_seconds", "LLM call latency",
                                      self._labels("provider", "model"), buckets=LATENCY_BUCKETS, **reg)
        self.cost = prom.Counter("llm_cost_usd_total", "Cost in USD", self._labels("provider", "model"), **reg)
        self.cache_hits = prom.Counter("llm_cache_hits_total", "Response cache hits", self._labels(), **reg)
        self.cache_misses = prom.Counter("llm_cache_misses_total", "Response cache misses (cacheable calls)",
                                         self._labels(), **reg)
        self.rate_waits = prom.Counter("llm_rate_limit_waits_total", "Calls that waited for a rate limit",
                                       ["provider"], **reg)
        self.rate_wait_seconds = prom.Histogram("llm_rate_limit_wait_seconds", "Time spent waiting for a rate limit",
                                                ["provider"], buckets=WAIT_BUCKETS, **reg)
        self.errors = prom.Counter("llm_errors_total", "Failed calls by error type",
                                   self._labels("provider", "error_type"), **reg)
        self.active = prom.Gauge("llm_active_requests", "Calls in flight", ["provider"],
                                 multiprocess_mode="livesum", **reg)
        self.attempt_failures = prom.Counter("llm_attempt_failures_total", "Failed Router attempts (retried or not)",
                                             self._labels("provider", "error_type"), **reg)
        self.fallbacks = prom.Counter("llm_fallbacks_total", "Calls answered by a fallback group",
                                      self._labels("from_group", "to_group"), **reg)
        self.decisions = prom.Counter("llm_policy_decisions_total", "Policy decisions (refused, flagged, redacted)",
                                      self._labels("policy", "decision", "reason"), **reg)
        self.findings = prom.Counter("llm_guardrail_findings_total", "Guardrail findings by entity and action",
                                     self._labels("entity_type", "action", "direction"), **reg)
        self.egress_refusals = prom.Counter("llm_egress_refusals_total", "Attempts refused by the egress policy",
                                            self._labels("host"), **reg)
        self.budget_events = prom.Counter("llm_budget_events_total", "Budget warnings (threshold, soft limit)",
                                          self._labels("event", "policy", "limit"), **reg)
        self.shared = prom.Counter("llm_single_flight_shared_total", "Calls answered by an identical in-flight call",
                                   self._labels(), **reg)

    # --- the listener -------------------------------------------------------------------------

    def __call__(self, event: dict[str, Any], at: int | None = None) -> None:
        name = event.get("event")
        agent = str(event.get("agent") or "unknown")
        if event.get("agent") is not None and not self._config.metrics_for(agent):
            return
        handler = self._HANDLERS.get(str(name))
        if handler is not None:
            handler(self, event, agent)
        elif isinstance(name, str) and name.startswith("guardrail.") and isinstance(event.get("counts"), dict):
            self._guardrail_counts(event, agent)
        elif isinstance(name, str) and name.startswith("budget."):
            policy = str(event.get("policy"))
            self._child(self.budget_events, *self._a(agent), name, policy, limit_label(event)).inc()

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once per label set (``labels()`` validates and locks each time).

        A metric without labels (``agent_label: false``) is its own series.
        """
        if not values:
            return metric
        key = (metric, values)
        child = self._labelled.get(key)
        if child is None:
            if len(self._labelled) >= _MAX_CHILDREN:
                self._labelled.clear()
            child = self._labelled[key] = metric.labels(*values)
        return child

    def _a(self, agent: str) -> tuple[str, ...]:
        return (agent,) if self._agent_label else ()

    def _call_started(self, event: dict[str, Any], agent: str) -> None:
        provider = self._deployments.lookup(None, event.get("model_group")).provider
        with self._lock:
            self._active[str(event.get("call_id"))] = provider
        self._child(self.active, provider).inc()

    def _call_ended(self, event: dict[str, Any], agent: str) -> None:
        with self._lock:
            started = self._active.pop(str(event.get("call_id")), None)
        if started is not None:
            self._child(self.active, started).dec()
        group = event.get("model_group")
        info = self._deployments.lookup(event.get("deployment"), group)
        a = self._a(agent)
        outcome = str(event.get("outcome") or "ok")
        status = _status(outcome, event)
        requests, prompt, completion, latency, cost = self._call_children(a, info.provider, info.model, status)
        requests.inc()
        if event.get("tokens_in"):
            prompt.inc(event["tokens_in"])
        if event.get("tokens_out"):
            completion.inc(event["tokens_out"])
        if event.get("latency_ms") is not None:
            latency.observe(float(event["latency_ms"]) / 1000)
        if event.get("cost_usd"):
            cost.inc(float(event["cost_usd"]))
        if event.get("cache_hit"):
            self._child(self.cache_hits, *a).inc()
        elif event.get("cache_lookup") and status == "ok":
            self._child(self.cache_misses, *a).inc()
        if event.get("shared"):
            self._child(self.shared, *a).inc()
        if status in ("error", "refused"):
            self._child(self.errors, *a, info.provider, outcome).inc()
        if status == "ok" and group is not None and info.group not in (group, "unknown"):
            self._child(self.fallbacks, *a, str(group), info.group).inc()

    def _call_children(self, a: tuple[str, ...], provider: str, model: str, status: str) -> tuple[Any, ...]:
        """The labelled series one call touches, looked up once per label set (``labels()`` is not free)."""
        key = (*a, provider, model, status)
        children = self._children.get(key)
        if children is None:
            if len(self._children) >= _MAX_CHILDREN:
                self._children.clear()
            children = self._children[key] = (
                self.requests.labels(*a, provider, model, status),
                self.tokens.labels(*a, provider, model, "prompt"),
                self.tokens.labels(*a, provider, model, "completion"),
                self.latency.labels(*a, provider, model),
                self.cost.labels(*a, provider, model),
            )
        return children

    def _attempt(self, event: dict[str, Any], agent: str) -> None:
        if event.get("outcome") != "error":
            return
        info = self._deployments.lookup(event.get("deployment"), event.get("model_group"))
        self._child(self.attempt_failures, *self._a(agent), info.provider, str(event.get("error_type"))).inc()

    def _decision(self, event: dict[str, Any], agent: str) -> None:
        a = self._a(agent)
        policy = str(event.get("policy"))
        self._child(self.decisions, *a, policy, str(event.get("decision")), str(event.get("reason"))).inc()
        if policy == "egress" and event.get("decision") == "refused":
            self._child(self.egress_refusals, *a, self._host_label(event.get("host"))).inc()
        if policy == "guardrail" and isinstance(event.get("counts"), dict):
            default = "block" if event.get("decision") == "refused" else str(event.get("decision"))
            for key, count in event["counts"].items():
                entity, _, action = str(key).partition(":")  # redactions: "ENTITY:action" (redact, mask)
                self._child(self.findings, *a, entity, action or default, str(event.get("direction"))).inc(count)

    def _host_label(self, host: Any) -> str:
        """A configured deployment's host, else ``other`` (hosts from messages are the caller's choice)."""
        if not host:
            return "unknown"
        return str(host) if host in self._deployments.hosts else "other"

    def _guardrail_counts(self, event: dict[str, Any], agent: str) -> None:
        """``guardrail.*`` events count ``ENTITY:action`` keys (redactions) or entity keys (blocks)."""
        a = self._a(agent)
        default_action = "block" if event.get("event") == "guardrail.blocked" else "redact"
        for key, count in event["counts"].items():
            entity, _, action = str(key).partition(":")
            self._child(self.findings, *a, entity, action or default_action, str(event.get("direction"))).inc(count)

    def _rate_wait(self, event: dict[str, Any], agent: str) -> None:
        if event.get("outcome") not in ("acquired", "abandoned"):
            return  # refused at once: no wait (the call's RateLimited counts in llm_errors_total)
        provider = self._deployments.lookup(event.get("deployment"), event.get("model_group")).provider
        self._child(self.rate_waits, provider).inc()
        self._child(self.rate_wait_seconds, provider).observe(float(event.get("waited_s") or 0.0))

    _HANDLERS: dict[str, Callable[[PrometheusMetrics, dict[str, Any], str], None]] = {
        "llm.call.start": _call_started,
        "llm.call": _call_ended,
        "llm.attempt": _attempt,
        "policy.decision": _decision,
        "ratelimit.wait": _rate_wait,
    }


_METRIC_ATTRS = frozenset({
    "requests", "tokens", "latency", "cost", "cache_hits", "cache_misses", "rate_waits", "rate_wait_seconds",
    "errors", "active", "attempt_failures", "fallbacks", "decisions", "findings", "egress_refusals",
    "budget_events", "shared",
})
# registry -> the listener that defined loomllm's metrics on it (prometheus_client refuses duplicates)
_DEFINED: weakref.WeakKeyDictionary[Any, PrometheusMetrics] = weakref.WeakKeyDictionary()

def _status(outcome: str, event: dict[str, Any]) -> str:
    """``ok``, ``abandoned``, ``refused`` (a policy said no: the call path sets ``refused``) or ``error``."""
    if outcome == "ok":
        return "ok"
    if outcome == "abandoned":
        return "abandoned"
    return "refused" if event.get("refused") else "error"


class BudgetCollector:
    """Budget gauges read from the state store at scrape time: spent, reserved, remaining, cap per limit."""

    def __init__(self, status: Callable[[], Iterable[Any]]) -> None:
        self._status = status

    def describe(self) -> list[Any]:
        """Nothing up front: the limits are read at scrape time."""
        return []

    def collect(self) -> Iterator[Any]:
        """One gauge family per figure, one sample per (scope, limit, unit, window)."""
        from prometheus_client.core import GaugeMetricFamily

        labels = ["scope", "scope_name", "policy", "limit", "unit", "window"]
        families = {name: GaugeMetricFamily(f"llm_budget_{name}", f"Budget {name} in the current window",
                                            labels=labels) for name in ("spent", "reserved", "remaining", "cap")}
        try:
            rows = list(self._status())
        except Exception:  # an unreachable store must not break the scrape of every other metric
            rows = []
        for row in rows:
            values = [str(getattr(row, k)) for k in labels]
            for name, family in families.items():
                family.add_metric(values, float(getattr(row, name)))
        yield from families.values()
