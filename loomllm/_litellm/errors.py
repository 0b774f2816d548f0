"""Mapping LiteLLM's exceptions onto loomllm's :class:`~loomllm.errors.ProviderError` family."""

from __future__ import annotations

import re

from loomllm.errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)


def to_provider_error(exc: BaseException, *, agent: str) -> ProviderError:
    """A ProviderError describing ``exc`` (a LiteLLM or httpx exception); the caller chains ``exc``."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    provider = getattr(exc, "llm_provider", None) or None
    model = getattr(exc, "model", None) or None
    kind = type(exc).__name__
    cls: type[ProviderError]
    if kind == "RateLimitError" or status == 429:
        cls, retryable = RateLimited, True
    elif kind in {"AuthenticationError", "PermissionDeniedError"} or status in {401, 403}:
        cls, retryable = AuthenticationFailed, False
    elif kind in {"Timeout", "APIConnectionError", "ServiceUnavailableError", "InternalServerError"} or (
        status is not None and status >= 500
    ):
        cls, retryable = ProviderUnavailable, True
    elif status is not None and 400 <= status < 500:
        cls, retryable = BadRequest, False
    else:
        cls, retryable = ProviderError, False
    message = f"agent {agent!r}: {kind}" + (f" ({status})" if status else "") + f": {_short(str(exc))}"
    return cls(message, status_code=status, provider=provider, model=model, retryable=retryable, agent=agent)


# Provider error bodies sometimes echo (part of) a credential; never pass one on.
_KEY_LIKE = re.compile(
    r"(?:sk|pk|rk|sess)-[A-Za-z0-9_\-*.]{6,}|(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|hf|xox[abpr]|npm|pypi)"
    r"[_-][A-Za-z0-9_\-*.]{6,}|AKIA[A-Z0-9]{12,}|AIza[A-Za-z0-9_\-]{20,}|(?i:bearer)\s+\S+"
)


def _short(text: str, limit: int = 300) -> str:
    text = _KEY_LIKE.sub("<redacted>", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
