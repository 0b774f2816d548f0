"""Where a LiteLLM deployment sends its requests when no ``api_base`` is configured.

LiteLLM's ``get_api_base`` returns ``None`` for several providers (anthropic, azure ...), so the
defaults are kept here, with the environment variables LiteLLM reads before falling back to them
(order as in LiteLLM 1.106.2). ``None`` means "cannot tell": the deployment needs an ``api_base``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROVIDER_DEFAULTS", "deployment_label", "deployment_provider", "deployment_url"]

_Params = Mapping[str, Any]
_Env = Mapping[str, str]
_ENV_PREFIX = "os.environ/"
_VERTEX_LOCATION = re.compile(r"^[a-z][a-z0-9-]*$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


@dataclass(frozen=True)
class ProviderDefault:
    """The environment variables LiteLLM consults for a provider's base URL, then its default."""

    env: tuple[str, ...]
    default: str | Callable[[_Params, _Env], str | None] | None


def _vertex(params: _Params, environ: _Env) -> str | None:
    location = str(params.get("vertex_location") or environ.get("VERTEXAI_LOCATION") or "us-central1")
    if not _VERTEX_LOCATION.match(location):
        return None
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if "-" not in location:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _bedrock(params: _Params, environ: _Env) -> str | None:
    endpoint = params.get("aws_bedrock_runtime_endpoint") or environ.get("AWS_BEDROCK_RUNTIME_ENDPOINT")
    if endpoint:
        return str(endpoint)
    arn_region = re.search(r"arn:aws[a-z-]*:bedrock:([a-z0-9-]+):", str(params.get("model") or ""))
    # LiteLLM's order (bedrock base_aws_llm._get_aws_region_name), ending in its default us-west-2;
    # the region of a boto3 profile (~/.aws/config) is not read here.
    region = params.get("aws_region_name") or (arn_region.group(1) if arn_region else None) or next(
        (environ[v] for v in ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION") if environ.get(v)), "us-west-2"
    )
    if not _AWS_REGION.match(str(region)):
        return None
    suffix = "amazonaws.com.cn" if str(region).startswith("cn-") else "amazonaws.com"
    return f"https://bedrock-runtime.{region}.{suffix}"


_OPENAI = ProviderDefault(("OPENAI_BASE_URL", "OPENAI_API_BASE"), "https://api.openai.com/v1")
_COHERE = ProviderDefault(("COHERE_API_BASE",), "https://api.cohere.com/v2/chat")
_OLLAMA = ProviderDefault(("OLLAMA_API_BASE",), "http://localhost:11434")

PROVIDER_DEFAULTS: Mapping[str, ProviderDefault] = {
    "openai": _OPENAI,
    "text-completion-openai": _OPENAI,
    "anthropic": ProviderDefault(("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"), "https://api.anthropic.com"),
    "gemini": ProviderDefault(("GEMINI_API_BASE",), "https://generativelanguage.googleapis.com"),
    "vertex_ai": ProviderDefault((), _vertex),
    "vertex_ai_beta": ProviderDefault((), _vertex),
    "azure": ProviderDefault(("AZURE_API_BASE",), None),
    "azure_text": ProviderDefault(("AZURE_API_BASE",), None),
    "azure_ai": ProviderDefault(("AZURE_AI_API_BASE",), None),
    "mistral": ProviderDefault(("MISTRAL_API_BASE",), "https://api.mistral.ai/v1"),
    "groq": ProviderDefault(("GROQ_API_BASE",), "https://api.groq.com/openai/v1"),
    "cohere": _COHERE,
    "cohere_chat": _COHERE,
    "together_ai": ProviderDefault(("TOGETHER_AI_API_BASE",), "https://api.together.ai/v1"),
    "deepseek": ProviderDefault(("DEEPSEEK_API_BASE",), "https://api.deepseek.com"),
    "xai": ProviderDefault(("XAI_API_BASE",), "https://api.x.ai/v1"),
    "fireworks_ai": ProviderDefault(("FIREWORKS_API_BASE",), "https://api.fireworks.ai/inference/v1"),
    "perplexity": ProviderDefault(("PERPLEXITY_API_BASE",), "https://api.perplexity.ai"),
    "openrouter": ProviderDefault(("OPENROUTER_API_BASE",), "https://openrouter.ai/api/v1"),
    "deepinfra": ProviderDefault(("DEEPINFRA_API_BASE",), "https://api.deepinfra.com/v1/openai"),
    "nvidia_nim": ProviderDefault(("NVIDIA_NIM_API_BASE",), "https://integrate.api.nvidia.com/v1"),
    "cerebras": ProviderDefault(("CEREBRAS_API_BASE",), "https://api.cerebras.ai/v1"),
    "bedrock": ProviderDefault((), _bedrock),
    "ollama": _OLLAMA,
    "ollama_chat": _OLLAMA,
    "hosted_vllm": ProviderDefault(("HOSTED_VLLM_API_BASE",), None),
    "openai_like": ProviderDefault(("OPENAI_LIKE_API_BASE",), None),
    "custom_openai": ProviderDefault((), None),
    "litellm_proxy": ProviderDefault(("LITELLM_PROXY_API_BASE",), None),
}


def deployment_provider(deployment: Mapping[str, Any]) -> str | None:
    """The LiteLLM provider of a deployment: ``custom_llm_provider`` or the model's prefix."""
    params = deployment.get("litellm_params") or {}
    explicit = params.get("custom_llm_provider")
    if explicit:
        return str(explicit)
    model = str(params.get("model") or "")
    prefix, sep, _ = model.partition("/")
    if sep and prefix in PROVIDER_DEFAULTS:
        return prefix
    return _provider_from_litellm(model)


def deployment_url(deployment: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> str | None:
    """The base URL a LiteLLM deployment dict talks to, or ``None`` when it cannot be determined.

    Order as in LiteLLM: ``api_base`` (or ``base_url``), then the provider's environment variables,
    then its default host. ``os.environ/NAME`` references are resolved against ``environ``.
    """
    env = os.environ if environ is None else environ
    params: _Params = deployment.get("litellm_params") or {}
    configured = params.get("api_base") or params.get("base_url")
    if configured:
        return _resolve_reference(str(configured), env)
    provider = deployment_provider(deployment)
    known = PROVIDER_DEFAULTS.get(provider or "")
    if known is None:
        return None
    for variable in known.env:
        if env.get(variable):
            return env[variable]
    if callable(known.default):
        return known.default(params, env)
    return known.default


def deployment_urls(
    deployment: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, global_base: str | None = None
) -> list[str]:
    """Every base URL LiteLLM may send a deployment's requests to: ``api_base`` *and* ``base_url``
    (code paths differ in which one wins), a module-wide ``litellm.api_base`` (``global_base``),
    else the provider's environment variable or default host. Empty when none can be determined.
    """
    env = os.environ if environ is None else environ
    params: _Params = deployment.get("litellm_params") or {}
    urls = [u for k in ("api_base", "base_url") if params.get(k) and (u := _resolve_reference(str(params[k]), env))]
    if global_base:
        urls.append(global_base)
    if urls:
        return list(dict.fromkeys(urls))
    fallback = deployment_url(deployment, environ=env)
    return [fallback] if fallback else []


def deployment_label(deployment: Mapping[str, Any]) -> str:
    """A name for a deployment in messages: its ``model_info.id``, else ``model_name (model)``."""
    info = deployment.get("model_info") or {}
    if info.get("id"):
        return str(info["id"])
    params = deployment.get("litellm_params") or {}
    return f"{deployment.get('model_name', '?')} ({params.get('model', '?')})"


def _resolve_reference(value: str, env: _Env) -> str | None:
    if value.startswith(_ENV_PREFIX):
        return env.get(value[len(_ENV_PREFIX) :]) or None
    return value


def _provider_from_litellm(model: str) -> str | None:
    """Ask LiteLLM which provider an unprefixed model name (``gpt-4o``, ``claude-...``) belongs to."""
    if not model:
        return None
    from loomllm._litellm import litellm_module

    litellm = litellm_module()
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model)
    except Exception:  # LiteLLM raises BadRequestError and others for unknown models
        return None
    return str(provider) if provider else None
