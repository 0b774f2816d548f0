"""Migrating async ``LLMClient`` code (providers registered by hand), in two steps.

Step 1: change the imports. The client code runs unchanged: chunks with ``.delta``, tool calls as
dicts, ``EmbeddingResponse`` with ``.dimension``; every call goes through a loomllm agent, so
budgets, guardrails and egress apply, and the client warns once, saying what to use instead.
Step 2: call an agent configured in YAML, which returns LiteLLM's own response types.

Run: python examples/migrate_llm_client.py [CONFIG]   (default: configs/agents.yaml and a local server)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from loomllm import Loom
from loomllm.legacy import AnthropicProvider, LLMClient, Message, Role  # step 1: was `from agi.core.llm...`
from loomllm.testing import WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "agents.yaml"


async def legacy_review(plan: str) -> str:
    """Legacy code, unchanged: register a provider, stream the answer chunk by chunk."""
    client = LLMClient()
    client.register_provider("anthropic", AnthropicProvider())
    messages = [Message(role=Role.SYSTEM, content="You review plans."),
                Message(role=Role.USER, content=f"Review this plan: {plan}")]
    pieces = []
    async for chunk in client.stream(messages, temperature=0.0, max_tokens=200):
        pieces.append(chunk.delta)
        if chunk.finish_reason:
            print(f"LLMClient stream finished: {chunk.finish_reason}")
    return "".join(pieces)


async def review(loom: Loom, plan: str) -> str:
    """Step 2, the replacement: the agent's model, prompt and policies live in the YAML file."""
    response = await loom.agent("critic").complete(f"Review this plan: {plan}", temperature=0.0)
    print(f"Replacement returns {type(response).__name__}")
    return str(response.choices[0].message.content)


async def main(config: str | Path) -> None:
    """Run the legacy call and its replacement side by side."""
    os.environ["LOOMLLM_CONFIG"] = str(config)  # legacy objects find their YAML here
    print(f"Before: {await legacy_review('ship on Friday')}")
    async with Loom(config) as loom:
        print(f"After:  {await review(loom, 'ship on Friday')}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with WireServer() as server:  # answers by echoing the prompt
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            asyncio.run(main(OFFLINE_CONFIG))
