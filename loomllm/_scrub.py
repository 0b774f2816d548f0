"""One credential scrubber: the exact values of every configured key, removed wherever loomllm lets text out.

Provider error bodies echo API keys, HTTP client exceptions keep the request (its ``Authorization``
header) and LiteLLM's loggers quote both. :class:`CredentialScrubber` knows the credential values of
one config (deployment keys, the environment variables they reference, provider key variables LiteLLM
reads on its own, the state store's password) and replaces each occurrence with ``<redacted>``:

* :meth:`scrub_exception` rewrites an exception and its whole ``__cause__``/``__context__`` chain in
  place (``args``, string attributes, response bodies, request headers, notes);
* :meth:`logging_filter` is a :class:`logging.Filter` for LiteLLM's loggers (message, arguments and
  the formatted traceback).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["REDACTED", "CredentialScrubber", "credential_values"]

REDACTED = "<redacted>"

# Values shorter than this are not treated as credentials (they would blank out ordinary words).
_MIN_LENGTH = 8
_SECRET_KEY = re.compile(r"(key|secret|token|password|passwd|credential|auth|signature|private)", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(_API_KEY|_APIKEY|_TOKEN|_SECRET|_SECRET_KEY|_SECRET_ACCESS_KEY|_PASSWORD|_KEY)$")
_NOT_SECRET_KEYS = {"max_tokens", "tpm", "rpm", "model", "api_base", "base_url", "api_version", "region_name"}
_MAX_DEPTH = 6


def credential_values(
    model_list: Iterable[Mapping[str, Any]],
    *,
    state_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> set[str]:
    """Every credential value a config can send: deployment keys, key-like environment variables, store password."""
    env = os.environ if environ is None else environ
    values: set[str] = set()
    for deployment in model_list:
        for key, value in _walk(deployment.get("litellm_params") or {}):
            if key not in _NOT_SECRET_KEYS and _SECRET_KEY.search(key):
                values.add(value)
    values.update(v for k, v in env.items() if _SECRET_ENV.search(k.upper()))
    if state_url:
        try:
            password = urlsplit(state_url).password
        except ValueError:
            password = None
        if password:
            values.add(password)
    return {v for v in values if len(v) >= _MIN_LENGTH and not v.startswith("loomllm-missing-env:")}


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v, key)


class CredentialScrubber:
    """Replaces known credential values in text, exceptions and log records."""

    def __init__(self, values: Iterable[str]) -> None:
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        self._bytes_pattern = re.compile(b"|".join(re.escape(v.encode()) for v in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str) -> str:
        """``text`` with every known credential replaced by ``<redacted>``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def scrub_bytes(self, data: bytes) -> bytes:
        """Bytes twin of :meth:`scrub`."""
        if self._bytes_pattern is None or not data:
            return data
        return self._bytes_pattern.sub(REDACTED.encode(), data)

    def scrub_exception(self, error: BaseException) -> BaseException:
        """Scrub ``error`` and every exception chained to it, in place; returns ``error``."""
        if self._pattern is None:
            return error
        seen: set[int] = set()
        pending: list[BaseException | None] = [error]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            self._scrub_one(current, seen)
            pending += [current.__cause__, current.__context__, getattr(current, "original_exception", None)]
        return error

    def _scrub_one(self, error: BaseException, seen: set[int]) -> None:
        error.args = tuple(self._clean(a, seen, 0) for a in error.args)
        for name, value in list(vars(error).items()):
            if name.startswith("__") or isinstance(value, BaseException):
                continue
            cleaned = self._clean(value, seen, 0)
            if cleaned is not value:
                try:
                    setattr(error, name, cleaned)
                except (AttributeError, TypeError):
                    continue

    def _clean(self, value: Any, seen: set[int], depth: int) -> Any:
        """A scrubbed version of ``value`` (strings, bytes, containers rebuilt; objects scrubbed in place)."""
        if isinstance(value, str):
            cleaned = self.scrub(value)
            return value if cleaned == value else cleaned
        if isinstance(value, bytes | bytearray):
            cleaned_bytes = self.scrub_bytes(bytes(value))
            return value if cleaned_bytes == value else cleaned_bytes
        if depth >= _MAX_DEPTH or value is None or isinstance(value, int | float | bool | type):
            return value
        if isinstance(value, dict):
            return {k: self._clean(v, seen, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._clean(v, seen, depth + 1) for v in value]
        if isinstance(value, tuple):
            return tuple(self._clean(v, seen, depth + 1) for v in value)
        if id(value) in seen or not _is_http_message(value):
            # Other objects may be shared with the Router (deployment params): never rewrite them.
            return value
        seen.add(id(value))
        self._clean_http_message(value, seen, depth)
        return value

    def _clean_http_message(self, value: Any, seen: set[int], depth: int) -> None:
        headers = getattr(value, "headers", None)
        if headers is not None and hasattr(headers, "items") and hasattr(headers, "__setitem__"):
            for key, item in list(headers.items()):
                if isinstance(item, str) and self.scrub(item) != item:
                    headers[key] = self.scrub(item)
        attributes = getattr(value, "__dict__", None)
        if not isinstance(attributes, dict):
            return
        for name, item in list(attributes.items()):
            if callable(item) and not isinstance(item, str | bytes):
                continue
            cleaned = self._clean(item, seen, depth + 1)
            if cleaned is not item:
                attributes[name] = cleaned
        content = attributes.get("_content")
        if isinstance(content, bytes) and "stream" in attributes:
            # An httpx response replays its body from ``stream``: it must hold the scrubbed bytes too.
            import httpx

            attributes["stream"] = httpx.ByteStream(content)

    def logging_filter(self) -> logging.Filter:
        """A filter that scrubs a log record's message, arguments and traceback text."""
        return _ScrubFilter(self)


def _is_http_message(value: Any) -> bool:
    """An HTTP request or response object kept by a client exception (httpx, aiohttp)."""
    cls = type(value)
    return cls.__name__ in {"Request", "Response", "ClientResponse", "RequestInfo"} and cls.__module__.startswith(
        ("httpx", "aiohttp")
    )


class _ScrubFilter(logging.Filter):
    def __init__(self, scrubber: CredentialScrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.scrubber:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        record.msg = self.scrubber.scrub(message)
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrubber.scrub(formatted)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.scrubber.scrub(record.stack_info)
        return True
