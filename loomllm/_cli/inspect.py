"""``loomllm check``, ``loomllm models`` and ``loomllm logs``: what a config does, before and after calls."""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from loomllm._cli.app import (
    ConfigOption,
    JsonOption,
    OfflineOption,
    app,
    config_path,
    handles_errors,
    maybe_offline,
    output,
)
from loomllm._cli.output import Output


@app.command()
@handles_errors
def check(
    ctx: typer.Context,
    legacy_config: Annotated[Path | None, typer.Argument(hidden=True, show_default=False, metavar="CONFIG")] = None,
    config: ConfigOption = None,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
    strict: Annotated[bool, typer.Option("--strict", help="Proxy-only features loomllm ignores are problems "
                                                          "too (exit 1), each with file and key path.")] = False,
) -> None:
    """Validate a config; show what each agent can reach (deployments, hosts, credentials, egress) and every problem.

    Exit code 0: ok; 1: problems (one line each; with --strict, every ignored proxy-only feature too);
    2: the config is invalid.
    """
    from loomllm._check import run_check

    out = output(ctx)
    path = config_path(config or legacy_config, offline=offline)
    with maybe_offline(offline), out.progress(f"Checking {path}"):
        report = run_check(path, strict=strict)
    if as_json:
        out.json(report.as_json())
    else:
        _print_check(out, report, strict=strict)
    raise typer.Exit(0 if report.ok else 1)


def _print_check(out: Output, report: Any, *, strict: bool = False) -> None:
    out.line(f"{report.path}: {report.agents} agent(s), {report.deployments} deployment(s)")
    if report.ignored_features and not strict:  # under --strict they are listed with the problems
        out.line(f"ignored proxy-only features ({len(report.ignored_features)}; --strict makes them problems):")
        for feature in report.ignored_features:
            out.line(f"  - {feature}")
    rows, previous = [], None
    for r in report.rows:
        rows.append([r.agent if r.agent != previous else "", f"↳ {r.group}" if r.via_fallback else r.group,
                     r.deployment, r.host, "missing " + ", ".join(r.missing) if r.missing else "ok", r.egress])
        previous = r.agent
    out.table(["agent", "group", "deployment", "host", "credentials", "egress"], rows)
    out.table(["deployment", "$ per 1M in / out", "price from"],
              [[p.deployment, "-" if p.input_usd_per_mtok is None
                else f"${p.input_usd_per_mtok:,.2f} / ${p.output_usd_per_mtok or 0:,.2f}", p.source]
               for p in report.prices])
    for note in report.notes:
        out.line(f"note: {note}")
    if report.problems:
        out.line(f"{len(report.problems)} problem(s):")
        for problem in report.problems:
            out.line(f"  - {problem}")
    else:
        out.line("ok")


@app.command()
@handles_errors
def models(ctx: typer.Context, config: ConfigOption = None, offline: OfflineOption = False,
           as_json: JsonOption = False) -> None:
    """List model groups: deployments, provider models, hosts, prices, fallbacks and which agents may reach them."""
    out = output(ctx)
    path = config_path(config, offline=offline)
    with maybe_offline(offline), out.progress("Loading LiteLLM's price map"):
        entries = model_entries(path)
    if as_json:
        out.json(entries)
        return
    rows = []
    for e in entries:
        price = "-" if e["input_usd_per_mtok"] is None else (
            f"${e['input_usd_per_mtok']:,.2f} / ${e['output_usd_per_mtok']:,.2f}")
        rows.append([e["group"], e["model"], e["host"], price, ", ".join(e["fallbacks"]) or "-",
                     _verdict_summary(e["agents"])])
    out.table(["group", "model", "host", "$ per 1M in / out", "fallbacks", "agents (egress)"], rows)


def model_entries(path: Path) -> list[dict[str, Any]]:
    """One entry per deployment, in config order (what ``loomllm models --json`` prints)."""
    from loomllm._budget import deployment_price
    from loomllm._check import egress_verdicts, host_of, load_tolerant
    from loomllm._egress import deployment_url
    from loomllm.config import MISSING_PREFIX, deployment_id

    config, _unset = load_tolerant(path)
    verdicts = egress_verdicts(config)
    fallbacks = config.fallbacks
    entries = []
    for dep in config.model_list:
        dep_id = deployment_id(dep)
        url = deployment_url(dep)
        try:
            price = deployment_price(dep)
        except Exception:  # an unknown model is "no price", not a crash of the listing
            price = None
        entries.append({
            "group": dep["model_name"],
            "deployment": dep_id,
            "model": dep["litellm_params"]["model"],
            "host": "?" if url is None or MISSING_PREFIX in url else host_of(url),
            "input_usd_per_mtok": None if price is None else round(price.input * 1e6, 6),
            "output_usd_per_mtok": None if price is None else round(price.output * 1e6, 6),
            "price_source": None if price is None else price.source,
            "fallbacks": fallbacks.get(dep["model_name"], []),
            "missing_env": config.missing_env.get(dep_id, []),
            "agents": {agent: verdict for (agent, d), verdict in verdicts.items() if d == dep_id},
        })
    return entries


def _verdict_summary(agents: Mapping[str, str]) -> str:
    if not agents:
        return "no agent"
    by_verdict: dict[str, list[str]] = {}
    for agent, verdict in agents.items():
        by_verdict.setdefault(verdict, []).append(agent)
    return "; ".join(f"{', '.join(names)}: {verdict}" for verdict, names in by_verdict.items())


@app.command()
@handles_errors
def logs(
    ctx: typer.Context,
    config: ConfigOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="Default to config/offline.yaml.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many of the latest calls to show.")] = 20,
    all_events: Annotated[bool, typer.Option("--all", help="Show every event (attempts, budget, guardrails), "
                                                          "not only calls.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the latest calls from the event log file (loomllm.logging.file in the config)."""
    from loomllm._check import load_tolerant
    from loomllm._events import event_log_file

    out = output(ctx)
    path = config_path(config, offline=offline)
    loaded, _unset = load_tolerant(path)
    file = event_log_file(loaded)
    if file is None:
        out.error(f"{path}: no event log is configured; set loomllm.logging.file (e.g. `file: events.jsonl`) "
                  "and every event is appended to it as one JSON line")
        raise typer.Exit(1)
    if not file.exists():
        out.note(f"no events yet: {file} does not exist")
        if as_json:
            out.json([])
        return
    events = list(_tail(file, limit, all_events))
    if as_json:
        out.json(events)
        return
    if not events:
        out.note(f"no calls logged in {file} yet")
        return
    out.table(["time", "event", "agent", "group", "deployment", "in", "out", "cost", "ms", "outcome"],
              [_log_row(e) for e in events])


def _tail(file: Path, limit: int, all_events: bool) -> Iterable[dict[str, Any]]:
    latest: deque[dict[str, Any]] = deque(maxlen=limit)
    with file.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash is skipped, not fatal
            if isinstance(event, dict) and (all_events or event.get("event") == "llm.call"):
                latest.append(event)
    return latest


def _log_row(e: Mapping[str, Any]) -> list[str]:
    stamp = str(e.get("timestamp", ""))
    with contextlib.suppress(ValueError):
        stamp = datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    cost = e.get("cost_usd")
    ms = e.get("latency_ms")
    return [stamp, str(e.get("event", "")), str(e.get("agent", "")), str(e.get("model_group") or ""),
            str(e.get("deployment") or ""), str(e.get("tokens_in", "")), str(e.get("tokens_out", "")),
            f"${cost:.6f}" if isinstance(cost, int | float) else "", f"{ms:.0f}" if isinstance(ms, int | float) else "",
            str(e.get("outcome", ""))]
