"""Mapping LiteLLM's exceptions to loomllm's ProviderError family, keeping LiteLLM's and OpenAI's types."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import litellm
import openai
import pytest

from loomllm import AuthenticationFailed, BadRequest, ProviderError, ProviderUnavailable, RateLimited
from loomllm._litellm.errors import to_provider_error
from loomllm.testing import Reply, WireServer


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
    assert isinstance(error, expected) and expected.__name__ == type(error).__name__
    assert (status, "openai", "gpt-4o", retryable) == (error.status_code, error.provider, error.model, error.retryable)


@pytest.mark.parametrize("secret", ["sk-proj-abcdef1234567890", "ghp_" + "a" * 36, "Bearer abc.def.ghi",
                                    "AKIA" + "Q3EGRVLMZ7TPKX2N"])
def test_credentials_in_provider_messages_are_redacted(secret: str) -> None:
    """A credential echoed in a provider's error body never reaches the ProviderError message."""
    error = to_provider_error(_Fake(f"Incorrect API key provided: {secret}.", 401), agent="a")
    assert secret not in str(error) and "<redacted>" in str(error)


def _provider_failure(server: WireServer, status: int, message: str | None = None) -> BaseException:
    """The exception LiteLLM raises for one OpenAI-format call the wire server answers with ``status``."""
    server.reset()
    server.route(Reply.status(status, message=message))
    try:
        litellm.completion(model="openai/gpt-4o-mini", api_base=server.openai_base, api_key="sk-test",
                           messages=[{"role": "user", "content": "hi"}], max_retries=0)
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


# (status, loomllm class, LiteLLM class, OpenAI class): what code written for each library catches.
FAMILIES = [
    (429, RateLimited, litellm.RateLimitError, openai.RateLimitError),
    (401, AuthenticationFailed, litellm.AuthenticationError, openai.AuthenticationError),
    (400, BadRequest, litellm.BadRequestError, openai.BadRequestError),
    (404, BadRequest, litellm.NotFoundError, openai.NotFoundError),
    (500, ProviderUnavailable, litellm.InternalServerError, openai.InternalServerError),
    (503, ProviderUnavailable, litellm.ServiceUnavailableError, openai.APIStatusError),
]


class TestFamiliarTypes:
    @pytest.mark.parametrize(("status", "loom_cls", "litellm_cls", "openai_cls"), FAMILIES)
    def test_caught_by_litellm_and_openai_except_clauses(self, wire_server: WireServer, status: int,
                                                          loom_cls: type[ProviderError], litellm_cls: type[Exception],
                                                          openai_cls: type[Exception]) -> None:
        """`except litellm.X` / `except openai.X` catch the loomllm error raised for a real provider failure."""
        error = to_provider_error(_provider_failure(wire_server, status), agent="a")
        for cls in (loom_cls, litellm_cls, openai_cls, openai.APIError, ProviderError):
            try:
                raise error
            except cls:  # CPython's except uses real subclassing: this is what users' code does
                pass
        assert status == error.status_code == error.response.status_code

    def test_openai_attributes_are_present(self, wire_server: WireServer) -> None:
        """The attributes code written for OpenAI's and LiteLLM's errors reads are set."""
        error: Any = to_provider_error(_provider_failure(wire_server, 429), agent="a")
        assert ("openai", "gpt-4o-mini") == (error.llm_provider, error.model)
        assert error.message == str(error) and isinstance(error.body, dict)
        assert "POST" == error.request.method and "?" not in str(error.request.url)

    def test_context_window_error_keeps_its_family(self, wire_server: WireServer) -> None:
        """A context-window 400 is still a litellm.ContextWindowExceededError (and a loomllm BadRequest)."""
        message = ("This model's maximum context length is 8192 tokens. However, your messages resulted in "
                   "9000 tokens. Please reduce the length of the messages.")
        error = to_provider_error(_provider_failure(wire_server, 400, message), agent="a")
        assert isinstance(error, litellm.ContextWindowExceededError) and isinstance(error, BadRequest)

    def test_connection_failure_keeps_litellm_type(self) -> None:
        """A refused connection is ProviderUnavailable and whatever LiteLLM raised for it (InternalServerError)."""
        try:
            litellm.completion(model="openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1", api_key="sk-test",
                               messages=[{"role": "user", "content": "hi"}], max_retries=0)
        except Exception as exc:
            original, error = exc, to_provider_error(exc, agent="a")
        assert isinstance(error, ProviderUnavailable) and isinstance(error, type(original))
        assert isinstance(error, openai.APIError)

    def test_timeout_is_litellm_timeout(self) -> None:
        """An httpx timeout (not wrapped by LiteLLM) still becomes a litellm.Timeout / openai.APITimeoutError."""
        import httpx

        error = to_provider_error(httpx.ReadTimeout("read timed out"), agent="a")
        assert isinstance(error, ProviderUnavailable) and isinstance(error, litellm.Timeout)
        assert isinstance(error, openai.APITimeoutError)

    def test_key_in_error_body_not_copied(self, wire_server: WireServer) -> None:
        """The provider's raw body (which may echo the key) is not carried on the familiar attributes."""
        key = "sk-proj-" + "Zq81" * 8
        error: Any = to_provider_error(_provider_failure(wire_server, 401, f"Incorrect API key provided: {key}."),
                                       agent="a")
        assert key not in repr(vars(error)) and key not in error.response.text

    def test_pickles(self, wire_server: WireServer) -> None:
        """A combined error survives pickling (multiprocessing, task queues)."""
        error = to_provider_error(_provider_failure(wire_server, 429), agent="a")
        again = pickle.loads(pickle.dumps(error))
        assert isinstance(again, RateLimited) and isinstance(again, litellm.RateLimitError)
        assert str(error) == str(again)

    def test_import_loomllm_does_not_load_litellm(self) -> None:
        """The familiar classes are built on first use: `import loomllm` and its errors stay LiteLLM-free."""
        code = "import sys, loomllm, loomllm.errors, loomllm._litellm.errors; print('litellm' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert "False" == out.stdout.strip()


class TestThroughAnAgent:
    @pytest.mark.parametrize(("status", "litellm_cls", "openai_cls"),
                             [(429, litellm.RateLimitError, openai.RateLimitError),
                              (401, litellm.AuthenticationError, openai.AuthenticationError),
                              (503, litellm.ServiceUnavailableError, openai.APIStatusError)])
    async def test_agent_errors_caught_by_familiar_clauses(self, make_loom: Any, wire_server: WireServer,
                                                           status: int, litellm_cls: type[Exception],
                                                           openai_cls: type[Exception]) -> None:
        """An agent call failing at the provider raises an error `except litellm.X` and `except openai.X` catch."""
        loom = make_loom("agents:\n  gpt: {model: smart}\n")
        wire_server.route(Reply.status(status))
        with pytest.raises(litellm_cls) as caught:
            await loom.agent("gpt").chat("hi")
        assert isinstance(caught.value, openai_cls) and isinstance(caught.value, ProviderError)
        assert status == caught.value.status_code
