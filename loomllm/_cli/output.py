"""Where the CLI writes: answers and reports to stdout, everything else (progress, warnings, errors) to stderr."""

from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

QUIET, NORMAL, INFO, DEBUG = -1, 0, 1, 2


class Output:
    """The CLI's two streams and its verbosity (``-q`` quiet, ``-v`` info events, ``-vv`` debug)."""

    def __init__(self, verbosity: int = NORMAL, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.verbosity = verbosity
        out = stdout or sys.stdout
        # A pipe gets wide lines (a reader greps them) rather than Rich's 80-column default.
        width = None if _is_terminal(out) else int(os.environ.get("COLUMNS") or 240)
        self.out = Console(file=out, markup=False, highlight=False, soft_wrap=False, width=width)
        self.err = Console(file=stderr or sys.stderr, markup=False, highlight=False, soft_wrap=True)
        self.only_agent: str | None = None
        """When set, start-up warnings about other agents are not shown (``chat`` uses one agent)."""
        self._shown: set[str] = set()
        self._lock = threading.Lock()

    # --- stderr --------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (dropped with ``-q``)."""
        if self.verbosity > QUIET:
            self.err.print(text, style="dim")

    def warn(self, text: str) -> None:
        """One warning line, at most once per process (dropped with ``-q``)."""
        with self._lock:
            if text in self._shown or self.verbosity <= QUIET:
                return
            self._shown.add(text)
        self.err.print(f"warning: {text}", style="yellow")

    def error(self, text: str) -> None:
        """An error line (always shown)."""
        self.err.print(f"error: {text}", style="bold red")

    @contextmanager
    def progress(self, text: str) -> Iterator[Callable[[str], None]]:
        """A spinner on stderr while slow work runs (terminals only); yields a function to change its text."""
        if self.verbosity <= QUIET or not self.err.is_terminal:
            yield lambda _text: None
            return
        with self.err.status(text, spinner="dots") as status:
            yield lambda new: status.update(new)

    # --- stdout --------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Raw text on stdout, flushed (a streamed answer)."""
        file = self.out.file
        file.write(text)
        file.flush()

    def json(self, data: Any) -> None:
        """``data`` as indented JSON on stdout."""
        self.write(json.dumps(data, indent=2, default=str) + "\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None) -> None:
        """A table on stdout that fits the terminal (cells wrap rather than run off the edge)."""
        table = Table(*headers, title=title, title_justify="left", box=None, header_style="bold",
                      pad_edge=False, show_edge=False)
        for row in rows:
            table.add_row(*row)
        with self.out.capture() as captured:
            self.out.print(table)
        self.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))

    def line(self, text: str = "") -> None:
        """One line of a report on stdout (never wrapped: one problem, one line)."""
        self.out.print(text, soft_wrap=True)

    # --- warnings ------------------------------------------------------------------------------

    def install_warning_printer(self) -> None:
        """Show Python warnings as one ``warning: ...`` line each, once per process, on stderr."""

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            agent = getattr(message, "agent", None)
            if agent is not None and self.only_agent is not None and agent != self.only_agent:
                return
            self.warn(str(message))

        warnings.showwarning = show
        # LiteLLM's typing noise is not the user's business.
        warnings.filterwarnings("ignore", message=r"Item '.*' on TypedDict class .* `ReadOnly` qualifier")
        warnings.filterwarnings("ignore", category=DeprecationWarning)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
