"""Errors of the legacy layer: loomllm's typed errors that are also what the old callers catch.

Old code catches ``ValueError`` for configuration problems and ``RuntimeError`` when every
provider failed; each class here is a loomllm error *and* that builtin, so both ``except`` clauses
keep working. Messages name variables, groups and deployments, never a key's value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from loomllm.errors import (
    BudgetExceeded,
    ConfigError,
    ContentPolicyViolation,
    GuardrailViolation,
    LoomError,
    MissingCredentials,
    PolicyViolation,
    ProviderError,
)

if TYPE_CHECKING:
    from loomllm._runtime import Loom

__all__ = [
    "APIKeyError",
    "AllProvidersFailed",
    "ApiKeyConflict",
    "LLMServiceError",
    "LegacyBudgetExceeded",
    "LegacyConfigError",
    "LegacyContentPolicyViolation",
    "LegacyMissingCredentials",
    "as_legacy_errors",
    "check_app_key",
    "key_digest",
]


class LegacyConfigError(ConfigError, ValueError):
    """A legacy call or config asks for something the YAML config does not provide (a ``ValueError`` too)."""


class LegacyMissingCredentials(MissingCredentials, ValueError):
    """No deployment of the group has its API key set (a ``ValueError`` too, as old key checks raised)."""


class ApiKeyConflict(LegacyConfigError):
    """The application supplied an API key that is not the key of the deployments it would call.

    Keys live on the deployments in ``model_list``; a different key from the application would
    bypass that, so the call is refused rather than silently sent with another key.
    """

    def __init__(self, *, source: str, group: str, file: str | None = None) -> None:
        self.source = source
        self.group = group
        super().__init__(
            f"{source} is set by the application but is not the key of any deployment of model group {group!r}: "
            "keys live on the deployments (model_list[].litellm_params.api_key, e.g. os.environ/OPENAI_API_KEY); "
            f"remove {source} from the application or make it the deployment's key",
            file=file, path="model_list",
        )


class APIKeyError(LegacyMissingCredentials):
    """DiPeO's missing/invalid API key error: no deployment serving the model has its key."""


class LLMServiceError(ProviderError):
    """DiPeO's provider failure: the provider (or LiteLLM talking to it) failed; the loomllm error is the cause."""


class AllProvidersFailed(ProviderError, RuntimeError):
    """Every provider of a legacy fallback chain failed (a ``RuntimeError`` too, as before)."""


class LegacyBudgetExceeded(BudgetExceeded):
    """A budget of the legacy interface itself (``max_budget``, a cost tracker's daily limit) is spent."""


class LegacyContentPolicyViolation(ContentPolicyViolation, GuardrailViolation):
    """An answer the output content policy blocked, raised to legacy code: also a :class:`GuardrailViolation`.

    The old guardrail modules checked "a response for harmful content" next to secrets in prompts,
    and their callers catch one ``GuardrailViolation`` for both. ``direction`` is ``"output"``;
    there are no findings (the policy names rules and categories, never the text).
    """

    def __init__(self, *, agent: str | None, policy: str, source: str, categories: tuple[str, ...] | list[str]) -> None:
        self.agent = agent
        self.policy = policy
        self.source = source
        self.categories = tuple(categories)
        self.direction = "output"
        self.findings = ()
        self.counts = {}
        # Both parents' __init__ take their own keywords: build the message once, as the content policy does.
        PolicyViolation.__init__(self, f"agent {agent!r}: answer blocked by output policy {policy!r} "
                                       f"({source}: {', '.join(self.categories) or 'unspecified'})")

    @classmethod
    def of(cls, error: ContentPolicyViolation) -> LegacyContentPolicyViolation:
        """The legacy twin of ``error`` (same agent, policy, source and categories)."""
        return cls(agent=error.agent, policy=error.policy, source=error.source, categories=error.categories)


def key_digest(key: str) -> bytes:
    """What a legacy object keeps of an application key: its SHA-256, never the key."""
    return hashlib.sha256(key.encode()).digest()


def check_app_key(loom: Loom, group: str, key: str | bytes | None, *, source: str) -> None:
    """Refuse an application-supplied ``key`` (or its :func:`key_digest`) unless it is a deployment's of ``group``."""
    if not key:
        return
    wanted = key if isinstance(key, bytes) else key_digest(str(key))
    for deployment in loom.config.groups[group]:
        configured = deployment["litellm_params"].get("api_key")
        if isinstance(configured, str) and hmac.compare_digest(key_digest(configured), wanted):
            return
    raise ApiKeyConflict(source=source, group=group, file=_file(loom))


def _file(loom: Loom) -> str | None:
    return str(loom.config.source) if loom.config.source else None


@contextmanager
def as_legacy_errors(missing: type[LegacyMissingCredentials] = LegacyMissingCredentials) -> Iterator[None]:
    """Re-raise loomllm config errors as their legacy twins (which are also ``ValueError``)."""
    try:
        yield
    except (LegacyConfigError, LegacyMissingCredentials):
        raise
    except MissingCredentials as error:
        raise _copy(missing, error) from None
    except ConfigError as error:
        raise LegacyConfigError(error.problem, file=error.file, path=error.path) from None


def _copy(cls: type[LegacyMissingCredentials], error: MissingCredentials) -> LegacyMissingCredentials:
    return cls(deployment=error.deployment, variable=error.variable, file=error.file, path=error.path)


_FAMILY_CLASSES: dict[tuple[type[ProviderError], type[ProviderError]], type[ProviderError]] = {}
"""A memo of the classes :func:`_with_family` made (a handful: one per legacy error and provider family)."""


def _with_family(cls: type[ProviderError], family: type[ProviderError]) -> type[ProviderError]:
    """``cls`` that is also ``family`` (``RateLimited``...), so both ``except`` clauses catch it."""
    if issubclass(cls, family):
        return cls
    made = _FAMILY_CLASSES.get((cls, family))
    if made is None:
        made = _FAMILY_CLASSES[(cls, family)] = type(cls.__name__, (cls, family),
                                                     {"__module__": cls.__module__, "__doc__": cls.__doc__})
    return made


def chain_provider_error(cls: type[ProviderError], message: str, error: LoomError) -> ProviderError:
    """A ``cls`` of ``error``'s family (``RateLimited``...) carrying its status, provider, model and agent."""
    fields: dict[str, Any] = {k: getattr(error, k, None) for k in ("status_code", "provider", "model", "agent")}
    family = type(error) if isinstance(error, ProviderError) else ProviderError
    return _with_family(cls, family)(message, retryable=bool(getattr(error, "retryable", False)), **fields)
