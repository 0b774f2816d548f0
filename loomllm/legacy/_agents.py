"""The LiteLLM agent of the old agent framework (``LiteLLMAgent``, ``LiteLLMAgentWithRouter``,
``LiteLLMConfig`` and the per-model classes), on loomllm.

A model name maps to the model group of that name, else to the first group with a deployment of
that model (``gpt-4-0125-preview`` matches ``openai/gpt-4-0125-preview``). The defaults of the
old agent are kept: ``temperature=0.0, max_tokens=1024, timeout=30, num_retries=3``. What the
old code set on LiteLLM's globals keeps working: a ``litellm.cache`` set by the application
caches these calls, plain functions in ``litellm.success_callback`` fire after each call (as
they did under ``litellm.completion``), and ``max_budget`` (the agent's or ``litellm.max_budget``)
refuses calls once spent.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from loomllm._litellm import litellm_module
from loomllm._params import is_always_forbidden

from ._client import LegacyConfigWarning
from ._deprecation import warn_once
from ._errors import LegacyBudgetExceeded, LegacyConfigError, as_legacy_errors, check_app_key
from ._providers import LegacyForbiddenParameter
from ._resolve import DEFAULT_AGENT, group_for_model, legacy_agent, resolve_loom
from ._types import ToolCallDict, tool_call_dicts

if TYPE_CHECKING:
    from litellm.types.utils import ModelResponse

    from loomllm._agent import UnifiedAgent
    from loomllm._runtime import Loom

__all__ = [
    "AgentReply",
    "ClaudeHaikuAgent",
    "ClaudeOpusAgent",
    "ClaudeSonnetAgent",
    "GPT_4_0125_Agent",
    "GPT_4o_Agent",
    "GPT_4o_Mini_Agent",
    "LiteLLMAgent",
    "LiteLLMAgentWithRouter",
    "LiteLLMConfig",
    "create_litellm_agent",
]

_log = logging.getLogger("loomllm.legacy")
_INSTEAD = "a loomllm.UnifiedAgent subclass with `model` set to a model group"
GENERATION_DEFAULTS: Mapping[str, Any] = {"temperature": 0.0, "max_tokens": 1024, "timeout": 30, "num_retries": 3}
"""The old agent's ``_get_generation_params()`` defaults."""


class AgentReply(str):
    """The answer's text (a ``str``), with the model's tool calls and LiteLLM's response attached.

    When the model answers with tool calls the text is often ``""``; ``reply.tool_calls`` holds
    the calls as OpenAI-format dicts and ``reply.response`` the ``ModelResponse``.
    """

    tool_calls: list[ToolCallDict]
    response: ModelResponse | None

    def __new__(cls, text: str, tool_calls: list[ToolCallDict] | None = None,
                response: ModelResponse | None = None) -> AgentReply:
        reply = super().__new__(cls, text)
        reply.tool_calls = tool_calls or []
        reply.response = response
        return reply


class LiteLLMAgent:
    """An agent bound to one model name, with the old framework's methods.

    ``config`` may hold ``system_prompt``, ``tools`` (OpenAI format), ``max_budget`` (USD),
    generation parameters (``temperature``, ``max_tokens``, ``timeout``, ``num_retries`` ...),
    ``loom`` (else the default Loom, see :func:`loomllm.legacy.default_loom`) and ``agent`` (the
    agent name budgets and logs use; default "legacy"). ``api_key`` is accepted only if it is the
    deployment's own; ``api_base`` and other routing keys are refused (they live in YAML).
    """

    def __init__(self, model_name: str, **config: Any) -> None:
        warn_once(type(self), _INSTEAD)
        loom: Loom | None = config.pop("loom", None)
        agent_name = str(config.pop("agent", DEFAULT_AGENT))
        self.system_prompt: str | None = config.pop("system_prompt", None)
        self.tools: list[dict[str, Any]] = list(config.pop("tools", None) or [])
        self.max_budget: float | None = config.pop("max_budget", None)
        self.model_name = model_name
        self.loom = resolve_loom(loom)
        with as_legacy_errors():
            self.model_group = group_for_model(self.loom, model_name)
            self.agent: UnifiedAgent = legacy_agent(self.loom, agent_name, self.model_group)
        self.config: dict[str, Any] = self._validate_and_setup_config(config)
        self.messages: list[dict[str, Any]] = []
        self.spent_usd = 0.0
        self.cost_log: list[tuple[float, str | None]] = []

    def _validate_and_setup_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key == "api_key":
                with as_legacy_errors():
                    check_app_key(self.loom, self.model_group, _env_reference(value), source="api_key")
            elif is_always_forbidden(key):
                raise LegacyForbiddenParameter(agent=self.agent.agent_name, parameter=key)
            else:
                out[key] = value
        return out

    def _get_generation_params(self) -> dict[str, Any]:
        """The old defaults (temperature 0.0, max_tokens 1024, timeout 30, num_retries 3), then the config."""
        return {**GENERATION_DEFAULTS, **self.config}

    # --- the old framework's entry point -----------------------------------------------------

    def get_messages(self, ending_index: int | None = None) -> list[dict[str, Any]]:
        """The conversation so far (up to ``ending_index``), OpenAI format."""
        return list(self.messages[:ending_index])

    def add_messages(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Append messages to the conversation."""
        self.messages.extend(dict(m) for m in messages)

    def get_available_tools(self) -> dict[str, dict[str, Any]]:
        """The tools this agent offers, by name."""
        return {str(t["function"]["name"]): t for t in self.tools}

    def respond(self, ending_index: int | None = None) -> None:
        """Answer the conversation (up to ``ending_index``): the reply, or its tool calls, is appended.

        Nothing is sent when the conversation is empty or its last message is a system message.
        """
        messages = self.get_messages(ending_index=ending_index)
        if not messages or messages[-1].get("role") == "system":
            return
        tools = self.get_available_tools()
        response = self._make_llm_call(messages, list(tools.values()) or None, set(tools))
        self.add_messages(self._parse_response_to_messages(response, set(tools)))

    def _make_llm_call(self, messages: Sequence[Mapping[str, Any]], tools: list[dict[str, Any]] | None,
                       available_tool_names: set[str] | None = None, **params: Any) -> ModelResponse:
        """One completion through the agent (every policy applies); returns LiteLLM's ``ModelResponse``."""
        call = {**self._get_generation_params(), **params}
        if tools:
            call["tools"] = tools
        return self.agent.loom.run_sync(self._acall(self._messages(messages), call))  # type: ignore[no-any-return]

    def _parse_response_to_messages(self, response: ModelResponse,
                                    available_tool_names: set[str] | None = None) -> list[dict[str, Any]]:
        """The assistant message of ``response``, its tool calls (OpenAI dicts) kept."""
        message = response.choices[0].message  # type: ignore[union-attr]
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        calls = tool_call_dicts(message)
        if calls:
            out["tool_calls"] = [dict(c) for c in calls]
        return [out]

    # --- direct calls -------------------------------------------------------------------------

    def run(self, prompt: str, **params: Any) -> AgentReply:
        """The answer to ``prompt``."""
        return self.chat([{"role": "user", "content": prompt}], **params)

    async def arun(self, prompt: str, **params: Any) -> AgentReply:
        """Async :meth:`run`."""
        return await self.achat([{"role": "user", "content": prompt}], **params)

    def chat(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> AgentReply:
        """The answer to a conversation of OpenAI-format messages (tool calls in ``reply.tool_calls``)."""
        return self.agent.loom.run_sync(self.achat(messages, **params))  # type: ignore[no-any-return]

    async def achat(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> AgentReply:
        """Async :meth:`chat`."""
        response = await self._acall(self._messages(messages), {**self._get_generation_params(), **params})
        message = response.choices[0].message
        return AgentReply(str(message.content or ""), tool_call_dicts(message), response)

    def stream(self, prompt: str, **params: Any) -> Iterator[str]:
        """The answer to ``prompt``, piece by piece."""
        self._check_budget()
        call = {**self._get_generation_params(), **params, **self._cache_params()}
        chunks = self.agent.stream_sync(self._messages([{"role": "user", "content": prompt}]), **call)
        for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield str(choice.delta.content)

    async def _acall(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        self._check_budget()
        started = datetime.now()
        response = await self.agent.complete(messages, **params, **self._cache_params())
        self._count_cost(response)
        self._run_app_success_callbacks(messages, response, started)
        return response

    def _run_app_success_callbacks(self, messages: list[dict[str, Any]], response: Any, started: datetime) -> None:
        """Call the app's plain functions in ``litellm.success_callback``, as ``litellm.completion`` did.

        The old agent called LiteLLM synchronously, which runs them; on the Router's async path
        LiteLLM 1.106.2 runs only coroutine functions, so the seed's ``cost_callback`` never fired.
        """
        callbacks = [cb for cb in litellm_module().success_callback
                     if callable(cb) and not inspect.iscoroutinefunction(cb)
                     and not str(getattr(cb, "__module__", "") or "").startswith("litellm")]  # the Router's own
        if not callbacks:
            return
        hidden = getattr(response, "_hidden_params", None) or {}
        kwargs = {"model": self.model_name, "model_group": self.model_group, "messages": messages,
                  "response_cost": hidden.get("response_cost"), "metadata": {"agent": self.agent.agent_name},
                  "litellm_params": {"metadata": {"agent": self.agent.agent_name}},
                  "cache_hit": hidden.get("cache_hit")}
        ended = datetime.now()
        for callback in callbacks:
            try:
                callback(kwargs, response, started, ended)
            except Exception:  # LiteLLM's callbacks are non-blocking too
                _log.warning("litellm.success_callback %r raised", getattr(callback, "__name__", callback),
                             exc_info=True)

    # --- LiteLLM globals the old code set ------------------------------------------------------

    def _setup_caching(self, cache_config: Mapping[str, Any]) -> None:
        """The old helper: set ``litellm.cache`` from ``{enabled, type, ttl, host, port, directory}``."""
        if not cache_config.get("enabled"):
            return
        litellm = litellm_module()
        kind = cache_config.get("type", "memory")
        ttl = cache_config.get("ttl", 3600)
        if kind == "redis":
            litellm.cache = litellm.Cache(type="redis", host=cache_config.get("host", "localhost"),
                                          port=cache_config.get("port", 6379), ttl=ttl)
        elif kind == "disk":
            litellm.cache = litellm.Cache(type="disk", disk_cache_dir=cache_config.get("directory", "./llm_cache"),
                                          ttl=ttl)
        else:
            litellm.cache = litellm.Cache(type="local", ttl=ttl)

    def _setup_cost_tracking(self) -> None:
        """The old helper: log each call's cost (LiteLLM's ``completion_cost``) through :meth:`_log_cost`.

        Adds a cost callback to ``litellm.success_callback`` (it fires for this agent's calls);
        the agent's ``max_budget`` is enforced by the agent itself.
        """
        litellm = litellm_module()

        def cost_callback(kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
            self._log_cost(float(litellm.completion_cost(response_obj)), kwargs.get("model"), kwargs.get("metadata"))

        litellm.success_callback = [*litellm.success_callback, cost_callback]

    def _log_cost(self, cost: float, model: str | None, metadata: Mapping[str, Any] | None) -> None:
        """Record one call's cost (subclasses log or store it elsewhere)."""
        self.cost_log.append((cost, model))

    def _cache_params(self) -> dict[str, Any]:
        # The Router sends caching=False unless the YAML turns its cache on; an application that
        # set litellm.cache itself meant these calls to be cached.
        return {"caching": True} if litellm_module().cache is not None else {}

    def _check_budget(self) -> None:
        litellm = litellm_module()
        limits = [("max_budget", self.max_budget, self.spent_usd)]
        if litellm.max_budget:
            limits.append(("litellm.max_budget", float(litellm.max_budget), float(litellm._current_cost)))
        for name, limit, spent in limits:
            if limit is not None and spent >= limit:
                raise LegacyBudgetExceeded(agent=self.agent.agent_name, limit=name, unit="usd",
                                           remaining=max(0.0, limit - spent), requested=0.0)

    def _count_cost(self, response: Any) -> None:
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = float(hidden.get("response_cost") or 0.0)
        self.spent_usd += cost
        litellm = litellm_module()
        if litellm.max_budget:
            litellm._current_cost += cost  # what LiteLLM's own max_budget check reads (it never adds, #40020)

    def _messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = [dict(m) for m in messages]
        if self.system_prompt and not any(m.get("role") == "system" for m in out):
            out.insert(0, {"role": "system", "content": self.system_prompt})
        return out


def create_litellm_agent(model_name: str, **config: Any) -> LiteLLMAgent:
    """The old factory: a :class:`LiteLLMAgent` for ``model_name``."""
    return LiteLLMAgent(model_name, **config)


# --- Router-based agents ---------------------------------------------------------------------------

_CALL_LEVEL_ROUTER_KEYS = ("num_retries", "timeout")


class LiteLLMAgentWithRouter(LiteLLMAgent):
    """The old Router agent: ``model_config`` is a Router ``model_list``; calls go to its first entry.

    Each entry must name a model group of the YAML file (by ``model_name`` or by the model it
    serves), with no key or host of its own unless it is the deployment's. ``fallbacks`` in
    ``router_config`` must already be fallbacks in the YAML (routing is configuration);
    ``num_retries`` and ``timeout`` are sent per call. Other Router settings are named in one
    :class:`~loomllm.legacy.LegacyConfigWarning` and not applied.
    """

    def __init__(self, model_config: Sequence[Mapping[str, Any]], **router_config: Any) -> None:
        if not model_config:
            raise LegacyConfigError("model_config is empty: give at least one model", path="model_list")
        loom = resolve_loom(router_config.pop("loom", None))
        agent = router_config.pop("agent", DEFAULT_AGENT)
        groups = {str(entry.get("model_name")): self._group_of(loom, entry) for entry in model_config}
        self._check_fallbacks(loom, groups, router_config.pop("fallbacks", None) or [])
        call_defaults = {k: router_config.pop(k) for k in _CALL_LEVEL_ROUTER_KEYS if k in router_config}
        if router_config:
            warnings.warn(f"LiteLLMAgentWithRouter: Router settings not applied (set them in the loomllm YAML's "
                          f"router_settings): {', '.join(sorted(router_config))}", LegacyConfigWarning, stacklevel=2)
        self.router_groups = groups
        super().__init__(next(iter(groups.values())), loom=loom, agent=agent, **call_defaults)

    @staticmethod
    def _group_of(loom: Loom, entry: Mapping[str, Any]) -> str:
        name = str(entry.get("model_name") or "")
        params = dict(entry.get("litellm_params") or {})
        with as_legacy_errors():
            group = name if name in loom.config.groups else group_for_model(loom, str(params.get("model", name)))
            check_app_key(loom, group, _env_reference(params.pop("api_key", None)), source=f"{name}.api_key")
        routing = sorted(k for k, v in params.items() if v is not None and is_always_forbidden(k))
        if routing:
            raise LegacyConfigError(f"model_config entry {name!r} sets {', '.join(routing)}: hosts and credentials "
                                    "live on the deployments of the loomllm YAML", path="model_list")
        return group

    @staticmethod
    def _check_fallbacks(loom: Loom, groups: Mapping[str, str], fallbacks: Sequence[Mapping[str, Any]]) -> None:
        for rule in fallbacks:
            for primary, targets in rule.items():
                source = groups.get(primary, primary)
                reachable = loom.config.reachable_groups(source)
                for target in targets:
                    group = groups.get(target, target)
                    if group not in reachable:
                        raise LegacyConfigError(
                            f"fallback {primary!r} -> {target!r} (group {source!r} -> {group!r}) is not in the loomllm "
                            f"YAML: add {{{source}: [{group}]}} to router_settings.fallbacks",
                            file=str(loom.config.source) if loom.config.source else None,
                            path="router_settings.fallbacks")


def _env_reference(value: Any) -> str | None:
    """An ``os.environ/NAME`` reference resolved (what :meth:`LiteLLMConfig.from_env` returns)."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        return os.environ.get(value.removeprefix("os.environ/"))
    return None if value is None else str(value)


class LiteLLMConfig:
    """The old configuration helpers: per-model ``litellm_params`` from the environment.

    Keys are returned as ``os.environ/NAME`` references (LiteLLM's proxy notation), never as
    values, so a config dict can be logged or passed around without carrying a secret.
    """

    _ENV_OF_PREFIX: ClassVar[tuple[tuple[tuple[str, ...], dict[str, str]], ...]] = (
        (("gpt", "openai/", "o1", "o3"), {"api_key": "OPENAI_API_KEY", "api_base": "OPENAI_API_BASE"}),
        (("claude", "anthropic/"), {"api_key": "ANTHROPIC_API_KEY"}),
        (("gemini", "vertex_ai/"), {"api_key": "GOOGLE_API_KEY", "vertex_project": "VERTEX_PROJECT",
                                    "vertex_location": "VERTEX_LOCATION"}),
        (("mistral/",), {"api_key": "MISTRAL_API_KEY"}),
        (("groq/",), {"api_key": "GROQ_API_KEY"}),
        (("cohere", "command"), {"api_key": "COHERE_API_KEY"}),
    )

    @classmethod
    def from_env(cls, model_name: str) -> dict[str, Any]:
        """``{"model": model_name, "api_key": "os.environ/...", ...}`` for the variables that are set."""
        config: dict[str, Any] = {"model": model_name}
        for prefixes, variables in cls._ENV_OF_PREFIX:
            if model_name.startswith(prefixes):
                config.update({k: f"os.environ/{v}" for k, v in variables.items() if os.environ.get(v)})
                break
        return config

    @classmethod
    def with_fallbacks(cls, primary_model: str, fallback_models: list[str]) -> dict[str, Any]:
        """``{"model_list": [...], "fallbacks": [...]}`` for a primary model and its fallbacks."""
        return {
            "model_list": [{"model_name": "primary", "litellm_params": cls.from_env(primary_model)}]
            + [{"model_name": f"fallback_{i}", "litellm_params": cls.from_env(model)}
               for i, model in enumerate(fallback_models)],
            "fallbacks": [{"primary": [f"fallback_{i}" for i in range(len(fallback_models))]}],
        }


# --- the per-model wrappers ------------------------------------------------------------------------


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
