"""Call-time budget keys (end user, tenant, tag): checked, and shown without echoing secrets."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping

from loomllm.errors import ConfigError

from .config import BudgetsConfig

__all__ = ["display_key", "looks_secret", "scoped_keys"]

_PLAIN = re.compile(r"[A-Za-z0-9._@:+\-]{1,80}")
# Vendor token shapes (OpenAI, Stripe, GitHub, Slack, AWS, Google, JWT, GitLab, Hugging Face, Shopify, SendGrid).
_SECRET_PREFIX = re.compile(
    r"^(sk-|sk_|pk_|rk_|ghp_|gho_|ghu_|ghs_|github_pat_|xox[abeoprs]-|AKIA|ASIA|AIza|eyJ|glpat-|hf_|shpat_|SG\.)"
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_secret(value: str) -> bool:
    """Whether a key value looks like a credential: a vendor token shape, or a long random-looking string."""
    if _SECRET_PREFIX.match(value):
        return True
    random_looking = len(value) >= 20 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    return random_looking and "@" not in value and _entropy(value) >= 3.6


def display_key(value: str) -> str:
    """``value`` if it is safe to show in errors, events, reports and store keys; else a fingerprint."""
    if _PLAIN.fullmatch(value) and not looks_secret(value):
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def scoped_keys(config: BudgetsConfig, keys: Mapping[str, object] | None) -> dict[str, str]:
    """``kind -> display value`` for a call's ``budget_keys``; unknown kinds and missing required keys raise."""
    if keys is not None and not isinstance(keys, Mapping):
        raise TypeError('budget_keys must be a mapping of key kind to value, e.g. {"user": "u-81"}')
    given = dict(keys or {})
    out: dict[str, str] = {}
    for kind, value in given.items():
        if kind not in config.scopes:
            known = ", ".join(sorted(config.scopes)) or "none configured"
            raise ConfigError(f"budget key kind {kind!r} is not configured (known: {known})",
                              path=f"loomllm.budgets.scopes.{kind}")
        if not isinstance(value, str) or not value:
            raise TypeError(f"budget_keys[{kind!r}] must be a non-empty string")
        out[kind] = display_key(value)
    return out
