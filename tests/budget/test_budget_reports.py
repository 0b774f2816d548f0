"""Spend reports: loom.spend() by agent, team, key, model and day; `loomllm budget report`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from budget_support import FakeClock, make_ledger

from loomllm._budget import BudgetStore, Estimate, Usage, spend_report
from loomllm.testing import Reply, WireServer

POLICY = {"limits": [{"usd": 100.0, "per": "month"}]}


def _est(group: str) -> Estimate:
    return Estimate(100, 100, 0.01, ((f"{group}/id", group),))


class TestLedgerSpend:
    async def test_grouped_by_every_dimension(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Spend is queryable by agent, team, key, model and day, on every store."""
        ledger = make_ledger(store, clock, events, policies={"p": POLICY}, agents={"planner": "p", "critic": "p"},
                             teams={"research": {"agents": ["planner", "critic"], "policy": "p"}},
                             scopes={"tenant": {"default": "p"}})
        calls = [("planner", "acme", "smart", 0.010), ("planner", "acme", "claude", 0.020),
                 ("critic", "initech", "smart", 0.005)]
        for agent, tenant, group, cost in calls:
            held = await ledger.reserve(agent, _est(group), keys={"tenant": tenant})
            await held.settle(Usage(40, 10, cost, deployment=f"{group}/id"))
        clock.advance(86400)
        await (await ledger.reserve("critic", _est("smart"), keys={"tenant": "acme"})).settle(
            Usage(40, 10, 0.001, deployment="smart/id"))

        def view(rows: list[Any]) -> dict[tuple[Any, ...], tuple[float, int]]:
            return {tuple(r.group.values()): (round(r.usd, 6), r.calls) for r in rows}

        assert {("critic",): (0.006, 2), ("planner",): (0.03, 2)} == view(await ledger.spend(["agent"]))
        assert {("research",): (0.036, 4)} == view(await ledger.spend(["team"]))
        assert {("acme",): (0.031, 3), ("initech",): (0.005, 1)} == view(await ledger.spend(["tenant"]))
        assert {("claude",): (0.02, 1), ("smart",): (0.016, 3)} == view(await ledger.spend(["model"]))
        assert {("2026-03-10",): (0.035, 3), ("2026-03-11",): (0.001, 1)} == view(await ledger.spend(["day"]))
        assert {("critic", "2026-03-11"): (0.001, 1)} == view(await ledger.spend(["agent", "day"],
                                                                                  since="2026-03-11"))
        assert {("planner",): (0.03, 2), ("critic",): (0.005, 1)} == view(
            await ledger.spend(["agent"], since="2026-03-10", until="2026-03-10"))

    async def test_unknown_dimension(self, store: BudgetStore, clock: FakeClock, events: list[Any]) -> None:
        """Grouping by a dimension that does not exist is an error, not an empty report."""
        ledger = make_ledger(store, clock, events, policies={"p": POLICY}, agents={"a": "p"})
        with pytest.raises(ValueError, match="cannot group spend by 'tenant'"):
            await ledger.spend(["tenant"])


class TestRender:
    def test_table_json_csv(self) -> None:
        """The same rows render as an aligned table, JSON and CSV."""
        from loomllm._budget import SpendRow

        rows = [SpendRow({"agent": "planner"}, 0.03, 80, 20, 2), SpendRow({"agent": "critic"}, 0.006, 80, 20, 2)]
        table = spend_report(rows, ["agent"])
        assert table.splitlines()[0].split() == ["agent", "usd", "input_tokens", "output_tokens", "calls"]
        assert "planner  0.030000" in table
        assert [{"agent": "planner", "usd": 0.03, "input_tokens": 80, "output_tokens": 20, "calls": 2},
                {"agent": "critic", "usd": 0.006, "input_tokens": 80, "output_tokens": 20, "calls": 2}] == json.loads(
            spend_report(rows, ["agent"], "json"))
        assert ["planner", "0.03", "80", "20", "2"] == list(csv.reader(io.StringIO(spend_report(rows, ["agent"],
                                                                                            "csv"))))[1]


class TestLoomAndCli:
    async def test_loom_spend_and_cli_report(self, make_loom: Any, wire_server: WireServer, tmp_path: Path) -> None:
        """loom.spend() reports real calls; `loomllm budget report --by agent,user --json` prints the same."""
        state = f"sqlite:///{tmp_path}/state.db"
        loom = make_loom(f"""
            state: "{state}"
            agents:
              helper: {{model: smart, max_tokens: 20, budget: p}}
            budgets:
              journal_path: "{tmp_path}/journal.db"
              policies:
                p: {{limits: [{{usd: 5, per: day}}]}}
              scopes:
                user: {{default: p}}
            """)
        wire_server.route(Reply.text("ok").with_usage(1000, 100))
        agent = loom.agent("helper")
        for user in ("alice", "alice", "bob"):
            await agent.chat("hello", budget_keys={"user": user})
        rows = await loom.spend(["agent", "user"])
        cost = 1000 * 1.5e-07 + 100 * 6e-07
        assert [({"agent": "helper", "user": "alice"}, 2), ({"agent": "helper", "user": "bob"}, 1)] == [
            (dict(r.group), r.calls) for r in rows]
        assert pytest.approx(2 * cost) == rows[0].usd
        config = next(tmp_path.glob("loom*.yaml"))
        env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path.cwd()))}
        out = subprocess.run([sys.executable, "-m", "loomllm.cli", "budget", "report", "--config", str(config),
                              "--by", "agent,user", "--json"], capture_output=True, text=True, env=env, timeout=120)
        assert 0 == out.returncode, out.stderr
        printed = json.loads(out.stdout[out.stdout.index("["):])
        assert [("alice", 2), ("bob", 1)] == [(r["user"], r["calls"]) for r in printed]
