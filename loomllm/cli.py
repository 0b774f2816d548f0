"""The ``loomllm`` command: check a config, chat with an agent, list models and calls, budgets, scan, demo.

Built on Typer and Rich (both come with LiteLLM); the commands live in the private package
``loomllm._cli``. LiteLLM and Presidio are imported inside the commands that need them, so
``loomllm --help`` is instant. Only answers and reports go to stdout; progress, warnings, log
events and errors go to stderr.

Exit codes: 0 ok; 1 problems found, or a call refused or failed; 2 invalid config or usage;
130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loomllm`` console script; returns the exit code."""
    from loomllm._cli.app import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
