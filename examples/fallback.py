"""Fallback: the primary provider answers 503, the Router moves on to the backup group.

The agent asks for group ``primary``; ``router_settings.fallbacks`` in configs/fallback.yaml
sends the call on to ``backup`` (another provider). Policies apply to every attempt.

Run: python examples/fallback.py [CONFIG]   (default: configs/fallback.yaml and a local server)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from loomllm import Loom
from loomllm.testing import Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "fallback.yaml"


def main(config: str | Path) -> None:
    """Ask the researcher, then show where the call went."""
    events: list[dict[str, Any]] = []
    with Loom(config, on_event=events.append) as loom:
        answer: str = loom.agent("researcher").chat_sync("What did competitors ship this quarter?")
    print(f"Answer: {answer}")
    failed = [e["deployment"] for e in events if e["event"] == "llm.attempt" and e["outcome"] != "ok"]
    call = next(e for e in events if e["event"] == "llm.call")
    print(f"Asked for group {call['model_group']!r}; failed: {', '.join(failed) or 'none'}")
    print(f"Answered by: {call['deployment']}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with WireServer() as server:
            server.route(Reply.status(503, message="overloaded"), model="gpt-4o-mini")  # the primary is down
            server.route(Reply.text("Two competitors shipped SDKs; neither has a migration guide."),
                         model="claude-haiku-4-5")
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            main(OFFLINE_CONFIG)
