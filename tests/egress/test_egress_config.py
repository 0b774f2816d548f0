"""EgressConfig / EgressPolicy validation and allow-entry parsing."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from pydantic import ValidationError

from loomllm._egress import EgressConfig, EgressPolicy, parse_allow_entry
from loomllm.errors import ConfigError

EXAMPLE = """
default: providers
on_denied_deployment: error
resolve_dns: false
policies:
  providers:
    allow: ["api.openai.com", "api.anthropic.com", "*.openai.azure.com", "localhost:11434",
            "https://generativelanguage.googleapis.com:443", "10.20.0.0/16"]
    deny_private_networks: true
    require_https: true
  strict:
    allow: ["api.openai.com"]
    resolve_dns: true
"""


class TestEgressConfig:
    def test_example_loads(self) -> None:
        """The documented example validates and compiles every entry."""
        config = EgressConfig.model_validate(yaml.safe_load(EXAMPLE))
        policy = config.policy("providers")
        assert policy is not None
        assert 6 == len(policy.entries)

    def test_defaults(self) -> None:
        """An empty section means no egress checks, error on denied deployments, no DNS."""
        config = EgressConfig()
        assert (None, "error", False) == (config.default, config.on_denied_deployment, config.resolve_dns)
        assert config.policy(None) is None

    def test_policy_inherits_resolve_dns(self) -> None:
        """A policy without resolve_dns takes the section's value; its own value wins."""
        raw = yaml.safe_load(EXAMPLE)
        raw["resolve_dns"] = True
        config = EgressConfig.model_validate(raw)
        providers = config.policy("providers")
        strict = config.policy("strict")
        assert providers is not None and providers.resolve_dns is True
        assert strict is not None and strict.resolve_dns is True
        assert providers.entries  # compiled entries survive the copy

    def test_unknown_default(self) -> None:
        """A default naming no policy is rejected, naming the key."""
        with pytest.raises(ConfigError, match="not defined") as caught:
            EgressConfig(default="nope")
        assert "loomllm.egress.default" == caught.value.path

    def test_unknown_policy_lookup(self) -> None:
        """Looking up an unknown policy raises ConfigError."""
        with pytest.raises(ConfigError, match="unknown egress policy"):
            EgressConfig().policy("nope")

    @pytest.mark.parametrize("key", ["allowed", "deny_private_network", "require_http"])
    def test_typos_are_errors(self, key: str) -> None:
        """Unknown keys in a policy are errors (a typo must not disable a check)."""
        with pytest.raises(ValidationError):
            EgressPolicy.model_validate({key: True})

    def test_bad_mode(self) -> None:
        """on_denied_deployment accepts only error and remove."""
        with pytest.raises(ValidationError):
            EgressConfig.model_validate({"on_denied_deployment": "ignore"})

    def test_policy_is_frozen(self) -> None:
        """Policies are immutable once loaded."""
        policy = EgressPolicy(allow=["api.openai.com"])
        with pytest.raises(ValidationError):
            policy.require_https = False  # type: ignore[misc]


class TestAllowEntries:
    @pytest.mark.parametrize(
        ("text", "fields"),
        [
            ("api.openai.com", {"name": "api.openai.com", "port": None, "scheme": None}),
            ("API.OpenAI.com.", {"name": "api.openai.com"}),
            ("*.openai.azure.com", {"suffix": "openai.azure.com"}),
            ("localhost:11434", {"name": "localhost", "port": 11434}),
            ("https://generativelanguage.googleapis.com:443", {"scheme": "https", "port": 443}),
            ("10.20.0.0/16", {"network": ipaddress.ip_network("10.20.0.0/16")}),
            ("10.20.0.0/16:8000", {"network": ipaddress.ip_network("10.20.0.0/16"), "port": 8000}),
            ("10.0.0.7", {"network": ipaddress.ip_network("10.0.0.7/32")}),
            ("[::1]:8000", {"network": ipaddress.ip_network("::1/128"), "port": 8000}),
            ("fd00::/8", {"network": ipaddress.ip_network("fd00::/8")}),
            ("[fd00::/8]:443", {"network": ipaddress.ip_network("fd00::/8"), "port": 443}),
            ("[::ffff:10.0.0.1]", {"network": ipaddress.ip_network("10.0.0.1/32")}),
            ("host.example:*", {"any_port": True}),
            ("bücher.example", {"name": "xn--bcher-kva.example"}),
        ],
    )
    def test_parse(self, text: str, fields: dict[str, object]) -> None:
        """Each supported entry form compiles to the expected matcher."""
        entry = parse_allow_entry(text)
        assert fields == {k: getattr(entry, k) for k in fields}

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "*",
            "*.com",
            "api.*.com",
            "*.10.0.0.1",
            "ftp://host",
            "host:0",
            "host:70000",
            "host:",
            "user@host",
            "host/path",
            "10.20.0.1/16",
            "host?x",
            " host",
            "a..b",
            "[::1",
        ],
    )
    def test_invalid_entries(self, text: str) -> None:
        """Malformed entries are rejected at load with the entry named."""
        with pytest.raises(ValueError):
            parse_allow_entry(text)

    def test_invalid_entry_in_policy(self) -> None:
        """An invalid entry fails policy validation (ConfigError after the loader's translation)."""
        with pytest.raises(ValidationError, match="allow entry"):
            EgressPolicy(allow=["api.openai.com", "*"])

    def test_http_entry_conflicts_with_require_https(self) -> None:
        """A plain-http entry to a public host requires require_https: false."""
        with pytest.raises(ValidationError, match="require_https"):
            EgressPolicy(allow=["http://api.example.com"])
        EgressPolicy(allow=["http://api.example.com"], require_https=False)
        EgressPolicy(allow=["http://localhost:11434"])

    @pytest.mark.parametrize(
        ("text", "explicit"),
        [
            ("10.20.0.0/16", True),
            ("0.0.0.0/0", False),
            ("8.8.8.8", False),
            ("127.0.0.1", True),
            ("localhost", True),
            ("*.corp.internal", True),
            ("*.example.com", False),
            ("api.example.com", True),
        ],
    )
    def test_explicit_private(self, text: str, explicit: bool) -> None:
        """Which entries count as naming private destinations explicitly."""
        assert explicit == parse_allow_entry(text).explicit_private
