"""Two agents in code, configured by YAML: a planner drafts, a critic reviews.

Run: python examples/planner_critic.py [CONFIG]   (default: configs/agents.yaml and a local server)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from loomllm import Loom, UnifiedAgent
from loomllm.testing import Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "agents.yaml"


class Planner(UnifiedAgent):
    """Breaks a goal into numbered steps."""

    name = "planner"
    model = "smart"  # a model group; the YAML may point the agent elsewhere without a code change
    system_prompt = "You are a careful planner. Answer with numbered steps."
    defaults = {"temperature": 0.2}

    async def plan(self, goal: str) -> str:
        """A short plan for ``goal``."""
        return await self.chat(f"Plan in three steps: {goal}")


class Critic(UnifiedAgent):
    """Names the weakest step of a plan."""

    name = "critic"
    model = "fast"
    system_prompt = "You review plans critically and briefly."

    async def review(self, plan: str) -> str:
        """The weakest step of ``plan`` and how to fix it."""
        return await self.chat(f"Name the weakest step of this plan and fix it:\n{plan}")


async def main(config: str | Path) -> None:
    """Plan, then review, and show what each call cost."""
    events: list[dict[str, Any]] = []
    with Loom(config, on_event=events.append) as loom:
        planner, critic = Planner(loom), Critic(loom)
        plan = await planner.plan("launch our new SDK")
        print(f"Planner ({planner.spec.model}):\n{plan}\n")
        print(f"Critic ({critic.spec.model}):\n{await critic.review(plan)}\n")
    for call in (e for e in events if e["event"] == "llm.call"):
        print(f"{call['agent']}: {call['tokens_in']} + {call['tokens_out']} tokens, ${call['cost_usd']:.6f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with WireServer() as server:  # plays OpenAI (the planner's group) and Anthropic (the critic's)
            server.route(Reply.text("1. Pick the audience.\n2. Ship a beta to ten users.\n3. Publish docs."),
                         model="gpt-4o")
            server.route(Reply.text("Weakest step: 2. Ten users is too few; recruit thirty."),
                         model="claude-haiku-4-5")
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url  # the YAML's api_base points here
            asyncio.run(main(OFFLINE_CONFIG))
