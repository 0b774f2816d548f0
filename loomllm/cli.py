"""The ``loomllm`` command: check a config, chat with an agent, run the demo, scan files, budgets.

Heavy imports (LiteLLM, Presidio) happen inside the commands, so ``loomllm --help`` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

DEFAULT_CONFIG = "config/loomllm.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loomllm`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from loomllm.errors import LoomError

    try:
        return int(args.handler(args))
    except LoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loomllm", description="A policy layer over LiteLLM.")
    sub = parser.add_subparsers(metavar="COMMAND")

    check = sub.add_parser("check", help="validate a config and show what each agent can reach")
    check.add_argument("config", nargs="?", default=_default_config())
    check.set_defaults(handler=_cmd_check)

    chat = sub.add_parser("chat", help="send one prompt to an agent and stream the answer")
    chat.add_argument("prompt")
    chat.add_argument("--agent", default=None, help="agent name (default: the first one in the config)")
    chat.add_argument("--config", default=_default_config())
    chat.add_argument("--offline", action="store_true", help="start the local wire server (for config/offline.yaml)")
    chat.set_defaults(handler=_cmd_chat)

    demo = sub.add_parser("demo", help="a short multi-agent scenario on config/offline.yaml (no network)")
    demo.add_argument("--config", default=None)
    demo.set_defaults(handler=_cmd_demo)

    scan = sub.add_parser("scan", help="scan files (or - for stdin) for secrets and PII; non-zero exit on block")
    scan.add_argument("paths", nargs="+")
    scan.add_argument("--config", default=None, help="use this config's guardrail settings")
    scan.set_defaults(handler=_cmd_scan)

    budget = sub.add_parser("budget", help="show or reset budgets")
    budget_sub = budget.add_subparsers(metavar="ACTION")
    status = budget_sub.add_parser("status", help="spend, reserved and remaining per limit")
    status.add_argument("--agent", default=None)
    status.add_argument("--config", default=_default_config())
    status.set_defaults(handler=_cmd_budget_status)
    reset = budget_sub.add_parser("reset", help="forget an agent's spend in every window")
    reset.add_argument("--agent", required=True)
    reset.add_argument("--config", default=_default_config())
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=_cmd_budget_reset)

    metrics = sub.add_parser("metrics", help="serve Prometheus metrics")
    metrics_sub = metrics.add_subparsers(metavar="ACTION")
    serve = metrics_sub.add_parser("serve", help="serve /metrics (multiprocess aggregate, budget gauges)")
    serve.add_argument("--port", type=int, default=9464)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--config", default=None, help="add budget gauges from this config's state store")
    serve.set_defaults(handler=_cmd_metrics_serve)
    return parser


def _default_config() -> str:
    return os.environ.get("LOOMLLM_CONFIG", DEFAULT_CONFIG)


# --- commands ------------------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    from loomllm._check import check_report

    report, ok = check_report(args.config)
    print(report)
    return 0 if ok else 1


def _cmd_chat(args: argparse.Namespace) -> int:
    from loomllm._demo import offline_server

    if args.offline:
        with offline_server():
            return asyncio.run(_chat(args))
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    from loomllm._demo import quiet_litellm
    from loomllm._runtime import Loom

    quiet_litellm()
    events: list[dict[str, Any]] = []
    with Loom(args.config, on_event=events.append) as loom:
        name = args.agent or (loom.agent_names() or [""])[0]
        agent: Any = loom.agent(name)
        async for chunk in agent.stream(args.prompt):
            for choice in chunk.choices:
                sys.stdout.write(choice.delta.content or "")
                sys.stdout.flush()
        print()
        calls = [e for e in events if e["event"] == "llm.call"]
        if calls:
            last = calls[-1]
            print(f"[{name}: {last['tokens_in']} tokens in, {last['tokens_out']} out, "
                  f"${last['cost_usd']:.6f}, {last['latency_ms']:.0f} ms]", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from loomllm._demo import run_demo

    return run_demo(args.config)


def _cmd_scan(args: argparse.Namespace) -> int:
    from loomllm._guardrails import run_scan_command

    guardrails = None
    if args.config:
        from loomllm.config import load_config

        guardrails = load_config(args.config).loom.guardrails
    return int(run_scan_command(list(args.paths), guardrails))


def _cmd_budget_status(args: argparse.Namespace) -> int:
    from loomllm._check import budget_table
    from loomllm._runtime import Loom

    with Loom(args.config) as loom:
        rows = loom.budgets_sync(args.agent)
        print(budget_table(rows))
    return 0


def _cmd_budget_reset(args: argparse.Namespace) -> int:
    from loomllm._runtime import Loom

    if not args.yes:
        if not sys.stdin.isatty():
            print("refusing to reset without --yes when not on a terminal", file=sys.stderr)
            return 1
        answer = input(f"Reset all budget windows of agent {args.agent!r}? Type the agent name to confirm: ")
        if answer.strip() != args.agent:
            print("not reset")
            return 1
    with Loom(args.config) as loom:
        loom.ledger.reset_sync(args.agent)
    print(f"budget of agent {args.agent!r} reset")
    return 0


def _cmd_metrics_serve(args: argparse.Namespace) -> int:
    import threading

    from loomllm._telemetry.serve import serve_metrics

    server, _, loom = serve_metrics(args.port, host=args.host, config=args.config)
    print(f"serving metrics on http://{args.host}:{server.server_port}/metrics", flush=True)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        if loom is not None:
            loom.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
