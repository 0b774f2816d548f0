"""Structured output: the answer is validated against a pydantic model (re-asked once if invalid).

Run: python examples/structured_output.py [CONFIG]   (default: configs/agents.yaml and a local server)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from pydantic import BaseModel, Field

from loomllm import Loom
from loomllm.testing import Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "agents.yaml"


class Step(BaseModel):
    """One step of a plan."""

    title: str
    owner: str
    days: int = Field(gt=0)


class LaunchPlan(BaseModel):
    """What the planner must return."""

    goal: str
    steps: list[Step] = Field(min_length=1)
    biggest_risk: str


async def main(config: str | Path) -> None:
    """Ask the planner for a LaunchPlan and use it as a typed object."""
    with Loom(config) as loom:
        plan = await loom.agent("planner").json("Plan the launch of our SDK.", schema=LaunchPlan)
    print(f"{type(plan).__name__} with {len(plan.steps)} steps for: {plan.goal}")
    for number, step in enumerate(plan.steps, 1):
        print(f"  {number}. {step.title} ({step.owner}, {step.days} days)")
    print(f"Biggest risk: {plan.biggest_risk}; total {sum(s.days for s in plan.steps)} days")


OFFLINE_ANSWER = {
    "goal": "Launch the SDK",
    "steps": [
        {"title": "Private beta", "owner": "dev-rel", "days": 10},
        {"title": "Docs and migration guide", "owner": "docs", "days": 5},
        {"title": "Public launch", "owner": "marketing", "days": 2},
    ],
    "biggest_risk": "too few beta users",
}

if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with WireServer() as server:
            server.route(Reply.json(OFFLINE_ANSWER), model="gpt-4o")  # the planner's group in agents.yaml
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            asyncio.run(main(OFFLINE_CONFIG))
