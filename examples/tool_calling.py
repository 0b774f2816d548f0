"""Tool calling: the model asks for a tool, the code runs it, the model answers with the result.

Run: python examples/tool_calling.py [CONFIG]   (default: configs/agents.yaml and a local server)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from loomllm import Loom, UnifiedAgent
from loomllm.testing import Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "agents.yaml"

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def get_weather(city: str) -> dict[str, Any]:
    """The tool itself (a real one would call a weather service)."""
    return {"city": city, "celsius": 18, "sky": "sunny"}


async def main(config: str | Path) -> None:
    """Let the planner call tools until it answers in text."""
    with Loom(config) as loom:
        agent: UnifiedAgent = loom.agent("planner")
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Should we launch outdoors in Oslo today?"}]
        response = await agent.complete(messages, tools=TOOLS)
        while calls := agent.tool_calls(response):
            messages.append(response.choices[0].message.model_dump(exclude_none=True))
            for call in calls:
                result = get_weather(**call.arguments)
                print(f"Tool call: {call.name}({call.arguments}) -> {result}")
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
            response = await agent.complete(messages, tools=TOOLS)
        print(f"Answer: {response.choices[0].message.content}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with WireServer() as server:
            server.script(Reply.tool_call("get_weather", {"city": "Oslo"}),
                          Reply.text("Yes: it is 18°C and sunny in Oslo, fine for an outdoor launch."))
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            asyncio.run(main(OFFLINE_CONFIG))
