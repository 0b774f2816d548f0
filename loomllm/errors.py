"""The exceptions loomllm raises.

Every exception derives from :class:`LoomError`::

    LoomError
    ├── ConfigError                 the YAML (or a value in it) is wrong; names file and key path
    │                               (duplicate keys, unknown LiteLLM settings, bad state URLs included)
    ├── MissingCredentials          a deployment's key variable is not set (also a ConfigError)
    ├── PolicyViolation             a policy refused the call before any byte left the process
    │   ├── BudgetExceeded          a budget limit cannot hold the call's worst-case cost
    │   ├── BudgetStoreUnavailable  a hard budget's store is unreachable (fail closed)
    │   ├── GuardrailViolation      a secret or PII finding whose action is ``block``
    │   ├── EgressDenied            the destination host is not on the agent's allowlist
    │   ├── ContentPolicyViolation  the answer broke the agent's output content policy (action ``block``)
    │   └── ForbiddenParameter      a call parameter off the allowlist, or out of its bounds
    ├── ProviderError               the provider (or LiteLLM talking to it) failed
    │   ├── RateLimited             429 after the Router's retries
    │   ├── ProviderUnavailable     5xx, timeouts, connection errors
    │   └── BadRequest              4xx other than auth / rate limit
    │       └── AuthenticationFailed
    └── OutputValidationError       ``json()`` output failed its schema twice; carries the raw text

    ConfigWarning (UserWarning)     a config loaded, but names proxy-only features loomllm does not run

A raised ProviderError is also an instance of the LiteLLM exception it replaces (and so of
OpenAI's): ``except litellm.RateLimitError``, ``except openai.AuthenticationError``,
``except litellm.ContextWindowExceededError`` keep working. Those combined classes are built when
the first error is raised, so importing this module does not import LiteLLM.

A policy error never carries the secret, PII value or credential it caught: messages name
entity types, counts, positions, agents, limits and hosts only. The Router never retries or falls
back on a :class:`PolicyViolation`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "BudgetStoreUnavailable",
    "ConfigError",
    "ConfigWarning",
    "ContentPolicyViolation",
    "EgressDenied",
    "Finding",
    "ForbiddenParameter",
    "GuardrailViolation",
    "LoomError",
    "MissingCredentials",
    "OutputValidationError",
    "PolicyViolation",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
]


class LoomError(Exception):
    """Base class of every error loomllm raises."""


class ConfigError(LoomError):
    """The configuration is invalid.

    ``file`` and ``path`` (a dotted key path such as ``loomllm.agents.planner.model``) say where;
    ``str(error)`` reads ``file: path: problem``.
    """

    def __init__(self, problem: str, *, file: str | None = None, path: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [p for p in (self.file, self.path) if p]
        return ": ".join([*parts, self.problem])


@contextmanager
def config_errors_in(file: str | None) -> Iterator[None]:
    """Name ``file`` in a :class:`ConfigError` raised inside that names no file (a validator knows its key path,
    not the file it was read from). An error that names a file already, or a ``file`` of None, passes unchanged."""
    try:
        yield
    except ConfigError as exc:
        if exc.file is not None or file is None:
            raise
        raise ConfigError(exc.problem, file=file, path=exc.path) from None


class ConfigWarning(UserWarning):
    """A config loaded, but parts of it are not run (proxy-only features); the message names each one."""


class MissingCredentials(ConfigError):
    """A deployment needs an environment variable that is not set."""

    def __init__(self, *, deployment: str, variable: str, file: str | None = None, path: str | None = None) -> None:
        self.deployment = deployment
        self.variable = variable
        super().__init__(
            f"deployment {deployment!r} needs environment variable {variable} which is not set",
            file=file,
            path=path,
        )


class PolicyViolation(LoomError):
    """A loomllm policy refused the call. Raised before any request leaves the process."""

    agent: str | None = None


class BudgetExceeded(PolicyViolation):
    """A budget limit cannot hold the call's reservation (worst-case estimate)."""

    def __init__(
        self,
        *,
        agent: str,
        limit: str,
        unit: str,
        remaining: float,
        requested: float,
        window: str | None = None,
    ) -> None:
        self.agent = agent
        self.limit = limit
        self.unit = unit
        self.remaining = remaining
        self.requested = requested
        self.window = window
        where = f" ({window})" if window else ""
        super().__init__(
            f"agent {agent!r}: budget limit {limit!r}{where} exceeded: "
            f"requested {requested:g} {unit}, remaining {remaining:g} {unit}"
        )


class BudgetStoreUnavailable(PolicyViolation):
    """The budget store cannot be reached and the budget fails closed."""

    def __init__(self, message: str, *, agent: str | None = None) -> None:
        self.agent = agent
        super().__init__(message)


@dataclass(frozen=True)
class Finding:
    """Where a guardrail found something: never the value itself."""

    entity_type: str
    message_index: int | None
    start: int
    end: int
    score: float
    direction: str = "input"


class GuardrailViolation(PolicyViolation):
    """A guardrail finding whose action is ``block``. Carries types and positions, never values."""

    def __init__(self, *, agent: str | None, direction: str, findings: Sequence[Finding]) -> None:
        self.agent = agent
        self.direction = direction
        self.findings = tuple(findings)
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
        self.counts: Mapping[str, int] = counts
        summary = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        where = ", ".join(
            f"{f.entity_type} {_place(f.message_index)} chars {f.start}-{f.end}" for f in self.findings[:5]
        )
        super().__init__(f"agent {agent!r}: {direction} blocked by guardrail: {summary} ({where})")


def _place(message_index: int | None) -> str:
    return f"at message {message_index}" if message_index is not None else "outside the messages"


class EgressDenied(PolicyViolation):
    """The destination host is not allowed by the agent's egress policy."""

    def __init__(self, *, agent: str | None, deployment: str | None, host: str, reason: str) -> None:
        self.agent = agent
        self.deployment = deployment
        self.host = host
        self.reason = reason
        super().__init__(f"agent {agent!r}: egress to host {host!r} denied (deployment {deployment!r}): {reason}")


class ContentPolicyViolation(PolicyViolation):
    """The answer broke the agent's output content policy. Names rules and categories, never the text.

    ``source`` is ``deny``, ``callable``, ``moderation`` or ``moderation_error`` (the moderation
    call failed and the policy fails closed); ``categories`` are rule names (``words[0]``) or
    moderation categories (``violence``).
    """

    def __init__(self, *, agent: str | None, policy: str, source: str, categories: Sequence[str]) -> None:
        self.agent = agent
        self.policy = policy
        self.source = source
        self.categories = tuple(categories)
        super().__init__(f"agent {agent!r}: answer blocked by output policy {policy!r} "
                         f"({source}: {', '.join(self.categories) or 'unspecified'})")


class ForbiddenParameter(PolicyViolation):
    """A call parameter is not on the allowlist (``api_base``, ``extra_body``...) or out of its bounds.

    Also raised at an attempt whose final request is not what the policies admitted (a worst case
    beyond the reservation, prices that are not the configured ones). Names the key, never the value.
    """

    def __init__(self, *, agent: str, parameter: str, reason: str | None = None) -> None:
        self.agent = agent
        self.parameter = parameter
        self.reason = reason or "it would bypass the configured deployments (set it on the deployment in model_list)"
        super().__init__(f"agent {agent!r}: parameter {parameter!r} is refused: {self.reason}")


class ProviderError(LoomError):
    """The provider failed. The LiteLLM exception is kept as ``__cause__``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str | None = None,
        model: str | None = None,
        retryable: bool = False,
        agent: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.provider = provider
        self.model = model
        self.retryable = retryable
        self.agent = agent
        super().__init__(message)


class RateLimited(ProviderError):
    """The provider kept answering 429."""


class ProviderUnavailable(ProviderError):
    """5xx, timeout or connection failure."""


class BadRequest(ProviderError):
    """The provider rejected the request (4xx)."""


class AuthenticationFailed(BadRequest):
    """The provider rejected the credentials (401/403)."""


class OutputValidationError(LoomError):
    """Structured output failed validation, also after one re-ask. ``raw`` holds the model's text."""

    def __init__(self, message: str, *, raw: str, errors: Any = None) -> None:
        self.raw = raw
        self.errors = errors
        super().__init__(message)
