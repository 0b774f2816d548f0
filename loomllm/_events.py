"""loomllm's log events: structlog events, plus an optional user hook that sees the same dicts.

Events carry names, numbers and hosts only: never message contents, never keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog

EventHook = Callable[[dict[str, Any]], None]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_structlog(format: str, level: str) -> None:
    """Configure structlog's renderer unless the application already configured structlog."""
    if structlog.is_configured():
        return
    renderer: Any = (
        structlog.processors.JSONRenderer() if format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=False,
    )


class EventLog:
    """Emits loomllm events to structlog and to an optional hook."""

    def __init__(self, hook: EventHook | None = None) -> None:
        self._proxy = structlog.get_logger("loomllm")
        self._log: Any = None  # bound on first use: structlog's lazy proxy re-binds on every call
        self._hook = hook
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
                if self._log is None:
                    self._log = self._proxy.bind()
                self._log.warning("loomllm.event_listener_failed", hook_event=data.get("event"),
                                  error_type=type(exc).__name__)

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        """Log ``event`` with ``fields`` and pass the same dict to the hook."""
        if self._log is None:
            self._log = self._proxy.bind()
        getattr(self._log, level)(event, **fields)
        if self._listeners:
            self._tell_listeners({"event": event, "level": level, **fields})
        if self._hook is not None:
            try:
                self._hook({"event": event, "level": level, **fields})
            except Exception as exc:  # a broken alerting hook must not fail the call it reports on
                self._log.warning("loomllm.event_hook_failed", hook_event=event, error_type=type(exc).__name__)
