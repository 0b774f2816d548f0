"""Legacy interfaces, kept working on top of loomllm.

Old code keeps its calls, written as before, from five families of client code:

* a per-provider ``LLMManager`` (``ChatGPTProvider``/``ClaudeProvider``, ``generate_response``);
* a provider-neutral async ``LLMClient`` with ``AnthropicProvider``/``OpenAIProvider``/
  ``OllamaProvider``, its request/response types and middleware (``CacheMiddleware``,
  ``RateLimiter``, ``RetryMiddleware``, ``CostTracker``), and its ``llm_config.yaml``;
* DiPeO's ``LLMInfraService`` (``complete``, ``complete_with_person``, ``PersonLLMConfig``);
* an agent framework's ``LiteLLMAgent`` (``respond``, ``LiteLLMAgentWithRouter``, ``LiteLLMConfig``);
* a per-agent token meter (``TokenBudget``).

Every call now runs through a :class:`~loomllm.UnifiedAgent`, so the YAML file's budgets,
guardrails and egress allowlist apply. Each class warns once per process with
:class:`LoomDeprecationWarning` (a ``DeprecationWarning`` and a ``UserWarning``, shown by
default), naming its replacement. Where old code and a policy disagree (a key or host of its
own, a model the YAML does not serve), the policy wins with a typed error that is also the
builtin old callers catch (``ValueError`` for configuration, ``RuntimeError`` when every
provider failed). An answer the output content policy (``loomllm.output_policy``: a moderation
model, deny rules) blocks is a :class:`LegacyContentPolicyViolation`, which is a
``ContentPolicyViolation`` and a ``GuardrailViolation``: old guardrail modules checked prompts and
responses alike, and their callers catch one guardrail error for both.

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
    AgentReply,
    ClaudeHaikuAgent,
    ClaudeOpusAgent,
    ClaudeSonnetAgent,
    GPT_4_0125_Agent,
    GPT_4o_Agent,
    GPT_4o_Mini_Agent,
    LiteLLMAgent,
    LiteLLMAgentWithRouter,
    LiteLLMConfig,
    create_litellm_agent,
)
from ._client import LegacyConfigWarning, LLMClient, LLMClientConfig, load_llm_config
from ._deprecation import LoomDeprecationWarning, show_deprecations
from ._dipeo import ChatResult, LLMInfraService, LLMService, MessageFormatter, PersonLLMConfig, SystemPromptHandler
from ._errors import (
    AllProvidersFailed,
    ApiKeyConflict,
    APIKeyError,
    LegacyBudgetExceeded,
    LegacyConfigError,
    LegacyContentPolicyViolation,
    LegacyMissingCredentials,
    LLMServiceError,
)
from ._meter import TokenBudget
from ._middleware import (
    MODEL_PRICING,
    CacheBackend,
    CacheEntry,
    CacheMiddleware,
    CostTracker,
    MemoryCacheBackend,
    ModelPricing,
    RateLimitConfig,
    RateLimiter,
    RedisCacheBackend,
    RetryConfig,
    RetryMiddleware,
)
from ._providers import (
    AnthropicProvider,
    ChatGPTProvider,
    ClaudeProvider,
    LegacyForbiddenParameter,
    LLMManager,
    LLMProvider,
    LLMProviderFactory,
    OllamaProvider,
    OpenAIProvider,
)
from ._resolve import (
    DEFAULT_AGENT,
    ConfigSource,
    close_default_looms,
    default_loom,
    group_for_model,
    group_for_provider,
)
from ._types import (
    CompletionRequest,
    CompletionResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionDefinition,
    Message,
    Role,
    StreamChunk,
    ToolCallDict,
)

show_deprecations()

__all__ = [
    "DEFAULT_AGENT",
    "MODEL_PRICING",
    "APIKeyError",
    "AgentReply",
    "AllProvidersFailed",
    "AnthropicProvider",
    "ApiKeyConflict",
    "CacheBackend",
    "CacheEntry",
    "CacheMiddleware",
    "ChatGPTProvider",
    "ChatResult",
    "ClaudeHaikuAgent",
    "ClaudeOpusAgent",
    "ClaudeProvider",
    "ClaudeSonnetAgent",
    "CompletionRequest",
    "CompletionResponse",
    "ConfigSource",
    "CostTracker",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "FunctionDefinition",
    "GPT_4_0125_Agent",
    "GPT_4o_Agent",
    "GPT_4o_Mini_Agent",
    "LLMClient",
    "LLMClientConfig",
    "LLMInfraService",
    "LLMManager",
    "LLMProvider",
    "LLMProviderFactory",
    "LLMService",
    "LLMServiceError",
    "LegacyBudgetExceeded",
    "LegacyConfigError",
    "LegacyConfigWarning",
    "LegacyContentPolicyViolation",
    "LegacyForbiddenParameter",
    "LegacyMissingCredentials",
    "LiteLLMAgent",
    "LiteLLMAgentWithRouter",
    "LiteLLMConfig",
    "LoomDeprecationWarning",
    "MemoryCacheBackend",
    "Message",
    "MessageFormatter",
    "ModelPricing",
    "OllamaProvider",
    "OpenAIProvider",
    "PersonLLMConfig",
    "RateLimitConfig",
    "RateLimiter",
    "RedisCacheBackend",
    "RetryConfig",
    "RetryMiddleware",
    "Role",
    "StreamChunk",
    "SystemPromptHandler",
    "TokenBudget",
    "ToolCallDict",
    "close_default_looms",
    "create_litellm_agent",
    "default_loom",
    "group_for_model",
    "group_for_provider",
    "load_llm_config",
]
