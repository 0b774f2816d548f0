"""The command itself: instant help, --version, help text on every option, no network, no logging setup."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main
from cli_helpers import ROOT, run_cli

from loomllm import __version__


class TestHelpAndVersion:
    def test_help_lists_every_command(self) -> None:
        """`loomllm --help` lists the commands and the exit codes and exits 0."""
        result = run_cli("--help")
        assert 0 == result.returncode, result.stderr
        for command in ("chat", "check", "models", "logs", "scan", "demo", "budget"):
            assert command in result.stdout
        assert "Exit codes: 0 ok, 1 problems" in result.stdout
        assert "" == result.stderr

    def test_version(self) -> None:
        """`loomllm --version` prints the version on stdout."""
        result = run_cli("--version")
        assert (0, f"loomllm {__version__}\n", "") == (result.returncode, result.stdout, result.stderr)

    def test_budget_alone_shows_budget_help(self) -> None:
        """`loomllm budget` shows the budget subcommands, not the top-level help."""
        result = run_cli("budget")
        assert "status" in result.stderr + result.stdout and "reset" in result.stderr + result.stdout
        assert "models" not in result.stderr + result.stdout

    def test_every_option_and_argument_has_help(self) -> None:
        """Every option and argument of every command says what it does."""
        from loomllm._cli import budget, chat, inspect, tools  # noqa: F401
        from loomllm._cli.app import app

        root = typer.main.get_command(app)
        missing = []

        def walk(command: click.Command, path: str) -> None:
            for param in command.params:
                if not getattr(param, "hidden", False) and not getattr(param, "help", None):
                    missing.append(f"{path} {param.name}")
            for name, sub in getattr(command, "commands", {}).items():
                walk(sub, f"{path} {name}")

        walk(root, "loomllm")
        assert [] == missing


class TestImportCost:
    def test_import_and_help_do_not_load_litellm(self) -> None:
        """`import loomllm` and `loomllm --help` load neither LiteLLM nor Presidio."""
        code = ("import sys, loomllm, loomllm.cli, contextlib, io\n"
                "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
                "    loomllm.cli.main(['--help'])\n"
                "heavy = [m for m in ('litellm', 'presidio_analyzer', 'spacy') if m in sys.modules]\n"
                "assert not heavy, heavy\n")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT)

    def test_loom_opens_no_socket_and_leaves_logging_alone(self) -> None:
        """Building a Loom opens no socket and configures neither structlog nor logging (the app decides)."""
        code = ("import socket, logging\n"
                "def refuse(*a, **k): raise AssertionError('network touched: %r' % (a,))\n"
                "socket.socket.connect = refuse; socket.create_connection = refuse\n"
                "import os; os.environ['LOOMLLM_OFFLINE_URL'] = 'http://127.0.0.1:9'\n"
                "import structlog, loomllm\n"
                "from loomllm._litellm import litellm_module\n"
                "litellm = litellm_module()\n"
                "loom = loomllm.Loom('config/offline.yaml'); loom._litellm_router()\n"
                "litellm.token_counter(model='openai/gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])\n"
                "assert not structlog.is_configured(), 'Loom() configured structlog'\n"
                "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
                "loom.close()\n")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)
