"""Output content policies against the wire server: deny rules, callables, moderation, streams, cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loomllm import ConfigError, ContentPolicyViolation
from loomllm.testing import Reply, WireServer

ANSWER = ("Thanks for reaching out. Your order 48213 shipped on Tuesday. If it does not arrive by Friday, "
          "reply here and we will wire the funds back to your card within five business days.")


def moderation_head(server: WireServer) -> str:
    return f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{server.openai_base}", api_key: sk-test}}
  - model_name: moderation
    litellm_params: {{model: openai/omni-moderation-latest, api_base: "{server.openai_base}", api_key: sk-test}}
router_settings: {{num_retries: 0}}
"""


def events_of(kind: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


class TestDenyRules:
    async def test_deny_word_blocks_and_never_quotes_the_text(self, make_loom: Any, wire_server: WireServer) -> None:
        """A deny phrase in the answer raises ContentPolicyViolation naming the rule, not the words."""
        wire_server.route(Reply.text(ANSWER))
        events: list[dict[str, Any]] = []
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy:
              agents: {support: public}
              policies: {public: {deny: {words: ["wire  the funds"]}}}
        """, on_event=events.append)
        with pytest.raises(ContentPolicyViolation) as caught:
            await loom.agent("support").chat("Where is my order?")
        assert ("deny", ("words[0]",)) == (caught.value.source, caught.value.categories)
        assert "funds" not in str(caught.value)
        [decision] = [e for e in events_of("policy.decision", events) if e["decision"] != "allowed"]
        assert ("content", "refused") == (decision["policy"], decision["decision"])
        [call] = events_of("llm.call", events)
        assert "ContentPolicyViolation" == call["outcome"]
        assert "funds" not in repr(events)

    async def test_pattern_flag_delivers_the_answer_and_reports(self, make_loom: Any, wire_server: WireServer) -> None:
        """With action flag, the answer arrives and a flagged policy.decision is emitted."""
        wire_server.route(Reply.text(ANSWER))
        events: list[dict[str, Any]] = []
        loom = make_loom(r"""
            agents: {support: {model: smart}}
            output_policy:
              default: audit
              policies: {audit: {action: flag, deny: {patterns: ["(?i)order\\s+\\d{5}"]}}}
        """, on_event=events.append)
        assert ANSWER == await loom.agent("support").chat("Where is my order?")
        [decision] = [e for e in events_of("policy.decision", events) if e["decision"] != "allowed"]
        assert ("flagged", ["patterns[0]"]) == (decision["decision"], decision["categories"])

    async def test_clean_answer_passes(self, make_loom: Any) -> None:
        """An answer that breaks no rule is returned unchanged."""
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {deny: {words: ["wire the funds"]}}}}
        """)
        assert "echo: When do you open?" == await loom.agent("support").chat("When do you open?")


class TestCallable:
    async def test_callable_reason_blocks(self, make_loom: Any, wire_server: WireServer) -> None:
        """A ``module:function`` callable returning a reason blocks with that reason."""
        wire_server.route(Reply.text("We will refund the full amount today."))
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {callable: "policy_checks:no_refund_promises"}}}
        """)
        with pytest.raises(ContentPolicyViolation) as caught:
            await loom.agent("support").chat("Can I get my money back?")
        assert ("callable", ("refund_promise",)) == (caught.value.source, caught.value.categories)

    async def test_async_callable_is_awaited(self, make_loom: Any) -> None:
        """An async callable is awaited; finding nothing lets the answer through."""
        import policy_checks

        policy_checks.CALLS.clear()
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {callable: "policy_checks:async_never"}}}
        """)
        assert "echo: hi" == await loom.agent("support").chat("hi")
        assert ["echo: hi"] == policy_checks.CALLS


class TestModeration:
    async def test_flagged_category_blocks_and_the_moderation_call_is_logged(self, make_loom: Any,
                                                                             wire_server: WireServer) -> None:
        """The moderation model is called through the Router; a flagged category blocks the answer."""
        wire_server.script(Reply.moderation({"violence": 0.93}), api="moderations")
        events: list[dict[str, Any]] = []
        loom = make_loom("""
            agents: {story: {model: smart}}
            output_policy:
              default: safe
              policies: {safe: {moderation: {model: moderation, categories: [violence, hate]}}}
        """, head=moderation_head(wire_server), on_event=events.append)
        with pytest.raises(ContentPolicyViolation) as caught:
            await loom.agent("story").chat("Tell me how the battle of Hastings ended.")
        assert ("moderation", ("violence",)) == (caught.value.source, caught.value.categories)
        [moderation] = wire_server.requests_for(api="moderations")
        assert "omni-moderation-latest" == moderation.body["model"]
        assert "Hastings" in moderation.body["input"]
        calls = events_of("llm.call", events)
        assert ["moderation", "completion"] == [c["kind"] for c in calls]

    async def test_category_outside_the_list_passes(self, make_loom: Any, wire_server: WireServer) -> None:
        """Only the configured categories count."""
        wire_server.script(Reply.moderation({"harassment": 0.8}), api="moderations")
        loom = make_loom("""
            agents: {story: {model: smart}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation, categories: [violence]}}}}
        """, head=moderation_head(wire_server))
        assert "echo: hello" == await loom.agent("story").chat("hello")

    async def test_threshold_counts_scores_below_the_flag(self, make_loom: Any, wire_server: WireServer) -> None:
        """With a threshold, a score above it counts even when the model did not flag it."""
        wire_server.script(Reply.moderation({"violence": 0.3}), api="moderations")
        loom = make_loom("""
            agents: {story: {model: smart}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation, threshold: 0.2}}}}
        """, head=moderation_head(wire_server))
        with pytest.raises(ContentPolicyViolation):
            await loom.agent("story").chat("hello")

    async def test_moderation_failure_fails_closed(self, make_loom: Any, wire_server: WireServer) -> None:
        """A moderation endpoint that fails blocks the answer by default."""
        wire_server.route(Reply.status(500), api="moderations")
        loom = make_loom("""
            agents: {story: {model: smart}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
        """, head=moderation_head(wire_server))
        with pytest.raises(ContentPolicyViolation) as caught:
            await loom.agent("story").chat("hello")
        assert "moderation_error" == caught.value.source

    async def test_moderation_failure_fails_open_when_configured(self, make_loom: Any,
                                                                 wire_server: WireServer) -> None:
        """``on_error: fail_open`` delivers the answer and reports it as unchecked."""
        wire_server.route(Reply.status(500), api="moderations")
        events: list[dict[str, Any]] = []
        loom = make_loom("""
            agents: {story: {model: smart}}
            output_policy:
              default: safe
              policies: {safe: {on_error: fail_open, moderation: {model: moderation}}}
        """, head=moderation_head(wire_server), on_event=events.append)
        assert "echo: hello" == await loom.agent("story").chat("hello")
        [decision] = [e for e in events_of("policy.decision", events) if e["decision"] != "allowed"]
        assert "unchecked" == decision["decision"]

    async def test_moderation_is_budgeted(self, make_loom: Any, wire_server: WireServer) -> None:
        """The moderation call is charged to the agent's budget (its input tokens)."""
        loom = make_loom("""
            agents: {story: {model: smart, budget: b}}
            budgets: {default_output_cap: 32, policies: {b: {limits: [{tokens: 100000, per: day}]}}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
        """, head=moderation_head(wire_server))
        agent = loom.agent("story")
        await agent.chat("A short question about the weather in Lisbon")
        [row] = await agent.budget_status()
        completion_only = wire_server.requests_for(api="openai")
        assert completion_only
        assert row.spent > 0
        # spent covers the completion and the moderation call's input
        response_tokens = 2 * len(["echo:", "A", "short", "question", "about", "the", "weather", "in", "Lisbon"])
        assert row.spent > response_tokens


class TestStreams:
    async def test_stream_is_blocked_before_the_denied_words_are_shown(self, make_loom: Any,
                                                                        wire_server: WireServer) -> None:
        """Streamed text is held back: the block comes before any of the denied phrase reaches the caller."""
        wire_server.route(Reply.text(ANSWER))
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {hold_back_chars: 40, deny: {words: ["wire the funds"]}}}}
        """)
        shown: list[str] = []
        with pytest.raises(ContentPolicyViolation):
            async for chunk in loom.agent("support").stream("Where is my order?"):
                shown.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        text = "".join(shown)
        assert text.startswith("Thanks for reaching out.")
        assert "wire" not in text

    async def test_clean_stream_arrives_whole(self, make_loom: Any, wire_server: WireServer) -> None:
        """A stream that breaks nothing arrives complete, in order."""
        wire_server.route(Reply.text(ANSWER))
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {hold_back_chars: 30, deny: {words: ["chargeback"]}}}}
        """)
        parts = [c.choices[0].delta.content or "" async for c in loom.agent("support").stream("Where?") if c.choices]
        assert ANSWER == "".join(parts)

    async def test_stream_moderated_in_batches(self, make_loom: Any, wire_server: WireServer) -> None:
        """With a moderation model, a stream is checked once per hold-back batch, not per chunk."""
        wire_server.route(Reply.text(ANSWER), api="openai")
        loom = make_loom("""
            agents: {support: {model: smart}}
            output_policy: {default: p, policies: {p: {hold_back_chars: 60, moderation: {model: moderation}}}}
        """, head=moderation_head(wire_server))
        parts = [c.choices[0].delta.content or "" async for c in loom.agent("support").stream("Where?") if c.choices]
        assert ANSWER == "".join(parts)
        checks = len(wire_server.requests_for(api="moderations"))
        assert 1 <= checks <= len(ANSWER) // 60 + 1


class TestCache:
    async def test_cached_answer_is_checked_again(self, make_loom: Any, wire_server: WireServer) -> None:
        """A cache hit does not bypass the output policy."""
        wire_server.route(Reply.text(ANSWER))
        loom = make_loom("""
            agents: {support: {model: smart, temperature: 0}}
            output_policy: {default: p, policies: {p: {deny: {words: ["wire the funds"]}}}}
        """, extra="litellm_settings: {cache: true, cache_params: {type: local}}\n")
        for _ in range(2):
            with pytest.raises(ContentPolicyViolation):
                await loom.agent("support").chat("Where is my order 48213?")
            await asyncio.sleep(0.05)  # LiteLLM writes the cache in a background task
        assert 1 == len(wire_server.requests_for(api="openai"))


class TestConfig:
    @pytest.mark.parametrize(("section", "path"), [
        ("{default: nope, policies: {}}", "loomllm.output_policy"),
        ("{agents: {a: nope}, policies: {p: {deny: {words: [x]}}}}", "loomllm.output_policy"),
        ("{policies: {p: {deny: {patterns: ['(unclosed']}}}}", "loomllm.output_policy.policies.p.deny.patterns"),
        ("{policies: {p: {}}}", "loomllm.output_policy.policies.p"),
        ("{policies: {p: {action: warn, deny: {words: [x]}}}}", "loomllm.output_policy.policies.p.action"),
        ("{policies: {p: {moderation: {model: missing}}}}", "loomllm.output_policy.policies.p.moderation.model"),
        ("{policies: {p: {callable: 'policy_checks:missing'}}}", "loomllm.output_policy.policies.p.callable"),
    ])
    def test_mistakes_are_config_errors_with_the_key_path(self, make_loom: Any, section: str, path: str) -> None:
        """A policy that would silently check nothing is refused at load time, naming the key."""
        with pytest.raises(ConfigError) as caught:
            make_loom(f"agents: {{a: {{model: smart}}}}\noutput_policy: {section}")
        assert caught.value.path is not None and caught.value.path.startswith(path)


class TestModerationEgress:
    async def test_moderation_host_outside_the_allowlist_is_refused_before_sending(
            self, make_loom: Any, wire_server: WireServer) -> None:
        """The moderation deployment is egress-checked like any other: refused, nothing sent to it."""
        from loomllm import EgressDenied

        head = f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test}}
  - model_name: moderation
    litellm_params: {{model: openai/omni-moderation-latest, api_base: "http://127.0.0.2:9/v1", api_key: sk-test}}
"""
        loom = make_loom(f"""
            agents: {{story: {{model: smart, egress: local}}}}
            egress: {{policies: {{local: {{allow: ["http://127.0.0.1:{wire_server.port}"]}}}}}}
            output_policy: {{default: safe, policies: {{safe: {{moderation: {{model: moderation}}}}}}}}
        """, head=head)
        with pytest.raises(EgressDenied):
            await loom.agent("story").chat("hello")
        assert [] == wire_server.requests_for(api="moderations")


class TestNoLeakToModeration:
    async def test_moderation_sees_placeholders_not_restored_values(self, make_loom: Any,
                                                                    wire_server: WireServer) -> None:
        """The answer is moderated before placeholders are restored: the e-mail never reaches the moderator."""
        email = "jane.doe@acme-corp.com"
        loom = make_loom("""
            agents: {mailer: {model: smart}}
            guardrails: {default: standard}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
        """, head=moderation_head(wire_server))
        answer = await loom.agent("mailer").chat(f"Write to {email} about the launch")
        assert email in answer
        [moderation] = wire_server.requests_for(api="moderations")
        assert email not in repr(moderation.body) and "<EMAIL_ADDRESS_1>" in moderation.body["input"]

    async def test_streamed_answer_with_guardrails_and_policy_arrives_restored(self, make_loom: Any,
                                                                              wire_server: WireServer) -> None:
        """Stream through both filters: the content policy holds back, the guardrail restores."""
        email = "jane.doe@acme-corp.com"
        loom = make_loom("""
            agents: {mailer: {model: smart}}
            guardrails: {default: standard}
            output_policy: {default: p, policies: {p: {hold_back_chars: 20, deny: {words: ["wire the funds"]}}}}
        """)
        parts = [c.choices[0].delta.content or "" async for c in loom.agent("mailer").stream(f"mail {email} now")
                 if c.choices]
        assert f"echo: mail {email} now" == "".join(parts)

    @pytest.mark.parametrize("stream", [False, True])
    async def test_values_in_the_providers_answer_never_reach_the_moderator(self, make_loom: Any,
                                                                            wire_server: WireServer,
                                                                            stream: bool) -> None:
        """The first provider's own answer holds an e-mail and a phone number: the moderation model (a
        second provider) gets placeholders, also when a stream's batch would start inside a value or
        end in a value that is still arriving."""
        email, phone = "margaret.okafor@northwind-logistics.com", "+1 415 555 0132"
        answer = (f"Forward the signed form to {email} or call {phone} before noon; "
                  "the courier collects the parcel at the loading dock on Thursday.")
        wire_server.route(Reply.text(answer), api="openai")
        wire_server.route(Reply.moderation({"violence": 0.0}), api="moderations")
        loom = make_loom("""
            agents: {clerk: {model: smart}}
            guardrails: {default: standard}
            output_policy: {default: p, policies: {p: {hold_back_chars: 4, moderation: {model: moderation}}}}
        """, head=moderation_head(wire_server))
        agent = loom.agent("clerk")
        if stream:
            parts = [c.choices[0].delta.content or "" async for c in agent.stream("Where do I send the form?")
                     if c.choices]
            assert len(parts) > 3  # released in batches, not held to the end
        else:
            await agent.complete("Where do I send the form?")
        sent = " | ".join(str(r.body["input"]) for r in wire_server.requests_for(api="moderations"))
        assert "Thursday" in sent and "<EMAIL_ADDRESS_1>" in sent
        pieces = {email[i:i + 6] for i in range(len(email) - 6)} | {"415", "555", "0132"}
        assert [] == [p for p in sorted(pieces) if p in sent]
