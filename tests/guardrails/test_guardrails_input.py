"""Input protection: block, redact, mask, allow-lists, every place text hides in a request."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from guardrail_values import AWS_KEY, CARD, EMAIL, GITHUB_TOKEN
from structlog.testing import capture_logs

from loomllm._guardrails import Guard, Vault
from loomllm.errors import GuardrailViolation


def user(content: Any) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": content}


class TestBlock:
    def test_secret_blocks_without_revealing_it(self, guard: Guard) -> None:
        """The violation names type, message index and offsets, never the value."""
        text = f"deploy with {GITHUB_TOKEN} now"
        with pytest.raises(GuardrailViolation) as info:
            guard.protect_input_sync([user("hi"), user(text)], guard.new_vault(), agent="planner")
        exc = info.value
        finding = exc.findings[0]
        assert ("SECRET_GITHUB_TOKEN", 1, "input") == (finding.entity_type, finding.message_index, finding.direction)
        assert text[finding.start : finding.end] == GITHUB_TOKEN
        for rendering in (str(exc), repr(exc), repr(exc.args), repr(exc.findings)):
            assert GITHUB_TOKEN not in rendering and GITHUB_TOKEN[4:20] not in rendering
        assert "planner" == exc.agent

    def test_all_block_findings_are_reported(self, guard: Guard) -> None:
        """Findings from several messages come in one violation."""
        with pytest.raises(GuardrailViolation) as info:
            guard.protect_input_sync(
                [user(f"a {GITHUB_TOKEN}"), user(f"b aws_access_key_id={AWS_KEY}")], guard.new_vault(), agent="a"
            )
        assert {0, 1} == {f.message_index for f in info.value.findings}

    def test_blocked_log_event_has_no_values(self, guard: Guard) -> None:
        """One guardrail.blocked event with types and counts only."""
        with capture_logs() as logs, pytest.raises(GuardrailViolation):
            guard.protect_input_sync([user(GITHUB_TOKEN)], guard.new_vault(), agent="a")
        events = [e for e in logs if e["event"] == "guardrail.blocked"]
        assert 1 == len(events)
        assert {"SECRET_GITHUB_TOKEN": 1} == events[0]["counts"]
        assert GITHUB_TOKEN not in repr(logs)


class TestRedactAndMask:
    def test_same_value_same_placeholder_within_a_vault(self, guard: Guard) -> None:
        """A value keeps its placeholder across messages and calls sharing a vault."""
        vault = guard.new_vault()
        first = guard.protect_input_sync([user(f"mail {EMAIL}"), user(f"again {EMAIL}")], vault, agent="a")
        second = guard.protect_input_sync([user(f"cc bob@outlook.com and {EMAIL}")], vault, agent="a")
        assert ["mail <EMAIL_ADDRESS_1>", "again <EMAIL_ADDRESS_1>"] == [m["content"] for m in first]
        assert "cc <EMAIL_ADDRESS_2> and <EMAIL_ADDRESS_1>" == second[0]["content"]

    def test_vaults_are_independent(self, guard: Guard) -> None:
        """A new vault starts numbering again and cannot restore another vault's placeholders."""
        guard.protect_input_sync([user(f"mail {EMAIL}")], guard.new_vault(), agent="a")
        other = guard.new_vault()
        assert "<EMAIL_ADDRESS_1>" == other.restore("<EMAIL_ADDRESS_1>")

    def test_mask_keeps_last_four(self, guard: Guard) -> None:
        """Card numbers are masked, separators kept."""
        out = guard.protect_input_sync([user(f"card {CARD} ok")], guard.new_vault(), agent="a")
        assert "card **** **** **** 1111 ok" == out[0]["content"]

    def test_redaction_log_event(self, guard: Guard) -> None:
        """guardrail.redacted carries types and counts, not values."""
        with capture_logs() as logs:
            guard.protect_input_sync([user(f"{EMAIL} {CARD}")], guard.new_vault(), agent="a")
        event = next(e for e in logs if e["event"] == "guardrail.redacted")
        assert {"CREDIT_CARD:mask": 1, "EMAIL_ADDRESS:redact": 1} == event["counts"]
        assert EMAIL not in repr(logs) and "4111" not in repr(logs)

    def test_vault_repr_hides_values(self) -> None:
        """A vault never shows what it holds."""
        vault = Vault()
        vault.placeholder_for("EMAIL_ADDRESS", EMAIL)
        assert EMAIL not in repr(vault)


class TestAllowLists:
    def test_allow_values_and_patterns(self, guard: Guard) -> None:
        """Allowed values pass untouched; others are still redacted."""
        text = "write to support@ourco.com, sales@ourco.com or " + EMAIL + "; test card 4242424242424242"
        out = guard.protect_input_sync([user(text)], guard.new_vault(), agent="a")
        expected = "write to support@ourco.com, sales@ourco.com or <EMAIL_ADDRESS_1>; test card 4242424242424242"
        assert expected == out[0]["content"]


class TestScope:
    def test_multipart_content_leaves_images_alone(self, guard: Guard) -> None:
        """Text parts are rewritten; image parts are passed through as they are."""
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        out = guard.protect_input_sync(
            [user([{"type": "text", "text": f"from {EMAIL}"}, image])], guard.new_vault(), agent="a"
        )
        assert [{"type": "text", "text": "from <EMAIL_ADDRESS_1>"}, image] == out[0]["content"]

    def test_tool_call_arguments_and_tool_results(self, guard: Guard) -> None:
        """Assistant tool-call arguments and tool results are scanned too."""
        messages = [
            {"role": "system", "content": f"Escalate to {EMAIL}."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "mail", "arguments": json.dumps({"to": EMAIL})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": f"sent to {EMAIL}"},
        ]
        out = guard.protect_input_sync(messages, guard.new_vault(), agent="a")
        assert "Escalate to <EMAIL_ADDRESS_1>." == out[0]["content"]
        assert {"to": "<EMAIL_ADDRESS_1>"} == json.loads(out[1]["tool_calls"][0]["function"]["arguments"])
        assert "sent to <EMAIL_ADDRESS_1>" == out[2]["content"]

    def test_secret_in_tool_result_blocks(self, guard: Guard) -> None:
        """A tool that returns a credential stops the call."""
        with pytest.raises(GuardrailViolation) as info:
            guard.protect_input_sync(
                [user("read .env"), {"role": "tool", "tool_call_id": "c", "content": f"TOKEN={GITHUB_TOKEN}"}],
                guard.new_vault(),
                agent="a",
            )
        assert 1 == info.value.findings[0].message_index

    def test_system_prompt_secret_blocks(self, guard: Guard) -> None:
        """The system prompt is a message like any other."""
        with pytest.raises(GuardrailViolation):
            guard.protect_input_sync(
                [{"role": "system", "content": f"use key {AWS_KEY}"}, user("hi")], guard.new_vault(), agent="a"
            )

    def test_callers_messages_are_not_mutated(self, guard: Guard) -> None:
        """protect_input returns copies."""
        messages = [
            user([{"type": "text", "text": f"from {EMAIL}"}]),
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": f'"{EMAIL}"'}}]},
        ]
        before = copy.deepcopy(messages)
        guard.protect_input_sync(messages, guard.new_vault(), agent="a")
        assert before == messages


class TestAsync:
    async def test_large_input_runs_off_loop_with_same_result(self, guard: Guard) -> None:
        """A >16 KB request gives the same result through the async API (scanned in a worker thread)."""
        big = ("lorem ipsum dolor sit amet " * 800) + f" contact {EMAIL}"
        vault_a, vault_b = guard.new_vault(), guard.new_vault()
        out = await guard.protect_input([user(big)], vault_a, agent="a")
        assert out == guard.protect_input_sync([user(big)], vault_b, agent="a")
        assert out[0]["content"].endswith("contact <EMAIL_ADDRESS_1>")

    async def test_async_block(self, guard: Guard) -> None:
        """The async API raises the same violation."""
        with pytest.raises(GuardrailViolation):
            await guard.protect_input([user(GITHUB_TOKEN)], guard.new_vault(), agent="a")


def test_pydantic_messages_are_scanned(guard: Guard) -> None:
    """litellm Message objects are scanned like dicts (returned as dicts)."""
    from loomllm._litellm import litellm_module

    message = litellm_module().types.utils.Message(role="user", content=f"mail {EMAIL}")
    out = guard.protect_input_sync([message], guard.new_vault(), agent="a")
    assert "mail <EMAIL_ADDRESS_1>" == out[0]["content"]


def test_unknown_message_shapes_are_refused(guard: Guard) -> None:
    """Anything that is neither a dict nor a pydantic model raises rather than passing unscanned."""
    with pytest.raises(TypeError):
        guard.protect_input_sync(["just a string"], guard.new_vault(), agent="a")  # type: ignore[list-item]


def test_empty_vault_is_truthy() -> None:
    """``if vault:`` means "a vault exists", even before it holds anything."""
    assert Vault()


class TestIsClean:
    def test_clean_and_unclean_texts(self, guard: Guard) -> None:
        """``is_clean`` says whether any rule fires; ``unclean`` lists the indices that need ``decide``."""
        texts = ["order 48213 shipped", f"token {GITHUB_TOKEN}", f"mail {EMAIL}", "order 48213 shipped"]
        assert [True, False, False, True] == [guard.is_clean(t) for t in texts]
        assert [1, 2] == guard.unclean(texts)
