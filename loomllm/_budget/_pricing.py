"""Prices and worst-case estimates, from LiteLLM's bundled cost map plus per-deployment overrides."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomllm.errors import ConfigError

from .config import BudgetsConfig, model_family

__all__ = [
    "Estimate",
    "Price",
    "PricingPlan",
    "Usage",
    "check_prices",
    "deployment_cost",
    "deployment_price",
    "estimate_call",
    "price_table",
    "pricing_plan",
    "prompt_token_bound",
    "provider_of",
    "quick_estimate",
]

NANO = 1_000_000_000
"""Stores count dollars in nano-dollars, so every counter is an exact integer."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a call actually consumed, as reported after it finished."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    cache_hit: bool = False
    deployment: str | None = None
    """The id of the deployment that answered (per-model budgets charge its group); ``None``: unknown."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A call's worst case, reserved before it is sent."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    routes: tuple[tuple[str, str], ...] = ()
    """``(deployment id, model group)`` of every deployment the call can land on, primary group first."""

    def amount(self, unit: str) -> int:
        """The estimate in a store unit (USD rounded up to the nano-dollar)."""
        if unit == "usd":
            return math.ceil(self.cost_usd * NANO)
        return _token_amount(unit, self.input_tokens, self.output_tokens)

    def groups(self) -> list[str]:
        """The model groups the call can reach, primary first, each once."""
        return list(dict.fromkeys(group for _, group in self.routes))


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token of one deployment, and where that price came from."""

    input: float
    output: float
    source: str
    """``yaml`` (``input_cost_per_token``/``output_cost_per_token`` in the config) or ``cost map: <key>``."""

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for this many tokens: the one pricing formula of estimates, streamed and plain calls."""
        return self.input * input_tokens + self.output * output_tokens


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


def _catalog() -> Mapping[str, Mapping[str, Any]]:
    """LiteLLM's cost map as loaded, before any Router or ``register_model`` call changed it.

    ``litellm.model_cost`` itself is not usable: building a Router registers every deployment,
    unpriced ones at $0, so a check made after the Router exists would see a price of $0 where
    there is none.
    """
    from loomllm._litellm import litellm_module

    litellm_module()
    from litellm.litellm_core_utils.get_model_cost_map import GetModelCostMap

    catalog: Mapping[str, Mapping[str, Any]] = GetModelCostMap.loaded_model_cost_map()
    return catalog or GetModelCostMap.load_local_model_cost_map()


# Route segments that pick an API, not a model (bedrock/converse/..., bedrock/invoke/...).
_ROUTE_SEGMENTS = ("converse/", "invoke/")


def _candidates(model: str, provider: str | None) -> list[str]:
    """Cost-map keys that may price ``model``: as written, without its provider prefix (and route
    segment), with the provider. Region prefixes (``apac.``, ``eu.``) are never dropped: regional
    inference profiles may cost more than the base model."""
    out = [model]
    _, sep, rest = model.partition("/")
    if sep:
        out.append(rest)
        for route in _ROUTE_SEGMENTS:
            if rest.startswith(route):
                out.append(rest[len(route) :])
    if provider and not model.startswith(provider + "/"):
        out.append(f"{provider}/{model}")
    return out


def _map_price(model: str, provider: str | None) -> tuple[float, float, str] | None:
    catalog = _catalog()
    for key in _candidates(model, provider):
        entry = catalog.get(key)
        if entry is None:
            continue
        inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(inp, int | float) and (inp > 0 or (isinstance(out, int | float) and out > 0)):
            return float(inp), float(out or 0.0), key
        return None  # listed at $0 or without a price: not a price a dollar limit can trust
    return None


def _yaml_price(deployment: Mapping[str, Any]) -> tuple[float | None, float | None]:
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    info: Mapping[str, Any] = deployment.get("model_info") or {}
    inp = params.get("input_cost_per_token", info.get("input_cost_per_token"))
    out = params.get("output_cost_per_token", info.get("output_cost_per_token"))
    return inp, out


def deployment_price(deployment: Mapping[str, Any]) -> Price | None:
    """The price of a ``model_list`` entry, or ``None`` when no trustworthy price is known.

    Prices set in YAML (``input_cost_per_token`` / ``output_cost_per_token`` in ``litellm_params``
    or ``model_info``; an explicit 0 is allowed, for local models) win over LiteLLM's cost map.
    A cost-map entry counts only when it is non-zero: LiteLLM lists some current models at $0.
    ``model_info.base_model`` names the priced model for deployments with private names (Azure).
    """
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    info: Mapping[str, Any] = deployment.get("model_info") or {}
    inp, out = _yaml_price(deployment)
    if inp is not None and out is not None:
        return Price(float(inp), float(out), "yaml")
    provider = params.get("custom_llm_provider")
    for model in (info.get("base_model"), params.get("base_model"), params.get("model")):
        if not model:
            continue
        found = _map_price(str(model), provider)
        if found is not None:
            map_in, map_out, key = found
            source = f"cost map: {key}" if inp is None and out is None else f"yaml + cost map: {key}"
            return Price(map_in if inp is None else float(inp), map_out if out is None else float(out), source)
    return None


def deployment_cost(deployment: Mapping[str, Any], input_tokens: int, output_tokens: int) -> float:
    """USD for this many tokens on this deployment: the one pricing function of streamed and plain calls.

    Raises :class:`ConfigError` if the deployment has no price.
    """
    price = deployment_price(deployment)
    if price is None:
        raise ConfigError(
            f"deployment {_label(deployment)} has no known price; set "
            "litellm_params.input_cost_per_token and output_cost_per_token"
        )
    return price.cost(input_tokens, output_tokens)


def price_table(deployments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per deployment: its group, model, USD per million input/output tokens and the price's source.

    Unpriced deployments have ``None`` prices and source ``unknown`` (an agent under a USD limit
    cannot reach them). Meant for ``loomllm check``.
    """
    rows: list[dict[str, Any]] = []
    for deployment in deployments:
        params = deployment.get("litellm_params") or {}
        price = deployment_price(deployment)
        rows.append(
            {
                "model_name": str(deployment.get("model_name", "?")),
                "model": str(params.get("model", "?")),
                "input_usd_per_mtok": None if price is None else round(price.input * 1e6, 6),
                "output_usd_per_mtok": None if price is None else round(price.output * 1e6, 6),
                "source": "unknown" if price is None else price.source,
            }
        )
    return rows


def provider_of(deployment: Mapping[str, Any]) -> str:
    """The LiteLLM provider of a deployment (``openai``, ``anthropic``...), for its input safety factor."""
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    if params.get("custom_llm_provider"):
        return str(params["custom_llm_provider"])
    model = str(params.get("model", ""))
    head, sep, _ = model.partition("/")
    if sep:
        return head
    from loomllm._litellm import litellm_module

    try:
        return str(litellm_module().get_llm_provider(model)[1])
    except Exception:  # LiteLLM raises a bare Exception subclass for unknown models
        return "*"


@dataclass(frozen=True, slots=True)
class PricingPlan:
    """What an estimate needs of an agent's deployments, worked out once (they do not change while it lives).

    ``models``: one model per tokenizer (the prompt is counted with each); per deployment, its input safety
    factor, price and ``(id, model group)`` route. Prices are read when the plan is made (an agent's first
    call): YAML prices and the cost map as loaded, which ``register_model`` calls made later do not change.
    """

    models: tuple[str, ...]
    factors: tuple[float, ...]
    prices: tuple[Price | None, ...]
    routes: tuple[tuple[str, str], ...]

    def estimate(self, counted: int, output_tokens: int) -> Estimate:
        """The worst case of a prompt of ``counted`` tokens (before safety factors) and ``output_tokens``."""
        input_tokens = math.ceil(counted * max(self.factors, default=1.0))
        cost = 0.0
        for factor, price in zip(self.factors, self.prices, strict=True):
            if price is not None:
                cost = max(cost, price.cost(math.ceil(counted * factor), output_tokens))
        return Estimate(int(input_tokens), int(output_tokens), cost, self.routes)


def pricing_plan(deployments: Sequence[Mapping[str, Any]], config: BudgetsConfig | None = None) -> PricingPlan:
    """The :class:`PricingPlan` of ``deployments`` under ``config``'s safety factors."""
    from loomllm._litellm import litellm_module

    budgets = config or BudgetsConfig()
    models = _one_model_per_tokenizer(
        litellm_module(), [str((d.get("litellm_params") or {}).get("model", "")) for d in deployments]
    )
    routes = tuple((str((d.get("model_info") or {}).get("id", "")), str(d.get("model_name", ""))) for d in deployments)
    return PricingPlan(tuple(models), tuple(_input_safety(budgets, d) for d in deployments),
                       tuple(deployment_price(d) for d in deployments), routes)


def estimate_call(
    messages: list[dict[str, Any]],
    *,
    deployments: Sequence[Mapping[str, Any]],
    max_tokens: int | None,
    default_output_cap: int,
    tools: list[dict[str, Any]] | None = None,
    config: BudgetsConfig | None = None,
    plan: PricingPlan | None = None,
) -> Estimate:
    """The worst case of one call, over every deployment it can reach.

    Input: the prompt's token count (largest among the deployments' tokenizers) times the
    deployment's safety factor, by provider and model family (providers bill more input tokens than
    tiktoken counts; see ``DEFAULT_INPUT_SAFETY``);
    output: the cap. Priced at the most expensive reachable deployment. Unpriced deployments add
    no dollars here; :func:`check_prices` refuses them wherever a USD limit applies. ``plan``: the
    deployments' :func:`pricing_plan`, if the caller keeps one.
    """
    plan = plan or pricing_plan(deployments, config)
    output_tokens = max_tokens if max_tokens is not None else default_output_cap
    counted = max(prompt_token_bound(m, messages, tools) for m in plan.models)
    return plan.estimate(counted, output_tokens)


#: Message keys whose values LiteLLM counts with a formula of its own: messages with them are counted exactly.
_COUNTED_APART = frozenset({"tool_calls", "function_call", "search_results"})
#: Above this many characters the quick bound is not tried: LiteLLM extrapolates counts of huge texts.
_QUICK_MAX_CHARS = 1_000_000


def quick_estimate(
    messages: list[dict[str, Any]], *, plan: PricingPlan, max_tokens: int | None, default_output_cap: int
) -> Estimate | None:
    """An upper bound of :func:`estimate_call` that needs no tokenizer, or ``None`` where none is cheap.

    Every model here is counted with a byte-level BPE (tiktoken's ``cl100k_base`` / ``o200k_base``), in
    which no token is shorter than one UTF-8 byte: a text's byte length bounds its count. Message framing is
    bounded as LiteLLM counts it at most (4 per message, 1 per name, 3 for the reply), and every key's bytes
    are counted too (text parts' keys and ``type`` included), so the bound also covers
    :func:`_conservative_tokens`, the count of prompts LiteLLM refuses to count. Only plain messages (string
    values, text parts with string fields only, each text within LiteLLM's exact-count length) are bounded;
    tool calls, media and tool definitions are counted exactly.
    Counting a new 2 KB prompt with the tokenizer costs 100-160 µs in a busy process (its tables fall out
    of the CPU caches between calls); this costs about 1 µs. The reservation holds the bound; the ledger
    counts exactly when the bound does not fit (:meth:`BudgetLedger.reserve`).
    """
    from loomllm._litellm.tokens import byte_bounded, exact_count_chars

    if not all(byte_bounded(model) for model in plan.models):
        return None
    longest = min(_QUICK_MAX_CHARS, exact_count_chars())  # past it LiteLLM extrapolates from samples
    counted = _PER_REPLY
    chars = 0
    for message in messages:
        if not isinstance(message, Mapping):
            return None
        counted += _PER_MESSAGE
        for key, value in message.items():
            if key in _COUNTED_APART:
                return None  # LiteLLM counts these its own way (and refuses some shapes): count exactly
            counted += _utf8_length(str(key))
            if value is None:
                continue
            texts: list[str]
            if isinstance(value, str):
                texts = [value]
                counted += 1 if key == "name" else 0
            elif key == "content" and isinstance(value, list):
                parts = _text_parts_strings(value)
                if parts is None:
                    return None  # media, documents, thinking blocks: counted exactly
                texts = parts
            else:
                return None  # tool calls and whatever LiteLLM may count otherwise
            for text in texts:
                if len(text) > longest:
                    return None
                chars += len(text)
                counted += _utf8_length(text)
        if chars > _QUICK_MAX_CHARS:
            return None
    return plan.estimate(counted, max_tokens if max_tokens is not None else default_output_cap)


def _utf8_length(text: str) -> int:
    """The UTF-8 byte length of ``text`` (an ASCII text's is its length: ``isascii`` reads a flag)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _text_parts_strings(parts: list[Any]) -> list[str] | None:
    """Every key and string value of ``parts`` if all are text parts with string values only, else ``None``."""
    strings: list[str] = []
    for part in parts:
        if not (isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)):
            return None
        for key, item in part.items():
            if not isinstance(key, str) or not (item is None or isinstance(item, str)):
                return None  # cache_control and other structured fields: counted exactly
            strings.append(key)
            if item is not None:
                strings.append(item)
    return strings


def prompt_token_bound(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """The prompt's tokens by ``model``'s tokenizer: LiteLLM's count, or an upper bound where it cannot count.

    LiteLLM's ``token_counter`` raises a bare ``ValueError`` on content it does not know (``input_audio``
    and ``video_url`` parts, nested lists, an image with a bad ``detail``). Such a prompt is counted
    conservatively instead (:func:`_conservative_tokens`): a reservation may be too large, never too small.
    """
    from loomllm._litellm.tokens import prompt_tokens

    try:
        # LiteLLM's count with use_default_image_token_count: never fetch an image URL just to count its tokens.
        return prompt_tokens(model, messages, tools)
    except (ValueError, TypeError, KeyError, AttributeError):
        return _conservative_tokens(model, messages, tools)


#: Framing LiteLLM counts per message (3, or 4 for gpt-3.5-turbo-0301), per reply and for a tools block.
_PER_MESSAGE, _PER_REPLY, _PER_TOOLS = 4, 3, 9


def _conservative_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """An upper bound of what the provider counts, for content LiteLLM cannot count.

    Every string in the messages, keys included, is counted on its own with the model's tokenizer
    (LiteLLM counts a subset of those same strings: texts, roles, names, tool-call arguments), plus
    LiteLLM's default image count for every content part that is not text (images, files, audio,
    video: what it counts for an image it does not fetch), plus the tool definitions as LiteLLM counts
    them. Audio and video parts carry their data as base64 text, which holds far more tokens than a
    provider bills for the seconds it encodes (25-32 audio tokens a second at OpenAI and Gemini).
    """
    from loomllm._litellm.tokens import default_image_tokens, prompt_tokens, text_tokens

    media = sum(1 for part in _content_parts(messages) if part.get("type") != "text")
    counted = sum(text_tokens(model, text) for text in _strings_in(messages) if text)
    counted += media * default_image_tokens() + _PER_MESSAGE * len(messages)
    try:
        return counted + prompt_tokens(model, [], tools)  # the tool definitions as LiteLLM counts them, and the reply
    except (ValueError, TypeError, KeyError, AttributeError):
        return counted + sum(text_tokens(model, text) for text in _strings_in(tools) if text) + _PER_REPLY + _PER_TOOLS


def _strings_in(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a JSON-like value (mapping keys and values, list items), depth-first."""
    if isinstance(value, str):
        yield value
    elif depth > 64:  # deeper than any real message: counted as its text, never recursed into without end
        yield str(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings_in(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings_in(item, depth + 1)
    elif value is not None and not isinstance(value, bool | int | float):
        yield str(value)  # an object LiteLLM would have to serialize: at least its text


def _content_parts(messages: list[dict[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every content part of every message (a mapping), nested lists flattened."""
    stack: list[Any] = [m.get("content") for m in messages if isinstance(m, Mapping)]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, Mapping):
            yield item


def _input_safety(config: BudgetsConfig, deployment: Mapping[str, Any]) -> float:
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    info: Mapping[str, Any] = deployment.get("model_info") or {}
    names = (info.get("base_model"), params.get("base_model"), params.get("model"))
    family = next((f for name in names if name and (f := model_family(str(name)))), None)
    return config.input_safety(provider_of(deployment), family)


def _one_model_per_tokenizer(litellm: Any, models: list[str]) -> list[str]:
    """Counting tokens is the expensive part of an estimate: count once per distinct tokenizer.

    With HF downloads off every model is counted with tiktoken, but not with one encoding: a bare
    ``gpt-4o`` gets o200k_base, everything else cl100k_base, and o200k_base counts up to 4.9x fewer
    tokens on Indic scripts (bench/token_disagreement.py). A call that can reach both is counted with
    both, and the larger count is reserved, which the safety factors are measured against.
    """
    if not models:
        return [""]
    if litellm.disable_hf_tokenizer_download:  # set by litellm_module(): every model uses tiktoken
        counter = getattr(getattr(litellm, "litellm_core_utils", None), "token_counter", None)
        encoding_of = getattr(counter, "openai_tokenizer_encoding_name", None)
        if encoding_of is None:
            return list(dict.fromkeys(models))
        return list({encoding_of(m): m for m in reversed(models)}.values())
    kind = getattr(litellm.utils, "huggingface_tokenizer_kind", None)
    if kind is None:
        return list(dict.fromkeys(models))
    return list({kind(m): m for m in reversed(models)}.values())


def _has_usd(config: BudgetsConfig, policy: str) -> bool:
    return any(limit.usd is not None for limit in config.policies[policy].limits)


def check_prices(
    config: BudgetsConfig,
    agent_policies: Mapping[str, str | None],
    reachable: Mapping[str, Sequence[Mapping[str, Any]]],
) -> None:
    """Raise :class:`ConfigError` if an agent under a USD limit can reach a deployment with no price.

    A silent $0 would turn a hard dollar limit into no limit at all. The check reads LiteLLM's cost
    map as loaded, so it gives the same answer before and after a Router exists.
    """
    config.check_agents(agent_policies)
    for agent, deployments in reachable.items():
        names = [name for _, _, name in config.policies_for(agent, agent_policies.get(agent))]
        names += [p for scope in config.scopes.values() for p in (scope.default, *scope.keys.values()) if p]
        for deployment in deployments:
            group = config.models.get(str(deployment.get("model_name")))
            usd_policies = [n for n in [*names, *([group] if group else [])] if _has_usd(config, n)]
            if not usd_policies:
                continue
            if deployment_price(deployment) is None:
                raise ConfigError(
                    f"deployment {_label(deployment)} has no known non-zero price in LiteLLM's cost map, but "
                    f"agent {agent!r} is under a USD limit (policy {usd_policies[0]!r}); set "
                    "litellm_params.input_cost_per_token and output_cost_per_token (0 for a free local model)",
                    path=f"model_list.{deployment.get('model_name', '?')}.litellm_params",
                )
