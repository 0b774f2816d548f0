"""The Grafana dashboard in the repo: loadable JSON whose every query names metrics loomllm exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loomllm._telemetry.prometheus import METRIC_NAMES

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "loomllm.json"
_METRIC = re.compile(r"\b(llm_[a-z_]+)\b")
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def queries(dashboard: dict[str, Any]) -> list[str]:
    out = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    out += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return out


def exported(name: str) -> bool:
    base = next((name[: -len(s)] for s in _HISTOGRAM_SUFFIXES if name.endswith(s)), name)
    return name in METRIC_NAMES or base in METRIC_NAMES


class TestDashboard:
    def test_is_a_grafana_dashboard(self) -> None:
        """The file parses and has what Grafana's import needs: title, uid, panels with unique ids, a datasource."""
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["title"] and dashboard["uid"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])

    def test_every_query_names_an_exported_metric(self) -> None:
        """Each query references at least one metric, and every metric it names is one loomllm exports."""
        dashboard = json.loads(DASHBOARD.read_text())
        for query in queries(dashboard):
            names = _METRIC.findall(query)
            assert names, query
            assert [] == [n for n in names if not exported(n)], query

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
