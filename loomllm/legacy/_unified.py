"""The agent class every legacy call runs through: a UnifiedAgent whose refusals old callers catch."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

from loomllm._agent import UnifiedAgent, _Call
from loomllm.errors import ContentPolicyViolation

from ._errors import LegacyContentPolicyViolation

__all__ = ["LegacyAgent"]


class LegacyAgent(UnifiedAgent):
    """A :class:`UnifiedAgent` that raises an output content refusal as :class:`LegacyContentPolicyViolation`.

    The seeds' guardrail modules check prompts and responses alike, and their callers catch one
    guardrail error for both; the call itself (and its events, budget settlement and outcome) is
    the plain agent's, the error is converted once it has left the call path.
    """

    async def _call(self, call: _Call) -> Any:
        try:
            return await super()._call(call)
        except LegacyContentPolicyViolation:
            raise
        except ContentPolicyViolation as error:
            raise LegacyContentPolicyViolation.of(error) from None

    async def _call_stream(self, call: _Call) -> AsyncIterator[Any]:
        # aclosing: a consumer that stops early closes the inner stream now, so it settles now
        async with aclosing(cast("AsyncGenerator[Any, None]", super()._call_stream(call))) as chunks:
            try:
                async for chunk in chunks:
                    yield chunk
            except LegacyContentPolicyViolation:
                raise
            except ContentPolicyViolation as error:
                raise LegacyContentPolicyViolation.of(error) from None
