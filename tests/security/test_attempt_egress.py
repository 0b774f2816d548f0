"""Egress on the request that leaves: base URLs, module globals, redirects, message URLs, streams, fallbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from security_support import DEPLOYMENT_KEY, Redirector

from loomllm import EgressDenied, Loom, LoomError, PolicyViolation
from loomllm._litellm import litellm_module
from loomllm.testing import Reply, WireServer


def _primary(wire_server: WireServer, extra: str = "") -> str:
    return f'{{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: {DEPLOYMENT_KEY}{extra}}}'


def _fallback_models(base: str, extra: str = "") -> str:
    return (f"  - model_name: backup\n    litellm_params: {{model: openai/backup-model, api_base: \"{base}\", "
            f"api_key: {DEPLOYMENT_KEY}{extra}}}\n")


@pytest.fixture
def module_api_base(forbidden: WireServer) -> Iterator[None]:
    """``litellm.api_base`` set by some other code in the process, pointing at the forbidden host."""
    litellm = litellm_module()
    previous = litellm.api_base
    litellm.api_base = forbidden.openai_base
    yield
    litellm.api_base = previous


async def _consume(loom: Loom, stream: bool) -> None:
    agent = loom.agent("worker")
    if stream:
        async for _ in agent.stream("hello"):
            pass
    else:
        await agent.complete("hello")


class TestBaseURLs:
    @pytest.mark.parametrize("stream", [False, True])
    def test_base_url_differing_from_allowed_api_base_is_refused_at_start(
        self, secure_loom: Callable[..., Loom], wire_server: WireServer, forbidden: WireServer, stream: bool
    ) -> None:
        """A deployment with an allowed api_base and a forbidden base_url is refused (LiteLLM may use either)."""
        with pytest.raises(LoomError):
            loom = secure_loom(primary=_primary(wire_server, f', base_url: "{forbidden.openai_base}"'))
            loom.agent("worker").complete_sync("hello")

    @pytest.mark.parametrize("stream", [False, True])
    async def test_module_api_base_is_refused(self, secure_loom: Callable[..., Loom], wire_server: WireServer,
                                              forbidden: WireServer, module_api_base: None, stream: bool) -> None:
        """``litellm.api_base`` overrides deployments for some providers: an attempt under it is refused."""
        loom = secure_loom()
        with pytest.raises(EgressDenied):
            await _consume(loom, stream)
        assert [] == wire_server.requests

    @pytest.mark.parametrize("stream", [False, True])
    async def test_redirect_to_forbidden_host_is_not_followed(
        self, tmp_path: Any, wire_server: WireServer, forbidden: WireServer, redirector: Redirector, stream: bool
    ) -> None:
        """An allowed host answering 307 to another host: the second hop never connects (key stays home)."""
        from security_support import secure_config

        text = secure_config(wire_server, primary=_primary(wire_server).replace(wire_server.openai_base,
                                                                                redirector.base))
        text = text.replace(f"http://127.0.0.1:{wire_server.port}", f"http://127.0.0.1:{redirector.server.server_address[1]}")
        path = tmp_path / "r.yaml"
        path.write_text(text)
        with Loom(path) as loom, pytest.raises(LoomError):
            await _consume(loom, stream)
        assert redirector.hits >= 1


class TestStreamFallbacks:
    """LiteLLM falls back while the caller iterates when a stream fails before its first chunk."""

    @pytest.mark.parametrize("variant", ["base_url", "redirect", "module_api_base"])
    async def test_mid_stream_fallback_cannot_leave(self, tmp_path: Any, wire_server: WireServer,
                                                    forbidden: WireServer, redirector: Redirector,
                                                    variant: str) -> None:
        """Primary stream cut before its first chunk; the fallback's real destination is forbidden: refused."""
        from security_support import secure_config

        if variant == "redirect":
            models = _fallback_models(redirector.base)
            allow_port = redirector.server.server_address[1]
        else:
            extra = f', base_url: "{forbidden.openai_base}"' if variant == "base_url" else ""
            models = _fallback_models(wire_server.openai_base, extra)
            allow_port = None
        text = secure_config(wire_server, extra_models=models, router="  fallbacks: [{primary: [backup]}]\n")
        if allow_port:
            text = text.replace(f'allow: ["http://127.0.0.1:{wire_server.port}"]',
                                f'allow: ["http://127.0.0.1:{wire_server.port}", "http://127.0.0.1:{allow_port}"]')
        path = tmp_path / "s.yaml"
        path.write_text(text)
        wire_server.route(Reply.cut_stream(after_chunks=0), model="gpt-4o-mini")
        litellm = litellm_module()
        previous = litellm.api_base
        try:
            loom = Loom(path)
        except LoomError:
            return  # refused at start-up: nothing could leave
        try:
            agent = loom.agent("worker")
            stream = agent.stream("hello")
            if variant == "module_api_base":
                litellm.api_base = forbidden.openai_base
            with pytest.raises(EgressDenied):
                async for _ in stream:
                    pass
        finally:
            litellm.api_base = previous
            loom.close()


class TestMessageURLs:
    @pytest.mark.parametrize("part", [
        {"type": "image_url", "image_url": {"url": "{base}/cat.png"}},
        {"type": "image_url", "image_url": "{base}/cat.png"},
        {"type": "file", "file": {"file_id": "{base}/doc.pdf"}},
    ])
    async def test_url_to_forbidden_host_refused_before_any_lookup(
        self, secure_loom: Callable[..., Loom], wire_server: WireServer, forbidden: WireServer,
        part: dict[str, Any]
    ) -> None:
        """A message part naming a URL on a forbidden host is refused before LiteLLM fetches or resolves it."""
        import json

        base = forbidden.openai_base.replace("127.0.0.1", "localhost")
        filled = json.loads(json.dumps(part).replace("{base}", base))
        messages = [{"role": "user", "content": [{"type": "text", "text": "look"}, filled]}]
        with pytest.raises(EgressDenied):
            await secure_loom().agent("worker").complete(messages)
        assert [] == wire_server.requests


class TestRouterAccess:
    def test_loom_has_no_public_router(self, secure_loom: Callable[..., Loom]) -> None:
        """The Router is not part of the public face: ``loom.router`` does not exist."""
        assert not hasattr(secure_loom(), "router")

    async def test_direct_router_requests_are_refused(self, secure_loom: Callable[..., Loom],
                                                      wire_server: WireServer, forbidden: WireServer) -> None:
        """Reaching for the private Router does not bypass the policies: untagged requests are refused."""
        router = secure_loom()._litellm_router()
        with pytest.raises(Exception) as caught:
            await router.acompletion(model="primary", messages=[{"role": "user", "content": "hi"}],
                                     api_base=forbidden.openai_base)
        from loomllm._litellm.callbacks import unwrap_stop

        assert isinstance(unwrap_stop(caught.value), PolicyViolation)
        assert [] == wire_server.requests

    async def test_forged_call_tag_is_refused(self, secure_loom: Callable[..., Loom], wire_server: WireServer) -> None:
        """Copying an agent's metadata tag onto a direct Router request does not make it an agent call."""
        from loomllm._litellm.callbacks import call_metadata, unwrap_stop

        loom = secure_loom()
        with pytest.raises(Exception) as caught:
            await loom._litellm_router().acompletion(model="primary", messages=[{"role": "user", "content": "hi"}],
                                                     metadata=call_metadata(loom.id, "worker", "forged"))
        assert isinstance(unwrap_stop(caught.value), PolicyViolation)
        assert [] == wire_server.requests


class TestStartupVerdicts:
    def test_base_url_is_part_of_the_verdict(self, tmp_path: Any, wire_server: WireServer,
                                             forbidden: WireServer) -> None:
        """api_base allowed, base_url forbidden: start-up refuses it (``check`` would say denied too)."""
        from security_support import secure_config

        from loomllm import ConfigError

        path = tmp_path / "b.yaml"
        path.write_text(secure_config(wire_server, primary=_primary(wire_server,
                                                                    f', base_url: "{forbidden.openai_base}"')))
        with pytest.raises(ConfigError, match="denied"):
            Loom(path)

    def test_litellm_settings_api_base_is_part_of_the_verdict(self, tmp_path: Any, wire_server: WireServer,
                                                              forbidden: WireServer) -> None:
        """``litellm_settings.api_base`` overrides deployments for some providers: start-up refuses it."""
        from security_support import secure_config

        from loomllm import ConfigError

        path = tmp_path / "g.yaml"
        path.write_text(secure_config(wire_server,
                                      litellm_settings=f'litellm_settings:\n  api_base: "{forbidden.openai_base}"\n'))
        with pytest.raises(ConfigError, match="denied"):
            Loom(path)

    def test_check_reports_the_base_url(self, tmp_path: Any, wire_server: WireServer, forbidden: WireServer) -> None:
        """``loomllm check`` names the deployment as denied instead of reporting it allowed."""
        from security_support import secure_config

        from loomllm._check import run_check

        path = tmp_path / "c.yaml"
        path.write_text(secure_config(wire_server, primary=_primary(wire_server,
                                                                    f', base_url: "{forbidden.openai_base}"')))
        report = run_check(str(path))
        assert not report.ok and any("denied" in problem for problem in report.problems)
