"""Budgets hold against the caller: no parameter makes a call cost more than its reservation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from security_support import priced_config

from loomllm import BudgetExceeded, ForbiddenParameter, Loom
from loomllm.testing import Reply, WireServer

ATTEMPTS: list[dict[str, Any]] = [
    {"input_cost_per_token": 0, "output_cost_per_token": 0},
    {"extra_body": {"max_tokens": 5000}},
    {"extra_body": {"n": 20}},
    {"max_tokens": -10**9},
    {"n": 8, "max_tokens": 5000},
    {"max_completion_tokens": 10**6},
    {"mock_response": "free"},
    {},
]


async def test_no_overshoot_whatever_the_caller_passes(tmp_path: Path, wire_server: WireServer) -> None:
    """40 calls cycling through bypass attempts against a $0.001 hard limit: spend stays under the limit."""
    path = tmp_path / "b.yaml"
    path.write_text(priced_config(wire_server, agent_extra=", allow_params: [extra_body]", api_key="sk-test"))
    wire_server.route(Reply.text("word " * 20))
    with Loom(path) as loom:
        agent = loom.agent("spender")
        outcomes: dict[str, int] = {}
        for index in range(40):
            try:
                await agent.complete("plan the launch", **ATTEMPTS[index % len(ATTEMPTS)])
                outcomes["ok"] = outcomes.get("ok", 0) + 1
            except (BudgetExceeded, ForbiddenParameter) as error:
                outcomes[type(error).__name__] = outcomes.get(type(error).__name__, 0) + 1
        [status] = [s for s in await agent.budget_status() if s.unit == "usd"]
    assert 0 < status.spent <= 0.001
    assert outcomes.get("BudgetExceeded", 0) > 0 and outcomes.get("ForbiddenParameter", 0) > 0
    # What the provider could bill for each request is what was reserved: 20 output tokens, one choice.
    assert all(r.body.get("max_tokens", 0) <= 20 and r.body.get("n", 1) == 1 for r in wire_server.requests)
