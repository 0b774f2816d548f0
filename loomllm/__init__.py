"""loomllm: a policy layer over LiteLLM.

Agent code subclasses :class:`UnifiedAgent`; which model it talks to, what it may spend, what it
may send and where it may send it are decided by one YAML file, loaded into a :class:`Loom`::

    from loomllm import Loom

    loom = Loom("config/loomllm.yaml")
    planner = loom.agent("planner")
    answer = await planner.chat("Plan a three-step launch.")

``import loomllm`` is cheap and never touches the network: LiteLLM and Presidio load on first use.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from loomllm.errors import (
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    BudgetStoreUnavailable,
    ConfigError,
    ConfigWarning,
    ContentPolicyViolation,
    EgressDenied,
    Finding,
    ForbiddenParameter,
    GuardrailViolation,
    LoomError,
    MissingCredentials,
    OutputValidationError,
    PolicyViolation,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)

# LiteLLM fetches its cost map over the network at import unless told otherwise; whoever imports
# it first in this process, it must not.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._budget import LimitStatus
    from loomllm._events import EventHook, configure_logging
    from loomllm._guardrails.scan import ScanFinding, scan_text
    from loomllm._output import ToolCall, tool_calls
    from loomllm._runtime import Loom
    from loomllm._telemetry import instrument
    from loomllm.config import AgentConfig, LoomConfig, load_config
    from loomllm.prompts import PromptRegistry, PromptTemplate

__version__ = "0.1.0"

__all__ = [
    "AgentConfig",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "BudgetStoreUnavailable",
    "ConfigError",
    "ConfigWarning",
    "ContentPolicyViolation",
    "EgressDenied",
    "EventHook",
    "Finding",
    "ForbiddenParameter",
    "GuardrailViolation",
    "LimitStatus",
    "Loom",
    "LoomConfig",
    "LoomError",
    "MissingCredentials",
    "OutputValidationError",
    "PolicyViolation",
    "PromptRegistry",
    "PromptTemplate",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "ScanFinding",
    "ToolCall",
    "UnifiedAgent",
    "configure_logging",
    "instrument",
    "load_config",
    "scan_text",
    "tool_calls",
]

_LAZY = {
    "Loom": "loomllm._runtime",
    "UnifiedAgent": "loomllm._agent",
    "configure_logging": "loomllm._events",
    "EventHook": "loomllm._events",
    "LimitStatus": "loomllm._budget",
    "ToolCall": "loomllm._output",
    "tool_calls": "loomllm._output",
    "AgentConfig": "loomllm.config",
    "LoomConfig": "loomllm.config",
    "load_config": "loomllm.config",
    "instrument": "loomllm._telemetry",
    "PromptRegistry": "loomllm.prompts",
    "PromptTemplate": "loomllm.prompts",
    "ScanFinding": "loomllm._guardrails.scan",
    "scan_text": "loomllm._guardrails.scan",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loomllm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
