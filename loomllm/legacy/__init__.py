"""Legacy interfaces, kept working on top of loomllm.

Old code keeps calling ``LLMManager``, ``ChatGPTProvider``/``ClaudeProvider``, ``LiteLLMAgent``
and its per-model classes, ``LLMClient`` and ``TokenBudget`` exactly as before; every call now
runs through a :class:`~loomllm.UnifiedAgent`, so the YAML file's budgets, guardrails and egress
allowlist apply to it. Each class warns once per process with :class:`LoomDeprecationWarning`,
naming its replacement.

Finding the Loom: pass ``loom=``; otherwise a process-wide one is built from the legacy config
key ``loomllm_config``, else ``$LOOMLLM_CONFIG``, else ``config/loomllm.yaml``
(:func:`default_loom`). Calls are made as agent ``"legacy"`` unless ``agent=`` says otherwise;
give it policies with a YAML agent of that name, a budget team listing it, or the section
defaults (``guardrails.default``, ``egress.default``, ``budgets.global``).

Migrating::

    # before                                    # after
    manager = LLMManager(config_manager)        loom = Loom("config/loomllm.yaml")
    manager.generate_response(prompt)           loom.agent("planner").chat_sync(prompt)
"""

from __future__ import annotations

from ._agents import (
    ClaudeHaikuAgent,
    ClaudeOpusAgent,
    ClaudeSonnetAgent,
    GPT_4_0125_Agent,
    GPT_4o_Agent,
    GPT_4o_Mini_Agent,
    LiteLLMAgent,
    create_litellm_agent,
)
from ._client import CompletionResponse, FunctionDefinition, LLMClient, Message, Role
from ._deprecation import LoomDeprecationWarning, show_deprecations
from ._meter import TokenBudget
from ._providers import ChatGPTProvider, ClaudeProvider, LLMManager, LLMProvider, LLMProviderFactory
from ._resolve import (
    DEFAULT_AGENT,
    ConfigSource,
    close_default_looms,
    default_loom,
    group_for_model,
    group_for_provider,
)

show_deprecations()

__all__ = [
    "DEFAULT_AGENT",
    "ChatGPTProvider",
    "ClaudeHaikuAgent",
    "ClaudeOpusAgent",
    "ClaudeProvider",
    "ClaudeSonnetAgent",
    "CompletionResponse",
    "ConfigSource",
    "FunctionDefinition",
    "GPT_4_0125_Agent",
    "GPT_4o_Agent",
    "GPT_4o_Mini_Agent",
    "LLMClient",
    "LLMManager",
    "LLMProvider",
    "LLMProviderFactory",
    "LiteLLMAgent",
    "LoomDeprecationWarning",
    "Message",
    "Role",
    "TokenBudget",
    "close_default_looms",
    "create_litellm_agent",
    "default_loom",
    "group_for_model",
    "group_for_provider",
]
