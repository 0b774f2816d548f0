"""The deprecation warning every legacy wrapper emits, once per class per process."""

from __future__ import annotations

import sys
import threading
import warnings
from pathlib import Path

__all__ = ["LoomDeprecationWarning", "show_deprecations", "warn_once"]


class LoomDeprecationWarning(DeprecationWarning, UserWarning):
    """A legacy interface is in use: a ``DeprecationWarning`` that users are meant to see.

    Python's default filters ignore every ``DeprecationWarning`` not raised from ``__main__``, and a
    subclass of both matches that filter first; :func:`show_deprecations` puts ours in front.
    """


def show_deprecations() -> None:
    """Show :class:`LoomDeprecationWarning` by default, unless the user set ``-W``/``PYTHONWARNINGS``."""
    if not sys.warnoptions:
        warnings.filterwarnings("default", category=LoomDeprecationWarning)


class _Warned:
    """Which legacy classes have already warned in this process (the promise is: once each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def first_time(self, name: str) -> bool:
        with self._lock:
            if name in self._names:
                return False
            self._names.add(name)
            return True

    def forget(self) -> None:
        with self._lock:
            self._names.clear()


_WARNED = _Warned()


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def warn_once(cls: type, instead: str) -> None:
    """Warn that ``cls`` is deprecated, naming what to use ``instead``; only its first use warns.

    The warning points at the caller's line, outside this package, however deep the wrapper chain.
    """
    name = f"{cls.__module__}.{cls.__qualname__}"
    if _WARNED.first_time(name):
        message = f"{cls.__name__} is deprecated and now runs through loomllm; use {instead} instead"
        warnings.warn(message, LoomDeprecationWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside ``loomllm.legacy`` (as seen from ``warnings.warn``)."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and str(Path(frame.f_code.co_filename).resolve().parent) == _PACKAGE_DIR:
        frame = frame.f_back
        level += 1
    return level


def reset_warnings() -> None:
    """Forget which classes warned, so the next use of each warns again (for tests)."""
    _WARNED.forget()
