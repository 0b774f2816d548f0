"""Move the planner from OpenAI to Anthropic by editing YAML only: the code below never changes.

configs/planner_openai.yaml and configs/planner_anthropic.yaml differ in the deployment of group
``smart``. LiteLLM speaks each provider's wire format; the agent code stays the same.

Run: python examples/swap_provider.py [CONFIG ...]   (default: both YAML files and a local server)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from loomllm import Loom
from loomllm.testing import WireServer

CONFIGS = Path(__file__).resolve().parent / "configs"
OFFLINE_CONFIGS = [CONFIGS / "planner_openai.yaml", CONFIGS / "planner_anthropic.yaml"]


def ask_planner(config: str | Path) -> str:
    """The agent code: identical for every provider."""
    with Loom(config) as loom:
        return loom.agent("planner").chat_sync("Plan a product launch in three steps.")


def main(configs: list[Path] | list[str], server: WireServer | None = None) -> None:
    """Run the same code on each config; offline, also show which wire format went out."""
    for config in configs:
        answer = ask_planner(config)
        print(f"{Path(config).name}: {answer}")
        if server is not None:
            request = server.requests[-1]
            print(f"  sent as {request.api} request to {request.path} for model {request.model}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1:])
    else:
        with WireServer() as wire:  # plays both providers; answers by echoing the prompt
            os.environ["LOOMLLM_OFFLINE_URL"] = wire.url
            main(OFFLINE_CONFIGS, wire)
