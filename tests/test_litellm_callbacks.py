"""Facts about LiteLLM's Router that loomllm's enforcement rests on (re-checked on every upgrade)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from loomllm._litellm import callbacks as _hooks
from loomllm._litellm import litellm_module
from loomllm.errors import EgressDenied
from loomllm.testing import Reply, WireServer


@pytest.fixture
def router(wire_server: WireServer) -> Iterator[Any]:
    """A bare Router: group 'first' falls back to group 'second', with retries."""
    litellm = litellm_module()
    model_list = [
        {"model_name": "first", "litellm_params": {"model": "openai/first-model", "api_base": wire_server.openai_base,
                                                   "api_key": "sk-test"}},
        {"model_name": "second", "litellm_params": {"model": "openai/second-model",
                                                    "api_base": wire_server.openai_base, "api_key": "sk-test"}},
    ]
    yield litellm.Router(model_list=model_list, fallbacks=[{"first": ["second"]}], num_retries=2, retry_after=0)


class _Handler:
    """An attempt handler that calls ``before_attempt`` with each attempt's final request."""

    def __init__(self, before_attempt: Callable[[dict[str, Any]], None]) -> None:
        self.before_attempt = before_attempt

    def before(self, kwargs: dict[str, Any], tag: Mapping[str, Any]) -> dict[str, Any] | None:
        self.before_attempt(kwargs)
        return None

    def failed(self, request: Mapping[str, Any], exception: Exception, fallback_depth: int | None,
               tag: Mapping[str, Any]) -> None:
        return None

    def filter(self, agent: str, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return deployments


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Register a callback that raises ``request.param`` on attempts to group 'first'."""
    error_factory = request.param

    def before_attempt(kwargs: dict[str, Any]) -> None:
        if kwargs["model"] == "openai/first-model":
            raise error_factory()

    callback = _hooks.make_callback("test-loom", _Handler(before_attempt))
    _hooks.register(callback)
    yield callback
    _hooks.unregister(callback)


def _tagged() -> dict[str, Any]:
    return _hooks.call_metadata("test-loom", "a", "c")


class TestPreCallHook:
    @pytest.mark.parametrize("hook", [lambda: RuntimeError("plain")], indirect=True)
    async def test_plain_exception_falls_back(self, router: Any, hook: Any, wire_server: WireServer) -> None:
        """A plain exception in async_pre_call_deployment_hook makes the Router fall back (so never use it)."""
        wire_server.route(Reply.text("from second"))
        response = await router.acompletion(model="first", messages=[{"role": "user", "content": "hi"}],
                                            metadata=_tagged())
        assert "from second" == response.choices[0].message.content
        assert ["second-model"] == [r.model for r in wire_server.requests]

    @pytest.mark.parametrize(
        "hook", [lambda: EgressDenied(agent="a", deployment="d", host="h", reason="r")], indirect=True
    )
    async def test_policy_stop_stops_everything(self, router: Any, hook: Any, wire_server: WireServer) -> None:
        """A loomllm error travels as GuardrailRaisedException: no retry, no fallback, zero requests."""
        with pytest.raises(Exception) as caught:
            await router.acompletion(model="first", messages=[{"role": "user", "content": "hi"}], metadata=_tagged())
        assert isinstance(_hooks.unwrap_stop(caught.value), EgressDenied)
        assert [] == wire_server.requests

    @pytest.mark.parametrize("hook", [lambda: RuntimeError("never raised")], indirect=True)
    async def test_other_looms_calls_are_ignored(self, router: Any, hook: Any, wire_server: WireServer) -> None:
        """A Loom's callback does nothing for calls that carry another Loom's tag (or none)."""
        await router.acompletion(model="first", messages=[{"role": "user", "content": "hi"}])
        assert ["first-model"] == [r.model for r in wire_server.requests]

    def test_sync_completion_skips_the_hook(self, router: Any, wire_server: WireServer) -> None:
        """Router.completion (sync) never runs the deployment hook: loomllm's sync API must not use it."""
        seen: list[str] = []
        callback = _hooks.make_callback("test-loom", _Handler(lambda kwargs: seen.append(kwargs["model"])))
        _hooks.register(callback)
        try:
            router.completion(model="first", messages=[{"role": "user", "content": "hi"}], metadata=_tagged())
        finally:
            _hooks.unregister(callback)
        assert [] == seen
        assert 1 == len(wire_server.requests)


def test_closing_a_loom_unhooks_its_router(make_loom: Any) -> None:
    """Each Router adds itself to LiteLLM's global callback lists (capped at 30): close() takes it out again."""
    litellm = litellm_module()

    def hooked() -> int:
        return sum(len(getattr(litellm, name)) for name in ("_async_success_callback", "_async_failure_callback",
                                                            "success_callback", "failure_callback", "callbacks"))

    before = hooked()
    for _ in range(5):
        loom = make_loom("agents: {a: {model: smart}}\n")
        loom._litellm_router()
        loom.close()
    assert before == hooked()
