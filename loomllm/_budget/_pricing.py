"""Prices and worst-case estimates, from LiteLLM's bundled cost map plus per-deployment overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomllm.errors import ConfigError

from .config import BudgetsConfig

__all__ = ["Estimate", "Usage", "check_prices", "deployment_cost", "deployment_price", "estimate_call"]

NANO = 1_000_000_000
"""Stores count dollars in nano-dollars, so every counter is an exact integer."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a call actually consumed, as reported after it finished."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    cache_hit: bool = False


@dataclass(frozen=True, slots=True)
class Estimate:
    """A call's worst case, reserved before it is sent."""

    input_tokens: int
    output_tokens: int
    cost_usd: float

    def amount(self, unit: str) -> int:
        """The estimate in a store unit (USD rounded up to the nano-dollar)."""
        if unit == "usd":
            return math.ceil(self.cost_usd * NANO)
        return _token_amount(unit, self.input_tokens, self.output_tokens)


def usage_amount(usage: Usage, unit: str) -> int:
    """The actual usage in a store unit (USD rounded to the nano-dollar)."""
    if unit == "usd":
        return max(0, round(usage.cost_usd * NANO))
    return max(0, _token_amount(unit, usage.input_tokens, usage.output_tokens))


def _token_amount(unit: str, input_tokens: int, output_tokens: int) -> int:
    if unit == "tokens":
        return input_tokens + output_tokens
    return input_tokens if unit == "input_tokens" else output_tokens


def _label(deployment: Mapping[str, Any]) -> str:
    params = deployment.get("litellm_params") or {}
    return f"{deployment.get('model_name', '?')!r} ({params.get('model', '?')})"


def _map_price(model: str, provider: str | None) -> tuple[float | None, float | None]:
    from loomllm._litellm import litellm_module

    litellm = litellm_module()
    try:
        info = litellm.get_model_info(model=model, custom_llm_provider=provider)
    except Exception:  # LiteLLM raises a bare Exception subclass for unmapped models
        return None, None
    return info.get("input_cost_per_token"), info.get("output_cost_per_token")


def deployment_price(deployment: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(input, output)`` USD per token for a ``model_list`` entry, or ``None`` if unknown.

    Overrides (``input_cost_per_token`` / ``output_cost_per_token`` in ``litellm_params`` or
    ``model_info``) win over LiteLLM's cost map; ``model_info.base_model`` names the priced model
    for deployments with private names (Azure).
    """
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    info: Mapping[str, Any] = deployment.get("model_info") or {}
    inp = params.get("input_cost_per_token", info.get("input_cost_per_token"))
    out = params.get("output_cost_per_token", info.get("output_cost_per_token"))
    if inp is None or out is None:
        provider = params.get("custom_llm_provider")
        for model in (info.get("base_model"), params.get("base_model"), params.get("model")):
            if not model:
                continue
            map_in, map_out = _map_price(str(model), provider)
            if map_in is not None and map_out is not None:
                inp = map_in if inp is None else inp
                out = map_out if out is None else out
                break
    if inp is None or out is None:
        return None
    return float(inp), float(out)


def deployment_cost(deployment: Mapping[str, Any], input_tokens: int, output_tokens: int) -> float:
    """USD for this many tokens on this deployment. Raises :class:`ConfigError` if it has no price."""
    price = deployment_price(deployment)
    if price is None:
        raise ConfigError(
            f"deployment {_label(deployment)} has no known price; set "
            "litellm_params.input_cost_per_token and output_cost_per_token"
        )
    return price[0] * input_tokens + price[1] * output_tokens


def estimate_call(
    messages: list[dict[str, Any]],
    *,
    deployments: Sequence[Mapping[str, Any]],
    max_tokens: int | None,
    default_output_cap: int,
    tools: list[dict[str, Any]] | None = None,
) -> Estimate:
    """The worst case of one call: prompt tokens (largest count among the deployments' tokenizers)
    plus the output cap, priced at the most expensive reachable deployment.

    Unpriced deployments add no dollars here; :func:`check_prices` refuses them at load time
    wherever a USD limit applies.
    """
    from loomllm._litellm import litellm_module

    litellm = litellm_module()
    output_tokens = max_tokens if max_tokens is not None else default_output_cap
    models = _one_model_per_tokenizer(
        litellm, [str((d.get("litellm_params") or {}).get("model", "")) for d in deployments]
    )
    input_tokens = max(
        # use_default_image_token_count: never fetch an image URL just to count its tokens.
        litellm.token_counter(model=m, messages=messages, tools=tools, use_default_image_token_count=True)
        for m in models
    )
    cost = 0.0
    for deployment in deployments:
        price = deployment_price(deployment)
        if price is not None:
            cost = max(cost, price[0] * input_tokens + price[1] * output_tokens)
    return Estimate(input_tokens=int(input_tokens), output_tokens=int(output_tokens), cost_usd=cost)


def _one_model_per_tokenizer(litellm: Any, models: list[str]) -> list[str]:
    """Counting tokens is the expensive part of an estimate: count once per distinct tokenizer."""
    if not models:
        return [""]
    if litellm.disable_hf_tokenizer_download:  # set by litellm_module(): every model uses tiktoken
        return models[:1]
    kind = getattr(litellm.utils, "huggingface_tokenizer_kind", None)
    if kind is None:
        return list(dict.fromkeys(models))
    return list({kind(m): m for m in reversed(models)}.values())


def check_prices(
    config: BudgetsConfig,
    agent_policies: Mapping[str, str | None],
    reachable: Mapping[str, Sequence[Mapping[str, Any]]],
) -> None:
    """Raise :class:`ConfigError` if an agent under a USD limit can reach a deployment with no price.

    A silent $0 would turn a hard dollar limit into no limit at all.
    """
    config.check_agents(agent_policies)
    for agent, deployments in reachable.items():
        usd_policies = [
            name
            for _, _, name in config.policies_for(agent, agent_policies.get(agent))
            if any(limit.usd is not None for limit in config.policies[name].limits)
        ]
        if not usd_policies:
            continue
        for deployment in deployments:
            if deployment_price(deployment) is None:
                raise ConfigError(
                    f"deployment {_label(deployment)} has no known price, but agent {agent!r} is under a USD "
                    f"limit (policy {usd_policies[0]!r}); set litellm_params.input_cost_per_token and "
                    "output_cost_per_token",
                    path=f"model_list.{deployment.get('model_name', '?')}.litellm_params",
                )
