"""Output protection: restore placeholders in text, tool-call arguments and JSON; block secrets in answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from guardrail_values import EMAIL, GITHUB_TOKEN

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm.errors import GuardrailViolation


def vault_with_email(guard: Guard) -> Any:
    """A vault that redacted EMAIL as <EMAIL_ADDRESS_1> on the way in."""
    vault = guard.new_vault()
    guard.protect_input_sync([{"role": "user", "content": f"mail {EMAIL}"}], vault, agent="a")
    return vault


def test_restore_in_text(guard: Guard, make_response: Callable[..., Any]) -> None:
    """Placeholders in the answer become the original values."""
    vault = vault_with_email(guard)
    response = guard.protect_output_sync(make_response("I wrote to <EMAIL_ADDRESS_1>."), vault, agent="a")
    assert f"I wrote to {EMAIL}." == response.choices[0].message.content


def test_unknown_placeholders_stay(guard: Guard, make_response: Callable[..., Any]) -> None:
    """Only placeholders this vault issued are restored."""
    vault = vault_with_email(guard)
    response = guard.protect_output_sync(make_response("<EMAIL_ADDRESS_7> and <NAME_1>"), vault, agent="a")
    assert "<EMAIL_ADDRESS_7> and <NAME_1>" == response.choices[0].message.content


def test_restore_in_tool_call_arguments_is_json_safe(guard: Guard, make_response: Callable[..., Any]) -> None:
    """Restored values inside JSON arguments are escaped, so the arguments stay valid JSON."""
    vault = guard.new_vault()
    tricky = 'o"brien\\x@gmail.com'
    placeholder = vault.placeholder_for("EMAIL_ADDRESS", tricky)
    args = json.dumps({"to": placeholder, "cc": [placeholder]})
    response = guard.protect_output_sync(make_response(None, [args]), vault, agent="a")
    restored = json.loads(response.choices[0].message.tool_calls[0].function.arguments)
    assert {"to": tricky, "cc": [tricky]} == restored


def test_restore_in_json_output(guard: Guard, make_response: Callable[..., Any]) -> None:
    """A JSON answer (response_format) is restored and stays parseable."""
    vault = vault_with_email(guard)
    content = json.dumps({"recipient": "<EMAIL_ADDRESS_1>", "ok": True})
    response = guard.protect_output_sync(make_response(content), vault, agent="a")
    assert {"recipient": EMAIL, "ok": True} == json.loads(response.choices[0].message.content)


def test_restore_disabled(config: GuardrailsConfig, make_response: Callable[..., Any]) -> None:
    """With restore: false placeholders reach the caller as they are."""
    profile = config.profiles["standard"].model_copy(update={"restore": False})
    guard = Guard.from_config(config.model_copy(update={"profiles": {"standard": profile}}), "standard")
    vault = vault_with_email(guard)
    response = guard.protect_output_sync(make_response("to <EMAIL_ADDRESS_1>"), vault, agent="a")
    assert "to <EMAIL_ADDRESS_1>" == response.choices[0].message.content


def test_secret_in_answer_blocks(guard: Guard, make_response: Callable[..., Any]) -> None:
    """A credential in the provider's answer raises, direction output, without the value."""
    with pytest.raises(GuardrailViolation) as info:
        guard.protect_output_sync(make_response(f"Sure, use {GITHUB_TOKEN}"), guard.new_vault(), agent="a")
    assert "output" == info.value.direction
    assert GITHUB_TOKEN not in str(info.value)


def test_secret_in_tool_arguments_blocks(guard: Guard, make_response: Callable[..., Any]) -> None:
    """Tool-call arguments in the answer are scanned."""
    with pytest.raises(GuardrailViolation):
        guard.protect_output_sync(
            make_response(None, [json.dumps({"token": GITHUB_TOKEN})]), guard.new_vault(), agent="a"
        )


def test_output_mask_is_not_restored(guard: Guard, make_response: Callable[..., Any]) -> None:
    """Output actions apply to the provider's own values; restoration touches only the text around them."""
    vault = vault_with_email(guard)
    response = guard.protect_output_sync(
        make_response("<EMAIL_ADDRESS_1> paid with 4111111111111111"), vault, agent="a"
    )
    assert f"{EMAIL} paid with ************1111" == response.choices[0].message.content


async def test_async_output(guard: Guard, make_response: Callable[..., Any]) -> None:
    """protect_output restores like the sync variant."""
    vault = vault_with_email(guard)
    response = await guard.protect_output(make_response("hi <EMAIL_ADDRESS_1>"), vault, agent="a")
    assert f"hi {EMAIL}" == response.choices[0].message.content
