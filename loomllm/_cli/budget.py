"""``loomllm budget status`` and ``loomllm budget reset``: read or clear the budget store named by the config.

They open the store and the ledger only (no LiteLLM), so they answer in well under a second.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from loomllm._cli.app import ConfigOption, JsonOption, budget_app, config_path, handles_errors, output

AgentOption = Annotated[str | None, typer.Option("--agent", "-a", show_default=False,
                                                 help="Only the limits that apply to this agent.")]


@budget_app.command("status")
@handles_errors
def status(ctx: typer.Context, agent: AgentOption = None, config: ConfigOption = None,
           as_json: JsonOption = False) -> None:
    """Spent, reserved and remaining per limit in the current window (agent, team and global limits)."""
    from loomllm._check import amount, limit_label

    out = output(ctx)
    path = config_path(config)
    loaded, ledger = _open_ledger(path)
    if agent is not None:
        _known_agent(loaded, agent)
    rows = asyncio.run(_status(ledger, agent))
    if loaded.loom.state.startswith("memory://"):
        out.note(f"note: {path} keeps budgets in memory (state: memory://), so every new process starts at zero; "
                 "use sqlite:///path.db or redis://host:port/db to see spend across runs")
    if as_json:
        out.json([_row_json(r, limit_label(r)) for r in rows])
        return
    if not rows:
        out.line("no budget limits apply" + (f" to agent {agent!r}" if agent else ""))
        return
    out.table(["scope", "name", "limit", "mode", "spent", "reserved", "remaining", "resets"],
              [[r.scope, r.scope_name, limit_label(r), r.mode, amount(r.unit, r.spent), amount(r.unit, r.reserved),
                amount(r.unit, r.remaining), _when(r.window_end)] for r in rows])


@budget_app.command("reset")
@handles_errors
def reset(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option("--agent", "-a", help="The agent whose spend is forgotten.")],
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget an agent's spend in every window (team and global totals keep it)."""
    import sys

    out = output(ctx)
    path = config_path(config)
    loaded, ledger = _open_ledger(path)
    _known_agent(loaded, agent)
    if not yes:
        if not sys.stdin.isatty():
            out.error("refusing to reset without --yes when not on a terminal")
            raise typer.Exit(1)
        answer = out.err.input(f"Reset all budget windows of agent {agent!r}? Type the agent name to confirm: ")
        if answer.strip() != agent:
            out.error("not reset")
            raise typer.Exit(1)
    asyncio.run(_reset(ledger, agent))
    out.line(f"budget of agent {agent!r} reset")


async def _status(ledger: Any, agent: str | None) -> list[Any]:
    try:
        return list(await ledger.status(agent))
    finally:
        await ledger.store.aclose()


async def _reset(ledger: Any, agent: str) -> None:
    try:
        await ledger.reset(agent)
    finally:
        await ledger.store.aclose()


def _open_ledger(path: Any) -> tuple[Any, Any]:
    from loomllm._budget import BudgetLedger, open_store
    from loomllm._check import load_tolerant

    loaded, unset = load_tolerant(path)
    state_vars = [name for name, where in unset.items() if "loomllm.state" in where]
    if state_vars:
        from loomllm.errors import ConfigError

        raise ConfigError(f"environment variable {state_vars[0]} is not set", file=str(path), path="loomllm.state")
    return loaded, BudgetLedger(loaded.loom.budgets, loaded.agent_policies("budget"), open_store(loaded.loom.state))


def _known_agent(config: Any, agent: str) -> None:
    from loomllm.errors import ConfigError

    if agent not in config.loom.agents:
        known = ", ".join(config.loom.agents) or "none"
        raise ConfigError(f"unknown agent {agent!r} (known: {known})", file=str(config.source), path="loomllm.agents")


def _when(moment: Any) -> str:
    return "never" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _row_json(row: Any, label: str) -> dict[str, Any]:
    return {"scope": row.scope, "name": row.scope_name, "policy": row.policy, "limit": label, "unit": row.unit,
            "window": row.window, "mode": row.mode, "cap": row.cap, "spent": row.spent, "reserved": row.reserved,
            "remaining": row.remaining,
            "window_start": row.window_start.isoformat() if row.window_start else None,
            "window_end": row.window_end.isoformat() if row.window_end else None}


@budget_app.command("report")
@handles_errors
def report(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Comma-separated: agent, team, model, day and the configured "
                                                  "key kinds (user...).")] = "agent",
    since: Annotated[str | None, typer.Option("--since", help="First day, YYYY-MM-DD (default: all recorded days).",
                                              show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day, YYYY-MM-DD.", show_default=False)] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    config: ConfigOption = None,
) -> None:
    """Settled spend grouped by agent, team, key, model or day, as a table, JSON or CSV."""
    from loomllm._budget import spend_report
    from loomllm._runtime import Loom

    groups = [d.strip() for d in by.split(",") if d.strip()]
    with Loom(config_path(config)) as loom:
        rows = loom.spend_sync(groups, since=since, until=until)
    output(ctx).line(spend_report(rows, groups, "json" if as_json else "csv" if as_csv else "table"))
