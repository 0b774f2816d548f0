"""Mapping LiteLLM's exceptions to loomllm's ProviderError family."""

from __future__ import annotations

import pytest

from loomllm import AuthenticationFailed, BadRequest, ProviderError, ProviderUnavailable, RateLimited
from loomllm._litellm.errors import to_provider_error


class _Fake(Exception):
    def __init__(self, message: str, status_code: int | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.llm_provider = "openai"
        self.model = "gpt-4o"


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [(429, RateLimited, True), (401, AuthenticationFailed, False), (403, AuthenticationFailed, False),
     (400, BadRequest, False), (500, ProviderUnavailable, True), (503, ProviderUnavailable, True),
     (None, ProviderError, False)],
)
def test_status_codes_map_to_types(status: int | None, expected: type[ProviderError], retryable: bool) -> None:
    """Each HTTP status lands on its ProviderError subclass, with provider, model and retryability."""
    error = to_provider_error(_Fake("boom", status), agent="a")
    assert type(error) is expected
    assert (status, "openai", "gpt-4o", retryable) == (error.status_code, error.provider, error.model, error.retryable)


@pytest.mark.parametrize("secret", ["sk-proj-abcdef1234567890", "ghp_" + "a" * 36, "Bearer abc.def.ghi",
                                    "AKIA" + "Q3EGRVLMZ7TPKX2N"])
def test_credentials_in_provider_messages_are_redacted(secret: str) -> None:
    """A credential echoed in a provider's error body never reaches the ProviderError message."""
    error = to_provider_error(_Fake(f"Incorrect API key provided: {secret}.", 401), agent="a")
    assert secret not in str(error) and "<redacted>" in str(error)
