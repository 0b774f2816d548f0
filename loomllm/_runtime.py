"""The runtime: one :class:`Loom` per process owns the Router, the policies and the state store."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from loomllm._budget import BudgetLedger, check_prices, open_store
from loomllm._content_policy import ContentPolicies
from loomllm._egress import deployment_url, egress_check, enforce_deployments, install_transport_guard
from loomllm._events import EventHook, EventLog, configure_structlog
from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import router as _router
from loomllm._middleware import Middleware
from loomllm._sync import LoopThread
from loomllm._telemetry import attach_from_config
from loomllm.config import AgentConfig, LoomConfig, check_agent_spec, deployment_id, load_config
from loomllm.errors import ConfigError, EgressDenied, LoomError, MissingCredentials
from loomllm.prompts import PromptRegistry, PromptTemplate

if TYPE_CHECKING:
    from loomllm._agent import UnifiedAgent
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
        self.events = EventLog(on_event)
        configure_structlog(self.config.loom.logging.format, self.config.loom.logging.level)
        self._specs: dict[str, AgentConfig] = dict(self.config.loom.agents)
        self._guards: dict[str, Guard | None] = {}
        self._prompts: PromptRegistry | None = None
        self._sync = LoopThread()
        self._router: Any = None
        self._init_lock = threading.Lock()
        self._callback: Any = None
        self._budget_policies: dict[str, str | None] = self.config.agent_policies("budget")
        # (agent, deployment id) -> whether the agent keeps another deployment in that group
        self._removed: dict[tuple[str, str], bool] = {}
        self._reach: dict[str, set[str]] = {}
        self._closed = False
        self._violations: dict[str, LoomError] = {}
        self._last_attempt: dict[str, _AttemptStart] = {}
        self._group_of = {deployment_id(d): str(d["model_name"]) for d in self.config.model_list}
        self._store = open_store(self.config.loom.state)
        ledger_kwargs: dict[str, Any] = {"on_event": self._budget_event}
        if clock is not None:
            ledger_kwargs["clock"] = clock
        self.ledger = BudgetLedger(self.config.loom.budgets, self._budget_policies, self._store, **ledger_kwargs)
        self._check_startup()
        self.content_policies = ContentPolicies(self)
        self.middleware = Middleware(self.config.loom.middleware, self.config.model_list, self._store, self.events,
                                     state_url=self.config.loom.state)
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

    @property
    def router(self) -> Any:
        """The ``litellm.Router`` (built on first use)."""
        if self._closed:
            raise LoomError("this Loom is closed")
        if self._router is None:
            with self._init_lock:
                if self._router is None:
                    _router.apply_litellm_settings(self.config)
                    self._callback = _hooks.make_callback(self.id, before_attempt=self._before_attempt,
                                                          attempt_failed=self._attempt_failed
                                                          if self.config.loom.logging.attempts else None,
                                                          filter_deployments=self._filter_deployments)
                    _hooks.register(self._callback)
                    install_transport_guard()
                    self._router = _router.build_router(self.config)
        return self._router

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

    async def budgets(self, agent: str | None = None) -> list[Any]:
        """Spend, reserved and remaining per limit and window (all agents, or one)."""
        return list(await self.ledger.status(agent))

    def budgets_sync(self, agent: str | None = None) -> list[Any]:
        """Synchronous twin of :meth:`budgets`."""
        return list(self.ledger.status_sync(agent))

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Unregister callbacks and stop the sync loop thread; the Loom cannot be used afterwards."""
        self._closed = True
        if self.telemetry is not None:
            self.telemetry.detach()
        if self._callback is not None:
            _hooks.unregister(self._callback)
            self._callback = None
        if self._router is not None:
            # Each Router adds callbacks to LiteLLM's global lists; at LITELLM_MAX_CALLBACKS (100) LiteLLM
            # silently refuses new ones, so a process that builds many Looms must take them out again.
            self._router.discard()
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
        allowed = enforce_deployments(self.config.loom.egress, {name: self._egress_name(spec)}, reachable,
                                      file=self._file)[name]
        self._reach[name] = {deployment_id(d) for d in reachable[name]}
        # on_denied_deployment: remove. A removed deployment is filtered out of the Router's choice
        # when its group keeps another one for this agent; otherwise the attempt is refused.
        kept_groups = {d["model_name"] for d in allowed}
        for dep in reachable[name]:
            if dep not in allowed:
                self._removed[(name, deployment_id(dep))] = dep["model_name"] in kept_groups

    def _filter_deployments(self, agent: str, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop the deployments removed from ``agent``'s reach before the Router picks one."""
        return [d for d in deployments
                if not self._removed.get((agent, str((d.get("model_info") or {}).get("id"))), False)]

    def take_violation(self, call_id: str) -> LoomError | None:
        """The policy error a call's attempt raised, if any (forgotten once taken).

        When a fallback attempt is refused, the Router re-raises the *original* provider error;
        the refusal is what the caller must see, so it is kept here by call id.
        """
        return self._violations.pop(call_id, None)

    def _before_attempt(self, attempt: _hooks.Attempt) -> None:
        self._last_attempt[attempt.call_id] = _AttemptStart(
            str(attempt.deployment_id), attempt.model, _host_of(attempt.api_base), time.perf_counter()
        )
        try:
            self._check_attempt(attempt)
        except LoomError as error:
            self._violations[attempt.call_id] = error
            if self.config.loom.logging.attempts:
                self.events.emit(
                    "llm.attempt", agent=attempt.agent, call_id=attempt.call_id, outcome="refused",
                    model_group=self._group_of.get(str(attempt.deployment_id)), deployment=attempt.deployment_id,
                    model=attempt.model, host=_host_of(attempt.api_base), tokens_in=0, tokens_out=0, cost_usd=0.0,
                    cache_hit=False, latency_ms=0.0, error_type=type(error).__name__,
                )
            raise

    def _check_attempt(self, attempt: _hooks.Attempt) -> None:
        """Runs on every Router attempt, fallbacks and retries included, before anything is sent."""
        missing = self.config.missing_env.get(str(attempt.deployment_id))
        if missing:
            raise MissingCredentials(deployment=attempt.deployment_id or attempt.model, variable=missing[0],
                                     file=self._file)
        if str(attempt.deployment_id) not in self._reach.get(attempt.agent, ()):
            raise EgressDenied(agent=attempt.agent, deployment=attempt.deployment_id, host=_host_of(attempt.api_base)
                               or "<unknown>", reason="the deployment is outside the agent's configured reach")
        policy = self.egress_policy(attempt.agent)
        if policy is None:
            return
        deployment = {"model_name": "", "litellm_params": {"model": attempt.model, "api_base": attempt.api_base}}
        url = attempt.api_base or deployment_url(deployment)
        if url is None:
            raise EgressDenied(agent=attempt.agent, deployment=attempt.deployment_id, host="<unknown>",
                               reason="the deployment's provider host cannot be resolved")
        egress_check(url, policy, agent=attempt.agent, deployment=attempt.deployment_id)

    def _attempt_failed(self, fields: dict[str, Any]) -> None:
        start = self._last_attempt.get(str(fields.get("call_id")))
        deployment = str(fields.get("deployment"))
        self.events.emit(
            "llm.attempt", agent=fields["agent"], call_id=fields["call_id"], outcome="error",
            model_group=self._group_of.get(deployment), deployment=deployment, model=fields.get("model"),
            host=_host_of(fields.get("api_base")), tokens_in=0, tokens_out=0, cost_usd=0.0, cache_hit=False,
            latency_ms=round((time.perf_counter() - start.started) * 1000, 2) if start else None,
            error_type=fields.get("error_type"), status_code=fields.get("status_code"),
            fallback_depth=fields.get("fallback_depth"),
        )

    def take_attempt(self, call_id: str) -> _AttemptStart | None:
        """The last attempt the Router started for a call (forgotten once taken)."""
        return self._last_attempt.pop(call_id, None)

    def attempt_succeeded(self, attempt: _AttemptStart, *, agent: str, call_id: str, usage: Any,
                          cache_hit: bool) -> None:
        """Log the attempt that answered (failed ones are logged as LiteLLM reports them)."""
        if not self.config.loom.logging.attempts:
            return
        self.events.emit(
            "llm.attempt", agent=agent, call_id=call_id, outcome="ok",
            model_group=self._group_of.get(attempt.deployment_id), deployment=attempt.deployment_id,
            model=attempt.model, host=attempt.host, tokens_in=usage.input_tokens, tokens_out=usage.output_tokens,
            cost_usd=usage.cost_usd, cache_hit=cache_hit,
            latency_ms=round((time.perf_counter() - attempt.started) * 1000, 2), error_type=None,
        )

    def _budget_event(self, event: Mapping[str, Any]) -> None:
        fields = dict(event)
        name = str(fields.pop("event", "budget.event"))
        self.events.emit(name, level="warning", **fields)


@dataclass(frozen=True)
class _AttemptStart:
    deployment_id: str
    model: str
    host: str | None
    started: float


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def config_path(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: ``path``, else ``$LOOMLLM_CONFIG``, else ``config/loomllm.yaml``."""
    return Path(path or os.environ.get("LOOMLLM_CONFIG") or "config/loomllm.yaml")
