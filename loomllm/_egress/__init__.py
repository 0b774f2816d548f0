"""The egress allowlist: which provider hosts an agent's requests may reach.

Three layers, all driven by one :class:`EgressPolicy` per agent:

* start-up: :func:`enforce_deployments` / :func:`check_deployments` check every deployment an agent
  can reach (provider default hosts from :func:`deployment_url`);
* per attempt: the Router's pre-call hook calls :func:`check_url` and enters :func:`egress_scope`;
* transport: :func:`install_transport_guard` checks the destination of every httpx and aiohttp
  request actually sent under a scope, redirects and environment base URLs included.

What LiteLLM does with an :class:`~loomllm.errors.EgressDenied` raised in the transport (LiteLLM
1.106.2, observed in ``tests/egress/test_guard.py``): on the aiohttp path (LiteLLM's default for
async OpenAI-compatible calls) aiohttp and LiteLLM's ``map_aiohttp_exceptions`` let it through, but
the OpenAI SDK catches it, retries, and raises ``openai.APIConnectionError`` from it, which LiteLLM
turns into ``litellm.APIConnectionError``. The original is reachable through the exception chain:
use :func:`find_egress_denied`, or read :attr:`EgressScope.denials`.
"""

from loomllm._egress.check import EgressVerdict, check_addresses, check_destination, check_url, egress_check
from loomllm._egress.config import AllowEntry, EgressConfig, EgressPolicy, parse_allow_entry
from loomllm._egress.guard import install_transport_guard, transport_guard_installed, uninstall_transport_guard
from loomllm._egress.hosts import DENIED_NETWORKS, PRIVATE_NAME_SUFFIXES, normalize_host
from loomllm._egress.providers import (
    PROVIDER_DEFAULTS,
    deployment_label,
    deployment_provider,
    deployment_url,
    deployment_urls,
)
from loomllm._egress.scope import (
    EgressScope,
    current_scope,
    egress_scope,
    find_egress_denied,
    scope_policy,
    use_scope,
)
from loomllm._egress.startup import DeploymentVerdict, EgressConfigWarning, check_deployments, enforce_deployments
from loomllm._egress.url import ParsedURL, URLError, parse_url, redact_url

__all__ = [
    "DENIED_NETWORKS",
    "PRIVATE_NAME_SUFFIXES",
    "PROVIDER_DEFAULTS",
    "AllowEntry",
    "DeploymentVerdict",
    "EgressConfig",
    "EgressConfigWarning",
    "EgressPolicy",
    "EgressScope",
    "EgressVerdict",
    "ParsedURL",
    "URLError",
    "check_addresses",
    "check_deployments",
    "check_destination",
    "check_url",
    "current_scope",
    "deployment_label",
    "deployment_provider",
    "deployment_url",
    "deployment_urls",
    "egress_check",
    "egress_scope",
    "enforce_deployments",
    "find_egress_denied",
    "install_transport_guard",
    "normalize_host",
    "parse_allow_entry",
    "parse_url",
    "redact_url",
    "scope_policy",
    "transport_guard_installed",
    "uninstall_transport_guard",
    "use_scope",
]
