"""Conversation windows: a secret split across two messages or content parts is still found."""

from __future__ import annotations

from typing import Any

import pytest
from guardrail_values import AWS_KEY, EMAIL, GITHUB_TOKEN

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm.errors import GuardrailViolation

SPLIT_KEYS = {
    "SECRET_GITHUB_TOKEN": GITHUB_TOKEN,
    "SECRET_AWS_ACCESS_KEY": AWS_KEY,
    "SECRET_STRIPE_KEY": "sk_live_51Hq2ZpLk8RtW3vXy9NcB7mQa",
    "SECRET_SLACK_TOKEN": "xoxb-2154873690-4817263950123-Zq8RtW3vXy9NcB7mQaLk2Hd1",
    "SECRET_OPENAI_API_KEY": "sk-proj-Qm8vT2xLr9Kp4Zw7Nc1Bh6Yd3Fs5Jg0Ea2Vu8Ri4Ot7Wl9Xn",
}


def user(content: Any) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": content}


@pytest.mark.parametrize("entity", sorted(SPLIT_KEYS))
def test_key_split_across_two_user_messages_blocks(guard: Guard, entity: str) -> None:
    """The first half ends one message, the second half starts the next: blocked, both halves reported."""
    value = SPLIT_KEYS[entity]
    half = len(value) // 2
    messages = [user(f"here is the first part: {value[:half]}"), user(f"{value[half:]} and that is all")]
    with pytest.raises(GuardrailViolation) as info:
        guard.protect_input_sync(messages, guard.new_vault(), agent="t")
    assert {0, 1} == {f.message_index for f in info.value.findings}


def test_keyword_and_value_in_two_content_parts(guard: Guard) -> None:
    """``password is`` in one text part, the value in the next."""
    content = [
        {"type": "text", "text": "the password for the staging db is"},
        {"type": "text", "text": "Vq7#Lm2x!Rt9pK"},
    ]
    with pytest.raises(GuardrailViolation) as info:
        guard.protect_input_sync([user(content)], guard.new_vault(), agent="t")
    assert {"SECRET_PASSWORD"} <= {f.entity_type for f in info.value.findings}


def test_split_email_is_redacted_in_both_messages(guard: Guard) -> None:
    """A redact finding across the boundary is replaced on both sides; restore rebuilds each message."""
    local, domain = EMAIL.split("@")
    messages = [user(f"mail {local}"), user(f"@{domain} today")]
    vault = guard.new_vault()
    protected = guard.protect_input_sync(messages, vault, agent="t")
    assert local not in protected[0]["content"] and domain not in protected[1]["content"]
    assert [m["content"] for m in messages] == [vault.restore(m["content"]) for m in protected]


def test_ordinary_neighbours_stay_untouched(guard: Guard) -> None:
    """Joining two clean messages creates no finding."""
    messages = [user("Order 48213 shipped on 2024-05-17"), user("5 boxes, total 1,284.50 EUR")]
    assert messages == guard.protect_input_sync(messages, guard.new_vault(), agent="t")


def test_unchanged_messages_are_not_rescanned() -> None:
    """A conversation resent with one more turn reaches the analyzer only for the new text and its boundary."""
    guard = Guard.from_config(GuardrailsConfig(), "standard")
    history = [user(f"turn {i}: please call +1 415-555-01{i:02d} about order 7731{i}") for i in range(6)]
    guard.protect_input_sync(history, guard.new_vault(), agent="t")
    calls = guard.scanner.stats.analyzer_calls
    history.append(user("turn 6: call +1 415-555-0199 about order 77316"))
    guard.protect_input_sync(history, guard.new_vault(), agent="t")
    # the new message, and its boundary window with the previous one joined two ways
    assert guard.scanner.stats.analyzer_calls - calls <= 3
