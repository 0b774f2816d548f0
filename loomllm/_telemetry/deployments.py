"""What telemetry needs to know about a deployment: provider, model and host, looked up by id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from loomllm.config import deployment_id

__all__ = ["DeploymentInfo", "Deployments"]

# LiteLLM provider prefixes -> GenAI semantic-convention provider names (gen_ai.provider.name).
_SEMCONV_PROVIDERS = {
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "mistral": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment, as metrics and spans label it."""

    group: str
    provider: str
    model: str
    host: str | None

    @property
    def semconv_provider(self) -> str:
        """The provider as ``gen_ai.provider.name`` spells it."""
        return _SEMCONV_PROVIDERS.get(self.provider, self.provider)


UNKNOWN = DeploymentInfo(group="unknown", provider="unknown", model="unknown", host=None)


class Deployments:
    """Deployment id -> :class:`DeploymentInfo`, plus the first deployment of each group."""

    def __init__(self, model_list: Sequence[Mapping[str, Any]]) -> None:
        self._by_id: dict[str, DeploymentInfo] = {}
        self._by_group: dict[str, DeploymentInfo] = {}
        for dep in model_list:
            info = _info(dep)
            self._by_id[deployment_id(dep)] = info
            self._by_group.setdefault(info.group, info)
        self.hosts = frozenset(info.host for info in self._by_id.values() if info.host)
        """The hosts of the configured deployments (the only hosts that may be metric labels)."""

    def lookup(self, deployment: str | None, group: str | None) -> DeploymentInfo:
        """The deployment that answered, else the first of the requested group, else ``unknown``."""
        if deployment is not None and deployment in self._by_id:
            return self._by_id[deployment]
        if group is not None and group in self._by_group:
            return self._by_group[group]
        return UNKNOWN


def _info(dep: Mapping[str, Any]) -> DeploymentInfo:
    params = dep.get("litellm_params") or {}
    model = str(params.get("model", "unknown"))
    provider, _, name = model.partition("/")
    if not name:
        provider, name = str(params.get("custom_llm_provider") or "openai"), model
    host = None
    if params.get("api_base"):
        try:
            host = urlsplit(str(params["api_base"])).hostname
        except ValueError:
            host = None
    return DeploymentInfo(group=str(dep.get("model_name")), provider=provider, model=name, host=host)
