"""Checking a destination against an :class:`EgressPolicy`: pure functions, no I/O.

:func:`check_url` parses a URL string (config values, ``api_base``); :func:`check_destination` takes
the scheme, host and port an HTTP client has already parsed (the transport guard uses it with
httpx's and yarl's own parse, which is what they will connect to). :func:`check_addresses` applies
``deny_private_networks`` to the addresses a host name resolved to (``resolve_dns``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loomllm._egress.config import AllowEntry, EgressPolicy, scheme_class
from loomllm._egress.hosts import (
    Host,
    HostError,
    IPAddress,
    is_denied_address,
    is_loopback_host,
    is_private_name,
    normalize_address,
    normalize_host,
)
from loomllm._egress.url import DEFAULT_PORTS, URLError, parse_url
from loomllm.errors import EgressDenied

__all__ = ["EgressVerdict", "check_addresses", "check_destination", "check_lookup", "check_url", "egress_check"]


@dataclass(frozen=True)
class EgressVerdict:
    """The answer for one destination. ``host`` and ``url`` are safe to print (no credentials, no query)."""

    allowed: bool
    reason: str
    host: str
    url: str
    port: int | None = None
    entry: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def check_url(url: str, policy: EgressPolicy) -> EgressVerdict:
    """Whether ``policy`` lets a request to ``url`` leave the process."""
    try:
        parsed = parse_url(url)
    except URLError as exc:
        return EgressVerdict(False, exc.reason, host=exc.host, url="<invalid URL>")
    return _check(parsed.scheme, parsed.host, parsed.port, policy, parsed.redacted)


def egress_check(
    url: str, policy: EgressPolicy, *, agent: str | None = None, deployment: str | None = None
) -> EgressVerdict:
    """:func:`check_url`, raising :class:`EgressDenied` (naming agent, deployment, host) when refused."""
    verdict = check_url(url, policy)
    if not verdict.allowed:
        raise EgressDenied(agent=agent, deployment=deployment, host=verdict.host, reason=verdict.reason)
    return verdict


def check_destination(
    scheme: str, host: str, port: int | None, policy: EgressPolicy, *, enforce_https: bool = True
) -> EgressVerdict:
    """Like :func:`check_url` for a destination an HTTP client already split (``port`` None = default).

    ``enforce_https=False`` skips ``require_https`` (for proxies: TLS runs end to end through them).
    """
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return EgressVerdict(False, f"unsupported scheme {scheme!r}", host="<invalid>", url="<invalid URL>")
    try:
        canonical = normalize_host(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    except HostError as exc:
        return EgressVerdict(False, str(exc), host="<invalid>", url="<invalid URL>")
    effective_port = DEFAULT_PORTS[scheme] if port is None else port
    suffix = "" if effective_port == DEFAULT_PORTS[scheme] else f":{effective_port}"
    url = f"{scheme}://{canonical.display}{suffix}"
    return _check(scheme, canonical, effective_port, policy, url, enforce_https=enforce_https)


def check_lookup(name: str, policy: EgressPolicy) -> EgressVerdict:
    """Whether ``policy`` lets the process resolve ``name`` at all (a DNS query leaves the machine too).

    A name is allowed when some allow entry could match it, whatever the scheme and port; address
    literals and ``localhost`` names need no query and are always allowed.
    """
    try:
        host = normalize_host(name)
    except HostError as exc:
        return EgressVerdict(False, str(exc), host="<invalid>", url="<invalid>")
    if host.ip is not None or is_loopback_host(host) or any(e.matches_host(host) for e in policy.entries):
        return EgressVerdict(True, "name may be resolved", host=str(host), url=str(host))
    return EgressVerdict(False, "DNS lookup of a host that is not on the allowlist", host=str(host), url=str(host))


def check_addresses(host: str, addresses: Iterable[IPAddress], policy: EgressPolicy) -> EgressVerdict:
    """Refuse a name that resolved into a denied network unless the allowlist names that network.

    A name on the allowlist is not enough: that is exactly what DNS rebinding abuses. The resolved
    address must itself be public, or covered by an explicit IP/CIDR entry, or be loopback for a
    ``localhost`` name.
    """
    loopback_name = is_loopback_host(Host(name=host))
    checked = 0
    for raw in addresses:
        checked += 1
        ip = normalize_address(raw)
        if not policy.deny_private_networks or not is_denied_address(ip):
            continue
        if loopback_name and ip.is_loopback:
            continue
        if any(e.network is not None and e.explicit_private and e.matches_host(Host(ip=ip)) for e in policy.entries):
            continue
        return EgressVerdict(False, f"host resolves to a private or special address ({ip})", host=host, url=host)
    if checked == 0:
        return EgressVerdict(False, "host did not resolve", host=host, url=host)
    return EgressVerdict(True, "resolved addresses allowed", host=host, url=host)


def _check(
    scheme: str, host: Host, port: int, policy: EgressPolicy, url: str, *, enforce_https: bool = True
) -> EgressVerdict:
    host_text = str(host)
    by_host = [e for e in policy.entries if e.matches_host(host)]
    if not by_host:
        return EgressVerdict(False, "host is not on the allowlist", host_text, url, port)
    by_scheme = [e for e in by_host if e.matches_scheme(scheme)]
    if not by_scheme:
        return EgressVerdict(False, f"scheme {scheme!r} is not allowed for this host", host_text, url, port)
    matching = [e for e in by_scheme if e.matches_port(scheme, port)]
    if not matching:
        return EgressVerdict(False, f"port {port} is not allowed for this host", host_text, url, port)
    if policy.deny_private_networks and _is_private(host):
        matching = [e for e in matching if e.explicit_private]
        if not matching:
            return EgressVerdict(
                False, "private or special network address not explicitly allowed", host_text, url, port
            )
    if enforce_https and scheme_class(scheme) == "http" and policy.require_https and not _plain_http_ok(host, matching):
        return EgressVerdict(False, "https is required", host_text, url, port)
    entry = matching[0].text
    return EgressVerdict(True, f"allowed by {entry!r}", host_text, url, port, entry)


def _is_private(host: Host) -> bool:
    if host.ip is not None:
        return is_denied_address(host.ip)
    return is_private_name(host.name or "")


def _plain_http_ok(host: Host, entries: list[AllowEntry]) -> bool:
    return is_loopback_host(host) and any(e.explicit_private for e in entries)
