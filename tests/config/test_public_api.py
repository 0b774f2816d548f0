"""The public face users type against: LiteLLM's response types in the agent's signatures, held types exported.

The annotations name LiteLLM's classes under ``TYPE_CHECKING`` only, so ``import loomllm`` still
loads no LiteLLM (tests/cli/test_cli_startup.py); here they are resolved the way a type checker
or ``typing.get_type_hints`` resolves them, and checked against what a real call returns.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
import pytest

import loomllm
from loomllm import UnifiedAgent
from loomllm.testing import WireServer


def _hints(name: str) -> dict[str, Any]:
    from litellm.types.utils import EmbeddingResponse, ModelResponse, ModelResponseStream

    from loomllm._budget import LimitStatus

    names = {"ModelResponse": ModelResponse, "ModelResponseStream": ModelResponseStream,
             "EmbeddingResponse": EmbeddingResponse, "LimitStatus": LimitStatus}
    return typing.get_type_hints(getattr(UnifiedAgent, name), localns=names)


class TestSignatures:
    @pytest.mark.parametrize(("method", "expected"), [
        ("complete", litellm.ModelResponse),
        ("complete_sync", litellm.ModelResponse),
        ("stream", AsyncIterator[litellm.ModelResponseStream]),
        ("stream_sync", Iterator[litellm.ModelResponseStream]),
        ("embed_response", litellm.EmbeddingResponse),
        ("embed", list[list[float]]),
        ("chat", str),
        ("chat_sync", str),
        ("budget_status", list[loomllm.LimitStatus]),
        ("budget_status_sync", list[loomllm.LimitStatus]),
    ])
    def test_return_type(self, method: str, expected: Any) -> None:
        """Each public call method says what it returns: LiteLLM's own classes, never Any."""
        assert expected == _hints(method)["return"]

    def test_held_types_are_exported(self) -> None:
        """The types users hold are importable from loomllm and listed in __all__."""
        for name in ("ConfigWarning", "LimitStatus", "EventHook"):
            assert name in loomllm.__all__
            assert getattr(loomllm, name) is not None
        assert issubclass(loomllm.ConfigWarning, UserWarning)


class TestRuntimeTypes:
    async def test_values_are_the_annotated_classes(self, make_loom: Any, wire_server: WireServer) -> None:
        """A real call returns what the signature says (ModelResponse, ModelResponseStream, EmbeddingResponse)."""
        loom = make_loom("agents: {librarian: {model: smart, embedding_model: embeddings}}")
        agent = loom.agent("librarian")

        assert isinstance(await agent.complete("Hi"), litellm.ModelResponse)
        chunks = [chunk async for chunk in agent.stream("Hi")]
        assert chunks and all(isinstance(c, litellm.ModelResponseStream) for c in chunks)
        assert isinstance(await agent.embed_response(["a", "b"]), litellm.EmbeddingResponse)
        assert all(isinstance(row, loomllm.LimitStatus) for row in await agent.budget_status())
