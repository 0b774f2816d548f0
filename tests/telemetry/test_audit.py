"""The audit stream: every policy decision, allowed or not, as a ``policy.decision`` event; never values."""

from __future__ import annotations

from typing import Any

import pytest

from loomllm import instrument
from loomllm.testing import Reply, WireServer

EMAIL, CARD = "dana.okafor@example.org", "4111 1111 1111 1111"

GUARDRAILS = """
guardrails:
  default: pii
  profiles:
    pii:
      input: {EMAIL_ADDRESS: redact, CREDIT_CARD: mask, default: allow}
      output: {EMAIL_ADDRESS: redact, CREDIT_CARD: mask, default: allow}
      restore: false
"""


def decisions(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["policy"], e["decision"], e["reason"]) for e in events if e["event"] == "policy.decision"]


def value(registry: Any, name: str, **labels: str) -> float:
    return float(registry.get_sample_value(name, labels) or 0.0)


class TestAllowedDecisions:
    async def test_a_call_that_went_through_names_every_policy_it_passed(self, make_loom: Any) -> None:
        """Parameter allowlist and budget each emit one allowed decision, with the call's id."""
        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {a: {model: smart, budget: b}}\nbudgets: {policies: {b: {limits: [{tokens: 100000, "
                         "per: day}]}}}", on_event=events.append)
        await loom.agent("a").chat("Plan the launch.")
        assert [("parameter", "allowed", "allowlisted"), ("budget", "allowed", "within_limits")] == decisions(events)
        [call] = [e for e in events if e["event"] == "llm.call"]
        assert {call["call_id"]} == {e["call_id"] for e in events if e["event"] == "policy.decision"}
        assert {"debug"} == {e["level"] for e in events if e["event"] == "policy.decision"}

    async def test_a_refused_call_has_no_allowed_decision(self, make_loom: Any) -> None:
        """A budget refusal is the call's decision: nothing is reported as allowed."""
        from loomllm import BudgetExceeded

        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {a: {model: smart, budget: b}}\nbudgets: {policies: {b: {limits: [{tokens: 5, "
                         "per: day}]}}}", on_event=events.append)
        with pytest.raises(BudgetExceeded):
            await loom.agent("a").chat("Plan the launch.")
        assert [("budget", "refused", "BudgetExceeded")] == decisions(events)

    async def test_allowed_decisions_are_counted(self, make_loom: Any, registry: Any) -> None:
        """llm_policy_decisions_total counts allowed decisions by policy and reason."""
        loom = make_loom("agents: {a: {model: smart}}")
        telemetry = instrument(loom, traces=False, registry=registry)
        await loom.agent("a").chat("hi")
        await loom.agent("a").chat("hi again")
        telemetry.flush()
        assert 2.0 == value(registry, "llm_policy_decisions_total", agent="a", policy="parameter",
                            decision="allowed", reason="allowlisted")


class TestRedactionCounts:
    async def test_input_and_output_redactions_reach_the_metrics(self, make_loom: Any, registry: Any,
                                                                 wire_server: WireServer) -> None:
        """Redact and mask, on input and on the answer, count by entity and action; no event carries a value."""
        events: list[dict[str, Any]] = []
        loom = make_loom("agents: {a: {model: smart}}" + GUARDRAILS, on_event=events.append)
        telemetry = instrument(loom, traces=False, registry=registry)
        wire_server.route(Reply.text(f"Write to {EMAIL} and charge {CARD}."))
        await loom.agent("a").chat(f"My e-mail is {EMAIL}, my card {CARD}.")
        telemetry.flush()
        for direction in ("input", "output"):
            assert 1.0 == value(registry, "llm_guardrail_findings_total", agent="a", entity_type="EMAIL_ADDRESS",
                                action="redact", direction=direction)
            assert 1.0 == value(registry, "llm_guardrail_findings_total", agent="a", entity_type="CREDIT_CARD",
                                action="mask", direction=direction)
        redacted = [e for e in events if e["event"] == "policy.decision" and e["decision"] == "redacted"]
        assert ["input", "output"] == [e["direction"] for e in redacted]
        assert {"CREDIT_CARD:mask": 1, "EMAIL_ADDRESS:redact": 1} == redacted[0]["counts"]
        assert EMAIL not in repr(events) and CARD not in repr(events)

    async def test_stream_output_redactions_are_counted_once(self, make_loom: Any, registry: Any,
                                                             wire_server: WireServer) -> None:
        """A streamed answer's redactions count once each, however many chunks re-scan them as context."""
        loom = make_loom("agents: {a: {model: smart}}" + GUARDRAILS)
        telemetry = instrument(loom, traces=False, registry=registry)
        answer = f"Noted. Reach {EMAIL} for the invoice; the card {CARD} is on file. Anything else today?"
        wire_server.route(Reply.text(answer))
        text = "".join([c.choices[0].delta.content or "" async for c in loom.agent("a").stream("Who do I write to?")
                        if c.choices])
        telemetry.flush()
        assert EMAIL not in text
        assert 1.0 == value(registry, "llm_guardrail_findings_total", agent="a", entity_type="EMAIL_ADDRESS",
                            action="redact", direction="output")
        assert 1.0 == value(registry, "llm_guardrail_findings_total", agent="a", entity_type="CREDIT_CARD",
                            action="mask", direction="output")


class TestLegacyErrors:
    def test_a_legacy_refusal_is_reported_as_its_loomllm_parent(self) -> None:
        """The legacy facade's errors subclass loomllm's: same policy and reason in the audit stream."""
        from loomllm._telemetry.audit import decision_fields, policy_of
        from loomllm.legacy import LegacyBudgetExceeded, LegacyContentPolicyViolation

        content = LegacyContentPolicyViolation(agent="a", policy="p", source="deny", categories=["x"])
        assert ("content", "ContentPolicyViolation") == (policy_of(content), decision_fields(content)["reason"])
        budget = LegacyBudgetExceeded(agent="a", limit="l", window="day", unit="usd", remaining=0.0, requested=1.0)
        assert ("budget", "BudgetExceeded") == (policy_of(budget), decision_fields(budget)["reason"])
