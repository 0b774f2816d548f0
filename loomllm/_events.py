"""loomllm's log events: structlog events, an optional JSON-lines file, and an optional user hook.

Events carry names, numbers and hosts only: never message contents, never keys.

A library must not configure the process's logging, so :class:`EventLog` only *emits*: through
structlog when the application configured it, otherwise through the standard ``logging`` logger
``loomllm`` (silent below WARNING until the application configures ``logging``, and never on
stdout). :func:`configure_logging` is the helper for applications (and the ``loomllm`` command)
that want loomllm's events rendered on stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TextIO

import structlog

if TYPE_CHECKING:
    from loomllm.config import LoomConfig

EventHook = Callable[[dict[str, Any]], None]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(
    level: Literal["debug", "info", "warning", "error"] | int = "info",
    format: Literal["console", "json"] = "console",
    *,
    stream: TextIO | None = None,
) -> None:
    """Render loomllm's events (and everything else logged through structlog) on ``stream``.

    ``stream`` defaults to stderr, so that a program's stdout carries only its own output.
    ``format="json"`` writes one JSON object per line. This configures structlog for the whole
    process: call it from an application's entry point, never from library code. ``Loom()`` does
    not call it.
    """
    out = stream or sys.stderr
    number = _LEVELS[level] if isinstance(level, str) else int(level)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(out))
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def event_log_file(config: LoomConfig) -> Path | None:
    """The JSON-lines event file named by ``loomllm.logging.file`` (relative to the config file), or None."""
    name = config.loom.logging.file
    if not name:
        return None
    path = Path(name).expanduser()
    return path if path.is_absolute() else config.base_dir / path


class EventLog:
    """Emits loomllm events to structlog (or stdlib ``logging``), an optional file and an optional hook."""

    def __init__(self, hook: EventHook | None = None, *, file: str | Path | None = None) -> None:
        self._proxy = structlog.get_logger("loomllm")
        self._log: Any = None  # bound on first use: structlog's lazy proxy re-binds on every call
        self._stdlib = logging.getLogger("loomllm")
        self._hook = hook
        self._file = Path(file) if file is not None else None
        self._sink: IO[str] | None = None
        self._sink_lock = threading.Lock()
        self._listeners: tuple[EventHook, ...] = ()

    def add_listener(self, listener: EventHook) -> None:
        """Also pass every event to ``listener`` (metrics, traces, audit); it must not block."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: EventHook) -> None:
        """Stop passing events to ``listener``."""
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    def notify(self, event: str, **fields: Any) -> None:
        """Pass ``event`` to the listeners only (not logged): for high-rate signals such as a call starting."""
        if self._listeners:
            self._tell_listeners({"event": event, **fields})

    def _tell_listeners(self, data: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(data)
            except Exception as exc:  # a broken exporter must not fail the call it reports on
                self._log_event("loomllm.event_listener_failed", "warning",
                                {"hook_event": data.get("event"), "error_type": type(exc).__name__})

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        """Log ``event`` with ``fields``, append it to the event file and pass the same dict to the hook."""
        self._log_event(event, level, fields)
        if self._file is not None:
            self._append(event, level, fields)
        if self._listeners:
            self._tell_listeners({"event": event, "level": level, **fields})
        if self._hook is not None:
            try:
                self._hook({"event": event, "level": level, **fields})
            except Exception as exc:  # a broken alerting hook must not fail the call it reports on
                self._log_event("loomllm.event_hook_failed", "warning",
                                {"hook_event": event, "error_type": type(exc).__name__})

    def enabled(self, level: str) -> bool:
        """Whether an event at ``level`` would reach anything: the log, the event file, a listener or the hook.

        For events nobody may want (debug-level audit lines at an info-level app): skip building them.
        """
        if self._file is not None or self._listeners or self._hook is not None:
            return True
        number = _LEVELS.get(level, logging.INFO)
        if structlog.is_configured():
            logger = self._bound()
            # structlog's filtering loggers know their level; others may proxy any name to the logger: don't ask.
            if getattr(type(logger), "is_enabled_for", None) is None:
                return True
            return bool(logger.is_enabled_for(number))
        return self._stdlib.isEnabledFor(number)

    def _bound(self) -> Any:
        if self._log is None:
            self._log = self._proxy.bind()
        return self._log

    def _log_event(self, event: str, level: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(self._bound(), level)(event, **fields)
            return
        number = _LEVELS.get(level, logging.INFO)
        if self._stdlib.isEnabledFor(number):
            details = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            self._stdlib.log(number, "%s %s", event, details, extra={"loomllm_event": {"event": event, **fields}})

    def _append(self, event: str, level: str, fields: dict[str, Any]) -> None:
        path = self._file
        if path is None:
            return
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        line = json.dumps({"timestamp": stamp, "event": event, "level": level, **fields}, default=str)
        try:
            with self._sink_lock:
                if self._sink is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._sink = path.open("a", encoding="utf-8", buffering=1)
                self._sink.write(line + "\n")
        except OSError as exc:  # an unwritable log file must not fail the call it reports on
            self._file = None
            self._log_event("loomllm.event_file_failed", "warning", {"error": exc.strerror or type(exc).__name__})


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LibraryLogger:
    """A structlog-style logger for loomllm's modules that never prints to stdout on its own.

    Through structlog when the application configured it, else through the stdlib logger of the
    same name (which prints nothing unless the application set up logging).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(structlog.get_logger(self._name), level)(event, **fields)
            return
        number = _LEVELS.get(level, logging.INFO)
        if self._stdlib.isEnabledFor(number):
            details = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            self._stdlib.log(number, "%s %s", event, details, extra={"loomllm_event": {"event": event, **fields}})

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at debug level."""
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at info level."""
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at warning level."""
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` at error level."""
        self._emit("error", event, fields)
