"""The transport guard: the one place loomllm patches HTTP client classes process-wide.

The pre-call hook checks the URL LiteLLM *should* use; this guard checks the URL a request is
*actually* sent to, so base URLs picked up from the environment (``OPENAI_BASE_URL``,
``ANTHROPIC_BASE_URL`` ...), ``litellm.api_base``, redirects and code paths that bypass the hooks
are caught too. It wraps, once per process:

* ``httpx.HTTPTransport.handle_request`` and ``httpx.AsyncHTTPTransport.handle_async_request``
  (httpx follows redirects in the client, so every hop passes through the transport);
* ``aiohttp.ClientSession._request`` (the URL as given, which may still carry userinfo) and
  ``aiohttp.BaseConnector.connect``, which aiohttp calls for *every* hop, redirects included,
  before it opens or reuses a connection. LiteLLM's default async transport is aiohttp-based;
* ``socket.getaddrinfo``, ``gethostbyname`` and ``gethostbyname_ex``: a DNS query leaves the
  machine too, and LiteLLM resolves some names itself before any HTTP client sees them (its image
  URL validator resolves every redirect hop). Inside a scope, a name no allow entry matches is not
  resolved (``socket.gaierror``, and the denial is recorded on the scope). Lookups that run in
  executor threads without the caller's context (asyncio's ``loop.getaddrinfo``) are not seen;
  the HTTP clients' own lookups go that way, after the checks above.

Each wrapper asks the resolver for the policy in force (``None``: allow, which is what code
outside any :func:`egress_scope` sees, so other tests and non-loomllm code are unaffected),
checks scheme, host and port as the client parsed them, optionally resolves the name, and raises
:class:`EgressDenied` before a connection is opened. A proxy (``proxy=``, or ``HTTPS_PROXY`` read
by LiteLLM's aiohttp transport) receives every byte, so it must be on the allowlist as well
(``require_https`` does not apply to it: TLS to the target runs through the tunnel).

Not covered: other HTTP stacks (``requests``, ``urllib``, boto3, websockets), custom httpx
transports that do not subclass the two above, and aiohttp connectors that override ``connect``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from loomllm._egress.check import EgressVerdict, check_addresses, check_destination, check_lookup
from loomllm._egress.config import EgressPolicy
from loomllm._egress.hosts import IPAddress
from loomllm._egress.scope import current_scope, scope_policy
from loomllm.errors import EgressDenied

if TYPE_CHECKING:
    import httpx

__all__ = ["install_transport_guard", "transport_guard_installed", "uninstall_transport_guard"]

Resolver = Callable[[], EgressPolicy | None]
_AddrInfo = list[tuple[Any, Any, Any, Any, Any]]


@dataclass
class _GuardState:
    resolver: Resolver = scope_policy
    originals: dict[tuple[Any, str], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: check_destination is a pure function of (scheme, host, port, policy): its verdicts, with the policy they
    #: were made for (held, so that its id cannot be reused by another policy while the entry exists).
    verdicts: dict[tuple[int, str, str, int | None], tuple[EgressPolicy, EgressVerdict]] = field(default_factory=dict)

    def verdict(self, scheme: str, host: str, port: int | None, policy: EgressPolicy) -> EgressVerdict:
        key = (id(policy), scheme, host, port)
        cached = self.verdicts.get(key)
        if cached is not None and cached[0] is policy:
            return cached[1]
        if len(self.verdicts) >= _MAX_VERDICTS:  # hosts come from requests: stay bounded
            self.verdicts.clear()
        verdict = check_destination(scheme, host, port, policy)
        self.verdicts[key] = (policy, verdict)
        return verdict


_MAX_VERDICTS = 4096


_STATE = _GuardState()  # process-wide by design: the patched classes are process-wide too


def install_transport_guard(resolver: Resolver = scope_policy) -> None:
    """Check every outgoing httpx/aiohttp request against ``resolver()``'s policy.

    Idempotent: the classes are patched once; a later call only replaces the resolver.
    """
    with _STATE.lock:
        _STATE.resolver = resolver
        if _STATE.originals:
            return
        import httpx

        _patch(httpx.HTTPTransport, "handle_request", _wrap_sync_httpx)
        _patch(httpx.AsyncHTTPTransport, "handle_async_request", _wrap_async_httpx)
        _patch_module(socket, "getaddrinfo", _wrap_lookup)
        _patch_module(socket, "gethostbyname", _wrap_lookup)
        _patch_module(socket, "gethostbyname_ex", _wrap_lookup)
        try:
            import aiohttp
        except ImportError:  # pragma: no cover - aiohttp is a LiteLLM dependency
            return
        _patch(aiohttp.ClientSession, "_request", _wrap_aiohttp_request)
        _patch(aiohttp.BaseConnector, "connect", _wrap_aiohttp_connect)


def uninstall_transport_guard() -> None:
    """Restore the original methods (for tests)."""
    with _STATE.lock:
        for (owner, name), original in _STATE.originals.items():
            setattr(owner, name, original)
        _STATE.originals.clear()
        _STATE.resolver = scope_policy


def transport_guard_installed() -> bool:
    """Whether :func:`install_transport_guard` is in effect."""
    return bool(_STATE.originals)


def _patch(cls: type, name: str, wrap: Callable[[Any], Any]) -> None:
    original = cls.__dict__[name]
    _STATE.originals[(cls, name)] = original
    setattr(cls, name, wrap(original))


def _patch_module(module: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    original = getattr(module, name)
    _STATE.originals[(module, name)] = original
    setattr(module, name, wrap(original))


class LookupRefused(socket.gaierror):
    """A name lookup the egress policy in force does not allow (a resolver error to the code that asked)."""


def _wrap_lookup(original: Callable[..., Any]) -> Callable[..., Any]:
    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host and isinstance(host, str | bytes):
            policy = _STATE.resolver()
            if policy is not None:
                name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
                verdict = check_lookup(name, policy)
                if not verdict.allowed:
                    try:
                        _deny(verdict.host, verdict.reason)
                    except EgressDenied:
                        raise LookupRefused(socket.EAI_NONAME, "lookup refused by the egress policy") from None
        return original(host, *args, **kwargs)

    lookup.__wrapped__ = original  # type: ignore[attr-defined]
    return lookup


def _deny(host: str, reason: str) -> NoReturn:
    scope = current_scope()
    error = EgressDenied(
        agent=scope.agent if scope else None,
        deployment=scope.deployment if scope else None,
        host=host,
        reason=reason,
    )
    if scope is not None:
        scope.denials.append(error)
    raise error


def _check(scheme: str, host: str, port: int | None, has_userinfo: bool) -> EgressPolicy | None:
    """Raise EgressDenied if the destination is refused; return the policy when DNS must be checked."""
    policy = _STATE.resolver()
    if policy is None:
        return None
    verdict = _STATE.verdict(scheme, host, port, policy)
    if not verdict.allowed:
        _deny(verdict.host, verdict.reason)
    if has_userinfo:
        _deny(verdict.host, "URL carries userinfo (credentials)")
    if policy.resolve_dns and not _is_ip_literal(host):
        return policy
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _addresses(infos: _AddrInfo) -> list[IPAddress]:
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _check_resolved(host: str, infos: _AddrInfo, policy: EgressPolicy) -> None:
    verdict = check_addresses(host.lower().rstrip("."), _addresses(infos), policy)
    if not verdict.allowed:
        _deny(verdict.host, verdict.reason)


def _resolve_sync(host: str, port: int | None, policy: EgressPolicy) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        _deny(host, "host did not resolve")
    _check_resolved(host, list(infos), policy)


async def _resolve_async(host: str, port: int | None, policy: EgressPolicy) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        _deny(host, "host did not resolve")
    _check_resolved(host, list(infos), policy)


def _httpx_target(request: httpx.Request) -> tuple[str, str, int | None, bool]:
    url = request.url
    return url.scheme, url.raw_host.decode("ascii"), url.port, bool(url.userinfo)


def _check_httpx_proxy(transport: Any) -> None:
    """An httpx transport built with ``proxy=`` sends every byte to the proxy: it must be allowed too."""
    proxy = getattr(getattr(transport, "_pool", None), "_proxy_url", None)  # httpcore.HTTPProxy / SOCKSProxy
    if proxy is not None:
        _check_proxy(proxy.scheme.decode("ascii"), proxy.host.decode("ascii"), proxy.port)


def _check_proxy(scheme: str, host: str, port: int | None) -> None:
    policy = _STATE.resolver()
    if policy is None:
        return
    scheme = {"socks5": "http", "socks5h": "http"}.get(scheme, scheme)
    verdict = check_destination(scheme, host, port, policy, enforce_https=False)
    if not verdict.allowed:
        _deny(verdict.host, f"proxy: {verdict.reason}")


def _wrap_sync_httpx(original: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        scheme, host, port, userinfo = _httpx_target(request)
        policy = _check(scheme, host, port, userinfo)
        _check_httpx_proxy(self)
        if policy is not None:
            _resolve_sync(host, port, policy)
        return original(self, request)

    return handle_request


def _wrap_async_httpx(original: Callable[..., Any]) -> Callable[..., Any]:
    async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        scheme, host, port, userinfo = _httpx_target(request)
        policy = _check(scheme, host, port, userinfo)
        _check_httpx_proxy(self)
        if policy is not None:
            await _resolve_async(host, port, policy)
        return await original(self, request)  # type: ignore[no-any-return]

    return handle_async_request


async def _check_yarl(url: Any, *, resolve: bool = True) -> None:
    """Check a yarl URL (aiohttp): scheme, ASCII host, effective port, userinfo."""
    host = url.raw_host or ""
    policy = _check(url.scheme, host, url.port, url.raw_user is not None or url.raw_password is not None)
    if policy is not None and resolve:
        await _resolve_async(host, url.port, policy)


def _wrap_aiohttp_request(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        if _STATE.resolver() is not None:
            from yarl import URL

            try:
                url = str_or_url if isinstance(str_or_url, URL) else URL(str(str_or_url))
            except (ValueError, TypeError):
                _deny("<invalid>", "invalid URL")
            await _check_yarl(url, resolve=False)  # the connector check resolves, once per hop
        return await original(self, method, str_or_url, *args, **kwargs)

    return _request


def _wrap_aiohttp_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    async def connect(self: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        await _check_yarl(req.url)
        if req.proxy is not None:
            _check_proxy(req.proxy.scheme, req.proxy.raw_host or "", req.proxy.port)
        return await original(self, req, *args, **kwargs)

    return connect
