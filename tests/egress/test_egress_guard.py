"""The transport guard against real httpx, aiohttp and LiteLLM traffic to local servers."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import pytest

from loomllm._egress import (
    EgressPolicy,
    current_scope,
    egress_scope,
    find_egress_denied,
    install_transport_guard,
    transport_guard_installed,
)
from loomllm._litellm import litellm_module
from loomllm.errors import EgressDenied, PolicyViolation

if TYPE_CHECKING:
    from tests.egress.conftest import LocalServer

pytestmark = pytest.mark.usefixtures("guard")

PROVIDERS = EgressPolicy(allow=["api.openai.com", "api.anthropic.com"])
MESSAGES = [{"role": "user", "content": "hi"}]


def allow_local(server: LocalServer) -> EgressPolicy:
    """A policy that allows exactly one local server (explicit loopback: http and private are fine)."""
    return EgressPolicy(allow=[f"127.0.0.1:{server.port}"], deny_private_networks=True, require_https=True)


class TestDirectClients:
    def test_httpx_sync_denied_before_connect(self, forbidden: LocalServer) -> None:
        """A sync httpx request to a refused host raises EgressDenied and opens no connection."""
        with (
            egress_scope(PROVIDERS, agent="planner", deployment="d1"),
            httpx.Client() as client,
            pytest.raises(EgressDenied) as info,
        ):
            client.get(f"{forbidden.url}/v1?key=SECRET")
        assert (0, []) == (forbidden.connections, forbidden.requests)
        assert ("planner", "d1", "127.0.0.1") == (info.value.agent, info.value.deployment, info.value.host)
        assert "SECRET" not in str(info.value)

    async def test_httpx_async_denied_before_connect(self, forbidden: LocalServer) -> None:
        """An async httpx request to a refused host raises EgressDenied and opens no connection."""
        with egress_scope(PROVIDERS, agent="planner"):
            async with httpx.AsyncClient() as client:
                with pytest.raises(EgressDenied):
                    await client.post(f"{forbidden.url}/v1/chat/completions", json={})
        assert 0 == forbidden.connections

    async def test_aiohttp_denied_before_connect(self, forbidden: LocalServer) -> None:
        """An aiohttp request to a refused host raises EgressDenied and opens no connection."""
        with egress_scope(PROVIDERS, agent="planner"):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(EgressDenied):
                    await session.get(f"{forbidden.url}/")
        assert 0 == forbidden.connections

    def test_allowed_request_goes_through(self, forbidden: LocalServer) -> None:
        """A request the policy allows is sent normally."""
        with egress_scope(allow_local(forbidden)), httpx.Client() as client:
            assert 200 == client.post(f"{forbidden.url}/v1/chat/completions", json={}).status_code
        assert 1 == len(forbidden.requests)

    def test_userinfo_refused_even_on_allowed_host(self, forbidden: LocalServer) -> None:
        """A URL carrying credentials is refused even when its host is allowed."""
        url = f"http://user:pw@127.0.0.1:{forbidden.port}/"
        with (
            egress_scope(allow_local(forbidden)),
            httpx.Client() as client,
            pytest.raises(EgressDenied, match="userinfo") as info,
        ):
            client.get(url)
        assert "pw" not in str(info.value)
        assert 0 == forbidden.connections

    async def test_aiohttp_userinfo_refused(self, forbidden: LocalServer) -> None:
        """aiohttp strips userinfo before connecting; the guard still refuses the URL as given."""
        with egress_scope(allow_local(forbidden)):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(EgressDenied, match="userinfo"):
                    await session.get(f"http://user:pw@127.0.0.1:{forbidden.port}/")
        assert 0 == forbidden.connections


class TestProxies:
    def test_httpx_proxy_must_be_allowed(self, forbidden: LocalServer) -> None:
        """A proxy receives every byte: an httpx proxy not on the allowlist is refused."""
        with (
            egress_scope(PROVIDERS),
            httpx.Client(proxy=forbidden.url) as client,
            pytest.raises(EgressDenied, match="proxy"),
        ):
            client.get("https://api.openai.com/v1/models")
        assert forbidden.connections == 0

    async def test_aiohttp_proxy_must_be_allowed(self, forbidden: LocalServer) -> None:
        """The same for an aiohttp proxy (LiteLLM's aiohttp transport reads HTTPS_PROXY)."""
        with egress_scope(PROVIDERS):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(EgressDenied, match="proxy"):
                    await session.get("https://api.openai.com/v1/models", proxy=forbidden.url)
        assert forbidden.connections == 0

    def test_allowed_proxy_over_plain_http(self, forbidden: LocalServer) -> None:
        """An allowlisted proxy may be plain http (TLS to the target runs through it)."""
        policy = EgressPolicy(allow=["127.0.0.1", f"127.0.0.1:{forbidden.port}"])
        with egress_scope(policy), httpx.Client(proxy=forbidden.url) as client:
            assert client.get("http://127.0.0.1/x").status_code == 200
        assert forbidden.requests == ["GET http://127.0.0.1/x"]


class TestNoScope:
    def test_no_scope_allows(self, forbidden: LocalServer) -> None:
        """Outside any egress scope the guard lets requests through (other code is unaffected)."""
        assert current_scope() is None
        with httpx.Client() as client:
            assert 200 == client.get(f"{forbidden.url}/").status_code
        assert 1 == len(forbidden.requests)

    async def test_no_scope_allows_aiohttp(self, forbidden: LocalServer) -> None:
        """Outside any scope aiohttp requests are unaffected too."""
        async with aiohttp.ClientSession() as session, session.get(f"{forbidden.url}/") as response:
            assert 200 == response.status

    def test_scope_with_no_policy_allows(self, forbidden: LocalServer) -> None:
        """A scope whose policy is None (agent without egress policy) allows everything."""
        with egress_scope(None, agent="free"), httpx.Client() as client:
            assert 200 == client.get(f"{forbidden.url}/").status_code

    def test_install_is_idempotent(self) -> None:
        """Installing twice patches once."""
        import httpx as h

        method = h.HTTPTransport.handle_request
        install_transport_guard()
        assert method is h.HTTPTransport.handle_request
        assert transport_guard_installed()

    def test_custom_resolver(self, forbidden: LocalServer) -> None:
        """A process-wide default policy can come from the resolver instead of a scope."""
        install_transport_guard(lambda: PROVIDERS)
        with httpx.Client() as client, pytest.raises(EgressDenied):
            client.get(f"{forbidden.url}/")
        assert 0 == forbidden.connections


class TestRedirects:
    def test_httpx_sync_second_hop_refused(self, redirector: LocalServer, forbidden: LocalServer) -> None:
        """httpx follows a redirect to a refused host: the second hop is refused before connecting."""
        with (
            egress_scope(allow_local(redirector)),
            httpx.Client(follow_redirects=True) as client,
            pytest.raises(EgressDenied),
        ):
            client.post(f"{redirector.url}/v1/chat/completions", json={})
        assert 1 == len(redirector.requests)
        assert 0 == forbidden.connections

    async def test_httpx_async_second_hop_refused(self, redirector: LocalServer, forbidden: LocalServer) -> None:
        """The same for the async httpx client."""
        with egress_scope(allow_local(redirector)):
            async with httpx.AsyncClient(follow_redirects=True) as client:
                with pytest.raises(EgressDenied):
                    await client.get(f"{redirector.url}/x")
        assert 1 == len(redirector.requests)
        assert 0 == forbidden.connections

    async def test_aiohttp_second_hop_refused(self, redirector: LocalServer, forbidden: LocalServer) -> None:
        """aiohttp follows redirects internally; every hop passes the connector check."""
        with egress_scope(allow_local(redirector)):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(EgressDenied):
                    await session.get(f"{redirector.url}/x")
        assert 1 == len(redirector.requests)
        assert 0 == forbidden.connections


class TestResolveDns:
    @pytest.fixture
    def rebinding(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make ``rebind.example`` resolve to a private address (what a rebinding attacker does)."""
        real = socket.getaddrinfo

        def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "rebind.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
            if host == "gone.example":
                raise socket.gaierror(socket.EAI_NONAME, "not found")
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", fake)

    @pytest.mark.usefixtures("rebinding")
    def test_sync_rebinding_refused(self) -> None:
        """An allowed name that resolves into a private network is refused when resolve_dns is on."""
        policy = EgressPolicy(allow=["rebind.example"], resolve_dns=True)
        with egress_scope(policy), httpx.Client() as client, pytest.raises(EgressDenied, match="private"):
            client.get("https://rebind.example/")

    @pytest.mark.usefixtures("rebinding")
    async def test_async_rebinding_refused(self) -> None:
        """The same through aiohttp, which resolves in the event loop's executor."""
        policy = EgressPolicy(allow=["rebind.example"], resolve_dns=True)
        with egress_scope(policy):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(EgressDenied, match="private"):
                    await session.get("https://rebind.example/")

    @pytest.mark.usefixtures("rebinding")
    def test_explicit_network_allows_resolved_private_address(self) -> None:
        """Listing the private network as well allows the name to resolve into it."""
        from loomllm._egress.guard import _check_resolved

        policy = EgressPolicy(allow=["rebind.example", "10.0.0.0/8"], resolve_dns=True)
        _check_resolved("rebind.example", socket.getaddrinfo("rebind.example", 443), policy)

    @pytest.mark.usefixtures("rebinding")
    def test_unresolvable_refused(self) -> None:
        """A name that does not resolve is refused (fail closed)."""
        policy = EgressPolicy(allow=["gone.example"], resolve_dns=True)
        with egress_scope(policy), httpx.Client() as client, pytest.raises(EgressDenied, match="resolve"):
            client.get("https://gone.example/")

    async def test_localhost_resolves_to_loopback(self, forbidden: LocalServer) -> None:
        """An explicitly allowed ``localhost`` may resolve to loopback under resolve_dns."""
        policy = EgressPolicy(allow=[f"localhost:{forbidden.port}"], resolve_dns=True)
        with egress_scope(policy):
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://localhost:{forbidden.port}/")
        assert 200 == response.status_code


class TestLiteLLM:
    """What LiteLLM 1.106.2 does with an EgressDenied raised in its transport (documented for the lead)."""

    async def test_acompletion_api_base(self, forbidden: LocalServer) -> None:
        """acompletion to a refused api_base: wrapped in litellm.InternalServerError, EgressDenied in the chain."""
        litellm = litellm_module()
        with (
            egress_scope(PROVIDERS, agent="planner", deployment="d1") as scope,
            pytest.raises(litellm.InternalServerError) as info,
        ):
            await litellm.acompletion(
                model="openai/gpt-4o-mini",
                api_key="sk-test",
                messages=MESSAGES,
                api_base=f"{forbidden.url}/v1",
                max_retries=0,
            )
        assert 0 == forbidden.connections
        assert not isinstance(info.value, PolicyViolation)
        assert isinstance(info.value, litellm.InternalServerError)
        denied = find_egress_denied(info.value)
        assert denied is not None and ("planner", "d1") == (denied.agent, denied.deployment)
        assert [denied] == scope.denials

    async def test_openai_sdk_retries_a_denial(self, forbidden: LocalServer) -> None:
        """With the OpenAI SDK's default retries the transport refuses three times; nothing is sent."""
        litellm = litellm_module()
        with egress_scope(PROVIDERS, agent="planner") as scope, pytest.raises(litellm.InternalServerError):
            await litellm.acompletion(
                model="openai/gpt-4o-mini", api_key="sk-test", messages=MESSAGES, api_base=f"{forbidden.url}/v1"
            )
        assert 3 == len(scope.denials)
        assert 0 == forbidden.connections

    async def test_env_base_url(self, forbidden: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """OPENAI_BASE_URL pointing at a refused host is caught in the transport."""
        monkeypatch.setenv("OPENAI_BASE_URL", f"{forbidden.url}/v1")
        litellm = litellm_module()
        with egress_scope(PROVIDERS, agent="planner"), pytest.raises(litellm.InternalServerError) as info:
            await litellm.acompletion(model="openai/gpt-4o-mini", api_key="sk-test", messages=MESSAGES, max_retries=0)
        assert find_egress_denied(info.value) is not None
        assert 0 == forbidden.connections

    def test_sync_completion_env_base_url(self, forbidden: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """The sync path (httpx transport) is guarded too."""
        monkeypatch.setenv("OPENAI_BASE_URL", f"{forbidden.url}/v1")
        litellm = litellm_module()
        with egress_scope(PROVIDERS, agent="planner"), pytest.raises(litellm.InternalServerError) as info:
            litellm.completion(model="openai/gpt-4o-mini", api_key="sk-test", messages=MESSAGES, max_retries=0)
        assert find_egress_denied(info.value) is not None
        assert 0 == forbidden.connections

    async def test_anthropic_path(self, forbidden: LocalServer) -> None:
        """LiteLLM's own Anthropic handler (no OpenAI SDK) wraps the denial the same way."""
        litellm = litellm_module()
        with egress_scope(PROVIDERS, agent="planner"), pytest.raises(litellm.InternalServerError) as info:
            await litellm.acompletion(
                model="anthropic/claude-3-5-haiku-latest",
                api_key="sk-test",
                messages=MESSAGES,
                api_base=forbidden.url,
                max_retries=0,
            )
        assert find_egress_denied(info.value) is not None
        assert 0 == forbidden.connections

    async def test_allowed_local_server_answers(self, forbidden: LocalServer) -> None:
        """Under a policy that allows the server, the same call succeeds (the guard is not in the way)."""
        litellm = litellm_module()
        with egress_scope(allow_local(forbidden)):
            response = await litellm.acompletion(
                model="openai/gpt-4o-mini",
                api_key="sk-test",
                messages=MESSAGES,
                api_base=f"{forbidden.url}/v1",
                max_retries=0,
            )
        assert "hi" == response.choices[0].message.content
