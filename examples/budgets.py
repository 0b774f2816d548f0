"""Budgets: a call whose worst case does not fit is refused before any request is sent.

configs/budgets.yaml gives the intern 300 tokens a day. Its calls may use up to
``max_tokens: 400``, so the reservation (prompt + 400) cannot fit and the call is refused.

Run: python examples/budgets.py [CONFIG]   (default: configs/budgets.yaml and a local server)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from loomllm import BudgetExceeded, Loom
from loomllm.testing import Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "budgets.yaml"


def show_budget(loom: Loom, agent: str) -> None:
    """Print where each of ``agent``'s limits stands today."""
    for limit in loom.budgets_sync(agent):
        print(f"  {agent} {limit.unit} per {limit.window}: spent {limit.spent:g} of {limit.cap:g}, "
              f"{limit.remaining:g} left")


def main(config: str | Path) -> None:
    """Call as the planner (fits its budget) and as the intern (does not)."""
    with Loom(config) as loom:
        print("Planner:", loom.agent("planner").chat_sync("Outline the Q3 roadmap."))
        show_budget(loom, "planner")
        try:
            loom.agent("intern").chat_sync("Summarize the roadmap for the team.")
        except BudgetExceeded as refused:  # a PolicyViolation: never retried, never sent
            print(f"Intern refused before sending: {refused}")
        show_budget(loom, "intern")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with WireServer() as server:
            server.route(Reply.text("1. Ship the SDK. 2. Add billing. 3. Open the beta."))
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            main(OFFLINE_CONFIG)
            print(f"The provider received {len(server.requests)} request(s): the intern's never left.")
