"""The runtime: one :class:`Loom` per process owns the Router, the policies and the state store."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from loomllm._attempt import Attempts, current_call
from loomllm._budget import BudgetLedger, check_prices, open_store
from loomllm._content_policy import ContentPolicies
from loomllm._egress import enforce_deployments, install_transport_guard
from loomllm._events import EventHook, EventLog, event_log_file
from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import router as _router
from loomllm._middleware import Middleware
from loomllm._scrub import CredentialScrubber, credential_values
from loomllm._sync import LoopThread
from loomllm._telemetry import attach_from_config
from loomllm.config import AgentConfig, LoomConfig, check_agent_spec, deployment_id, load_config
from loomllm.errors import ConfigError, LoomError, config_errors_in
from loomllm.prompts import PromptRegistry, PromptTemplate

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
    from loomllm._budget import LimitStatus
    from loomllm._guardrails import Guard

A = TypeVar("A", bound="UnifiedAgent")


class Loom:
    """A loomllm runtime built from one config: build it once per process and share it.

    It owns the single ``litellm.Router`` (LiteLLM keeps callbacks in process-global lists and
    drops events past 100 routers), the policy engines and the state store. Agents come from
    :meth:`agent`. Close it (or use it as a context manager) to unregister its callbacks.
    """

    def __init__(
        self,
        config: LoomConfig | str | os.PathLike[str],
        *,
        on_event: EventHook | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config if isinstance(config, LoomConfig) else load_config(config)
        self.id = uuid.uuid4().hex
        self.events = EventLog(on_event, file=event_log_file(self.config))
        self._specs: dict[str, AgentConfig] = dict(self.config.loom.agents)
        self._guards: dict[str, Guard | None] = {}
        self._prompts: PromptRegistry | None = None
        self._sync = LoopThread()
        self._router_obj: Any = None
        self._undo_settings: Callable[[], None] | None = None
        self._init_lock = threading.Lock()
        self._callback: Any = None
        self._budget_policies: dict[str, str | None] = self.config.agent_policies("budget")
        self._closed = False
        self.attempts = Attempts(loom_id=self.id, config=self.config, events=self.events,
                                 log_attempts=self.config.loom.logging.attempts)
        self.scrubber = CredentialScrubber(credential_values(self.config.model_list, state_url=self.config.loom.state))
        self._store = open_store(self.config.loom.state)
        ledger_kwargs: dict[str, Any] = {"on_event": self._budget_event,
                                         "model_groups": {*self.config.groups,
                                                          *(deployment_id(d) for d in self.config.model_list)}}
        if clock is not None:
            ledger_kwargs["clock"] = clock
        self.ledger = BudgetLedger(self.config.loom.budgets, self._budget_policies, self._store, **ledger_kwargs)
        self._check_startup()
        self.content_policies = ContentPolicies(self)
        self.middleware = Middleware(self.config.loom.middleware, self._store, self.events,
                                     state_url=self.config.loom.state,
                                     rate_limits_enforced=self.config.loom.middleware.rate_limits.enforced(
                                         self.config.router_settings))
        self.telemetry = attach_from_config(self)

    # --- agents ------------------------------------------------------------------------------

    @overload
    def agent(self, name: str) -> UnifiedAgent: ...

    @overload
    def agent(self, name: str, cls: type[A]) -> A: ...

    def agent(self, name: str, cls: type[Any] | None = None) -> Any:
        """The agent ``name`` from the config (as ``cls``, default :class:`UnifiedAgent`)."""
        from loomllm._agent import UnifiedAgent

        agent_cls: type[Any] = cls or UnifiedAgent
        if name not in self._specs and getattr(agent_cls, "model", None) is None:
            known = ", ".join(sorted(self._specs)) or "none"
            raise ConfigError(f"unknown agent {name!r} (known: {known})", file=self._file, path="loomllm.agents")
        return agent_cls(self, name=name)

    def agent_names(self) -> list[str]:
        """Names of the agents defined in the config."""
        return sorted(self.config.loom.agents)

    def register_agent(self, name: str, spec: AgentConfig) -> AgentConfig:
        """Record the effective spec of a code-defined agent (YAML values override class defaults)."""
        yaml_spec = self.config.loom.agents.get(name)
        merged = spec if yaml_spec is None else spec.model_copy(
            update={k: getattr(yaml_spec, k) for k in yaml_spec.model_fields_set}
        )
        check_agent_spec(self.config, name, merged, file=self._file)
        if self._specs.get(name) != merged:
            self._check_agent(name, merged)
        self._specs[name] = merged
        self._budget_policies[name] = merged.budget
        self._guards.pop(name, None)
        return merged

    def spec(self, name: str) -> AgentConfig:
        """The effective configuration of agent ``name``."""
        return self._specs[name]

    # --- shared pieces used by agents ---------------------------------------------------------

    def _litellm_router(self) -> Any:
        """The ``litellm.Router`` (built on first use). Private on purpose: requests through it that
        do not come from an agent call are refused (no policy would see them)."""
        if self._closed:
            raise LoomError("this Loom is closed")
        if self._router_obj is None:
            with self._init_lock:
                if self._router_obj is None:
                    undo = _router.apply_litellm_settings(self.config)
                    self._undo_settings = undo
                    _router.install_log_scrubber(self.scrubber)
                    self._callback = _hooks.make_callback(self.id, self.attempts, rate_filter=self._rate_filter)
                    _hooks.register(self._callback)
                    install_transport_guard()
                    self._router_obj = _router.build_router(self.config, undo,
                                                            metadata=_hooks.router_metadata(self.id))
        return self._router_obj

    @property
    def prompts(self) -> PromptRegistry | None:
        """The prompt template registry, if the config names a directory."""
        if self._prompts is None and self.config.loom.prompts_dir:
            self._prompts = PromptRegistry.from_directory(self.config.base_dir / self.config.loom.prompts_dir)
        return self._prompts

    def template(self, ref: str) -> PromptTemplate:
        """The prompt template ``ref`` ('name' or 'name@version')."""
        registry = self.prompts
        if registry is None:
            raise ConfigError(f"template {ref!r} is referenced but loomllm.prompts_dir is not set", file=self._file)
        return registry.get(ref)

    def guard(self, agent: str) -> Guard | None:
        """The guardrail profile bound to ``agent``, or None."""
        if agent not in self._guards:
            profile = self._specs[agent].guardrails or self.config.loom.guardrails.default
            if profile is None:
                self._guards[agent] = None
            else:
                from loomllm._guardrails import Guard  # Presidio: loaded on first use only

                with config_errors_in(str(self.config.source) if self.config.source is not None else None):
                    self._guards[agent] = Guard.from_config(self.config.loom.guardrails, profile)
        return self._guards[agent]

    def egress_policy(self, agent: str) -> Any:
        """The egress policy bound to ``agent``, or None (no egress checks)."""
        return self.config.loom.egress.policy(self._egress_name(self._specs[agent]))

    def _egress_name(self, spec: AgentConfig) -> str | None:
        return spec.egress or self.config.loom.egress.default

    def reachable_deployments(self, agent: str) -> list[dict[str, Any]]:
        """Deployments a call from ``agent`` can land on: its group, then its fallbacks."""
        return self.config.reachable_deployments(self._specs[agent])

    def run_sync(self, coro: Any) -> Any:
        """Run a coroutine of the async API from synchronous code (same path, private loop)."""
        if self._closed:
            coro.close()
            raise LoomError("this Loom is closed")
        return self._sync.run(coro)

    def iterate_sync(self, agen: Any) -> Any:
        """Iterate an async iterator of the async API from synchronous code."""
        return self._sync.iterate(agen)

    # --- budgets ------------------------------------------------------------------------------

    async def budgets(
        self, agent: str | None = None, *, keys: Mapping[str, str] | None = None
    ) -> list[LimitStatus]:
        """Spend, reserved and remaining per limit and window (all agents, or one; ``keys``: call-time keys)."""
        return list(await self.ledger.status(agent, keys=keys))

    def budgets_sync(
        self, agent: str | None = None, *, keys: Mapping[str, str] | None = None
    ) -> list[LimitStatus]:
        """Synchronous twin of :meth:`budgets`."""
        return list(self.run_sync(self.ledger.status(agent, keys=keys)))

    async def spend(self, by: Sequence[str] = ("agent",), *, since: Any = None, until: Any = None) -> list[Any]:
        """Settled spend grouped ``by`` agent, team, model, day and/or call-time key kinds (``user``...).

        ``since`` / ``until``: dates (``date`` or ``"2026-03-10"``), inclusive. Rows are
        :class:`~loomllm._budget.SpendRow`: ``group``, ``usd``, ``input_tokens``, ``output_tokens``, ``calls``.
        """
        return list(await self.ledger.spend(by, since=since, until=until))

    def spend_sync(self, by: Sequence[str] = ("agent",), *, since: Any = None, until: Any = None) -> list[Any]:
        """Synchronous twin of :meth:`spend`."""
        return list(self.run_sync(self.ledger.spend(by, since=since, until=until)))

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Unregister callbacks and stop the sync loop thread; the Loom cannot be used afterwards."""
        self._closed = True
        if self.telemetry is not None:
            self.telemetry.detach()
        if self._callback is not None:
            _hooks.unregister(self._callback)
            self._callback = None
        if self._undo_settings is not None:  # LiteLLM globals this Loom set (cache, callbacks, settings)
            self._undo_settings()
            self._undo_settings = None
        self._router_obj = None
        self._sync.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    def __enter__(self) -> Loom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Loom:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals ----------------------------------------------------------------------------

    @property
    def _file(self) -> str | None:
        return str(self.config.source) if self.config.source else None

    def _check_startup(self) -> None:
        for name, spec in self.config.loom.agents.items():
            self._check_agent(name, spec)

    def _check_agent(self, name: str, spec: AgentConfig) -> None:
        """Start-up checks of one agent (YAML or code-defined): prices under USD limits, egress verdicts."""
        reachable = {name: self.config.reachable_deployments(spec)}
        check_prices(self.config.loom.budgets, {name: spec.budget}, reachable)
        global_base = self.config.litellm_settings.get("api_base")
        allowed = enforce_deployments(self.config.loom.egress, {name: self._egress_name(spec)}, reachable,
                                      file=self._file, global_base=str(global_base) if global_base else None)[name]
        # Union: several code-defined agents may share a name on different groups (legacy wrappers do).
        self.attempts.reach.setdefault(name, set()).update(deployment_id(d) for d in reachable[name])
        # on_denied_deployment: remove. A removed deployment is filtered out of the Router's choice
        # when its group keeps another one for this agent; otherwise the attempt is refused.
        kept_groups = {d["model_name"] for d in allowed}
        for dep in reachable[name]:
            if dep not in allowed:
                self.attempts.removed[(name, deployment_id(dep))] = dep["model_name"] in kept_groups

    async def _rate_filter(self, deployments: list[Any]) -> list[Any]:
        """Before each attempt of this Loom's calls: queue for a deployment's rpm/tpm (the one kept)."""
        state = current_call()
        if state is None or state.loom_id != self.id or not self.middleware.rates_enforced:
            return deployments
        return await self.middleware.queue_for(deployments, agent=state.agent, call_id=state.call_id,
                                               tokens=state.rate_tokens)

    def _budget_event(self, event: Mapping[str, Any]) -> None:
        fields = dict(event)
        name = str(fields.pop("event", "budget.event"))
        self.events.emit(name, level="warning", **fields)


def config_path(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: ``path``, else ``$LOOMLLM_CONFIG``, else ``config/loomllm.yaml``."""
    return Path(path or os.environ.get("LOOMLLM_CONFIG") or "config/loomllm.yaml")
