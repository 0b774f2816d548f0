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
    """Entry point of the ``loomllm`` console script; returns the exit code.

    Called with no ``argv`` (as the console script), the process ends right after the last
    ``atexit`` handler, skipping the interpreter's teardown of LiteLLM's thousand modules.
    """
    from loomllm._cli.app import run

    exit_code = [1]
    if argv is None:
        _collect_garbage_less_often()
        _leave_after_atexit(exit_code)
    exit_code[0] = run(argv)
    return exit_code[0]


def _collect_garbage_less_often() -> None:
    """Raise the cyclic collector's first threshold (700 -> 50,000) for this short-lived process.

    Importing LiteLLM and Presidio allocates millions of objects and no garbage cycles to speak of;
    at the default threshold the collector rescans them hundreds of times, about 0.7 s of CPU
    before the first token. Memory stays bounded: the collector still runs.
    """
    import gc

    gc.set_threshold(50_000, 20, 100)


def _leave_after_atexit(exit_code: list[int]) -> None:
    """Register (first, so it runs last) a handler that flushes and exits without finalizing modules.

    LiteLLM's own handlers (which flush its logging worker) still run before it. Tearing down the
    modules LiteLLM and Presidio import costs 1.5 s of CPU on the machine of the README's figures,
    for nothing: the answer is already out.
    """
    import atexit

    def leave() -> None:
        import contextlib
        import logging
        import os
        import sys

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (`loomllm ... | head`)
                stream.flush()
        os._exit(exit_code[0])

    atexit.register(leave)


if __name__ == "__main__":
    raise SystemExit(main())
