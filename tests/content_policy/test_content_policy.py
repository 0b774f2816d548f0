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


# --- issue 12: moderation dollars, unusable answers, every field, interleaved streams, invisible characters ---


class Events:
    """An events sink for policies exercised on their own."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        self.seen.append({"event": event, "level": level, **fields})


def stream_chunk(deltas: list[tuple[int, dict[str, Any]]], finish: str | None = None) -> Any:
    """A LiteLLM stream chunk, as the Router hands it to the content filter."""
    from loomllm._litellm import litellm_module

    litellm_module()  # the local cost map: building LiteLLM types never fetches it
    from litellm.types.utils import ModelResponseStream

    return ModelResponseStream(id="chatcmpl-t", created=1, model="gpt-4o-mini",
                               choices=[{"index": i, "delta": d, "finish_reason": finish} for i, d in deltas])


def answer(message: dict[str, Any]) -> Any:
    """A LiteLLM chat response with one choice holding ``message``."""
    from loomllm._litellm import litellm_module

    litellm_module()
    from litellm.types.utils import ModelResponse

    return ModelResponse(choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}])


def tool_delta(index: int, arguments: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def deny_policy(words: list[str], **extra: Any) -> Any:
    from loomllm._content_policy import ContentPolicy, ContentPolicyConfig

    return ContentPolicy("strict", ContentPolicyConfig.model_validate({"deny": {"words": words}, **extra}))


class Moderations:
    """A moderator that answers every call with ``answer`` and records its inputs."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.inputs: list[str] = []

    async def __call__(self, text: str, *, agent: str, call_id: str) -> dict[str, Any]:
        self.inputs.append(text)
        return self.answer


def moderated_policy(moderator: Moderations, **config: Any) -> Any:
    from loomllm._content_policy import ContentPolicy, ContentPolicyConfig

    return ContentPolicy("safe", ContentPolicyConfig.model_validate(
        {"moderation": {"model": "moderation"}, **config}), moderator=moderator)


NOTHING_FLAGGED = {"results": [{"flagged": False, "categories": {"violence": False},
                                "category_scores": {"violence": 0.01}}]}


class TestModerationPricing:
    async def test_the_moderation_call_is_charged_at_the_deployment_price(self, make_loom: Any,
                                                                          wire_server: WireServer) -> None:
        """A priced moderation deployment costs its input tokens times its price, in the budget and the event."""
        head = moderation_head(wire_server).replace(
            "omni-moderation-latest, api_base", "omni-moderation-latest, input_cost_per_token: 0.002, "
            "output_cost_per_token: 0, api_base")
        events: list[dict[str, Any]] = []
        loom = make_loom("""
            agents: {story: {model: smart, max_tokens: 16, budget: dollars}}
            budgets: {policies: {dollars: {limits: [{usd: 10, per: day}]}}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
        """, head=head, on_event=events.append)
        await loom.agent("story").chat("Summarise the quarterly logistics review in two lines")
        [moderation] = [c for c in events_of("llm.call", events) if c["kind"] == "moderation"]
        assert moderation["tokens_in"] > 0
        assert pytest.approx(moderation["tokens_in"] * 0.002) == moderation["cost_usd"]
        [row] = [s for s in await loom.agent("story").budget_status() if s.unit == "usd"]
        assert row.spent >= moderation["cost_usd"]

    def test_an_unpriced_moderation_deployment_under_a_dollar_limit_is_a_config_error(
            self, make_loom: Any, wire_server: WireServer) -> None:
        """A moderation model with no price would moderate for free under a USD limit: refused at load."""
        head = moderation_head(wire_server).replace("openai/omni-moderation-latest", "openai/house-moderator")
        with pytest.raises(ConfigError) as caught:
            make_loom("""
                agents: {story: {model: smart, max_tokens: 16, budget: dollars}}
                budgets: {policies: {dollars: {limits: [{usd: 10, per: day}]}}}
                output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
            """, head=head.replace("gpt-4o-mini, api_base", "gpt-4o-mini, input_cost_per_token: 0.000001, "
                                   "output_cost_per_token: 0.000001, api_base"))
        assert caught.value.path == "model_list.moderation.litellm_params"


class TestModerationAnswers:
    @pytest.mark.parametrize(("response", "config"), [
        ({"results": []}, {}),
        ({"results": [NOTHING_FLAGGED["results"][0]] * 2}, {}),
        ({"results": [{}]}, {}),
        ({}, {}),
        ({"results": [{"flagged": True}]}, {"categories": ["violence"]}),
        ({"results": [{"flagged": False, "categories": {"hate": False}}]}, {"categories": ["violence"]}),
    ], ids=["no_result", "two_results", "empty_result", "no_results_key", "flagged_only_with_categories",
            "none_of_the_categories"])
    def test_an_answer_that_checked_nothing_is_unusable(self, response: dict[str, Any],
                                                        config: dict[str, Any]) -> None:
        """Only one result naming categories (the policy's, if it lists some) is an answer."""
        from loomllm._content_policy import ModerationConfig
        from loomllm._content_policy.rules import UnusableModerationAnswer, moderation_categories

        with pytest.raises(UnusableModerationAnswer):
            moderation_categories(response, ModerationConfig(model="moderation", **config))

    @pytest.mark.parametrize(("result", "expected"), [
        ({"flagged": True}, ["flagged"]),
        ({"flagged": True, "categories": {"violence": False}}, ["flagged"]),
        ({"flagged": False, "categories": {"violence": True}}, ["violence"]),
    ], ids=["flagged_only", "flagged_without_a_category", "category"])
    def test_flagged_counts_when_the_policy_lists_no_categories(self, result: dict[str, Any],
                                                                expected: list[str]) -> None:
        """``flagged: true`` is the model's verdict; with no categories listed it counts on its own."""
        from loomllm._content_policy import ModerationConfig
        from loomllm._content_policy.rules import moderation_categories

        assert expected == moderation_categories({"results": [result]}, ModerationConfig(model="moderation"))

    async def test_fail_closed_blocks_and_fail_open_reports_unchecked(self) -> None:
        """An unusable answer is a moderation error: blocked failing closed, delivered as unchecked failing open."""
        closed = moderated_policy(Moderations({"results": []}))
        with pytest.raises(ContentPolicyViolation) as caught:
            await closed.check_response(answer({"content": "A calm answer."}), agent="a", call_id="c", events=Events())
        assert ("moderation_error", ("UnusableModerationAnswer",)) == (caught.value.source, caught.value.categories)
        events = Events()
        opened = moderated_policy(Moderations({"results": [{}]}), on_error="fail_open")
        await opened.check_response(answer({"content": "A calm answer."}), agent="a", call_id="c", events=events)
        assert [("unchecked", "UnusableModerationAnswer")] == [(e["decision"], e["reason"]) for e in events.seen]


class TestFieldsTheCallerSees:
    def test_response_texts_include_every_text_field(self) -> None:
        """Reasoning, refusal, thinking (its signature too), tool-call names and arguments are checked."""
        from loomllm._content_policy import response_texts

        texts = response_texts(answer({
            "content": "Done.", "reasoning_content": "Plan: stall.", "refusal": "Not that.",
            "tool_calls": [{"id": "call_7", "type": "function", "function": {"name": "send", "arguments": "{}"}}],
            "thinking_blocks": [{"type": "thinking", "thinking": "Hmm.", "signature": "c2lnbmF0dXJl"}],
        }))
        assert "Done." == texts[0]
        assert {"Plan: stall.", "Not that.", "call_7", "send", "{}", "Hmm.", "c2lnbmF0dXJl"} == set(texts[1:])

    async def test_a_deny_word_in_the_responses_own_fields_blocks(self) -> None:
        """``citations`` and other fields outside the message reach the caller: checked (bookkeeping is not)."""
        from loomllm._content_policy import response_texts

        response = answer({"content": "Done."})
        cited = ["https://example.com/how-to-wire-the-funds", "wire the funds today"]
        response.citations = cited
        assert ["Done.", *cited] == response_texts(response)
        with pytest.raises(ContentPolicyViolation):
            await deny_policy(["wire the funds"]).check_response(response, agent="a", call_id="c", events=Events())

    @pytest.mark.parametrize("message", [
        {"content": "Done.",
         "thinking_blocks": [{"type": "thinking", "thinking": "Hmm.", "signature": "wire the funds"}]},
        {"content": "Done.", "provider_specific_fields": {"signature": "wire the funds"}},
    ], ids=["thinking_block_signature", "provider_field_named_signature"])
    async def test_a_deny_word_in_a_signature_blocks(self, message: dict[str, Any]) -> None:
        """A signature is opaque to the provider's API, not to the caller, who receives it: checked like any field."""
        with pytest.raises(ContentPolicyViolation):
            await deny_policy(["wire the funds"]).check_response(answer(message), agent="a", call_id="c",
                                                                 events=Events())

    async def test_a_deny_word_in_a_streamed_signature_blocks(self) -> None:
        """A signature arrives whole in one delta of a stream: checked there."""
        stream = deny_policy(["wire the funds"]).stream_filter(agent="a", call_id="c", events=Events())
        block = {"type": "thinking", "thinking": "Hmm.", "signature": "wire the funds"}
        with pytest.raises(ContentPolicyViolation):
            await stream.feed([stream_chunk([(0, {"thinking_blocks": [block]})])])
            await stream.feed([stream_chunk([(0, {"content": "Done."})], "stop")], final=True)

    @pytest.mark.parametrize("message", [
        {"content": "Done.", "reasoning_content": "Then wire the funds."},
        {"content": None, "refusal": "I will not wire the funds."},
        {"content": None, "function_call": {"name": "act", "arguments": '{"do": "wire the funds"}'}},
        {"content": "Done.", "thinking_blocks": [{"type": "thinking", "thinking": "wire the funds", "signature": "s"}]},
    ], ids=["reasoning", "refusal", "function_call", "thinking"])
    async def test_a_deny_word_in_any_field_blocks(self, message: dict[str, Any]) -> None:
        """Whatever field carries it, the caller would read it: blocked."""
        with pytest.raises(ContentPolicyViolation):
            await deny_policy(["wire the funds"]).check_response(answer(message), agent="a", call_id="c",
                                                                 events=Events())

    async def test_fields_are_checked_apart(self) -> None:
        """A deny phrase is not assembled from the end of one field and the start of another."""
        response = answer({"content": "Please wire the", "reasoning_content": "funds are low."})
        assert response is await deny_policy(["wire the funds"]).check_response(response, agent="a", call_id="c",
                                                                                events=Events())

    async def test_a_deny_word_in_a_stream_chunks_own_field_blocks(self) -> None:
        """A chunk's ``citations`` reach the caller too; repeated in every chunk, they are read once."""
        from loomllm._content_policy import ENVELOPE, chunk_texts

        clean = stream_chunk([(0, {"content": "Done. "})])
        clean.citations = ["https://example.com/a"]
        assert {(ENVELOPE, ("citations", 0)): "https://example.com/a"} == {
            k: v for k, v in chunk_texts(clean).items() if k[0] == ENVELOPE}
        stream = deny_policy(["wire the funds"]).stream_filter(agent="a", call_id="c", events=Events())
        await stream.feed([clean, clean])
        assert "https://example.com/a" == stream._texts[(ENVELOPE, ("citations", 0))].text
        cited = stream_chunk([(0, {"content": "More. "})])
        cited.citations = ["how to wire the funds"]
        with pytest.raises(ContentPolicyViolation):
            await stream.feed([cited])
            await stream.feed([stream_chunk([(0, {"content": "End."})], "stop")], final=True)

    def test_chunk_texts_keep_one_text_per_choice_and_tool_call(self) -> None:
        """A delta's texts are keyed by choice index and field, tool calls by their own index."""
        from loomllm._content_policy import chunk_texts

        chunk = stream_chunk([(1, {"content": "hi", **tool_delta(3, '{"a"', "act")})])
        assert {(1, ("content",)): "hi", (1, ("tool_calls", 3, "function", "arguments")): '{"a"',
                (1, ("tool_calls", 3, "function", "name")): "act", (1, ("tool_calls", 3, "id")): "call_3"} \
            == chunk_texts(chunk)


INTERLEAVED = {
    "tool_calls": [[(0, tool_delta(0, '{"note": "wire the ', "send_note"))], [(0, tool_delta(1, '{"x": "', "log"))],
                   [(0, tool_delta(0, 'funds now"}'))], [(0, tool_delta(1, 'ok"}'))]],
    "choices": [[(0, {"content": "Please wire the "}), (1, {"content": "No "})], [(1, {"content": "action needed. "})],
                [(0, {"content": "funds now."})]],
    "reasoning": [[(0, {"reasoning_content": "Tell them to wire the "})], [(0, {"content": "Sure. "})],
                  [(0, {"reasoning_content": "funds today."})]],
}


class TestInterleavedStreams:
    @pytest.mark.parametrize("deltas", list(INTERLEAVED.values()), ids=list(INTERLEAVED))
    async def test_alternating_deltas_are_checked_per_text(self, deltas: list[list[tuple[int, Any]]]) -> None:
        """Each text is reassembled on its own: the deny phrase is found, none of its second half released."""
        stream = deny_policy(["wire the funds"], hold_back_chars=0).stream_filter(agent="a", call_id="c",
                                                                                  events=Events())
        released: list[Any] = []
        with pytest.raises(ContentPolicyViolation):
            for parts in deltas:
                released += await stream.feed([stream_chunk(parts)])
            await stream.feed([stream_chunk([(0, {})], "stop")], final=True)
        assert "funds" not in repr(released)

    async def test_a_clean_interleaved_stream_arrives_whole_and_in_order(self) -> None:
        """Nothing is dropped or reordered."""
        stream = deny_policy(["chargeback"], hold_back_chars=5).stream_filter(agent="a", call_id="c", events=Events())
        chunks = [stream_chunk(parts) for parts in INTERLEAVED["choices"]] + [stream_chunk([(0, {})], "stop")]
        out = [c for chunk in chunks[:-1] for c in await stream.feed([chunk])]
        out += await stream.feed([chunks[-1]], final=True)
        assert chunks == out

    async def test_one_moderation_call_per_batch_for_all_texts(self) -> None:
        """Two choices growing together are moderated together, one call per batch, each text on its line."""
        moderator = Moderations(NOTHING_FLAGGED)
        stream = moderated_policy(moderator, hold_back_chars=40).stream_filter(agent="a", call_id="c",
                                                                               events=Events())
        for n in range(12):
            await stream.feed([stream_chunk([(0, {"content": f"First answer, part {n}. "}),
                                             (1, {"content": f"Second answer, part {n}. "})])])
        await stream.feed([stream_chunk([(0, {}), (1, {})], "stop")], final=True)
        assert 2 <= len(moderator.inputs) <= 12 * 45 // 40 + 1
        assert all(len(text.split("\n")) == 2 for text in moderator.inputs[:-1])
        assert "First answer, part 0." in moderator.inputs[0] and "Second answer, part 0." in moderator.inputs[0]


class TestInvisibleCharacters:
    @pytest.mark.parametrize("text", [
        "wire the fu\u200bnds", "wire the fu\u00adnds", "wi\u2060re the funds", "wire\u200bthe funds",
        "ｗｉｒｅ the funds", "WIRE THE\u200b\u200b FUNDS",
    ], ids=["zero_width_space", "soft_hyphen", "word_joiner", "zero_width_as_space", "fullwidth", "mixed"])
    def test_deny_words_read_through_invisible_characters(self, text: str) -> None:
        """What reads as the deny phrase on screen matches it; the rule is named, the text is not."""
        from loomllm._content_policy import DenyRules
        from loomllm._content_policy.rules import DenyMatcher

        assert ["words[0]"] == DenyMatcher(DenyRules(words=["wire the funds"])).matches(f"Please {text} today.")

    async def test_padding_a_deny_word_does_not_push_it_past_the_hold_back(self) -> None:
        """Hold-back counts visible characters: invisible padding longer than it still hides nothing."""
        stream = deny_policy(["wire the funds"], hold_back_chars=20).stream_filter(agent="a", call_id="c",
                                                                                   events=Events())
        padded = "w" + "\u200b" * 300 + "ire the funds"
        released: list[Any] = []
        with pytest.raises(ContentPolicyViolation) as caught:
            released += await stream.feed([stream_chunk([(0, {"content": "Okay. Please "})])])
            for index in range(0, len(padded), 7):
                released += await stream.feed([stream_chunk([(0, {"content": padded[index:index + 7]})])])
            await stream.feed([stream_chunk([(0, {})], "stop")], final=True)
        assert "ire" not in repr(released) and "\u200b" not in repr(released)
        assert "funds" not in str(caught.value)


REASONING = [f"Step {n}: the customer asked about order {48210 + n}; check the depot log first. " for n in range(12)]
CONTENT = [f"Part {n}: your parcel {48210 + n} left the depot on Tuesday and is on its way. " for n in range(12)]


def reasoning_stream(reasoning: list[str] = REASONING, content: list[str] = CONTENT) -> list[Any]:
    """A reasoning model's stream: every reasoning delta, then every content delta, then the finish."""
    return ([stream_chunk([(0, {"reasoning_content": piece})]) for piece in reasoning]
            + [stream_chunk([(0, {"content": piece})]) for piece in content] + [stream_chunk([(0, {})], "stop")])


async def feed_apart(stream: Any, chunks: list[Any]) -> tuple[list[Any], list[Any]]:
    """Feed ``chunks`` one at a time: (what was released before the last one arrived, what came after)."""
    early = [out for chunk in chunks[:-1] for out in await stream.feed([chunk])]
    return early, await stream.feed(chunks[-1:], final=True)


def content_of(chunks: list[Any], choice: int = 0) -> list[str]:
    return [c.choices[0].delta.content for c in chunks
            if c.choices and c.choices[0].index == choice and c.choices[0].delta.content]


class TestFinishedTexts:
    @pytest.mark.parametrize("policy", ["deny", "moderation", "callable"])
    async def test_content_after_reasoning_is_not_held_to_the_end(self, policy: str) -> None:
        """Content starting finishes the reasoning: its tail is checked and released, the content streams."""
        from policy_checks import async_never

        from loomllm._content_policy import ContentPolicy, ContentPolicyConfig

        moderator = Moderations(NOTHING_FLAGGED)
        built = {"deny": lambda: deny_policy(["wire the funds"], hold_back_chars=40),
                 "moderation": lambda: moderated_policy(moderator, hold_back_chars=40),
                 "callable": lambda: ContentPolicy("own", ContentPolicyConfig(
                     hold_back_chars=40, callable="policy_checks:async_never"), user_check=async_never)}[policy]()
        chunks = reasoning_stream()
        early, late = await feed_apart(built.stream_filter(agent="a", call_id="c", events=Events()), chunks)
        assert chunks == early + late
        assert len(content_of(early)) >= len(CONTENT) - 2
        assert all(c.choices[0].delta.reasoning_content for c in early[:len(REASONING)])
        if policy == "moderation":
            assert any(REASONING[-1].strip() in text for text in moderator.inputs[:-1])

    async def test_a_finished_text_is_checked_whole_before_its_tail_is_released(self) -> None:
        """A deny phrase at the very end of the reasoning is found when the content starts."""
        stream = deny_policy(["wire the funds"], hold_back_chars=40).stream_filter(agent="a", call_id="c",
                                                                                   events=Events())
        released: list[Any] = []
        with pytest.raises(ContentPolicyViolation):
            for chunk in reasoning_stream([*REASONING[:3], "Then tell them to wire the funds"])[:-1]:
                released += await stream.feed([chunk])
        assert REASONING[:2] == [c.choices[0].delta.reasoning_content for c in released]

    async def test_a_tool_call_after_content_is_not_held_to_the_end(self) -> None:
        """A tool call starting finishes the content, and call 1 starting finishes call 0."""
        stream = deny_policy(["wire the funds"], hold_back_chars=40).stream_filter(agent="a", call_id="c",
                                                                                   events=Events())
        chunks = ([stream_chunk([(0, {"content": piece})]) for piece in CONTENT[:4]]
                  + [stream_chunk([(0, tool_delta(0, '{"parcel": "48210"', "track"))]),
                     stream_chunk([(0, tool_delta(0, ', "depot": "north"}'))]),
                     stream_chunk([(0, tool_delta(1, '{"parcel": "48211"}', "track"))]),
                     stream_chunk([(0, {})], "tool_calls")])
        early, late = await feed_apart(stream, chunks)
        assert chunks == early + late
        assert chunks[:6] == early

    async def test_n_choices_interleaved_stream_through(self) -> None:
        """Two choices alternate; the first ends early: neither waits for the end of the stream."""
        stream = deny_policy(["wire the funds"], hold_back_chars=40).stream_filter(agent="a", call_id="c",
                                                                                   events=Events())
        chunks = [stream_chunk([(n % 2, {"content": CONTENT[n // 2] if n % 2 else REASONING[n // 2]})])
                  for n in range(8)]
        chunks += [stream_chunk([(0, {})], "stop")]
        chunks += [stream_chunk([(1, {"content": piece})]) for piece in CONTENT[4:]] + [stream_chunk([(1, {})], "stop")]
        early, late = await feed_apart(stream, chunks)
        assert chunks == early + late
        assert content_of(early, 0) == REASONING[:4]
        assert len(content_of(early, 1)) >= len(CONTENT) - 2

    async def test_a_resumed_text_never_delivers_a_whole_deny_word(self) -> None:
        """Reasoning that goes on after the content started is checked with its released tail: the
        caller saw the start of the phrase (released when the reasoning seemed done), never its end."""
        stream = deny_policy(["wire the funds"], hold_back_chars=20).stream_filter(agent="a", call_id="c",
                                                                                   events=Events())
        chunks = [stream_chunk([(0, {"reasoning_content": "Tell them to wire the "})]),
                  stream_chunk([(0, {"content": "Sure, your parcel left the depot on Tuesday. "})]),
                  stream_chunk([(0, {"reasoning_content": "fu"})]),
                  stream_chunk([(0, {"reasoning_content": "nds today."})]),
                  stream_chunk([(0, {})], "stop")]
        released: list[Any] = []
        with pytest.raises(ContentPolicyViolation) as caught:
            for chunk in chunks:
                released += await stream.feed([chunk], final=chunk is chunks[-1])
        shown = "".join(c.choices[0].delta.reasoning_content or "" for c in released)
        assert "Tell them to wire the " == shown
        assert "funds" not in str(caught.value)

    async def test_a_resumed_text_is_moderated_with_its_released_context(self) -> None:
        """The moderation model reads the new characters of a resumed text with the released ones before them."""
        moderator = Moderations(NOTHING_FLAGGED)
        stream = moderated_policy(moderator, hold_back_chars=20).stream_filter(agent="a", call_id="c",
                                                                               events=Events())
        chunks = [stream_chunk([(0, {"reasoning_content": "Check the depot log for order 48213 first. "})]),
                  stream_chunk([(0, {"content": CONTENT[0]})]),
                  stream_chunk([(0, {"reasoning_content": "Then the courier."})]),
                  stream_chunk([(0, {"content": CONTENT[1]})]),
                  stream_chunk([(0, {})], "stop")]
        early, late = await feed_apart(stream, chunks)
        assert chunks == early + late
        [resumed] = [text for text in moderator.inputs if "Then the courier." in text]
        assert "48213 first. Then the courier." in resumed

    async def test_a_finished_text_reaches_the_moderator_as_the_guardrail_sees_it(self) -> None:
        """A finished reasoning is moderated to its end through the outbound view: a value is a placeholder."""
        from loomllm._guardrails import Guard, GuardrailsConfig

        email = "margaret.okafor@northwind-logistics.com"
        moderator = Moderations(NOTHING_FLAGGED)
        policy = moderated_policy(moderator, hold_back_chars=20)
        policy.outbound = Guard.from_config(GuardrailsConfig(), "standard").outbound("a")
        chunks = reasoning_stream([*REASONING[:3], "The customer wrote from ", email[:12], email[12:]])
        early, late = await feed_apart(policy.stream_filter(agent="a", call_id="c", events=Events()), chunks)
        assert chunks == early + late
        assert len(content_of(early)) >= len(CONTENT) - 2
        sent = " | ".join(moderator.inputs)
        assert "<EMAIL_ADDRESS_1>" in sent
        assert [] == [p for p in {email[i:i + 6] for i in range(len(email) - 6)} if p in sent]
