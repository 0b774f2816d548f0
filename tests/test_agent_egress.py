"""Egress on the agent call path: fallbacks, environment base URLs, start-up refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loomllm import ConfigError, EgressDenied, Loom, ProviderUnavailable
from loomllm.testing import Reply, WireServer


@pytest.fixture
def forbidden() -> Iterator[WireServer]:
    """A server no agent may reach: every test asserts it received nothing."""
    with WireServer() as server:
        yield server
    assert [] == server.requests


def _config(allowed: WireServer, forbidden: WireServer, *, mode: str = "remove", allow_extra: str = "") -> str:
    return f"""
model_list:
  - model_name: primary
    litellm_params: {{model: openai/primary-model, api_base: "{allowed.openai_base}", api_key: sk-test}}
  - model_name: elsewhere
    litellm_params: {{model: openai/elsewhere-model, api_base: "{forbidden.openai_base}", api_key: sk-test}}
  - model_name: default-host
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-test}}
router_settings:
  num_retries: 0
  fallbacks: [{{primary: [elsewhere]}}]
loomllm:
  agents:
    worker: {{model: primary}}
    env_user: {{model: default-host}}
  egress:
    default: local
    on_denied_deployment: {mode}
    policies:
      local:
        allow: ["http://127.0.0.1:{allowed.port}"{allow_extra}]
"""


class TestFallbackChains:
    async def test_denied_fallback_is_refused_before_sending(self, tmp_path: Any, wire_server: WireServer,
                                                            forbidden: WireServer) -> None:
        """Primary fails, the fallback's host is not allowed: EgressDenied, and the host gets nothing."""
        path = tmp_path / "c.yaml"
        path.write_text(_config(wire_server, forbidden, allow_extra=', "api.openai.com"'))
        wire_server.route(Reply.status(503))
        with pytest.warns(UserWarning, match="removed"), Loom(path) as loom, pytest.raises(EgressDenied) as caught:
            await loom.agent("worker").chat("hi")
        assert "worker" == caught.value.agent and "127.0.0.1" == caught.value.host
        assert isinstance(caught.value.__cause__, Exception)  # the primary's failure, kept for context
        assert 1 == len(wire_server.requests)

    def test_startup_refuses_denied_deployments(self, tmp_path: Any, wire_server: WireServer,
                                                forbidden: WireServer) -> None:
        """With on_denied_deployment: error, a denied reachable deployment stops start-up."""
        path = tmp_path / "c.yaml"
        path.write_text(_config(wire_server, forbidden, mode="error", allow_extra=', "api.openai.com"'))
        with pytest.raises(ConfigError) as caught:
            Loom(path)
        assert "loomllm.agents.worker.egress" in str(caught.value)
        assert f"127.0.0.1:{forbidden.port}" in str(caught.value) or "127.0.0.1" in str(caught.value)


class TestEnvironmentBaseUrl:
    async def test_env_base_url_caught_at_transport(self, tmp_path: Any, wire_server: WireServer,
                                                    forbidden: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """OPENAI_BASE_URL set after start-up silently redirects a default-host deployment: refused."""
        path = tmp_path / "c.yaml"
        path.write_text(_config(wire_server, forbidden, allow_extra=', "api.openai.com"'))
        with pytest.warns(UserWarning), Loom(path) as loom:
            monkeypatch.setenv("OPENAI_BASE_URL", forbidden.openai_base)
            monkeypatch.setenv("OPENAI_API_BASE", forbidden.openai_base)
            with pytest.raises((EgressDenied, ProviderUnavailable)) as caught:
                await loom.agent("env_user").chat("hi")
        assert isinstance(caught.value, EgressDenied), repr(caught.value)

    def test_env_base_url_seen_at_startup(self, tmp_path: Any, wire_server: WireServer, forbidden: WireServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """A base URL already in the environment at start-up is part of the deployment's verdict."""
        monkeypatch.setenv("OPENAI_BASE_URL", forbidden.openai_base)
        path = tmp_path / "c.yaml"
        path.write_text(_config(wire_server, forbidden, allow_extra=', "api.openai.com"'))
        with pytest.warns(UserWarning), pytest.raises(ConfigError, match="env_user"):
            Loom(path)


class TestRemoveMode:
    async def test_removed_deployment_never_chosen(self, tmp_path: Any, wire_server: WireServer,
                                                   forbidden: WireServer) -> None:
        """In remove mode, a group's denied deployment is filtered out: every call lands on the allowed one."""
        path = tmp_path / "c.yaml"
        path.write_text(f"""
model_list:
  - model_name: g
    litellm_params: {{model: openai/ok-model, api_base: "{wire_server.openai_base}", api_key: sk-test}}
  - model_name: g
    litellm_params: {{model: openai/bad-model, api_base: "{forbidden.openai_base}", api_key: sk-test}}
router_settings: {{num_retries: 0}}
loomllm:
  agents: {{a: {{model: g}}}}
  egress:
    default: local
    on_denied_deployment: remove
    policies:
      local: {{allow: ["http://127.0.0.1:{wire_server.port}"]}}
""")
        with pytest.warns(UserWarning, match="removed"), Loom(path) as loom:
            for _ in range(20):
                await loom.agent("a").chat("hi")
        assert 20 == len(wire_server.requests)
