"""``loomllm scan`` (secrets and PII in files, for pre-commit) and ``loomllm demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from loomllm._cli.app import app, handles_errors, output


@app.command()
@handles_errors
def scan(
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(
        show_default=False, help="Files or directories to scan (directories respect .gitignore); - is stdin.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", show_default=False, dir_okay=False,
        help="Use this config's guardrail profiles (default: the built-in standard profile).")] = None,
) -> None:
    """Report secrets and PII by type, line and column (never the value); exit 1 when anything is blocked."""
    from loomllm._guardrails import run_scan_command

    output(ctx)
    guardrails = None
    if config is not None:
        from loomllm.config import load_config

        guardrails = load_config(config).loom.guardrails
    raise typer.Exit(int(run_scan_command(list(paths or ["-"]), guardrails, out=sys.stdout)))


@app.command()
@handles_errors
def demo(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", show_default=False, dir_okay=False,
        help="Config to run the scenario on (default: config/offline.yaml).")] = None,
) -> None:
    """A short multi-agent scenario on the offline config: routing, fallback, budget, egress, guardrails."""
    from loomllm._demo import run_demo

    output(ctx)
    raise typer.Exit(run_demo(str(config) if config else None))
