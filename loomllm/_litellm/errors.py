"""Mapping LiteLLM's exceptions onto loomllm's :class:`~loomllm.errors.ProviderError` family.

Code written against LiteLLM or the OpenAI SDK catches ``litellm.RateLimitError`` or
``openai.RateLimitError``; it must keep doing so when the call goes through loomllm. CPython's
``except`` checks real subclassing (``__subclasscheck__`` is not consulted), so the raised object's
class derives from both the loomllm class and the LiteLLM class (which derives from OpenAI's).
Those combined classes are built here on first use, when LiteLLM is already loaded (the error
came from it): ``import loomllm`` still does not import LiteLLM.

The combined error carries what OpenAI's classes expose (``status_code``, ``response``, ``body``,
``message``, ``request``, ``code``, ``type``, ``param``) and LiteLLM's (``llm_provider``,
``model``), built from the scrubbed message: the provider's raw body and request URL (which can
echo a key, or carry it as ``?key=``) are not copied.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

from loomllm.errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["to_provider_error"]


def to_provider_error(exc: BaseException, *, agent: str) -> ProviderError:
    """A ProviderError describing ``exc`` (a LiteLLM or httpx exception); the caller chains ``exc``.

    When LiteLLM is loaded the result is also an instance of the matching LiteLLM (and OpenAI)
    exception class, so ``except litellm.RateLimitError`` keeps catching it.
    """
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    provider = getattr(exc, "llm_provider", None) or None
    model = getattr(exc, "model", None) or None
    kind = type(exc).__name__
    cls, retryable = (ProviderUnavailable, True) if _is_transport_error(exc) else _loom_class(kind, status)
    message = f"agent {agent!r}: {kind}" + (f" ({status})" if status else "") + f": {_short(str(exc))}"
    familiar = _familiar_class(exc, cls, status)
    if familiar is None:
        return cls(message, status_code=status, provider=provider, model=model, retryable=retryable, agent=agent)
    error = familiar(message, status_code=status, provider=provider, model=model, retryable=retryable, agent=agent)
    _set_openai_attributes(error, exc, message, status)
    return error


def _is_transport_error(exc: BaseException) -> bool:
    """An httpx connection/timeout error that reached us unwrapped."""
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


def _loom_class(kind: str, status: int | None) -> tuple[type[ProviderError], bool]:
    if kind == "RateLimitError" or status == 429:
        return RateLimited, True
    if kind in {"AuthenticationError", "PermissionDeniedError"} or status in {401, 403}:
        return AuthenticationFailed, False
    if kind in {"Timeout", "APIConnectionError", "ServiceUnavailableError", "InternalServerError",
                "BadGatewayError", "MidStreamFallbackError"} or (status is not None and status >= 500):
        return ProviderUnavailable, True
    if status is not None and 400 <= status < 500:
        return BadRequest, False
    return ProviderError, False


# LiteLLM's public exception classes, most specific first: the first one the original error is an
# instance of becomes the familiar base (MidStreamFallbackError -> ServiceUnavailableError...).
_LITELLM_CLASSES = (
    "ContextWindowExceededError", "ContentPolicyViolationError", "UnsupportedParamsError", "NotFoundError",
    "PermissionDeniedError", "AuthenticationError", "RateLimitError", "Timeout", "APIConnectionError",
    "ServiceUnavailableError", "BadGatewayError", "InternalServerError", "UnprocessableEntityError",
    "BadRequestError", "APIError",
)
_combined: dict[tuple[type[ProviderError], type[BaseException]], type[ProviderError]] = {}
_combined_lock = threading.Lock()


def _familiar_class(exc: BaseException, cls: type[ProviderError], status: int | None) -> type[ProviderError] | None:
    litellm = sys.modules.get("litellm")
    if litellm is None or (cls is ProviderError and not _is_litellm_error(exc, litellm)):
        return None
    base = _litellm_base(exc, cls, status, litellm)
    return None if base is None else combined_class(cls, base)


def _is_litellm_error(exc: BaseException, litellm: Any) -> bool:
    return isinstance(exc, getattr(litellm, "APIError", ())) or type(exc).__module__.startswith("litellm")


def _litellm_base(exc: BaseException, cls: type[ProviderError], status: int | None,
                  litellm: Any) -> type[BaseException] | None:
    for known in _LITELLM_CLASSES:
        candidate = getattr(litellm, known, None)
        if isinstance(candidate, type) and isinstance(exc, candidate):
            return candidate
    # Not a LiteLLM exception (an httpx error, a bare status): pick the class LiteLLM would raise.
    defaults = {RateLimited: "RateLimitError", BadRequest: "BadRequestError", ProviderError: "APIError"}
    name: str | None = defaults.get(cls)
    if cls is AuthenticationFailed:
        name = "PermissionDeniedError" if status == 403 else "AuthenticationError"
    elif cls is ProviderUnavailable:
        name = _unavailable_class_name(exc, status)
    elif cls is BadRequest and status == 404:
        name = "NotFoundError"
    candidate = getattr(litellm, name or "APIError", None)
    return candidate if isinstance(candidate, type) else None


def _unavailable_class_name(exc: BaseException, status: int | None) -> str:
    kind = type(exc).__name__.lower()
    if "timeout" in kind:
        return "Timeout"
    if status is None:
        return "APIConnectionError"
    return {503: "ServiceUnavailableError", 502: "BadGatewayError"}.get(status, "InternalServerError")


def combined_class(cls: type[ProviderError], base: type[BaseException]) -> type[ProviderError]:
    """The class deriving from loomllm's ``cls`` and LiteLLM's ``base`` (built once per pair)."""
    key = (cls, base)
    with _combined_lock:
        if key not in _combined:
            namespace = {
                "__module__": __name__,
                "__doc__": f"{cls.__name__}, also a {base.__module__}.{base.__qualname__}.",
                "__init__": _init_combined,
                "__str__": ProviderError.__str__,
                "__repr__": _repr,
                "__reduce__": _reduce,
            }
            _combined[key] = type(cls.__name__, (cls, base), namespace)
    return _combined[key]


def _init_combined(self: ProviderError, message: str, *, status_code: int | None = None,
                   provider: str | None = None, model: str | None = None, retryable: bool = False,
                   agent: str | None = None) -> None:
    # ProviderError.__init__'s super() call would reach LiteLLM's __init__ (other signature): set directly.
    Exception.__init__(self, message)
    self.status_code = status_code
    self.provider = provider
    self.model = model
    self.retryable = retryable
    self.agent = agent


def _repr(self: ProviderError) -> str:
    return f"{type(self).__name__}({str(self)!r})"


def _reduce(self: ProviderError) -> tuple[Any, ...]:
    bases = type(self).__bases__
    return _rebuild, (bases[0], bases[1], str(self), dict(vars(self)))


def _rebuild(cls: type[ProviderError], base: type[BaseException], message: str,
             state: dict[str, Any]) -> ProviderError:
    combined = combined_class(cls, base)
    error = combined.__new__(combined, message)
    Exception.__init__(error, message)
    vars(error).update(state)
    return error


def _set_openai_attributes(error: Any, exc: BaseException, message: str, status: int | None) -> None:
    """What ``openai.APIStatusError`` / ``APIConnectionError`` and LiteLLM's classes expose."""
    import httpx

    request = httpx.Request("POST", _safe_url(exc))
    error.message = message
    error.request = request
    error.llm_provider = error.provider
    error.litellm_debug_info = None
    error.max_retries = getattr(exc, "max_retries", None)
    error.num_retries = getattr(exc, "num_retries", None)
    error.code = _body_field(exc, "code") or (str(status) if status else None)
    error.param = _body_field(exc, "param")
    error.type = _body_field(exc, "type") or getattr(exc, "type", None)
    error.body = {"error": {"message": message, "type": error.type, "code": error.code, "param": error.param}}
    headers = {k: v for k, v in _response_headers(exc).items() if k.lower() in {"retry-after", "x-request-id"}}
    error.response = httpx.Response(status or 500, headers=headers, request=request)
    error.request_id = headers.get("x-request-id")
    error.headers = None


def _safe_url(exc: BaseException) -> str:
    """The original request's URL without query or credentials, or a placeholder."""
    try:  # httpx raises RuntimeError when a response or an exception has no request
        request = getattr(getattr(exc, "response", None), "request", None) or getattr(exc, "request", None)
        url = request.url if request is not None else None
    except RuntimeError:
        url = None
    if url is None:
        return "https://provider.invalid/"
    return str(url.copy_with(query=None, fragment=None, username=None, password=None))


def _response_headers(exc: BaseException) -> dict[str, str]:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        return {str(k): str(v) for k, v in headers.items()} if headers is not None else {}
    except (AttributeError, TypeError):
        return {}


def _body_field(exc: BaseException, name: str) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        value = (error if isinstance(error, dict) else body).get(name)
        return _short(str(value), 100) if isinstance(value, (str, int)) else None
    return None


# Provider error bodies sometimes echo (part of) a credential; never pass one on.
_KEY_LIKE = re.compile(
    r"(?:sk|pk|rk|sess)-[A-Za-z0-9_\-*.]{6,}|(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|hf|xox[abpr]|npm|pypi)"
    r"[_-][A-Za-z0-9_\-*.]{6,}|AKIA[A-Z0-9]{12,}|AIza[A-Za-z0-9_\-]{20,}|(?i:bearer)\s+\S+"
)


def _short(text: str, limit: int = 300) -> str:
    text = _KEY_LIKE.sub("<redacted>", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Failures after the request reached the provider: it may have run (and billed) the call.
_PROCESSED_MAYBE = frozenset({
    "ReadTimeout", "ReadError", "RemoteProtocolError", "SocketTimeoutError", "ServerTimeoutError",
    "ServerDisconnectedError", "ClientPayloadError", "ContentLengthError", "TransferEncodingError",
    "JSONDecodeError", "IncompleteRead", "ChunkedEncodingError", "APITimeoutError", "Timeout",
})
# Failures before the provider got the request: nothing ran.
_NEVER_SENT = frozenset({"ConnectError", "ConnectTimeout", "ClientConnectorError", "ConnectionRefusedError",
                         "ClientConnectorDNSError", "gaierror", "HTTPStatusError", "APIStatusError"})


def maybe_processed(exc: BaseException) -> bool:
    """Whether the provider may have processed (and billed) a request that failed with ``exc``.

    True for timeouts and broken or unreadable responses; False when the connection never opened
    or the provider answered with an error status (providers do not bill those).
    """
    names: set[str] = set()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.add(type(current).__name__)
        carried = getattr(current, "error", None)  # a PolicyStop: the loomllm error it carries, and its cause
        if type(current).__name__ == "PolicyStop" and isinstance(carried, BaseException):
            current = carried
            continue
        current = current.__cause__ or current.__context__ or getattr(current, "original_exception", None)
    if names & _NEVER_SENT:
        return False
    return bool(names & _PROCESSED_MAYBE)
