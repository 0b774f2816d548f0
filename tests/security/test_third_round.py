"""A third round of attacks (an adversarial review of the second round's fixes): each one got through before it.

The ``xfail(strict=True)`` ones still do: their fix belongs to a module outside the attempt/egress/params
layer, and each reason says where and how.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from security_support import (
    AWS_KEY,
    DEPLOYMENT_KEY,
    GITHUB_TOKEN,
    Redirector,
    priced_config,
    secure_config,
    sent_bodies,
)

from loomllm import EgressDenied, ForbiddenParameter, Loom, LoomError, PolicyViolation, ProviderError
from loomllm.testing import Reply, WireServer

SecureLoom = Callable[..., Loom]


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name the C resolver was asked for during the test (below any wrapper of ``socket``'s)."""
    import _socket

    seen: list[str] = []
    original = _socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(host.decode() if isinstance(host, bytes) else str(host))
        return original(host, *args, **kwargs)

    monkeypatch.setattr(_socket, "getaddrinfo", recording)
    return seen


class TestRetriesAfterProcessedAttempts:
    # gpt-4o, a few prompt tokens and the 20 output tokens the reservation covers
    WORST_PER_ATTEMPT = 5 * 2.5e-6 + 20 * 1e-5

    async def test_retries_of_timed_out_attempts_do_not_multiply_the_bill(self, tmp_path: Path,
                                                                          wire_server: WireServer) -> None:
        """``num_retries=5`` after a timeout: the provider may run each retry, so the budget never
        sees more delivered attempts than it could have been charged for (was 24 requests for 4 charges)."""
        path = tmp_path / "c.yaml"
        path.write_text(priced_config(wire_server))
        wire_server.route(Reply.text("word " * 20).with_latency(0.3))
        errors: list[type[LoomError]] = []
        with Loom(path) as loom:
            agent = loom.agent("spender")
            for _ in range(8):
                try:
                    await agent.complete("plan the launch", timeout=0.1, num_retries=5)
                except LoomError as error:
                    errors.append(type(error))
            [status] = [s for s in await agent.budget_status() if s.unit == "usd"]
        assert len(wire_server.requests) * self.WORST_PER_ATTEMPT <= 0.001 + self.WORST_PER_ATTEMPT
        assert status.spent > 0
        assert issubclass(errors[0], ProviderError) and not issubclass(errors[0], PolicyViolation)

    async def test_unbudgeted_agents_still_retry_timeouts(self, tmp_path: Path, wire_server: WireServer) -> None:
        """Without a budget there is no reservation to protect: retries after a timeout are sent as before."""
        path = tmp_path / "c.yaml"
        path.write_text(priced_config(wire_server).replace(", budget: tiny", ""))
        # The timeout leaves a loaded machine time to send each attempt; the answer comes far later.
        wire_server.route(Reply.text("word").with_latency(0.8))
        with Loom(path) as loom, pytest.raises(ProviderError):
            await loom.agent("spender").complete("plan the launch", timeout=0.3, num_retries=2)
        assert 3 == len(wire_server.requests)

    async def test_fallback_after_a_timed_out_attempt_is_charged_or_refused(self, tmp_path: Path,
                                                                             wire_server: WireServer) -> None:
        """A primary that timed out (and may have billed) and a fallback that answers: both fit the limit."""
        models = (f'  - model_name: backup\n    litellm_params: {{model: openai/gpt-4o-2024-08-06, '
                  f'api_base: "{wire_server.openai_base}", api_key: sk-test-123456789}}\n')
        path = tmp_path / "c.yaml"
        path.write_text(priced_config(wire_server, models=models, router=", fallbacks: [{priced: [backup]}]",
                                       agent_extra=", timeout: 0.1"))
        wire_server.route(Reply.text("word " * 20).with_latency(0.3), model="gpt-4o")
        wire_server.route(Reply.text("word " * 20), model="gpt-4o-2024-08-06")
        with Loom(path) as loom:
            agent = loom.agent("spender")
            for _ in range(8):
                with contextlib.suppress(LoomError):
                    await agent.complete("plan the launch")
        assert len(wire_server.requests) * self.WORST_PER_ATTEMPT <= 0.001 + self.WORST_PER_ATTEMPT


class TestWorstCaseNames:
    @pytest.mark.parametrize("extra_body", [{"options": {"num_predict": 5000}}, {"max_gen_len": 5000},
                                            {"textGenerationConfig": {"maxTokenCount": 5000}},
                                            {"max_length": 5000}, {"numResults": 16}, {"num_completions": 16}],
                             ids=["ollama", "bedrock-llama", "bedrock-titan", "hf", "ai21-choices", "choices"])
    async def test_provider_specific_caps_in_an_allowed_extra_body(self, secure_loom: SecureLoom,
                                                                   wire_server: WireServer,
                                                                   extra_body: dict[str, Any]) -> None:
        """Output caps and choice counts under the names Ollama, Bedrock, Hugging Face and AI21 use are counted."""
        agent = secure_loom(agent_extra=", allow_params: [extra_body]").agent("worker")
        with pytest.raises(ForbiddenParameter):
            await agent.complete("hi", extra_body=extra_body)
        assert [] == wire_server.requests


class TestServerSideTools:
    @pytest.mark.parametrize(("model", "tool"), [
        ("gemini/gemini-2.0-flash", {"googleSearch": {}}),
        ("gemini/gemini-2.0-flash", {"google_search_retrieval": {}}),
        ("anthropic/claude-haiku-4-5", {"type": "web_search_20250305", "name": "web_search", "max_uses": 50}),
        ("anthropic/claude-haiku-4-5", {"type": "code_execution_20250522", "name": "code_execution"}),
        ("openai/gpt-4o-mini", {"type": "web_search_preview"}),
        ("openai/gpt-4o-mini", {"type": "mcp", "server_label": "x", "server_url": "https://mcp.invalid/sse"}),
    ], ids=["gemini-search", "gemini-retrieval", "anthropic-search", "anthropic-code", "openai-search", "mcp"])
    async def test_provider_billed_tools_are_refused(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                     model: str, tool: dict[str, Any]) -> None:
        """Server-side tools (search, code execution, MCP) are billed per use, outside token prices (and
        MCP makes LiteLLM itself connect to ``server_url``): only function tools pass the allowlist."""
        base = {"gemini": wire_server.gemini_base, "anthropic": wire_server.anthropic_base}.get(
            model.split("/")[0], wire_server.openai_base)
        loom = secure_loom(primary=f'{{model: {model}, api_base: "{base}", api_key: {DEPLOYMENT_KEY}}}')
        with pytest.raises(ForbiddenParameter, match="tools"):
            await loom.agent("worker").complete("search the web", tools=[tool])
        assert [] == wire_server.requests

    async def test_function_tools_still_pass(self, secure_loom: SecureLoom, wire_server: WireServer) -> None:
        """Plain function tools (and the legacy ``functions``) are what an agent needs: still accepted."""
        tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        agent = secure_loom().agent("worker")
        await agent.complete("hi", tools=[tool])
        await agent.complete("hi", functions=[{"name": "lookup", "parameters": {"type": "object"}}])
        assert 2 == len(wire_server.requests)

    @pytest.mark.parametrize("modalities", [["image"], ["text", "audio"], {"audio": True}])
    async def test_non_text_output_modalities_are_refused(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                          modalities: Any) -> None:
        """Image or audio output is priced per image/second, not by the text token price the budget uses."""
        with pytest.raises(ForbiddenParameter, match="modalities"):
            await secure_loom().agent("worker").complete("draw a cat", modalities=modalities)
        assert [] == wire_server.requests


class TestErrorsNameNoValue:
    @pytest.mark.parametrize("key", [GITHUB_TOKEN, DEPLOYMENT_KEY, "x" * 300])
    async def test_a_parameter_name_that_is_a_secret_is_not_echoed(self, secure_loom: SecureLoom,
                                                                   wire_server: WireServer, key: str) -> None:
        """``complete(**user_options)`` with a key that is itself a secret: the error does not repeat it."""
        with pytest.raises(ForbiddenParameter) as caught:
            await secure_loom().agent("worker").complete("hi", **{key: 1})
        assert key not in str(caught.value)
        assert key not in repr(caught.value.args)
        assert key not in caught.value.parameter
        assert [] == wire_server.requests

    async def test_ordinary_parameter_names_are_still_named(self, secure_loom: SecureLoom) -> None:
        """The usual keys are named as they are: the error must say which one to fix."""
        with pytest.raises(ForbiddenParameter, match="'extra_body'"):
            await secure_loom().agent("worker").complete("hi", extra_body={})


class TestNoLookupOfForbiddenHosts:
    async def test_image_host_redirecting_to_a_forbidden_name(self, tmp_path: Path, wire_server: WireServer,
                                                              lookups: list[str]) -> None:
        """An allowed image host answering 302 to another name: LiteLLM's URL validator resolved that
        name (a DNS lookup the policy does not allow) before the transport guard saw the next hop."""
        redirector = Redirector("http://forbidden-name.invalid/cat.png", status=302, keep_path=False)
        try:
            primary = (f'{{model: gemini/gemini-2.0-flash, api_base: "{wire_server.gemini_base}", '
                       f'api_key: {DEPLOYMENT_KEY}}}')
            allowed = f'"http://127.0.0.1:{wire_server.port}"'
            text = secure_config(wire_server, primary=primary).replace(
                f"allow: [{allowed}]", f'allow: [{allowed}, "http://127.0.0.1:{redirector.port}"]')
            path = tmp_path / "c.yaml"
            path.write_text(text)
            from loomllm._litellm import litellm_module

            litellm = litellm_module()
            previous = getattr(litellm, "user_url_allowed_hosts", [])
            # LiteLLM refuses loopback image hosts unless allowed; a public CDN needs no such setting.
            litellm.user_url_allowed_hosts = [f"127.0.0.1:{redirector.port}"]
            try:
                with Loom(path) as loom:
                    image = {"type": "image_url", "image_url": {"url": f"http://127.0.0.1:{redirector.port}/c.png"}}
                    with contextlib.suppress(LoomError):
                        await loom.agent("worker").complete([{"role": "user", "content": [
                            {"type": "text", "text": "look"}, image]}])
            finally:
                litellm.user_url_allowed_hosts = previous
        finally:
            redirector.close()
        assert "forbidden-name.invalid" not in lookups

    def test_lookups_outside_an_agent_call_are_untouched(self, lookups: list[str]) -> None:
        """The DNS guard applies only inside a call with an egress policy: other code resolves as before."""
        from loomllm._egress import install_transport_guard

        install_transport_guard()
        with contextlib.suppress(OSError):
            socket.getaddrinfo("exfil.invalid", 80)
        assert "exfil.invalid" in lookups

    @pytest.mark.parametrize("lookup", [lambda: socket.getaddrinfo("exfil.invalid", 443),
                                        lambda: socket.gethostbyname("exfil.invalid"),
                                        lambda: socket.gethostbyname_ex(b"exfil.invalid")],
                             ids=["getaddrinfo", "gethostbyname", "gethostbyname_ex"])
    def test_lookup_of_a_forbidden_name_inside_a_call_is_refused(self, lookups: list[str],
                                                                 lookup: Callable[[], Any]) -> None:
        """Any library resolving a name the policy does not allow, inside the call's scope, is refused
        (as a resolver error, so that the library fails as it would offline) and the denial recorded."""
        from loomllm._egress import EgressPolicy, EgressScope, install_transport_guard, use_scope

        install_transport_guard()
        policy = EgressPolicy(allow=("https://api.openai.com",))
        with use_scope(EgressScope(policy=policy, agent="a")) as scope, pytest.raises(socket.gaierror):
            lookup()
        assert [] == lookups
        assert ["exfil.invalid"] == [d.host for d in scope.denials]
        with use_scope(EgressScope(policy=policy, agent="a")):
            with contextlib.suppress(OSError):
                socket.getaddrinfo("api.openai.com", 443)  # allowed: may fail offline, but is not refused
            with contextlib.suppress(OSError):
                socket.getaddrinfo("127.0.0.1", 443)  # address literals need no lookup


class TestSettingsChangedAfterStartUp:
    @pytest.fixture
    def proxy_mode(self, monkeypatch: pytest.MonkeyPatch, wire_server: WireServer,
                   forbidden: WireServer) -> Callable[[str], None]:
        """Turn on LiteLLM's "send everything to a LiteLLM proxy" mode, pointing at the forbidden server."""
        from loomllm._litellm import litellm_module

        monkeypatch.setenv("OPENAI_BASE_URL", wire_server.openai_base)  # the deployment's host: allowed

        def switch(how: str) -> None:
            monkeypatch.setenv("LITELLM_PROXY_API_BASE", forbidden.openai_base)
            if how == "env":
                monkeypatch.setenv("USE_LITELLM_PROXY", "True")
            else:
                monkeypatch.setattr(litellm_module(), "use_litellm_proxy", True)

        return switch

    @pytest.mark.parametrize("stream", [False, True])
    @pytest.mark.parametrize("how", ["env", "module"])
    async def test_litellm_proxy_mode_is_refused_by_the_attempt(self, secure_loom: SecureLoom,
                                                                 wire_server: WireServer, stream: bool, how: str,
                                                                 proxy_mode: Callable[[str], None]) -> None:
        """``USE_LITELLM_PROXY`` (or ``litellm.use_litellm_proxy``) set after start-up reroutes a deployment
        without ``api_base`` to ``LITELLM_PROXY_API_BASE``: the attempt refuses it (not only the transport)."""
        agent = secure_loom(primary=f"{{model: openai/gpt-4o-mini, api_key: {DEPLOYMENT_KEY}}}").agent("worker")
        await agent.complete("before")
        proxy_mode(how)
        with pytest.raises(EgressDenied) as caught:
            if stream:
                async for _ in agent.stream("after"):
                    pass
            else:
                await agent.complete("after")
        assert caught.value.deployment is not None  # refused by the attempt check, before any client ran
        assert 1 == len(wire_server.requests)


class TestLegacyErrors:
    @pytest.mark.parametrize("base_url", ["https://app:S3cretPassw0rd-xyz@llm.example/v1",
                                          f"https://llm.example/v1?api-key={GITHUB_TOKEN}"], ids=["userinfo", "query"])
    def test_refused_base_url_is_not_quoted_with_its_credentials(self, secure_loom: SecureLoom,
                                                                 base_url: str) -> None:
        """An old client's own ``base_url`` is refused; the error does not repeat the password or token in it."""
        import warnings

        from loomllm.legacy import OpenAIProvider

        loom = secure_loom()
        with warnings.catch_warnings(), pytest.raises(ValueError) as caught:
            warnings.simplefilter("ignore")
            OpenAIProvider(base_url=base_url, loom=loom)
        assert "S3cretPassw0rd" not in str(caught.value) and GITHUB_TOKEN not in str(caught.value)


class TestAbandonedStreams:
    async def test_abandoned_streams_cannot_outspend_the_limit(self, tmp_path: Path, wire_server: WireServer) -> None:
        """A consumer that reads one chunk and leaves: the provider produced (and bills) the whole answer."""
        path = tmp_path / "c.yaml"
        path.write_text(priced_config(wire_server, max_tokens=300, limit="tokens: 2000"))
        wire_server.route(Reply.text("word " * 200))
        with Loom(path) as loom:
            agent = loom.agent("spender")
            for _ in range(20):
                with contextlib.suppress(PolicyViolation):
                    stream = agent.stream("go")
                    async for _chunk in stream:
                        break
                    await stream.aclose()  # type: ignore[attr-defined]
        produced = 200 * len(wire_server.requests)  # the wire server's usage: one token per word
        assert produced <= 2000 + 300


class TestTypedParameters:
    @pytest.mark.parametrize("cache", [{"ttl": GITHUB_TOKEN}, {"s-maxage": "soon"}, {"ttl": float("nan")},
                                       {"no-store": "no"}, {"no-cache": 0}, {"ttl": -5}])
    async def test_cache_control_values_are_typed(self, secure_loom: SecureLoom, wire_server: WireServer,
                                                  cache: dict[str, Any]) -> None:
        """``cache`` is not scanned (it never reaches the provider) but reaches the cache client and
        LiteLLM's logs: its values are typed and bounded, like every other parameter."""
        with pytest.raises(ForbiddenParameter, match="cache") as caught:
            await secure_loom().agent("worker").complete("hi", cache=cache)
        assert GITHUB_TOKEN not in str(caught.value)
        assert [] == wire_server.requests

    async def test_usual_cache_controls_pass(self, secure_loom: SecureLoom, wire_server: WireServer) -> None:
        """Freshness controls as LiteLLM documents them still work."""
        agent = secure_loom().agent("worker")
        await agent.complete("hi", cache={"ttl": 60, "no-cache": True})
        await agent.complete("hi", cache={"s-maxage": 0.5, "no-store": False})
        assert 2 == len(wire_server.requests)


class TestModerationCalls:
    @pytest.mark.parametrize("stream", [False, True])
    async def test_answer_secrets_do_not_reach_the_moderation_model(self, tmp_path: Path, wire_server: WireServer,
                                                                    stream: bool) -> None:
        """An answer holding a key and an e-mail address: blocked or redacted for the caller, and never
        sent on to the moderation provider either."""
        with WireServer() as moderation:
            text = secure_config(wire_server, extra_models=(
                f"  - model_name: moderation\n    litellm_params: {{model: openai/omni-moderation-latest, "
                f'api_base: "{moderation.openai_base}", api_key: {DEPLOYMENT_KEY}}}\n'))
            allowed = f'"http://127.0.0.1:{wire_server.port}"'
            text = text.replace(f"allow: [{allowed}]", f'allow: [{allowed}, "http://127.0.0.1:{moderation.port}"]')
            text += "  output_policy:\n    default: safe\n    policies: {safe: {moderation: {model: moderation}}}\n"
            path = tmp_path / "c.yaml"
            path.write_text(text)
            moderation.route(Reply.moderation({"violence": 0.0}), api="moderations")
            wire_server.route(Reply.text(f"the key is {AWS_KEY}, mail bob.smith@example.com"))
            with Loom(path) as loom:
                agent = loom.agent("worker")
                with contextlib.suppress(PolicyViolation):
                    if stream:
                        async for _ in agent.stream("hi"):
                            pass
                    else:
                        await agent.complete("hi")
            sent = sent_bodies(moderation)
        assert AWS_KEY not in sent
        assert "bob.smith@example.com" not in sent


class TestEncodedSecretsBehindPadding:
    @pytest.mark.parametrize("padding", ["base64 words", "dates"])
    async def test_base64_secret_after_many_harmless_candidates(self, secure_loom: SecureLoom,
                                                                wire_server: WireServer, padding: str) -> None:
        """32 harmless base64 words (1.5 KB) or 4,001 dates in front of a base64-encoded key: still blocked."""
        import base64

        prefix = {
            "base64 words": " ".join(base64.b64encode(f"just some harmless words number {i}".encode()).decode()
                                     for i in range(33)),
            "dates": "on 2024-05-01 " * 4001,
        }[padding]
        encoded = base64.b64encode(f"aws_access_key_id={AWS_KEY}".encode()).decode()
        loom = secure_loom()
        with pytest.raises(PolicyViolation):
            await loom.agent("worker").complete(prefix + " " + encoded)
        assert [] == wire_server.requests


class TestAnswerFields:
    @pytest.mark.parametrize("stream", [False, True])
    @pytest.mark.parametrize("field", ["name", "id"])
    async def test_secret_in_a_tool_call_name_or_id_is_not_delivered(self, secure_loom: SecureLoom,
                                                                     wire_server: WireServer, stream: bool,
                                                                     field: str) -> None:
        """A model that puts a key in a tool call's name or id: the caller does not receive it."""
        from loomllm.testing import ToolCall

        call = ToolCall(AWS_KEY, {}) if field == "name" else ToolCall("lookup", {}, call_id=AWS_KEY)
        wire_server.route(Reply.tool_calls(call))
        tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        agent = secure_loom().agent("worker")
        delivered = ""
        with contextlib.suppress(PolicyViolation):
            if stream:
                async for chunk in agent.stream("call it", tools=[tool]):
                    delivered += str(chunk)
            else:
                delivered = str(await agent.complete("call it", tools=[tool]))
        assert AWS_KEY not in delivered


class TestStructuredOutput:
    async def test_remote_ref_in_a_json_schema_is_not_fetched(self, secure_loom: SecureLoom,
                                                              wire_server: WireServer) -> None:
        """``agent.json(schema=...)`` with ``$ref`` to another host: validating the answer fetches nothing."""
        wire_server.route(Reply.json({"a": 1}))
        with WireServer() as elsewhere:
            schema = {"type": "object", "properties": {"a": {"$ref": f"{elsewhere.url}/schema.json"}}}
            with contextlib.suppress(Exception):
                await secure_loom().agent("worker").json("give json", schema=schema)
            assert [] == elsewhere.requests
