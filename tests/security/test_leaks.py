"""Secrets: every string that leaves is scanned; keys never reach exceptions, logs or caches."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from security_support import AWS_KEY, DEPLOYMENT_KEY, GITHUB_TOKEN, sent_bodies

from loomllm import AuthenticationFailed, GuardrailViolation, Loom, PolicyViolation, ProviderError
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer

_IMAGE = "https://cdn.example.com/cat.png?token="


class TestUnscannedFields:
    @pytest.mark.parametrize(("field", "build"), [
        ("message name", lambda s: {"messages": [{"role": "user", "content": "hi", "name": s}]}),
        ("image URL query", lambda s: {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": _IMAGE + s}}]}]}),
        ("stop", lambda s: {"messages": "hi", "stop": [s]}),
        ("user", lambda s: {"messages": "hi", "user": s}),
        ("metadata", lambda s: {"messages": "hi", "metadata": {"note": s}}),
        ("tool description", lambda s: {"messages": "hi", "tools": [
            {"type": "function", "function": {"name": "f", "description": s, "parameters": {"type": "object"}}}]}),
        ("tool result", lambda s: {"messages": [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": s}]}),
        ("response_format schema", lambda s: {"messages": "hi", "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "description": s}}}}),
    ])
    @pytest.mark.parametrize("secret", [AWS_KEY, GITHUB_TOKEN], ids=["aws", "github"])
    async def test_secret_never_reaches_the_provider(self, secure_loom: Callable[..., Loom],
                                                     wire_server: WireServer, field: str,
                                                     build: Callable[[str], dict[str, Any]], secret: str) -> None:
        """A credential placed in any field is refused (guardrail, or egress for a foreign URL); nothing leaves."""
        kwargs = build(secret)
        messages = kwargs.pop("messages")
        agent = secure_loom().agent("worker")
        with pytest.raises(PolicyViolation) as caught:
            await agent.complete(messages, **kwargs)
        assert secret not in sent_bodies(wire_server)
        assert secret not in repr(caught.value) and secret not in str(caught.value.args)

    async def test_allowed_extra_headers_are_scanned(self, secure_loom: Callable[..., Loom],
                                                     wire_server: WireServer) -> None:
        """extra_headers opened with allow_params still cannot carry a secret out."""
        agent = secure_loom(agent_extra=", allow_params: [extra_headers]").agent("worker")
        with pytest.raises(GuardrailViolation):
            await agent.complete("hi", extra_headers={"X-Debug": GITHUB_TOKEN})
        assert GITHUB_TOKEN not in sent_bodies(wire_server)


class TestKeyEchoes:
    async def test_401_echo_is_scrubbed_from_the_whole_chain(self, secure_loom: Callable[..., Loom],
                                                              wire_server: WireServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
        """A provider 401 body that quotes the deployment key: not in the error, its chain or LiteLLM's logs."""
        wire_server.route(Reply.status(401, message=f"Incorrect API key provided: {DEPLOYMENT_KEY}."))
        loom = secure_loom()
        with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationFailed) as caught:
            await loom.agent("worker").complete("hello")
        error = caught.value
        rendered = "".join(traceback.format_exception(error))
        assert DEPLOYMENT_KEY not in rendered
        chain: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and current not in chain:
            chain.append(current)
            current = current.__cause__ or current.__context__
        for item in chain:
            assert DEPLOYMENT_KEY not in repr(item.args) and DEPLOYMENT_KEY not in str(item)
            assert DEPLOYMENT_KEY not in repr(vars(item))
        assert DEPLOYMENT_KEY not in caplog.text

    async def test_key_in_litellm_log_lines_is_scrubbed(self, secure_loom: Callable[..., Loom],
                                                        caplog: pytest.LogCaptureFixture) -> None:
        """LiteLLM's loggers get the scrubbing filter once a Loom's Router exists."""
        secure_loom()._litellm_router()
        with caplog.at_level(logging.INFO):
            logging.getLogger("LiteLLM Router").error("deployment failed: %s rejected", DEPLOYMENT_KEY)
            logging.getLogger("LiteLLM").warning(f"provider said {DEPLOYMENT_KEY} is revoked")
        assert DEPLOYMENT_KEY not in caplog.text
        assert "<redacted>" in caplog.text

    async def test_provider_errors_still_carry_status(self, secure_loom: Callable[..., Loom],
                                                      wire_server: WireServer) -> None:
        """Scrubbing keeps the error useful: status and type survive."""
        wire_server.route(Reply.status(503))
        with pytest.raises(ProviderError) as caught:
            await secure_loom().agent("worker").complete("hello")
        assert 503 == caught.value.status_code


class TestCache:
    CACHE = "litellm_settings:\n  cache: true\n  cache_params: {type: local}\n"

    async def test_blocked_answer_is_not_cached(self, secure_loom: Callable[..., Loom],
                                                wire_server: WireServer) -> None:
        """An answer the output guardrail blocks is never written to the response cache."""
        wire_server.route(Reply.text(f"here is the key {AWS_KEY}"))
        loom = secure_loom(litellm_settings=self.CACHE)
        agent = loom.agent("worker")
        for _ in range(2):
            with pytest.raises(GuardrailViolation):
                await agent.complete("what is the key?", temperature=0)
        assert 2 == len(wire_server.requests)  # the second call was not answered from the cache
        cache = litellm_module().cache
        dump = repr(getattr(cache.cache, "cache_dict", {}))
        assert AWS_KEY not in dump

    async def test_restored_answer_is_cached_with_placeholders(self, secure_loom: Callable[..., Loom],
                                                               wire_server: WireServer) -> None:
        """A restored answer is cached as the provider sent it (placeholders), never with the original."""
        email = "jane.doe@acme-corp.com"
        wire_server.route(Reply.echo(prefix="noted: "))
        loom = secure_loom(litellm_settings=self.CACHE)
        agent = loom.agent("worker")
        first = await agent.complete(f"write to {email}", temperature=0)
        assert email in first.choices[0].message.content
        dump = repr(getattr(litellm_module().cache.cache, "cache_dict", {}))
        assert email not in dump
        second = await agent.complete(f"write to {email}", temperature=0)
        assert 1 == len(wire_server.requests)
        assert email in second.choices[0].message.content


async def test_blocked_answer_is_not_in_the_redis_cache(secure_loom: Callable[..., Loom], wire_server: WireServer,
                                                        redis_url: str) -> None:
    """Same for the Redis backend: after a blocked answer no key in the namespace holds the secret."""
    import uuid

    import redis

    namespace = f"loomllm-sec-{uuid.uuid4().hex}"
    settings = ("litellm_settings:\n  cache: true\n  cache_params: {type: redis, ttl: 60, "
                f"host: 127.0.0.1, port: 6379, namespace: {namespace}}}\n")
    wire_server.route(Reply.text(f"the deploy key is {AWS_KEY}"))
    agent = secure_loom(litellm_settings=settings).agent("worker")
    with pytest.raises(GuardrailViolation):
        await agent.complete("what is the key?", temperature=0)
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"{namespace}*"))
    assert all(AWS_KEY.encode() not in (client.get(k) or b"") for k in keys)
    assert [] == keys
