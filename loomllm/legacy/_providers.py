"""Hand-written per-provider clients (``LLMManager``, ``ChatGPTProvider``, ``ClaudeProvider``) on loomllm.

Old code keeps its calls; each one now goes through a :class:`~loomllm.UnifiedAgent`, so budgets,
guardrails and the egress allowlist apply. API keys live in the YAML deployments now: the
``api_key`` argument is accepted and ignored (never stored, logged or sent).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from loomllm.config import is_forbidden_param
from loomllm.errors import MissingCredentials

from ._deprecation import warn_once
from ._resolve import (
    DEFAULT_AGENT,
    ConfigSource,
    check_credentials,
    config_value,
    group_for_provider,
    legacy_agent,
    model_name,
    resolve_loom,
)

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = ["ChatGPTProvider", "ClaudeProvider", "LLMManager", "LLMProvider", "LLMProviderFactory"]

_INSTEAD_PROVIDER = "loomllm.UnifiedAgent (loom.agent(name).chat_sync(prompt))"


class LLMProvider:
    """A provider client of the old interface, bound to one model group.

    ``provider`` is a legacy name ("chatgpt", "claude", "openai", "anthropic", "gemini") or a model
    group; see :func:`loomllm.legacy.group_for_provider`.
    """

    provider: ClassVar[str] = ""

    def __init__(self, api_key: str | None = None, *, provider: str | None = None, loom: Loom | None = None,
                 agent: str = DEFAULT_AGENT, model_group: str | None = None) -> None:
        warn_once(type(self), _INSTEAD_PROVIDER)
        del api_key  # the deployment's key is used; this one must not travel further
        self._bind(resolve_loom(loom), provider, agent, model_group)

    def _bind(self, loom: Loom, provider: str | None, agent: str, model_group: str | None) -> None:
        self.loom = loom
        self.provider_name = provider or type(self).provider
        self.model_group = model_group or group_for_provider(self.loom, self.provider_name)
        check_credentials(self.loom, self.model_group)
        self.agent: UnifiedAgent = legacy_agent(self.loom, agent, self.model_group)

    def generate_response(self, prompt: str, **kwargs: Any) -> str:
        """The model's answer to ``prompt``.

        ``system_prompt=`` (or ``system=``) adds a system message; other keywords (``temperature``,
        ``max_tokens`` ...) are call parameters.
        """
        system_prompt, system = kwargs.pop("system_prompt", None), kwargs.pop("system", None)
        params = {k: v for k, v in kwargs.items() if not is_forbidden_param(k)}  # api_key etc. live in YAML
        return self.agent.chat_sync(prompt, system_prompt or system, **params)

    def get_model_name(self) -> str:
        """The model behind this provider (the first deployment of its group, e.g. ``gpt-4o``)."""
        return model_name(self.loom, self.model_group)

    def authenticate(self) -> bool:
        """Whether the group's deployments have their API keys configured. Sends nothing."""
        try:
            check_credentials(self.loom, self.model_group)
        except MissingCredentials:
            return False
        return True

    def handle_rate_limit(self, retry_after: float | None = None) -> None:
        """Wait ``retry_after`` seconds if given.

        Retries and cooldowns are the Router's job now (``router_settings.num_retries``), so a
        caller's own retry loop rarely runs.
        """
        if retry_after is not None and retry_after > 0:
            time.sleep(retry_after)


class ChatGPTProvider(LLMProvider):
    """The old OpenAI client: calls the first OpenAI model group (or ``model_group=``)."""

    provider = "chatgpt"


class ClaudeProvider(LLMProvider):
    """The old Anthropic client: calls the first Anthropic model group (or ``model_group=``)."""

    provider = "claude"


class LLMProviderFactory:
    """Makes the provider for a legacy provider name; any model group name works too."""

    PROVIDERS: ClassVar[Mapping[str, type[LLMProvider]]] = {"chatgpt": ChatGPTProvider, "claude": ClaudeProvider}

    @classmethod
    def create_provider(cls, provider_name: str, api_key: str | None = None, *, loom: Loom | None = None,
                        agent: str = DEFAULT_AGENT, model_group: str | None = None) -> LLMProvider:
        """The provider client for ``provider_name``."""
        provider_class = cls.PROVIDERS.get(provider_name.lower(), LLMProvider)
        return provider_class(api_key, provider=provider_name, loom=loom, agent=agent, model_group=model_group)

    @classmethod
    def _create_quietly(cls, provider_name: str, loom: Loom, agent: str, model_group: str | None) -> LLMProvider:
        """A provider for :class:`LLMManager`, whose own warning already told the caller what to do."""
        provider_class = cls.PROVIDERS.get(provider_name.lower(), LLMProvider)
        provider = provider_class.__new__(provider_class)
        provider._bind(loom, provider_name, agent, model_group)
        return provider

    @classmethod
    def get_available_providers(cls) -> list[str]:
        """The named legacy providers (model group names are accepted as well)."""
        return sorted(cls.PROVIDERS)


class LLMManager:
    """The old entry point: picks a provider from ``config_manager.get("llm_provider")``.

    Config keys read: ``llm_provider`` (default "chatgpt"), ``model_group`` (overrides the mapping),
    ``agent`` (default "legacy"), ``loomllm_config`` (the YAML file, else ``$LOOMLLM_CONFIG``).
    ``config_manager`` is an object with ``get(key, default=None)`` or a plain dict.
    """

    def __init__(self, config_manager: ConfigSource | Mapping[str, Any] | None = None, *,
                 loom: Loom | None = None) -> None:
        warn_once(type(self), "loomllm.Loom(config).agent(name), configured in YAML")
        self.config_manager = config_manager
        provider = str(config_value(config_manager, "llm_provider", "chatgpt"))
        self.provider = LLMProviderFactory._create_quietly(
            provider,
            resolve_loom(loom, config_manager),
            str(config_value(config_manager, "agent", DEFAULT_AGENT)),
            config_value(config_manager, "model_group"),
        )

    def generate_response(self, prompt: str, **kwargs: Any) -> str:
        """The configured provider's answer to ``prompt`` (see :meth:`LLMProvider.generate_response`)."""
        return self.provider.generate_response(prompt, **kwargs)

    def get_model_name(self) -> str:
        """The model behind the configured provider."""
        return self.provider.get_model_name()
