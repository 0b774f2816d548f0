"""Prometheus metrics from a real Router against the wire server."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm import BudgetExceeded, instrument
from loomllm.testing import Reply, WireServer


def value(registry: Any, name: str, **labels: str) -> float:
    """A sample's value (0 when absent)."""
    return float(registry.get_sample_value(name, labels) or 0.0)


class TestCallMetrics:
    async def test_a_call_counts_request_tokens_latency_cost(self, make_loom: Any, registry: Any) -> None:
        """One answered call increments the seed's metrics, labelled by agent, provider and model."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        response = await loom.agent("planner").chat("Summarise the quarterly revenue figures for 2025")
        telemetry.flush()
        assert response
        labels = {"agent": "planner", "provider": "openai", "model": "gpt-4o-mini"}
        assert 1.0 == value(registry, "llm_requests_total", **labels, status="ok")
        assert 0 < value(registry, "llm_tokens_total", **labels, type="prompt")
        assert 0 < value(registry, "llm_tokens_total", **labels, type="completion")
        assert 1.0 == value(registry, "llm_request_latency_seconds_count", **labels)
        assert 0 < value(registry, "llm_cost_usd_total", **labels)
        assert 0.0 == value(registry, "llm_active_requests", provider="openai")

    async def test_fallback_and_failed_attempt_are_counted(self, make_loom: Any, registry: Any,
                                                           wire_server: WireServer) -> None:
        """A 500 on the first group and an answer from its fallback count one attempt failure and one fallback."""
        wire_server.route(Reply.status(500), model="broken-model")
        loom = make_loom("agents: {worker: {model: broken}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("worker").chat("Draft the incident summary for the outage on 3 March")
        telemetry.flush()
        assert 1.0 == value(registry, "llm_fallbacks_total", agent="worker", from_group="broken", to_group="claude")
        failures = value(registry, "llm_attempt_failures_total", agent="worker", provider="openai",
                         error_type="InternalServerError")
        assert 1.0 <= failures
        assert 1.0 == value(registry, "llm_requests_total", agent="worker", provider="anthropic",
                            model="claude-haiku-4-5", status="ok")

    async def test_provider_error_is_counted_by_type(self, make_loom: Any, registry: Any,
                                                     wire_server: WireServer) -> None:
        """A call that fails with 429 counts in llm_errors_total with its loomllm error type."""
        from loomllm import RateLimited

        wire_server.route(Reply.status(429, retry_after=0), model="gpt-4o-mini")
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        with pytest.raises(RateLimited):
            await loom.agent("planner").chat("Any news on the Q3 hiring plan?")
        telemetry.flush()
        assert 1.0 == value(registry, "llm_errors_total", agent="planner", provider="openai", error_type="RateLimited")
        assert 1.0 == value(registry, "llm_requests_total", agent="planner", provider="openai",
                            model="gpt-4o-mini", status="error")
        assert 0.0 == value(registry, "llm_active_requests", provider="openai")


class TestPolicyMetrics:
    @pytest.mark.parametrize("stream", [False, True])
    async def test_an_answer_the_content_policy_blocks_is_refused_not_an_error(self, make_loom: Any, registry: Any,
                                                                             wire_server: WireServer,
                                                                             stream: bool) -> None:
        """Refusals are told by the error's class (subclasses included), not by its name: a blocked
        answer, plain or streamed, counts as status ``refused``."""
        from loomllm import ContentPolicyViolation

        wire_server.route(Reply.text("Sure: we will wire the funds back today."))
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {deny: {words: ["wire the funds"]}}}}
        """)
        telemetry = instrument(loom, traces=False, registry=registry)
        with pytest.raises(ContentPolicyViolation):
            if stream:
                async for _ in loom.agent("support").stream("Refund?"):
                    pass
            else:
                await loom.agent("support").chat("Refund?")
        telemetry.flush()
        labels = {"agent": "support", "provider": "openai", "model": "gpt-4o-mini"}
        assert 1.0 == value(registry, "llm_requests_total", **labels, status="refused")
        assert 0.0 == value(registry, "llm_requests_total", **labels, status="error")

    async def test_budget_refusal_counts_a_decision_and_budget_gauges_are_scraped(self, make_loom: Any,
                                                                                  registry: Any) -> None:
        """A BudgetExceeded refusal is a refused request and a policy decision; budget gauges show the limit."""
        loom = make_loom("""
            agents: {planner: {model: smart, budget: tight}}
            budgets: {default_output_cap: 64, policies: {tight: {limits: [{tokens: 5, per: day}]}}}
        """)
        telemetry = instrument(loom, traces=False, registry=registry)
        with pytest.raises(BudgetExceeded):
            await loom.agent("planner").chat("Write a long essay on the history of the printing press in Europe")
        telemetry.flush()
        assert 1.0 == value(registry, "llm_policy_decisions_total", agent="planner", policy="budget",
                            decision="refused", reason="BudgetExceeded")
        assert 1.0 == value(registry, "llm_requests_total", agent="planner", provider="openai",
                            model="gpt-4o-mini", status="refused")
        assert 5.0 == value(registry, "llm_budget_remaining", scope="agent", scope_name="planner", policy="tight",
                            limit="tight[0]", unit="tokens", window="day")

    async def test_egress_refusal_is_counted_by_host(self, make_loom: Any, registry: Any,
                                                     wire_server: WireServer) -> None:
        """An attempt refused by the egress allowlist counts in llm_egress_refusals_total."""
        from loomllm import EgressDenied

        head = f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "http://127.0.0.2:{wire_server.port}/v1", api_key: sk-t}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-haiku-4-5, api_base: "{wire_server.anthropic_base}", api_key: sk-t}}
router_settings: {{num_retries: 0, fallbacks: [{{smart: [claude]}}]}}
"""
        with pytest.warns(UserWarning, match="removed"):
            loom = make_loom(f"""
                agents: {{planner: {{model: smart}}}}
                egress:
                  default: local
                  on_denied_deployment: remove
                  policies: {{local: {{allow: ["http://127.0.0.1:{wire_server.port}"]}}}}
            """, head=head)
        telemetry = instrument(loom, traces=False, registry=registry)
        with pytest.raises(EgressDenied):
            await loom.agent("planner").chat("Where does this request go?")
        telemetry.flush()
        assert 1.0 == value(registry, "llm_egress_refusals_total", agent="planner", host="127.0.0.2")
        assert wire_server.requests == []


class TestLabelValues:
    """Label values come from the configuration, never from what a caller sends."""

    async def test_budget_events_name_the_policy_and_limit_not_the_key(self, make_loom: Any,
                                                                       registry: Any) -> None:
        """A soft limit of a ``budget_keys`` scope crossing its threshold counts under its policy and limit name."""
        loom = make_loom("""
            agents: {a: {model: smart, max_tokens: 20}}
            budgets:
              scopes: {user: {default: per_user}}
              policies: {per_user: {mode: soft, warn_at: 0.01, limits: [{tokens: 100, per: day}]}}
        """)
        telemetry = instrument(loom, traces=False, registry=registry)
        for user in ("ana@example.org", "bo@example.org"):
            await loom.agent("a").chat("hello there", budget_keys={"user": user})
        telemetry.flush()
        assert 2.0 == value(registry, "llm_budget_events_total", agent="a", event="budget.threshold",
                            policy="per_user", limit="per_user[0]")

    @pytest.mark.parametrize(("scope", "scope_name", "limit", "expected"), [
        ("agent", "planner", "tight[0]", "tight[0]"),
        ("agent", "planner", "daily spend", "daily spend"),
        ("team", "ops", "team ops: shared[1]", "shared[1]"),
        ("global", "*", "global: org[0]", "org[0]"),
        ("model", "smart", "model smart: per_model[0]", "per_model[0]"),
        ("key", "user=jane@acme.example", "user=jane@acme.example: per_user[0]", "per_user[0]"),
        ("key", "user=jane@acme.example", "user=joe@acme.example: per_user[0]", "unknown"),
        ("elsewhere", "x", "x: y", "unknown"),
    ])
    def test_limit_label_drops_the_scope_prefix(self, scope: str, scope_name: str, limit: str,
                                                expected: str) -> None:
        """Only the configured part of a limit's display name is a label; a name that does not parse is unknown."""
        from loomllm._telemetry.labels import limit_label

        assert expected == limit_label({"scope": scope, "scope_name": scope_name, "limit": limit})

    @pytest.mark.parametrize(("host", "expected"), [
        ("127.0.0.2", "127.0.0.2"), ("u7-tracking.example.net", "other"), (None, "unknown"),
    ])
    def test_only_configured_hosts_label_egress_refusals(self, registry: Any, host: str | None,
                                                         expected: str) -> None:
        """A refused host is its own label only when a deployment is configured with it."""
        from loomllm._telemetry.config import TelemetryConfig
        from loomllm._telemetry.deployments import Deployments
        from loomllm._telemetry.prometheus import PrometheusMetrics

        deployments = Deployments([{"model_name": "smart", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.2:8000/v1"}}])
        metrics = PrometheusMetrics(deployments, TelemetryConfig(), registry=registry)
        metrics({"event": "policy.decision", "agent": "a", "call_id": "c", "policy": "egress",
                 "decision": "refused", "reason": "EgressDenied", "host": host})
        assert 1.0 == value(registry, "llm_egress_refusals_total", agent="a", host=expected)


class TestWithoutAgentLabel:
    def test_unlabelled_counters_count(self, registry: Any) -> None:
        """``agent_label: false`` leaves cache and single-flight counters without labels: they still count."""
        from loomllm._telemetry.config import TelemetryConfig
        from loomllm._telemetry.deployments import Deployments
        from loomllm._telemetry.prometheus import PrometheusMetrics

        config = TelemetryConfig.model_validate({"prometheus": {"agent_label": False}})
        metrics = PrometheusMetrics(Deployments([]), config, registry=registry)
        metrics({"event": "llm.call", "agent": "a", "call_id": "c", "model_group": "smart", "outcome": "ok",
                 "cache_hit": True, "shared": True, "latency_ms": 1.0})
        counted = (value(registry, "llm_cache_hits_total"), value(registry, "llm_single_flight_shared_total"))
        assert (1.0, 1.0) == counted


class TestSynchronousMode:
    async def test_background_false_counts_before_the_call_returns(self, make_loom: Any, registry: Any) -> None:
        """With ``background=False`` the metrics are updated on the caller's thread, before the call returns."""
        loom = make_loom("agents: {planner: {model: smart}}")
        instrument(loom, traces=False, registry=registry, background=False)
        await loom.agent("planner").chat("Which regions had the highest churn in Q2?")
        assert 1.0 == value(registry, "llm_requests_total", agent="planner", provider="openai", model="gpt-4o-mini",
                            status="ok")

    async def test_broken_exporter_does_not_fail_the_call(self, make_loom: Any, registry: Any) -> None:
        """An exporter that raises is contained: the call still returns its answer."""
        loom = make_loom("agents: {planner: {model: smart}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        telemetry.metrics._HANDLERS = {"llm.call": lambda *a: 1 / 0}  # a bug in an exporter
        assert "echo: hi" == await loom.agent("planner").chat("hi")
        telemetry.flush()


class TestRegistry:
    async def test_two_looms_share_one_registry(self, make_loom: Any, registry: Any) -> None:
        """A second Loom on the same registry reuses the metrics instead of failing on duplicates."""
        first, second = make_loom("agents: {a: {model: smart}}"), make_loom("agents: {b: {model: smart}}")
        instrument(first, traces=False, registry=registry)
        telemetry = instrument(second, traces=False, registry=registry)
        await first.agent("a").chat("one")
        await second.agent("b").chat("two")
        telemetry.flush()
        assert 1.0 == value(registry, "llm_requests_total", agent="b", provider="openai", model="gpt-4o-mini",
                            status="ok")

    async def test_yaml_switch_uses_the_process_registry(self, make_loom: Any) -> None:
        """``telemetry.prometheus.enabled`` attaches metrics to prometheus_client's default registry."""
        from prometheus_client import REGISTRY

        labels = {"agent": "yaml_agent", "provider": "openai", "model": "gpt-4o-mini", "status": "ok"}
        before = value(REGISTRY, "llm_requests_total", **labels)
        loom = make_loom("agents: {yaml_agent: {model: smart}}\ntelemetry: {prometheus: {enabled: true}}")
        await loom.agent("yaml_agent").chat("hello there")
        loom.telemetry.flush()
        assert before + 1 == value(REGISTRY, "llm_requests_total", **labels)

    async def test_opted_out_agent_is_not_counted(self, make_loom: Any, registry: Any) -> None:
        """``telemetry.agents.<name>.metrics: false`` keeps an agent out of the metrics."""
        loom = make_loom("agents: {quiet: {model: smart}}\ntelemetry: {agents: {quiet: {metrics: false}}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("quiet").chat("hello")
        telemetry.flush()
        assert 0.0 == value(registry, "llm_requests_total", agent="quiet", provider="openai", model="gpt-4o-mini",
                            status="ok")


class TestGuardrailMetrics:
    async def test_blocked_secret_counts_a_finding_and_leaks_nothing(self, make_loom: Any, registry: Any,
                                                                     wire_server: WireServer) -> None:
        """An input secret block counts in llm_guardrail_findings_total by entity; no event carries the key."""
        from loomllm import GuardrailViolation

        aws_key = "AKIA" + "Q3EGRVLMZ7TPKX2N"
        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {ops: {model: smart}}\nguardrails: {default: standard}", on_event=events.append)
        telemetry = instrument(loom, traces=False, registry=registry)
        with pytest.raises(GuardrailViolation) as caught:
            await loom.agent("ops").chat(f"Rotate this key for me: {aws_key}")
        telemetry.flush()
        [entity] = caught.value.counts
        assert 1.0 == value(registry, "llm_guardrail_findings_total", agent="ops", entity_type=entity,
                            action="block", direction="input")
        assert 1.0 == value(registry, "llm_policy_decisions_total", agent="ops", policy="guardrail",
                            decision="refused", reason="GuardrailViolation")
        assert aws_key not in repr(events)
        assert [] == wire_server.requests
