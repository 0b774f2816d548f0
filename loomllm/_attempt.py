"""An attempt: one request the Router is about to send to one deployment (first try, retry or fallback).

The call half of a call lives in ``_agent.py``; this module owns the attempt half. LiteLLM runs
:meth:`Attempts.before` (through the callback in ``_litellm/callbacks.py``) after it has merged the
deployment's parameters into the request and before the cache lookup or any byte is sent. It checks
the request that will really leave, not what the caller asked for:

* credentials: the deployment's key variables are set;
* reach: the deployment is one the agent's config can reach;
* egress: every base URL LiteLLM may use for it (``api_base``, ``base_url``, ``litellm.api_base``,
  a named credential's ``api_base``, the LiteLLM proxy of ``USE_LITELLM_PROXY``, the provider's
  environment variable or default host), and
  every URL inside the messages (images, files) that LiteLLM would fetch;
* budget: the attempt's worst case (``max_tokens`` under any name, times ``n``) is what was reserved,
  and the reservation covers one attempt the provider may have run: after a budgeted attempt that
  may have been processed (a timeout, a broken response), no retry or fallback is sent, and the
  call fails with that attempt's error (charged its worst case by the call path);
* prices: pricing keys are the configured ones;
* content: every string in the request that the input guardrail did not already pass is scanned,
  and any finding blocks (a new LiteLLM field cannot carry a secret past the guardrail).

A refusal travels through the Router as ``PolicyStop`` (no retry, no fallback) and is remembered on
the :class:`CallState`, because the Router re-raises the *original* provider error when a fallback
attempt is refused. The call's :class:`CallState` is found through a context variable that the
agent sets around routing and around every step of a stream (:func:`call_scope`), which is also what
keeps the egress scope of the transport guard alive for mid-stream fallbacks.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

from loomllm._egress import EgressPolicy, EgressScope, EgressVerdict, check_url, deployment_urls, use_scope
from loomllm._litellm import litellm_proxy_base, module_base_urls, named_credential, response_cache
from loomllm._litellm.errors import maybe_processed, to_provider_error
from loomllm.errors import (
    EgressDenied,
    Finding,
    ForbiddenParameter,
    LoomError,
    MissingCredentials,
    PolicyViolation,
)

if TYPE_CHECKING:
    from loomllm._events import EventLog
    from loomllm._guardrails import Guard
    from loomllm.config import LoomConfig

__all__ = ["Attempts", "CallState", "call_scope", "current_call"]

# Keys of the final request that are not content: credentials and endpoints (checked above),
# LiteLLM's own bookkeeping, and metadata (the caller's part was scanned with the input).
_NOT_CONTENT = frozenset({
    "api_key", "api_base", "base_url", "api_version", "model", "model_info", "metadata", "litellm_metadata",
    "litellm_logging_obj", "litellm_call_id", "litellm_trace_id", "litellm_params", "timeout", "stream",
    "max_retries", "client", "caching", "cache", "stream_options", "_context_compaction_state",
    "allow_client_keepalive_override", "use_in_pass_through", "use_litellm_proxy", "use_xai_oauth",
    "merge_reasoning_content_in_choices", "_skip_mcp_handler", "preset_cache_key",
})
_MAX_VERDICTS = 4096
#: Short strings of a request (``role``, ``content``, ``user``, names) the guard found clean, remembered per guard.
_MAX_CLEAN_SHORT = 4096
_SHORT = 64
_PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token", "input_cost_per_second", "output_cost_per_second")
# Output caps and choice counts under the names providers use (compared lower-case, without "_").
_CAP_NAMES = frozenset({"maxtokens", "maxcompletiontokens", "maxoutputtokens", "maxnewtokens", "maxtokenstosample",
                        "numpredict", "maxgenlen", "maxtokencount", "maxlength", "maxtokenstogenerate"})
_CHOICE_NAMES = frozenset({"n", "candidatecount", "bestof", "numreturnsequences", "numgenerations", "numresults",
                           "numcompletions", "samplecount"})


@dataclass(eq=False)
class CallState:
    """What the attempt half knows about one call, and what it learned during it."""

    loom_id: str
    agent: str
    call_id: str
    egress: EgressPolicy | None
    guard: Guard | None
    reserved_output: int | None = None
    """Output tokens the budget reservation covers (``None``: the agent has no budget)."""
    seen: set[str] = field(default_factory=set)
    """Strings the input guardrail passed; the final-request scan skips them."""
    violation: LoomError | None = None
    started: float | None = None
    deployment: str | None = None
    host: str | None = None
    model: str | None = None
    processed_failure: BaseException | None = None
    """The first failed attempt the provider may have run (and billed): it holds the reservation."""
    cache_request: dict[str, Any] | None = None
    """The request whose cache write was deferred until the output guardrail has run."""
    rate_tokens: int = 0
    """Tokens each attempt takes from its deployment's tpm bucket (the call's estimate; 0: no tpm)."""
    egress_scope: EgressScope = field(init=False)
    """The transport guard's scope for the whole call, entered around every step that may send."""

    def __post_init__(self) -> None:
        self.egress_scope = EgressScope(policy=self.egress, agent=self.agent)

    @property
    def denials(self) -> list[EgressDenied]:
        """What the transport guard refused under this call (LiteLLM wraps those errors in its own)."""
        return self.egress_scope.denials


_CURRENT: ContextVar[CallState | None] = ContextVar("loomllm_call", default=None)


@contextmanager
def call_scope(state: CallState) -> Iterator[CallState]:
    """Make ``state`` the current call (and its egress policy the transport guard's) inside the block.

    Enter it around each await that may send (routing, and every ``__anext__`` of a stream): the
    block never spans a ``yield``, so the context variable is reset in the context that set it.
    """
    token = _CURRENT.set(state)
    try:
        with use_scope(state.egress_scope):
            yield state
    finally:
        _CURRENT.reset(token)


def current_call() -> CallState | None:
    """The call whose attempt is running now, if any."""
    return _CURRENT.get()


class Attempts:
    """Checks and records every attempt of one Loom's calls. Built with the policies it needs."""

    def __init__(
        self,
        *,
        loom_id: str,
        config: LoomConfig,
        events: EventLog,
        log_attempts: bool,
    ) -> None:
        from loomllm.config import deployment_id

        self.loom_id = loom_id
        self._config = config
        self._file = str(config.source) if config.source else None
        self._events = events
        self._log_attempts = log_attempts
        self._params = {deployment_id(d): dict(d["litellm_params"]) for d in config.model_list}
        self._group_of = {deployment_id(d): str(d["model_name"]) for d in config.model_list}
        self.reach: dict[str, set[str]] = {}
        """agent -> ids of the deployments its config can reach."""
        self._verdicts: dict[tuple[int, str], EgressVerdict] = {}
        # Keyed by the guard itself (held, so its id is never reused by another profile's guard).
        self._clean_short: set[tuple[Guard, bytes]] = set()  # digests: caller text is never kept
        self.removed: dict[tuple[str, str], bool] = {}
        """(agent, deployment id) -> removed by egress; True when its group keeps another deployment."""

    # --- LiteLLM's hooks (through _litellm/callbacks.py) ---------------------------------------

    def filter(self, agent: str, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop the deployments removed from ``agent``'s reach before the Router picks one."""
        return [d for d in deployments
                if not self.removed.get((agent, str((d.get("model_info") or {}).get("id"))), False)]

    def before(self, kwargs: dict[str, Any], tag: Mapping[str, Any]) -> dict[str, Any] | None:
        """Check the final request of an attempt; returns the request to send instead, if changed."""
        state = current_call()
        deployment = str((kwargs.get("model_info") or {}).get("id"))
        if state is None or state.loom_id != self.loom_id or state.call_id != tag.get("call_id"):
            # A request through this Loom's Router that no agent call is making: refuse it.
            raise PolicyViolation("requests through loomllm's Router must come from an agent call")
        state.started = time.perf_counter()
        state.deployment, state.model = deployment, str(kwargs.get("model"))
        state.host = _host_of(kwargs.get("api_base") or kwargs.get("base_url"))
        try:
            self._check(kwargs, state, deployment)
        except LoomError as error:
            state.violation = error
            self._log_refused(state, error)
            raise
        return self._defer_cache_write(kwargs, state)

    def failed(self, request: Mapping[str, Any], exception: Exception, fallback_depth: int | None,
               tag: Mapping[str, Any]) -> None:
        """Record and log a failed attempt (LiteLLM reports each one: first try, retries, fallbacks)."""
        state = current_call()
        if (state is not None and state.loom_id == self.loom_id and state.call_id == tag.get("call_id")
                and state.processed_failure is None and maybe_processed(exception)):
            state.processed_failure = exception
        if not self._log_attempts:
            return
        deployment = str((request.get("model_info") or {}).get("id"))
        started = state.started if state is not None else None
        self._events.emit(
            "llm.attempt", agent=tag.get("agent"), call_id=tag.get("call_id"), outcome="error",
            model_group=self._group_of.get(deployment), deployment=deployment, model=request.get("model"),
            host=_host_of(request.get("api_base")), tokens_in=0, tokens_out=0, cost_usd=0.0, cache_hit=False,
            latency_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
            error_type=type(exception).__name__, status_code=getattr(exception, "status_code", None),
            fallback_depth=fallback_depth,
        )

    def succeeded(self, state: CallState, *, tokens_in: int, tokens_out: int, cost_usd: float,
                  cache_hit: bool) -> None:
        """Log the attempt that answered (called by the call path, which knows the usage).

        At debug level: the call's own ``llm.call`` line, logged next, carries its deployment and numbers, so an
        app logging at info gets one line per call and one per failed or refused attempt. The event file, the
        hook and the listeners (metrics, traces) get it whatever the level.
        """
        if not self._log_attempts or state.started is None:
            return
        self._events.emit(
            "llm.attempt", "debug", agent=state.agent, call_id=state.call_id, outcome="ok",
            model_group=self._group_of.get(str(state.deployment)), deployment=state.deployment, model=state.model,
            host=state.host, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=round(cost_usd, 8),
            cache_hit=cache_hit, latency_ms=round((time.perf_counter() - state.started) * 1000, 2),
        )

    # --- the checks -------------------------------------------------------------------------------

    def _check(self, kwargs: dict[str, Any], state: CallState, deployment: str) -> None:
        if state.reserved_output is not None and state.processed_failure is not None:
            raise self._reservation_spent(state)
        missing = self._config.missing_env.get(deployment)
        if missing:
            raise MissingCredentials(deployment=deployment, variable=missing[0], file=self._file)
        if deployment not in self.reach.get(state.agent, ()):
            raise EgressDenied(agent=state.agent, deployment=deployment, host=state.host or "<unknown>",
                               reason="the deployment is outside the agent's configured reach")
        configured = self._params.get(deployment, {})
        if state.egress is not None:
            self._check_egress(kwargs, state, deployment, state.egress)
        self._check_prices(kwargs, state, configured)
        if state.reserved_output is not None:
            self._check_worst_case(kwargs, state)
        if state.guard is not None:
            self._scan_request(kwargs, state, configured)

    def _check_egress(self, kwargs: Mapping[str, Any], state: CallState, deployment: str,
                      policy: EgressPolicy) -> None:
        # The request's own base URLs (else the provider's environment/default host), plus what can
        # override them: module globals and a named credential.
        urls = deployment_urls({"model_name": "", "litellm_params": kwargs}) + _override_urls(kwargs)
        proxied, proxy_base = litellm_proxy_base(kwargs)
        if proxied and not kwargs.get("api_base"):
            if proxy_base is None:
                raise EgressDenied(agent=state.agent, deployment=deployment, host="<unknown>",
                                   reason="LiteLLM's proxy mode is on (USE_LITELLM_PROXY) and its base URL is unset")
            urls.append(proxy_base)
        if not urls:
            raise EgressDenied(agent=state.agent, deployment=deployment, host="<unknown>",
                               reason="the deployment's provider host cannot be resolved")
        for url in urls + list(_message_urls(kwargs.get("messages"))):
            verdict = self._verdict(url, policy)
            if not verdict.allowed:
                raise EgressDenied(agent=state.agent, deployment=deployment, host=verdict.host, reason=verdict.reason)

    def _verdict(self, url: str, policy: EgressPolicy) -> EgressVerdict:
        # check_url is a pure function of (url, policy), and the Loom keeps its policies alive, so
        # their ids are stable keys. DNS checks (resolve_dns) happen in the transport guard, not here.
        key = (id(policy), url)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= _MAX_VERDICTS:  # message URLs come from callers: stay bounded
                self._verdicts.clear()
            verdict = self._verdicts[key] = check_url(url, policy)
        return verdict

    def _check_prices(self, kwargs: Mapping[str, Any], state: CallState, configured: Mapping[str, Any]) -> None:
        for key in _PRICE_KEYS:
            if key in kwargs and kwargs[key] != configured.get(key):
                raise ForbiddenParameter(agent=state.agent, parameter=key,
                                         reason="prices come from the config or the cost map, never from a call")

    def _check_worst_case(self, kwargs: Mapping[str, Any], state: CallState) -> None:
        found = list(_limit_values(kwargs, nested=False)) + list(_limit_values(_mapping(kwargs.get("extra_body"))))
        reserved = state.reserved_output or 0
        bad = [key for key, _, value in found if isinstance(value, bool) or not isinstance(value, int) or value < 1]
        if bad:
            raise ForbiddenParameter(agent=state.agent, parameter=bad[0],
                                     reason="an output cap or choice count must be a positive integer")
        caps = [value for _, kind, value in found if kind == "cap"]
        choices = [value for _, kind, value in found if kind == "choices"]
        if not caps:
            raise ForbiddenParameter(agent=state.agent, parameter="max_tokens",
                                     reason="a budgeted call must bound its output")
        worst = max(caps) * max([1, *choices])
        if worst > reserved:
            raise ForbiddenParameter(agent=state.agent, parameter="max_tokens",
                                     reason=f"the request asks for up to {worst} output tokens; the budget "
                                            f"reservation covers {reserved}")

    def _scan_request(self, kwargs: Mapping[str, Any], state: CallState, configured: Mapping[str, Any]) -> None:
        guard = state.guard
        assert guard is not None
        findings: list[Finding] = []
        for key, value in kwargs.items():
            if key in _NOT_CONTENT or (key in configured and configured[key] == value):
                continue  # deployment parameters are config, not content
            for text in strings_of(value):
                if text in state.seen or (len(text) <= _SHORT and (guard, _digest(text)) in self._clean_short):
                    continue
                decisions = guard.decide(_decoded_data_url(text) or text, "input", message_index=None,
                                         agent=state.agent)
                findings += [Finding(d.entity_type, None, d.start, d.end, d.score, "input") for d in decisions]
                if not decisions:
                    state.seen.add(text)
                    self._remember_clean(guard, text)
        if findings:
            guard.raise_blocked(findings, direction="input", agent=state.agent)

    def _remember_clean(self, guard: Guard, text: str) -> None:
        """Skip the next scans of a short clean string (the keys of every message: ``role``, ``content``).

        Only where an analyzer failure raises: under ``fail_open`` a failed scan also finds nothing.
        """
        if len(text) <= _SHORT and guard.config.on_analyzer_error != "fail_open":
            if len(self._clean_short) >= _MAX_CLEAN_SHORT:  # caller strings: stay bounded
                self._clean_short.clear()
            self._clean_short.add((guard, _digest(text)))

    def _reservation_spent(self, state: CallState) -> LoomError:
        """The error ending a budgeted call whose reservation an earlier attempt may have used up.

        It is that attempt's own error (the caller sees a timeout, as when retries run out), chained
        to it so that the call path charges the reserved worst case.
        """
        failure = state.processed_failure
        assert failure is not None
        error = to_provider_error(failure, agent=state.agent)
        error.__cause__ = failure
        return error

    # --- the cache ---------------------------------------------------------------------------------

    def _defer_cache_write(self, kwargs: dict[str, Any], state: CallState) -> dict[str, Any] | None:
        """With an output guardrail, LiteLLM must not write the cache: the call path writes it after the guard.

        A stream is never written (LiteLLM would store the provider's text as it assembled it, before
        the stream filter; the call path never holds a whole guarded answer to write instead).
        """
        if state.guard is None:
            return None
        cache = response_cache()
        control = _mapping(kwargs.get("cache"))
        if cache is None or control.get("no-store"):
            return None
        if not kwargs.get("stream"):
            state.cache_request = dict(kwargs)
        return {**kwargs, "cache": {**control, "no-store": True}}

    def _log_refused(self, state: CallState, error: LoomError) -> None:
        if not self._log_attempts:
            return
        self._events.emit(
            "llm.attempt", agent=state.agent, call_id=state.call_id, outcome="refused",
            model_group=self._group_of.get(str(state.deployment)), deployment=state.deployment, model=state.model,
            host=state.host, tokens_in=0, tokens_out=0, cost_usd=0.0, cache_hit=False, latency_ms=0.0,
            error_type=type(error).__name__,
        )


def _limit_values(value: Mapping[str, Any], *, nested: bool = True, depth: int = 0) -> Iterator[tuple[str, str, Any]]:
    """(key, "cap" | "choices", value) for every output cap and choice count in ``value`` (nested too)."""
    for key, item in value.items():
        # Top-level keys are LiteLLM's and the allowlisted parameter names (remembered); nested ones come from callers.
        kind = _known_limit_kind(key) if not nested and isinstance(key, str) else _limit_kind(str(key))
        if kind is not None:
            yield str(key), kind, item
        elif nested and isinstance(item, Mapping) and depth < 8:
            yield from _limit_values(item, depth=depth + 1)


def _limit_kind(key: str) -> str | None:
    """``"cap"``, ``"choices"`` or ``None`` for a request key, in any case and with or without underscores."""
    name = key.lower().replace("_", "")
    return "cap" if name in _CAP_NAMES else "choices" if name in _CHOICE_NAMES else None


_known_limit_kind = functools.lru_cache(maxsize=1024)(_limit_kind)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _override_urls(kwargs: Mapping[str, Any]) -> list[str]:
    """Base URLs that replace a request's own: LiteLLM module globals, a named credential's."""
    credential = named_credential(kwargs.get("litellm_credential_name"))
    return module_base_urls() + [str(credential[k]) for k in ("api_base", "base_url") if credential.get(k)]


def _message_urls(messages: Any) -> Iterator[str]:
    """http(s) URLs in message content parts that a provider adapter may fetch (images, files, documents)."""
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, Mapping):
                yield from _part_urls(part)


def _part_urls(part: Mapping[str, Any]) -> Iterator[str]:
    for value in part.values():
        if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
            yield value
        elif isinstance(value, Mapping):
            yield from _part_urls(value)


_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[^;,]*)*(?P<b64>;base64)?,", re.IGNORECASE)
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml", "application/yaml")
_MAX_DATA_URL = 4 * 1024 * 1024


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _decoded_data_url(text: str) -> str | None:
    """The text inside a ``data:`` URL of a textual media type (providers read it as text), else None."""
    if not text.startswith(("data:", "DATA:")) or len(text) > _MAX_DATA_URL:
        return None
    match = _DATA_URL.match(text)
    if match is None or not (match.group("type") or "text/plain").lower().startswith(_TEXT_TYPES):
        return None
    payload = text[match.end():]
    try:
        raw = base64.b64decode(payload, validate=False) if match.group("b64") else unquote_to_bytes(payload)
    except (ValueError, binascii.Error):
        return text  # undecodable: scan it as it is
    return raw.decode("utf-8", "replace")


def strings_of(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from strings_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_of(item)
    elif isinstance(value, type):
        if hasattr(value, "model_json_schema"):  # a pydantic response_format: its schema is sent
            yield from strings_of(value.model_json_schema())
    elif hasattr(value, "model_dump"):
        yield from strings_of(value.model_dump(exclude_none=True))


def _host_of(url: Any) -> str | None:
    if not url:
        return None
    text = str(url)
    # Remembered per process only without userinfo or a query: a URL's credentials stay out of any cache.
    return _known_hostname(text) if "@" not in text and "?" not in text else _hostname(text)


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


_known_hostname = functools.lru_cache(maxsize=256)(_hostname)
