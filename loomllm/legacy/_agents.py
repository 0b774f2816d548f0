"""Per-model agent classes of the old agent framework (``LiteLLMAgent``, ``GPT_4_0125_Agent`` ...) on loomllm.

A model name maps to the model group of that name, else to the first group with a deployment of
that model (``gpt-4-0125-preview`` matches ``openai/gpt-4-0125-preview``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from loomllm.config import is_forbidden_param

from ._deprecation import warn_once
from ._resolve import DEFAULT_AGENT, group_for_model, legacy_agent, resolve_loom

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = [
    "ClaudeHaikuAgent",
    "ClaudeOpusAgent",
    "ClaudeSonnetAgent",
    "GPT_4_0125_Agent",
    "GPT_4o_Agent",
    "GPT_4o_Mini_Agent",
    "LiteLLMAgent",
    "create_litellm_agent",
]

_INSTEAD = "a loomllm.UnifiedAgent subclass with `model` set to a model group"


class LiteLLMAgent:
    """An agent bound to one model name, with the old framework's methods.

    ``config`` may hold ``system_prompt``, call parameters (``temperature``, ``max_tokens`` ...),
    ``loom`` (else the default Loom, see :func:`loomllm.legacy.default_loom`) and ``agent``
    (the agent name budgets and logs use; default "legacy").
    """

    def __init__(self, model_name: str, **config: Any) -> None:
        warn_once(type(self), _INSTEAD)
        loom: Loom | None = config.pop("loom", None)
        agent_name = str(config.pop("agent", DEFAULT_AGENT))
        self.system_prompt: str | None = config.pop("system_prompt", None)
        self.model_name = model_name
        # Old callers pass api_key/api_base here; deployments in YAML decide those now.
        self.config: dict[str, Any] = {k: v for k, v in config.items() if not is_forbidden_param(k)}
        self.loom = resolve_loom(loom)
        self.model_group = group_for_model(self.loom, model_name)
        self.agent: UnifiedAgent = legacy_agent(self.loom, agent_name, self.model_group)

    def run(self, prompt: str, **params: Any) -> str:
        """The answer to ``prompt``."""
        return str(self.agent.loom.run_sync(self.arun(prompt, **params)))

    async def arun(self, prompt: str, **params: Any) -> str:
        """Async :meth:`run`."""
        return await self.achat([{"role": "user", "content": prompt}], **params)

    def chat(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> str:
        """The answer to a conversation of OpenAI-format messages."""
        return str(self.agent.loom.run_sync(self.achat(messages, **params)))

    async def achat(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> str:
        """Async :meth:`chat`."""
        response = await self.agent.complete(self._messages(messages), **{**self.config, **params})
        return str(response.choices[0].message.content or "")

    def stream(self, prompt: str, **params: Any) -> Iterator[str]:
        """The answer to ``prompt``, piece by piece."""
        chunks = self.agent.stream_sync(self._messages([{"role": "user", "content": prompt}]),
                                        **{**self.config, **params})
        for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield str(choice.delta.content)

    def _messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = [dict(m) for m in messages]
        if self.system_prompt and not any(m.get("role") == "system" for m in out):
            out.insert(0, {"role": "system", "content": self.system_prompt})
        return out


def create_litellm_agent(model_name: str, **config: Any) -> LiteLLMAgent:
    """The old factory: a :class:`LiteLLMAgent` for ``model_name``."""
    return LiteLLMAgent(model_name, **config)


class _FixedModelAgent(LiteLLMAgent):
    """A named wrapper whose model name is fixed by the class."""

    MODEL_NAME: ClassVar[str] = ""

    def __init__(self, **config: Any) -> None:
        super().__init__(type(self).MODEL_NAME, **config)


class GPT_4_0125_Agent(_FixedModelAgent):
    """``gpt-4-0125-preview``."""

    MODEL_NAME = "gpt-4-0125-preview"


class GPT_4o_Agent(_FixedModelAgent):
    """``gpt-4o``."""

    MODEL_NAME = "gpt-4o"


class GPT_4o_Mini_Agent(_FixedModelAgent):
    """``gpt-4o-mini``."""

    MODEL_NAME = "gpt-4o-mini"


class ClaudeOpusAgent(_FixedModelAgent):
    """``claude-3-opus-20240229``."""

    MODEL_NAME = "claude-3-opus-20240229"


class ClaudeSonnetAgent(_FixedModelAgent):
    """``claude-3-5-sonnet-20240620``."""

    MODEL_NAME = "claude-3-5-sonnet-20240620"


class ClaudeHaikuAgent(_FixedModelAgent):
    """``claude-3-haiku-20240307``."""

    MODEL_NAME = "claude-3-haiku-20240307"
