"""The LiteLLM callback through which loomllm sees every Router attempt.

LiteLLM runs ``async_pre_call_deployment_hook`` once per attempt (retries and fallbacks included)
after a deployment is chosen and before any byte is sent. A plain exception raised there makes
the Router retry and fall back; only ``GuardrailRaisedException`` (or a subclass) stops the call.
So policy errors travel through the Router wrapped in :class:`PolicyStop` and are unwrapped by
the caller. ``log_pre_api_call`` swallows exceptions, so nothing is enforced there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from loomllm._litellm import litellm_module
from loomllm.errors import LoomError, PolicyViolation

# Request metadata keys that attribute every attempt to a Loom, an agent and a call. Flat string
# values on purpose: LiteLLM copies nested metadata values on every call (about 150 µs here).
METADATA_LOOM = "loomllm_loom"
METADATA_AGENT = "loomllm_agent"
METADATA_CALL = "loomllm_call_id"
METADATA_ROUTER = "loomllm_router"


def router_metadata(loom_id: str) -> dict[str, str]:
    """Metadata the Loom's Router adds to every request (``default_litellm_params``): marks its own requests."""
    return {METADATA_ROUTER: loom_id}


def call_metadata(loom_id: str, agent: str, call_id: str) -> dict[str, str]:
    """The metadata entries a call carries so that callbacks can attribute each attempt."""
    return {METADATA_LOOM: loom_id, METADATA_AGENT: agent, METADATA_CALL: call_id}


def stop_exception_type() -> type[Exception]:
    """The exception class that carries a loomllm error through the Router without fallback."""
    global _STOP_TYPE
    if _STOP_TYPE is None:
        from litellm.exceptions import GuardrailRaisedException

        class PolicyStop(GuardrailRaisedException):  # type: ignore[misc]
            """Carries a loomllm error (``.error``) through the Router, which never falls back on it."""

            def __init__(self, error: LoomError) -> None:
                self.error = error
                super().__init__(guardrail_name="loomllm", message=type(error).__name__,
                                 should_wrap_with_default_message=False)

        _STOP_TYPE = PolicyStop
    return _STOP_TYPE


_STOP_TYPE: type[Exception] | None = None


def unwrap_stop(exc: BaseException) -> LoomError | None:
    """The loomllm error a :class:`PolicyStop` (possibly wrapped by LiteLLM) carries, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        error = getattr(current, "error", None)
        if isinstance(error, LoomError) and type(current).__name__ == "PolicyStop":
            return error
        if isinstance(current, LoomError):
            return current
        current = current.__cause__ or current.__context__ or getattr(current, "original_exception", None)
    return None


class AttemptHandler(Protocol):
    """What the callback delegates to (``loomllm._attempt.Attempts``)."""

    def before(self, kwargs: dict[str, Any], tag: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def failed(self, request: Mapping[str, Any], exception: Exception, fallback_depth: int | None,
               tag: Mapping[str, Any]) -> None: ...

    def filter(self, agent: str, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


def make_callback(loom_id: str, attempts: AttemptHandler,
                  rate_filter: Callable[[list[Any]], Awaitable[list[Any]]] | None = None) -> Any:
    """A LiteLLM ``CustomLogger`` bound to one Loom: it ignores calls from other Looms.

    It hands every attempt to ``attempts`` and turns a loomllm error raised there into
    :class:`PolicyStop`. It deliberately has no logging handlers (``async_log_*_event``): the call
    path logs the attempt that answered itself, which is cheaper. ``rate_filter`` (the rate gate)
    runs last in ``async_filter_deployments``, before each attempt and outside LiteLLM's
    ``max_parallel_requests`` slot (a caller waiting for rpm must not hold one); it returns the
    deployment it queued for, and what it raises is a plain error to the Router, which may
    retry or fall back (the gate's ``RateLimited``).
    """
    from litellm.integrations.custom_logger import CustomLogger

    stop = stop_exception_type()

    class LoomCallback(CustomLogger):  # type: ignore[misc]
        async def async_filter_deployments(self, model: str, healthy_deployments: list[Any], messages: Any,
                                           request_kwargs: dict[str, Any] | None = None,
                                           parent_otel_span: Any = None) -> list[Any]:
            tag = _tag(request_kwargs or {})
            if tag is None or tag.get("loom") != loom_id:
                return healthy_deployments
            allowed = attempts.filter(str(tag.get("agent")), healthy_deployments)
            return await rate_filter(allowed) if rate_filter is not None else allowed

        async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
            tag = _tag(kwargs)
            if tag is None or tag.get("loom") != loom_id:
                if _router_tag(kwargs) == loom_id:
                    # This Loom's Router, but no agent call tagged the request: refuse it.
                    raise stop(PolicyViolation("requests through loomllm's Router must come from an agent call"))
                return None
            try:
                return attempts.before(kwargs, tag)
            except LoomError as error:
                raise stop(error) from None

        def redact_standard_logging_payload_from_model_call_details(self, model_call_details: dict[str, Any],
                                                                    ) -> dict[str, Any]:
            # LiteLLM calls this for every CustomLogger after every call; this one logs no payload, so there
            # is nothing to redact (the base method's imports alone cost ~9 µs a call).
            return model_call_details

        async def async_post_call_failure_deployment_hook(self, request_data: Mapping[str, Any], exception: Exception,
                                                          call_type: Any, fallback_depth: int | None = None) -> None:
            # Runs once per failed attempt (first try, retries, fallbacks), inside the call's task,
            # and without LiteLLM's logging machinery: logging handlers cost ~5% throughput under load.
            tag = _tag(request_data)
            if tag is None or tag.get("loom") != loom_id:
                return
            attempts.failed(request_data, exception, fallback_depth, tag)

    return _keyed(LoomCallback(), loom_id)


def _keyed(callback: Any, loom_id: str) -> Any:
    # LiteLLM de-duplicates CustomLoggers in its logging lists by class name plus public str/int
    # attributes: without a per-Loom attribute, a second live Loom's callback would not be added.
    callback.loom_id = loom_id
    return callback


def register(callback: Any) -> None:
    """Add ``callback`` to LiteLLM's process-global callback list (once)."""
    litellm = litellm_module()
    if callback not in litellm.callbacks:
        litellm.callbacks.append(callback)


def unregister(callback: Any) -> None:
    """Remove ``callback`` from LiteLLM's global callback lists."""
    litellm = litellm_module()
    for name in ("callbacks", "_async_success_callback", "_async_failure_callback", "success_callback",
                 "failure_callback", "input_callback", "service_callback"):
        registry = getattr(litellm, name, None)
        while isinstance(registry, list) and callback in registry:
            registry.remove(callback)


def _router_tag(kwargs: Mapping[str, Any]) -> str | None:
    for key in ("metadata", "litellm_metadata"):
        meta = kwargs.get(key)
        if isinstance(meta, Mapping) and METADATA_ROUTER in meta:
            return str(meta[METADATA_ROUTER])
    return None


def _tag(kwargs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in ("metadata", "litellm_metadata"):
        meta = kwargs.get(key)
        if isinstance(meta, Mapping) and METADATA_LOOM in meta:
            return {"loom": meta[METADATA_LOOM], "agent": meta.get(METADATA_AGENT), "call_id": meta.get(METADATA_CALL)}
    params = kwargs.get("litellm_params")
    if isinstance(params, Mapping):
        return _tag(params)
    return None


