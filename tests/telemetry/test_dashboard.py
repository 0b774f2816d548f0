"""The Grafana dashboard in the repo: loadable JSON whose every query names series loomllm exports, by the
labels those series have."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from loomllm._telemetry.prometheus import METRIC_NAMES

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "loomllm.json"
_METRIC = re.compile(r"\b(llm_[a-z_]+)\b")
_SELECTOR = re.compile(r"\b(llm_[a-z_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"(?:[^\"\\]|\\.)*\"\s*(?:,|$)")
_GROUPING = re.compile(r"\b(by|without)\s*\(([^)]*)\)")
_LABEL_VALUES = re.compile(r"^label_values\((llm_[a-z_]+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def queries(dashboard: dict[str, Any]) -> list[str]:
    out = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    out += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return out


@pytest.fixture(scope="module")
def series() -> dict[str, frozenset[str]]:
    """Every series name a scrape shows (``llm_requests_total``, ``llm_request_latency_seconds_bucket``...) and its
    label names: each loomllm metric given one labelled child, budget gauges given one limit row."""
    from prometheus_client import CollectorRegistry

    from loomllm import LimitStatus
    from loomllm._telemetry.config import TelemetryConfig
    from loomllm._telemetry.deployments import Deployments
    from loomllm._telemetry.prometheus import _METRIC_ATTRS, BudgetCollector, PrometheusMetrics

    registry = CollectorRegistry()
    metrics = PrometheusMetrics(Deployments([]), TelemetryConfig(), registry=registry)
    for attr in _METRIC_ATTRS:
        metric = getattr(metrics, attr)
        metric.labels(*("x",) * len(metric._labelnames))  # no public way to ask a metric for its label names
    row = LimitStatus(scope="agent", scope_name="a", policy="p", limit="p[0]", unit="usd", window="day",
                      mode="hard", cap=1.0, spent=0.0, reserved=0.0, remaining=1.0, window_start=None,
                      window_end=None)
    registry.register(BudgetCollector(lambda: [row]))
    out: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                out.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in out.items()}


def groupings(query: str) -> list[tuple[list[str], str]]:
    """``(labels, argument)`` of each ``by (...)`` / ``without (...)``, written before the aggregation's argument."""
    out: list[tuple[list[str], str]] = []
    for match in _GROUPING.finditer(query):
        rest = query[match.end():].lstrip()
        assert rest.startswith("("), f"write 'sum by (...) (expr)', not 'sum(expr) by (...)': {query}"
        out.append(([label.strip() for label in match.group(2).split(",") if label.strip()], balanced(rest)))
    return out


def balanced(text: str) -> str:
    """The parenthesised expression ``text`` starts with."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return text[: index + 1]
    raise AssertionError(f"unbalanced parentheses: {text}")


def label_problems(query: str, series: dict[str, frozenset[str]]) -> list[str]:
    """Labels the query filters or groups by that a series it reads does not have."""
    problems: list[str] = []
    for name, matchers in _SELECTOR.findall(query):
        rest = matchers
        while rest.strip():
            matcher = _MATCHER.match(rest)
            assert matcher, f"cannot read the label matchers {matchers!r} in {query}"
            if matcher.group(1) not in series.get(name, ()):
                problems.append(f"{name}{{{matcher.group(1)}}}")
            rest = rest[matcher.end():]
    for match, (labels, argument) in zip(_GROUPING.finditer(query), groupings(query), strict=True):
        kind = match.group(1)
        for name in _METRIC.findall(argument):
            problems += [f"{name} {kind} {label}" for label in labels if label not in series.get(name, ())]
            if name.endswith("_bucket") and (kind == "by") != ("le" in labels):
                problems.append(f"{name} summed over le")  # histogram_quantile needs the buckets apart
    template = _LABEL_VALUES.match(query)
    if template and template.group(2) not in series.get(template.group(1), ()):
        problems.append(f"label_values {template.group(1)} {template.group(2)}")
    return problems


class TestQueryChecks:
    """The checks below reject the mistakes they are for (a lenient check would pass any dashboard)."""

    @pytest.mark.parametrize("query", [
        "sum(rate(llm_requests_total_bucket[5m]))",  # a counter has no buckets
        "sum(rate(llm_requests[5m]))",  # a counter is exposed with _total
        "sum(rate(llm_request_latency_seconds_total[5m]))",  # a histogram has no _total
        "sum(rate(llm_request_latency_seconds[5m]))",  # a histogram is read through _bucket/_count/_sum
        "sum(llm_budget_remaining_total)",  # a gauge has no suffix
    ])
    def test_a_name_prometheus_does_not_show_is_refused(self, query: str, series: dict[str, frozenset[str]]) -> None:
        """Suffixes are those of the metric's type, as prometheus_client exposes it."""
        assert [] != [n for n in _METRIC.findall(query) if n not in series]

    @pytest.mark.parametrize("query", [
        'sum(rate(llm_rate_limit_waits_total{agent=~"$agent"}[5m]))',
        "sum by (agent) (rate(llm_rate_limit_wait_seconds_count[5m]))",
        "histogram_quantile(0.5, sum by (model) (rate(llm_request_latency_seconds_bucket[5m])))",
        "sum by (le) (rate(llm_request_latency_seconds_count[5m]))",
        "histogram_quantile(0.5, sum without (le) (rate(llm_request_latency_seconds_bucket[5m])))",
        "label_values(llm_active_requests, agent)",
    ])
    def test_a_label_the_series_lacks_is_refused(self, query: str, series: dict[str, frozenset[str]]) -> None:
        """Filtering or grouping by a label the series does not carry gives an empty or wrong panel."""
        assert [] != label_problems(query, series), query


class TestDashboard:
    def test_is_a_grafana_dashboard(self) -> None:
        """The file parses and has what Grafana's import needs: title, uid, panels with unique ids, a datasource."""
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["title"] and dashboard["uid"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])

    def test_every_query_names_an_exported_series(self, series: dict[str, frozenset[str]]) -> None:
        """Each query references at least one series, and every one it names is a series a scrape shows."""
        dashboard = json.loads(DASHBOARD.read_text())
        for query in queries(dashboard):
            names = _METRIC.findall(query)
            assert names, query
            assert [] == [n for n in names if n not in series], query

    def test_every_label_a_query_uses_is_on_its_series(self, series: dict[str, frozenset[str]]) -> None:
        """Labels in selectors, ``by``/``without`` and ``label_values`` exist on the series they are used with."""
        dashboard = json.loads(DASHBOARD.read_text())
        assert [] == [(query, p) for query in queries(dashboard) for p in label_problems(query, series)]

    def test_the_series_fixture_covers_every_metric(self, series: dict[str, frozenset[str]]) -> None:
        """Each exported family shows up in the fixture, so a query over any of them can be checked."""
        bases = {re.sub(r"_(bucket|count|sum)$", "", n) for n in series}
        assert METRIC_NAMES <= bases | set(series)

    def test_covers_the_required_views(self) -> None:
        """Requests, latency, cost by agent, budget remaining, guardrail findings and fallbacks are all shown."""
        text = " ".join(queries(json.loads(DASHBOARD.read_text())))
        for metric in ("llm_requests_total", "llm_request_latency_seconds_bucket", "llm_cost_usd_total",
                       "llm_budget_remaining", "llm_guardrail_findings_total", "llm_fallbacks_total"):
            assert metric in text

    async def test_exported_names_are_what_prometheus_shows(self, make_loom: Any, registry: Any) -> None:
        """Every family a registry with loomllm's metrics exposes is in METRIC_NAMES (labelled families appear
        once they have a sample)."""
        from prometheus_client import generate_latest

        from loomllm import instrument

        loom = make_loom("""
            agents: {a: {model: smart, budget: b}}
            budgets: {policies: {b: {limits: [{tokens: 10000, per: day}]}}}
        """)
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("a").chat("hello")
        telemetry.flush()
        types = re.findall(r"^# TYPE (\S+) ", generate_latest(registry).decode(), re.M)
        exposed = {n for n in types if not n.endswith("_created")}
        assert exposed <= METRIC_NAMES
        expected = {"llm_requests_total", "llm_tokens_total", "llm_request_latency_seconds", "llm_budget_remaining"}
        assert expected <= exposed
