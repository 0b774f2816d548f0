"""The ``loomllm.egress`` section: named allowlists of provider hosts.

Allow entry syntax (``[scheme://]host[:port]``):

* ``api.openai.com`` -- that exact host name (IDN spellings are compared in punycode);
* ``*.openai.azure.com`` -- any subdomain at any depth, *not* the bare suffix (list it too if needed);
* ``10.20.0.0/16``, ``10.0.0.7``, ``[fd00::/8]``, ``[::1]`` -- IP networks and single addresses;
* ``https://host`` -- only that scheme; without a scheme any scheme the policy permits;
* ``host:8443`` -- that port only; ``host:*`` -- any port. **No port means the scheme's default
  port only** (443 for https, 80 for http): a non-default port must be listed.

``deny_private_networks`` (default true) refuses loopback, RFC 1918, link-local (cloud metadata),
CGNAT, unique-local IPv6 and the other networks in :data:`DENIED_NETWORKS`, and the names in
:data:`PRIVATE_NAME_SUFFIXES`, unless an entry names them *explicitly*: an exact host name, a
wildcard under a private suffix (``*.corp.internal``), or an IP network inside a denied network
(``10.20.0.0/16`` yes, ``0.0.0.0/0`` no). ``require_https`` (default true) refuses plain http
except to explicitly allowed loopback hosts (a local Ollama).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from loomllm._base import Flag, StrictModel
from loomllm._egress.hosts import (
    DENIED_NETWORKS,
    Host,
    HostError,
    IPNetwork,
    is_private_name,
    normalize_address,
    normalize_host,
)
from loomllm._egress.url import DEFAULT_PORTS
from loomllm.errors import ConfigError

__all__ = ["AllowEntry", "EgressConfig", "EgressPolicy", "parse_allow_entry"]

_SECURE_SCHEMES = frozenset({"https", "wss"})


def scheme_class(scheme: str) -> str:
    """``https`` for TLS schemes (https, wss), ``http`` for plain ones."""
    return "https" if scheme in _SECURE_SCHEMES else "http"


@dataclass(frozen=True)
class AllowEntry:
    """One compiled allow entry. Exactly one of ``name``, ``suffix`` and ``network`` is set."""

    text: str
    scheme: str | None = None
    port: int | None = None
    any_port: bool = False
    name: str | None = None
    suffix: str | None = None
    network: IPNetwork | None = None

    @cached_property
    def explicit_private(self) -> bool:
        """Whether this entry counts as naming a private destination explicitly."""
        if self.network is not None:
            return any(
                self.network.version == d.version and self.network.subnet_of(d)  # type: ignore[arg-type]
                for d in DENIED_NETWORKS
            )
        if self.suffix is not None:
            return is_private_name(self.suffix)
        return True

    @cached_property
    def is_loopback(self) -> bool:
        """Whether every destination this entry matches is a loopback host."""
        if self.network is not None:
            return self.network.network_address.is_loopback and self.network.broadcast_address.is_loopback
        name = self.name or self.suffix or ""
        return name == "localhost" or name.endswith(".localhost")

    def matches_host(self, host: Host) -> bool:
        """Whether ``host`` (canonical) is covered by this entry."""
        if self.network is not None:
            return host.ip is not None and host.ip.version == self.network.version and host.ip in self.network
        if host.name is None:
            return False
        if self.suffix is not None:
            return host.name.endswith("." + self.suffix)
        return host.name == self.name

    def matches_scheme(self, scheme: str) -> bool:
        """Whether the entry permits ``scheme`` (ws/wss count as http/https)."""
        return self.scheme is None or scheme_class(self.scheme) == scheme_class(scheme)

    def matches_port(self, scheme: str, port: int) -> bool:
        """Whether the entry permits ``port``; no port in the entry means the scheme's default port."""
        if self.any_port:
            return True
        if self.port is not None:
            return port == self.port
        return port == DEFAULT_PORTS[scheme]


def parse_allow_entry(text: str) -> AllowEntry:
    """Compile one allow entry. Raises ``ValueError`` (pydantic reports it with the key path)."""
    if not isinstance(text, str) or not text or any(ord(c) <= 0x20 or c == "\\" for c in text):
        raise ValueError(f"invalid allow entry {text!r}")
    scheme: str | None = None
    rest = text
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        scheme = scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"allow entry {text!r}: unsupported scheme {scheme!r}")
    if "@" in rest or "?" in rest or "#" in rest:
        raise ValueError(f"allow entry {text!r}: only [scheme://]host[:port] is allowed")
    host_text, port_text = _split_entry(text, rest)
    port, any_port = _entry_port(text, port_text)
    target = _entry_target(text, host_text)
    return AllowEntry(text=text, scheme=scheme, port=port, any_port=any_port, **target)


def _split_entry(text: str, rest: str) -> tuple[str, str | None]:
    if rest.startswith("["):
        close = rest.find("]")
        if close == -1 or (rest[close + 1 :] and not rest[close + 1 :].startswith(":")):
            raise ValueError(f"allow entry {text!r}: malformed bracketed IPv6")
        tail = rest[close + 1 :]
        return rest[1:close], (tail[1:] if tail else None)
    if rest.count(":") >= 2:
        return rest, None  # bare IPv6 address or network: no port possible
    host, sep, port = rest.partition(":")
    return host, (port if sep else None)


def _entry_port(text: str, port_text: str | None) -> tuple[int | None, bool]:
    if port_text is None:
        return None, False
    if port_text == "*":
        return None, True
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"allow entry {text!r}: invalid port")
    return int(port_text), False


def _entry_target(text: str, host_text: str) -> dict[str, Any]:
    if "/" in host_text:
        try:
            return {"network": ipaddress.ip_network(host_text, strict=True)}
        except ValueError as exc:
            raise ValueError(f"allow entry {text!r}: invalid IP network ({exc})") from None
    if ":" in host_text:
        host_text = f"[{host_text}]"
    wildcard = host_text.startswith("*.")
    if "*" in (host_text[2:] if wildcard else host_text):
        raise ValueError(f"allow entry {text!r}: '*' is only allowed as the whole first label ('*.example.com')")
    try:
        host = normalize_host(host_text[2:] if wildcard else host_text)
    except HostError as exc:
        raise ValueError(f"allow entry {text!r}: {exc}") from None
    if host.ip is not None:
        if wildcard:
            raise ValueError(f"allow entry {text!r}: wildcards apply to host names, not IP addresses")
        ip = normalize_address(host.ip)
        return {"network": ipaddress.ip_network(ip)}
    assert host.name is not None
    if wildcard:
        if "." not in host.name:
            raise ValueError(f"allow entry {text!r}: wildcard suffix must have at least two labels")
        return {"suffix": host.name}
    return {"name": host.name}


class EgressPolicy(StrictModel):
    """One named allowlist. Compiled once at load; checking a URL does no parsing of the policy."""

    allow: tuple[str, ...] = Field(default=(), description="Allowed destinations (see module docstring).")
    deny_private_networks: Flag = Field(default=True, description="Refuse private/special networks unless explicit.")
    require_https: Flag = Field(default=True, description="Refuse plain http except to explicit loopback hosts.")
    resolve_dns: Flag | None = Field(
        default=None, description="Resolve host names before each request (None: the section's resolve_dns)."
    )

    _entries: tuple[AllowEntry, ...] = PrivateAttr(default=())

    @field_validator("allow")
    @classmethod
    def _valid_entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            parse_allow_entry(entry)
        return value

    @model_validator(mode="after")
    def _http_entries_need_https_off(self) -> EgressPolicy:
        if self.require_https:
            for text in self.allow:
                entry = parse_allow_entry(text)
                if entry.scheme is not None and scheme_class(entry.scheme) == "http" and not entry.is_loopback:
                    raise ValueError(
                        f"allow entry {text!r} names plain http but require_https is true (set it to false)"
                    )
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Compile the allow entries."""
        self._entries = tuple(parse_allow_entry(text) for text in self.allow)

    @property
    def entries(self) -> tuple[AllowEntry, ...]:
        """The compiled allow entries, in configuration order."""
        return self._entries


class EgressConfig(StrictModel):
    """The ``loomllm.egress`` section: policies by name, and what to do with denied deployments."""

    default: str | None = Field(default=None, description="Policy for agents naming none (None: no egress checks).")
    on_denied_deployment: Literal["error", "remove"] = Field(
        default="error", description="error: start-up fails; remove: drop the deployment from that agent's reach."
    )
    resolve_dns: Flag = Field(default=False, description="Resolve names and refuse private results (rebinding).")
    policies: dict[str, EgressPolicy] = Field(default_factory=dict)

    _effective: dict[str, EgressPolicy] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _default_is_known(self) -> EgressConfig:
        if self.default is not None and self.default not in self.policies:
            known = ", ".join(sorted(self.policies)) or "none defined"
            raise ConfigError(f"default egress policy {self.default!r} is not defined (known: {known})",
                              path="loomllm.egress.default")
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Fill each policy's ``resolve_dns`` from the section when the policy leaves it unset."""
        self._effective = {
            name: p if p.resolve_dns is not None else p.model_copy(update={"resolve_dns": self.resolve_dns})
            for name, p in self.policies.items()
        }

    def policy(self, name: str | None) -> EgressPolicy | None:
        """The effective policy called ``name``; ``None`` (no policy) means no egress checks."""
        if name is None:
            return None
        try:
            return self._effective[name]
        except KeyError:
            known = ", ".join(sorted(self._effective)) or "none defined"
            raise ConfigError(f"unknown egress policy {name!r} (known: {known})", path="loomllm.egress") from None
