"""``loomllm budget report``: spend by agent, team, key, model and day, as a table, JSON or CSV."""

from __future__ import annotations

import argparse

__all__ = ["add_report_parser"]


def add_report_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report`` under the ``budget`` command's actions."""
    report = actions.add_parser("report", help="settled spend grouped by agent, team, key, model or day")
    report.add_argument("--config", default=None, help="config file (default: $LOOMLLM_CONFIG or config/loomllm.yaml)")
    report.add_argument("--by", default="agent",
                        help="comma-separated: agent, team, model, day and the configured key kinds (user...)")
    report.add_argument("--since", default=None, help="first day, YYYY-MM-DD (default: all recorded days)")
    report.add_argument("--until", default=None, help="last day, YYYY-MM-DD")
    fmt = report.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV")
    report.set_defaults(handler=run_report, format="table")


def run_report(args: argparse.Namespace) -> int:
    """Print the spend report for ``args`` (see :func:`add_report_parser`)."""
    from loomllm._runtime import Loom, config_path

    from ._reports import spend_report

    by = [d.strip() for d in str(args.by).split(",") if d.strip()]
    with Loom(config_path(args.config)) as loom:
        rows = loom.spend_sync(by, since=args.since, until=args.until)
    print(spend_report(rows, by, args.format))
    return 0
