"""Fixtures for the guardrail tests: configs, guards and litellm response builders (real objects, no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from guardrail_values import STANDARD_GUARDRAILS

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._litellm import litellm_module


@pytest.fixture
def config() -> GuardrailsConfig:
    """A profile with every action in use, plus allow-lists."""
    return GuardrailsConfig.model_validate(STANDARD_GUARDRAILS)


@pytest.fixture
def guard(config: GuardrailsConfig) -> Guard:
    """The ``standard`` profile of :func:`config`."""
    return Guard.from_config(config, "standard")


@pytest.fixture
def make_response() -> Callable[..., Any]:
    """Build a ``litellm.ModelResponse`` with one assistant message."""
    litellm = litellm_module()

    def build(content: str | None = None, tool_arguments: list[str] | None = None) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_arguments:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": "send", "arguments": args}}
                for i, args in enumerate(tool_arguments)
            ]
        return litellm.ModelResponse(choices=[{"index": 0, "finish_reason": "stop", "message": message}])

    return build


@pytest.fixture
def make_chunk() -> Callable[..., Any]:
    """Build a ``ModelResponseStream`` chunk with text and/or tool-call argument deltas."""
    types = litellm_module().types.utils

    def build(
        content: str | None = None,
        *,
        tool: tuple[int, str] | None = None,
        finish_reason: str | None = None,
        role: str | None = None,
    ) -> Any:
        tool_calls = None
        if tool is not None:
            index, arguments = tool
            tool_calls = [types.ChatCompletionDeltaToolCall(index=index, function=types.Function(arguments=arguments))]
        delta = types.Delta(content=content, role=role, tool_calls=tool_calls)
        return types.ModelResponseStream(
            choices=[types.StreamingChoices(index=0, delta=delta, finish_reason=finish_reason)]
        )

    return build
