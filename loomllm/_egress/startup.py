"""Start-up check: every deployment each agent can reach must be on that agent's allowlist.

:func:`check_deployments` returns one :class:`DeploymentVerdict` per (agent, deployment) for
``loomllm check`` to print; :func:`enforce_deployments` applies ``on_denied_deployment``: raise a
:class:`ConfigError`, or drop denied deployments from the agent's reach with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomllm._egress.check import check_url
from loomllm._egress.config import EgressConfig
from loomllm._egress.providers import deployment_label, deployment_urls
from loomllm.errors import ConfigError

__all__ = ["DeploymentVerdict", "EgressConfigWarning", "check_deployments", "enforce_deployments"]

_UNRESOLVABLE = "cannot determine where this deployment sends requests: set api_base"


class EgressConfigWarning(UserWarning):
    """A deployment was removed from an agent's reach because its host is not allowed."""

    def __init__(self, message: str, agent: str | None = None) -> None:
        super().__init__(message)
        self.agent = agent
        """The agent whose reach lost the deployment (the CLI shows only the agent in use)."""


@dataclass(frozen=True)
class DeploymentVerdict:
    """Whether ``agent`` may reach ``deployment``. ``url`` is redacted (no credentials, no query)."""

    agent: str
    policy: str | None
    deployment: str
    model: str
    url: str | None
    host: str | None
    allowed: bool
    reason: str

    @property
    def resolvable(self) -> bool:
        """False when the deployment's URL could not be determined."""
        return self.reason != _UNRESOLVABLE


def check_deployments(
    config: EgressConfig,
    agent_policies: Mapping[str, str | None],
    reachable: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    environ: Mapping[str, str] | None = None,
    global_base: str | None = None,
) -> list[DeploymentVerdict]:
    """A verdict for every deployment reachable by every agent (agents without a policy: all allowed).

    Every URL LiteLLM may use for a deployment is checked (``api_base``, ``base_url``, a module-wide
    ``global_base``); the first refused one decides.
    """
    verdicts: list[DeploymentVerdict] = []
    for agent, deployments in reachable.items():
        name = agent_policies.get(agent)
        policy = config.policy(name)
        for deployment in deployments:
            label = deployment_label(deployment)
            model = str((deployment.get("litellm_params") or {}).get("model", "?"))
            urls = deployment_urls(deployment, environ=environ, global_base=global_base)
            if policy is None:
                verdicts.append(DeploymentVerdict(agent, None, label, model, None, None, True, "no egress policy"))
            elif not urls:
                verdicts.append(DeploymentVerdict(agent, name, label, model, None, None, False, _UNRESOLVABLE))
            else:
                checked = [check_url(url, policy) for url in urls]
                v = next((c for c in checked if not c.allowed), checked[0])
                verdicts.append(DeploymentVerdict(agent, name, label, model, v.url, v.host, v.allowed, v.reason))
    return verdicts


def enforce_deployments(
    config: EgressConfig,
    agent_policies: Mapping[str, str | None],
    reachable: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    file: str | None = None,
    environ: Mapping[str, str] | None = None,
    global_base: str | None = None,
) -> dict[str, list[Mapping[str, Any]]]:
    """Apply ``on_denied_deployment`` and return each agent's (possibly pruned) reachable deployments.

    Raises :class:`ConfigError` for an unresolvable deployment under a policy, for any denied
    deployment when the mode is ``error``, and for an agent left with no deployment when it is
    ``remove``.
    """
    pruned: dict[str, list[Mapping[str, Any]]] = {}
    for agent, deployments in reachable.items():
        verdicts = check_deployments(config, agent_policies, {agent: deployments}, environ=environ,
                                     global_base=global_base)
        path = f"loomllm.agents.{agent}.egress"
        unresolvable = [v for v in verdicts if not v.resolvable]
        if unresolvable:
            raise ConfigError(f"deployment {unresolvable[0].deployment!r}: {_UNRESOLVABLE}", file=file, path=path)
        denied = [v for v in verdicts if not v.allowed]
        if denied and config.on_denied_deployment == "error":
            raise ConfigError(_denied_message(agent, denied), file=file, path=path)
        for v in denied:
            warnings.warn(
                EgressConfigWarning(
                    f"agent {agent!r}: deployment {v.deployment!r} removed, egress to {v.host!r} denied: {v.reason}",
                    agent=agent,
                ),
                stacklevel=2,
            )
        kept = [d for d, v in zip(deployments, verdicts, strict=True) if v.allowed]
        if deployments and not kept:
            raise ConfigError(f"agent {agent!r}: every reachable deployment is denied by egress", file=file, path=path)
        pruned[agent] = kept
    return pruned


def _denied_message(agent: str, denied: Sequence[DeploymentVerdict]) -> str:
    details = "; ".join(f"{v.deployment!r} -> {v.host!r}: {v.reason}" for v in denied)
    return f"agent {agent!r} (egress policy {denied[0].policy!r}) can reach denied deployments: {details}"
