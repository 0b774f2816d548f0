"""The credential formats loomllm detects, as data: one :class:`SecretSpec` per pattern.

Each spec names its entity type (always ``SECRET_*``), a regex (a named group ``s`` marks the secret inside a
longer match, e.g. the password in a database URL), a base score, literal *triggers* (the recognizer only runs
when one of them occurs in the text — the cheap prefilter), Presidio context words, and optional checks on the
value (entropy, extra validation). Placeholders (``sk-...``, ``YOUR_API_KEY``, ``<token>``, ``${VAR}``) are
rejected by :func:`looks_like_placeholder` for every spec.

This module imports only the standard library: the entity list is needed to validate configs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SECRET_SPECS", "SecretSpec", "looks_like_placeholder", "looks_like_reference", "shannon_entropy"]


@dataclass(frozen=True)
class SecretSpec:
    """One credential pattern."""

    entity: str
    name: str
    regex: str
    score: float
    triggers: tuple[str, ...]
    #: Compare triggers against the lower-cased text.
    triggers_ignore_case: bool = False
    context: tuple[str, ...] = ()
    #: Minimum Shannon entropy (bits per character) of the secret value.
    min_entropy: float = 0.0
    check: Callable[[str], bool] | None = field(default=None, compare=False)
    #: Replaces ``check`` when the value was quoted (group ``q``): a literal, so never a variable reference.
    literal_check: Callable[[str], bool] | None = field(default=None, compare=False)
    #: A regex used as the trigger instead of the literal ``triggers`` (for formats without a fixed prefix).
    trigger_regex: str | None = None
    #: What every match has right after its (case-sensitive) trigger: the single prefilter pass asks for it too,
    #: so a short prefix fires on keys only (Twilio's ``SK`` then 32 hex digits, never "SKU-48213").
    trigger_then: str = ""

    @functools.cached_property
    def compiled(self) -> re.Pattern[str]:
        """The compiled regex (compiled on first scan, not at import)."""
        return re.compile(self.regex)


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# Substrings that never occur in a random token by chance but always in stand-ins.
_PLACEHOLDER_MARKERS = (
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "your_",
    "your-",
    "yourapi",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "yourpass",
    "replace_me",
    "replace-me",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
    "$(",
    "...",
    "…",
    "***",
    "•••",
    "xxxxx",
    "0000000000",
    "1234567890",
    "abcdefghij",
)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_SEGMENT = r"(?:[a-z_][a-z0-9_]*|[A-Z][a-z]+(?:[A-Z][a-z]+)*|[A-Z_][A-Z0-9_]*)"
_REFERENCE = re.compile(
    r"\$\w+|%\w+%|\{[^}]*\}|" + _SEGMENT + r"(?:\." + _SEGMENT + r")+(?:\(\))?|" + _SEGMENT + r"\(\)"
)
_COMMON_VALUES = frozenset(
    {
        "password",
        "passw0rd",
        "secret",
        "token",
        "string",
        "required",
        "optional",
        "none",
        "null",
        "true",
        "false",
        "undefined",
        "admin",
        "root",
        "test",
        "testing",
        "default",
        "hidden",
        "masked",
        "empty",
        "notset",
        "unset",
        "pass",
        "api_key",
        "apikey",
    }
)


def looks_like_placeholder(value: str) -> bool:
    """Whether ``value`` is a stand-in (``sk-xxxx``, ``YOUR_API_KEY``, ``<token>``, ``${VAR}``), not a credential.

    Only markers that a random token cannot contain by chance count, so real keys are never dismissed.
    """
    lowered = value.lower()
    if lowered in _COMMON_VALUES or any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return True
    if _ENV_NAME.fullmatch(value):
        return True
    most_common = Counter(value).most_common(1)[0][1] if value else 0
    return most_common / max(len(value), 1) > 0.4


def looks_like_reference(value: str) -> bool:
    """Whether an assigned value is code, not a literal: ``self.password``, ``get_token()``, ``$VAR``."""
    lowered = value.lower()
    return bool(_REFERENCE.fullmatch(value)) or any(m in lowered for m in ("environ", "getenv", "process.env"))


def _char_classes(value: str) -> int:
    return sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _password_value_ok(value: str) -> bool:
    """A password assignment's value: not an identifier or a bare word; a mix of character classes."""
    if looks_like_reference(value) or re.fullmatch(r"[A-Za-z_]+", value):
        return False
    return _char_classes(value) >= 2 or len(value) >= 12


def _password_literal_ok(value: str) -> bool:
    """A quoted password: any non-placeholder literal of six or more characters."""
    return len(value) >= 6


def _generic_literal_ok(value: str) -> bool:
    """A quoted ``token=``/``secret:`` value: random-looking, not a word or a version."""
    return not re.fullmatch(r"[A-Za-z_\-]+|[\d.\-]+", value) and _char_classes(value) >= 2


def _generic_value_ok(value: str) -> bool:
    """A ``token=``/``secret:`` value: random-looking, not a word, an identifier or a version."""
    if looks_like_reference(value) or re.fullmatch(r"[A-Za-z_\-]+", value) or re.fullmatch(r"[\d.\-]+", value):
        return False
    return _char_classes(value) >= 2


def _high_entropy_value_ok(value: str) -> bool:
    """A random-looking string next to a key-like word in prose: three character classes, no hash or UUID."""
    if _UUID.fullmatch(value) or _HEX.fullmatch(value):
        return False
    return (_char_classes(value) >= 3 and not re.fullmatch(r"[\w\-]+\.[\w\-.]+", value)) or _char_classes(value) == 4


_HASH_WORDS = re.compile(r"(?i)\b(?:sha\d*|md5|hash|digest|checksum|commit|rev|revision|etag|fingerprint|id)\b")


def _prose_token_ok(value: str) -> bool:
    """A value stated in prose after a key-like phrase: random-looking (hex of 32+ counts), not a word or UUID."""
    if looks_like_reference(value) or _UUID.fullmatch(value) or re.fullmatch(r"[A-Za-z_\-]+|[\d.\-]+", value):
        return False
    if _HEX.fullmatch(value):
        return len(value) >= 32 and shannon_entropy(value) >= 3.0
    return _char_classes(value) >= 2 and shannon_entropy(value) >= 3.0


def _prose_password_ok(value: str) -> bool:
    """A password stated in prose: not a word, a number of characters or a variable; a mix of characters.

    Letters only count when they read as generated: ten or more with capitals inside (``kgjmZWtdCFAdwf``).
    """
    if looks_like_reference(value) or re.fullmatch(r"\d{1,5}|[a-z][a-z0-9]*(?:_[a-z0-9]+)+", value):
        return False
    if re.fullmatch(r"[A-Za-z]+", value):
        return len(value) >= 10 and len(re.findall(r"[a-z][A-Z]", value)) >= 2 and shannon_entropy(value) >= 3.2
    return _char_classes(value) >= 2


_PATH_LIKE = re.compile(
    r"[\w.\-~]*(?:/[\w.\-~]+)+/?|[\w.+\-]+@[\w\-]+\.[\w.\-]+|[\d.\-/:]+|\w+://\S+|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
)


def _prose_password_near_ok(value: str) -> bool:
    """A password stated with no verb before it: long enough, random-looking, not a path, e-mail, date or word."""
    if not _prose_password_ok(value) or _PATH_LIKE.fullmatch(value) or re.fullmatch(r"[A-Za-z]+(?:-[A-Za-z]+)+", value):
        return False
    return len(value) >= 8 and shannon_entropy(value) >= 2.5


def _key_variable_ok(value: str) -> bool:
    """A ``*_KEY`` value: random-looking or a product key (``XXXXX-XXXXX-...``), never a UUID or a word."""
    if _UUID.fullmatch(value):
        return False
    return _generic_value_ok(value) and shannon_entropy(value) >= 3.0


_CLI_VALUE = r"""(?P<q>["']?)(?P<s>[^\s"']{4,128})(?P=q)(?!\S)"""


def _cli_password(
    name: str, before: str, triggers: tuple[str, ...], *, after_prefix: bool = False, line_end: bool = False
) -> SecretSpec:
    """A password given to a server's command-line client: ``before`` leads up to the value."""
    value = r"(?P<s>[^\s\"']{4,128})" if after_prefix else _CLI_VALUE
    if line_end:
        value = r"(?P<s>[^\s]{4,128})[ \t]*(?=\n|$)"
    return SecretSpec(
        "SECRET_PASSWORD",
        name,
        r"(?:" + before + r")" + value,
        0.8,
        triggers,
        triggers_ignore_case=True,
        check=_password_value_ok,
    )


def _jwt_ok(value: str) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        return isinstance(json.loads(decoded), dict)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False


def _pem_ok(value: str) -> bool:
    body = re.sub(r"-----[A-Z ]+-----|\\n|\s", "", value)
    return len(body) >= 40 and not looks_like_placeholder(body)


#: Words for a password in prose (English, French, Spanish, German, Portuguese, Dutch).
_PASSWORD_WORD = (
    r"(?i:\b(?:password|passphrase|passwd|passcode|pwd|pw|mot[ \t]+de[ \t]+passe|contrase[ñn]a|passwort|kennwort|"
    r"senha|wachtwoord)s?\b)"
)
_PASSWORD_TRIGGERS = ("pass", "pwd", "pw", "contrase", "kennwort", "senha", "wachtwoord")

#: ``*_KEY`` names that hold identifiers, not secrets.
_NOT_SECRET_KEYS = (
    r"primary|foreign|sort|partition|cache|idempotency|public|publishable|pub|row|hash|lookup|dedup|range|"
    r"unique|composite|index|map|dict|object|s3|bucket|cursor|shard|routing|group|message|i18n|translation"
)

#: Up to 40 characters of prose between a key-like phrase and "is": never a line end, a sentence end, an
#: assignment, or words saying the value is a hash or an id.
_PROSE_GAP = (
    r"(?:(?!(?i:digest|hash|checksum|fingerprint|sha\d|sha\b|md5|id\b|ids\b|version|commit|revision|uuid))"
    r"[^\n.;=]){0,40}?"
)

_TOKEN_PHRASE = (
    r"(?i:\b(?:api[ _\-]?key|access[ _\-]?(?:key|token)|auth(?:entication)?[ _\-]?token|app[ _\-]?token|"
    r"bearer[ _\-]?token|secret(?:[ _\-]key)?|client[ _\-]?secret|signing[ _\-]?(?:key|secret)|"
    r"licen[cs]e[ _\-]?key|admin[ _\-]?key|private[ _\-]?(?:token|key)|(?:encryption|master|hmac|webhook|"
    r"activation|product|signing)[ _\-.]?(?:key|secret)|token)s?\b)"
)
_PROSE_VALUE = r"""["'`]?(?P<s>[A-Za-z0-9_\-+/~]{16,200}={0,2})["'`]?(?![A-Za-z0-9_\-+/=~])"""

#: What may follow a secret-like name before its value: ``SECRET_KEY_BASE``, ``API_KEY_VALUE``, ``SIGNING_KEY_HEX``.
_NAME_SUFFIX = r"(?:[_\-.](?:base|value|hex|b64|base64|str|string|raw|bytes|data|prod|live))?"

# Character class pieces reused below.
_B62 = "A-Za-z0-9"
_URLSAFE = "A-Za-z0-9_\\-"
_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"
_ASSIGN = r"""["']?\]?\s*(?:=|:=|=>|:)[ \t]*"""

_DB_SCHEMES = (
    r"postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|oracle|"
    r"cockroachdb|clickhouse|couchdb|neo4j|memcached|snowflake|db2|jdbc:[a-z]+"
)

SECRET_SPECS: tuple[SecretSpec, ...] = (
    # --- cloud providers -------------------------------------------------------------------------------------
    SecretSpec(
        "SECRET_AWS_ACCESS_KEY",
        "aws_access_key_id",
        _START + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[A-Z0-9]{16}" + _END,
        0.9,
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "A3T"),
        context=("aws", "access", "key", "id"),
    ),
    SecretSpec(
        "SECRET_AWS_SECRET_KEY",
        "aws_secret_access_key",
        r"(?i:aws[\w.\-]{0,30}(?:secret|sk)[\w.\-]{0,20})"
        + _ASSIGN
        + r"""["']?(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])""",
        0.9,
        ("aws",),
        triggers_ignore_case=True,
        context=("aws", "secret"),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_AWS_SECRET_KEY",
        "aws_secret_key_prose",
        r"(?i:aws\s+secret(?:\s+access)?\s+key)\W{1,5}(?:is\s+)?(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        0.85,
        ("aws",),
        triggers_ignore_case=True,
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_GCP_API_KEY",
        "google_api_key",
        _START + r"AIza[" + _URLSAFE + r"]{35}" + _END,
        0.9,
        ("AIza",),
        context=("google", "gcp", "key"),
    ),
    SecretSpec(
        "SECRET_GCP_SERVICE_ACCOUNT_KEY",
        "gcp_service_account_private_key",
        r'"private_key"\s*:\s*"(?P<s>-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=\s])+?'
        r'-----END (?:RSA )?PRIVATE KEY-----(?:\\n)?)"',
        0.99,
        ('"private_key"',),
        check=_pem_ok,
    ),
    SecretSpec(
        "SECRET_GOOGLE_OAUTH_TOKEN",
        "google_oauth_client_secret",
        _START + r"GOCSPX-[" + _URLSAFE + r"]{28}" + _END,
        0.9,
        ("GOCSPX-",),
    ),
    SecretSpec(
        "SECRET_GOOGLE_OAUTH_TOKEN",
        "google_oauth_access_token",
        _START + r"ya29\.[" + _URLSAFE + r"]{30,}" + _END,
        0.85,
        ("ya29.",),
    ),
    SecretSpec(
        "SECRET_AZURE_STORAGE_KEY",
        "azure_storage_connection_string",
        r"(?i:AccountKey)=(?P<s>[A-Za-z0-9+/]{86}==)",
        0.95,
        ("accountkey=",),
        triggers_ignore_case=True,
        context=("azure", "storage"),
    ),
    SecretSpec(
        "SECRET_AZURE_STORAGE_KEY",
        "azure_storage_key_assignment",
        r"(?i:(?:azure|storage|account)[\w.\-]{0,30}key[\w.\-]{0,10})"
        + _ASSIGN
        + r"""["']?(?P<s>[A-Za-z0-9+/]{86}==)""",
        0.9,
        ("key",),
        triggers_ignore_case=True,
    ),
    SecretSpec(
        "SECRET_AZURE_SAS_TOKEN",
        "azure_sas_signature",
        r"(?:[?&;]|\b)sv=\d{4}-\d{2}-\d{2}[^\s\"']*?[?&;]sig=(?P<s>[A-Za-z0-9%+/]{30,}(?:%3D|=){0,2})",
        0.9,
        ("sig=",),
    ),
    SecretSpec(
        "SECRET_AZURE_SAS_TOKEN",
        "azure_service_bus_key",
        r"(?i:SharedAccessKey)=(?P<s>[A-Za-z0-9+/]{43}=)",
        0.9,
        ("sharedaccesskey=",),
        triggers_ignore_case=True,
    ),
    SecretSpec(
        "SECRET_AZURE_CLIENT_SECRET",
        "azure_ad_client_secret",
        _START + r"[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}" + _END,
        0.85,
        ("Q~",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_AZURE_API_KEY",
        "azure_cognitive_key",
        r"(?i:azure[\w.\-]{0,30}(?:key|secret)[\w.\-]{0,10})"
        + _ASSIGN
        + r"""["']?(?P<s>[a-fA-F0-9]{32}|[A-Za-z0-9]{84}JQQJ99[A-Za-z0-9]{6}|[A-Za-z0-9]{52})"""
        + _END,
        0.85,
        ("azure",),
        triggers_ignore_case=True,
        min_entropy=3.0,
    ),
    SecretSpec(
        "SECRET_DIGITALOCEAN_TOKEN",
        "digitalocean_token",
        _START + r"do[opr]_v1_[a-f0-9]{64}" + _END,
        0.95,
        ("_v1_",),
    ),
    # --- source hosting and package registries -----------------------------------------------------------------
    SecretSpec(
        "SECRET_GITHUB_TOKEN",
        "github_token",
        _START + r"gh[pousr]_[" + _B62 + r"]{36,251}" + _END,
        0.95,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        context=("github", "token"),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_GITHUB_TOKEN",
        "github_fine_grained_pat",
        _START + r"github_pat_[" + _B62 + r"]{22}_[" + _B62 + r"]{59}" + _END,
        0.99,
        ("github_pat_",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_GITLAB_TOKEN",
        "gitlab_token",
        _START + r"gl(?:pat|ptt|dt|rt|cbt|imt|oas|ft)-[" + _URLSAFE + r"]{20,}" + _END,
        0.95,
        ("glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glimt-", "gloas-", "glft-"),
        min_entropy=3.0,
    ),
    SecretSpec(
        "SECRET_NPM_TOKEN",
        "npm_token",
        _START + r"npm_[" + _B62 + r"]{36}" + _END,
        0.95,
        ("npm_",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_PYPI_TOKEN",
        "pypi_token",
        _START + r"pypi-Ag[" + _URLSAFE + r"]{50,}" + _END,
        0.99,
        ("pypi-Ag",),
    ),
    SecretSpec(
        "SECRET_DOCKERHUB_TOKEN",
        "dockerhub_pat",
        _START + r"dckr_pat_[" + _URLSAFE + r"]{27}" + _END,
        0.95,
        ("dckr_pat_",),
    ),
    # --- chat, messaging, payments -----------------------------------------------------------------------------
    SecretSpec(
        "SECRET_SLACK_TOKEN",
        "slack_token",
        _START + r"xox[abposre]-(?:\d+-){1,3}[" + _B62 + r"]{20,}" + _END,
        0.95,
        ("xox",),
    ),
    SecretSpec(
        "SECRET_SLACK_TOKEN",
        "slack_app_token",
        _START + r"xapp-\d-[A-Z0-9]+-\d+-[a-zA-Z0-9]{32,}" + _END,
        0.95,
        ("xapp-",),
    ),
    SecretSpec(
        "SECRET_SLACK_WEBHOOK",
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]{16,}",
        0.95,
        ("hooks.slack.com",),
    ),
    SecretSpec(
        "SECRET_DISCORD_BOT_TOKEN",
        "discord_bot_token",
        _START + r"[MNO][A-Za-z\d]{23,27}\.[" + _URLSAFE + r"]{6}\.[" + _URLSAFE + r"]{27,38}" + _END,
        0.85,
        (),
        min_entropy=3.5,
        trigger_regex=r"[MNO][A-Za-z\d]{23,27}\.",
    ),
    SecretSpec(
        "SECRET_DISCORD_WEBHOOK",
        "discord_webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[" + _URLSAFE + r"]{60,70}",
        0.95,
        ("/api/webhooks/",),
    ),
    SecretSpec(
        "SECRET_TELEGRAM_BOT_TOKEN",
        "telegram_bot_token",
        r"(?<!\d)\d{8,10}:AA[" + _URLSAFE + r"]{33}" + _END,
        0.9,
        (":AA",),
    ),
    SecretSpec(
        "SECRET_TWILIO_API_KEY",
        "twilio_api_key",
        _START + r"SK[0-9a-f]{32}" + _END,
        0.8,
        ("SK",),
        context=("twilio",),
        min_entropy=3.2,
        trigger_then=r"[0-9a-f]{32}",
    ),
    SecretSpec(
        "SECRET_TWILIO_AUTH_TOKEN",
        "twilio_auth_token",
        r"(?i:twilio[\w.\-]{0,20}(?:auth|token|secret)[\w.\-]{0,10})"
        + _ASSIGN
        + r"""["']?(?P<s>[a-f0-9]{32})"""
        + _END,
        0.9,
        ("twilio",),
        triggers_ignore_case=True,
        min_entropy=3.2,
    ),
    SecretSpec(
        "SECRET_SENDGRID_API_KEY",
        "sendgrid_api_key",
        _START + r"SG\.[" + _URLSAFE + r"]{22}\.[" + _URLSAFE + r"]{43}" + _END,
        0.95,
        ("SG.",),
    ),
    SecretSpec(
        "SECRET_MAILGUN_API_KEY",
        "mailgun_api_key",
        _START + r"key-[0-9a-f]{32}" + _END,
        0.85,
        ("key-",),
        min_entropy=3.2,
    ),
    SecretSpec(
        "SECRET_MAILCHIMP_API_KEY",
        "mailchimp_api_key",
        _START + r"[0-9a-f]{32}-us\d{1,2}" + _END,
        0.9,
        ("-us",),
        min_entropy=3.2,
        trigger_then=r"\d",
    ),
    SecretSpec(
        "SECRET_STRIPE_KEY",
        "stripe_secret_key",
        _START + r"(?:sk|rk)_(?:live|test)_[" + _B62 + r"]{20,247}" + _END,
        0.95,
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_STRIPE_KEY",
        "stripe_webhook_secret",
        _START + r"whsec_[" + _B62 + r"]{24,}" + _END,
        0.95,
        ("whsec_",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_SQUARE_TOKEN",
        "square_token",
        _START + r"(?:EAAA[" + _URLSAFE + r"]{60}|sq0(?:atp|csp)-[" + _URLSAFE + r"]{22,43})" + _END,
        0.9,
        ("EAAA", "sq0atp-", "sq0csp-"),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_SHOPIFY_TOKEN",
        "shopify_token",
        _START + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _END,
        0.95,
        ("shpat_", "shpca_", "shppa_", "shpss_"),
    ),
    # --- AI providers ------------------------------------------------------------------------------------------
    SecretSpec(
        "SECRET_ANTHROPIC_API_KEY",
        "anthropic_api_key",
        _START + r"sk-ant-(?:api|admin|sid)\d{2}-[" + _URLSAFE + r"]{80,120}" + _END,
        0.99,
        ("sk-ant-",),
    ),
    SecretSpec(
        "SECRET_OPENAI_API_KEY",
        "openai_api_key",
        _START + r"sk-(?:(?:proj|svcacct|admin)-)?(?:[" + _URLSAFE + r"]{20,}T3BlbkFJ[" + _URLSAFE + r"]{20,}"
        r"|[" + _B62 + r"]{48}|(?:proj|svcacct|admin)-[" + _URLSAFE + r"]{40,200})" + _END,
        0.95,
        ("sk-",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_HUGGINGFACE_TOKEN",
        "huggingface_token",
        _START + r"(?:hf_|api_org_)[" + _B62 + r"]{34,40}" + _END,
        0.9,
        ("hf_", "api_org_"),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_GROQ_API_KEY",
        "groq_api_key",
        _START + r"gsk_[" + _B62 + r"]{52}" + _END,
        0.95,
        ("gsk_",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_REPLICATE_TOKEN",
        "replicate_token",
        _START + r"r8_[" + _B62 + r"]{37}" + _END,
        0.9,
        ("r8_",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_PERPLEXITY_API_KEY",
        "perplexity_api_key",
        _START + r"pplx-[" + _B62 + r"]{48}" + _END,
        0.95,
        ("pplx-",),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_XAI_API_KEY",
        "xai_api_key",
        _START + r"xai-[" + _B62 + r"]{80}" + _END,
        0.95,
        ("xai-",),
        min_entropy=3.5,
    ),
    # --- infrastructure -----------------------------------------------------------------------------------------
    SecretSpec(
        "SECRET_VAULT_TOKEN",
        "hashicorp_vault_token",
        _START + r"hv[sbr]\.[" + _URLSAFE + r"]{24,}" + _END,
        0.9,
        ("hvs.", "hvb.", "hvr."),
        min_entropy=3.5,
    ),
    SecretSpec(
        "SECRET_NEW_RELIC_KEY",
        "new_relic_key",
        _START + r"NR(?:AK|II|JS)-[A-Za-z0-9]{27}" + _END,
        0.9,
        ("NRAK-", "NRII-", "NRJS-"),
    ),
    SecretSpec(
        "SECRET_DOPPLER_TOKEN",
        "doppler_token",
        _START + r"dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_\-]{1,32}\.)?[" + _B62 + r"]{40,44}" + _END,
        0.95,
        ("dp.",),
    ),
    SecretSpec(
        "SECRET_AGE_SECRET_KEY",
        "age_secret_key",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        0.99,
        ("AGE-SECRET-KEY-",),
    ),
    SecretSpec(
        "SECRET_JWT",
        "json_web_token",
        _START + r"eyJ[" + _URLSAFE + r"]{8,}\.eyJ[" + _URLSAFE + r"]{8,}\.[" + _URLSAFE + r"]{16,}" + _END,
        0.85,
        ("eyJ",),
        context=("jwt", "token", "bearer", "authorization"),
        check=_jwt_ok,
    ),
    SecretSpec(
        "SECRET_PRIVATE_KEY",
        "pem_private_key",
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |ED25519 )?PRIVATE KEY(?: BLOCK)?-----"
        r"(?:\\n|\\r|[A-Za-z0-9+/=:,\-\s])+?"
        r"-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |ED25519 )?PRIVATE KEY(?: BLOCK)?-----",
        0.99,
        ("PRIVATE KEY",),
        check=_pem_ok,
    ),
    # --- credentials in URLs and assignments --------------------------------------------------------------------
    SecretSpec(
        "SECRET_DATABASE_PASSWORD",
        "connection_url_password",
        r"(?i:\b(?:" + _DB_SCHEMES + r")(?:\+\w+)?)://[^:/\s@\"']*:(?P<s>[^@\s/\"']{3,128})@[\w.\-\[\]]",
        0.9,
        ("://",),
        context=("database", "url", "dsn"),
        check=lambda v: v.lower() not in {"pass", "pwd", "pw"},
    ),
    SecretSpec(
        "SECRET_URL_PASSWORD",
        "basic_auth_url_password",
        r"(?i:\b(?:https?|ftps?|sftp|ssh|git|smtps?|imaps?|ldaps?|ws|wss|svn|nats|kafka|socks5?))"
        r"://[^:/\s@\"']+:(?P<s>[^@\s/\"']{3,128})@[\w.\-\[\]]",
        0.85,
        ("://",),
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_assignment",
        r"(?i:(?<![A-Za-z0-9])[\w.\-]*(?:password|passwd|passphrase|pwd|(?<![a-z])pass)s?)"
        + _ASSIGN
        + r"""(?P<q>["'`]?)(?P<s>[^\s"'`,;(){}\[\]<>]{6,128})(?P=q)(?![^\s"'`,;(){}\[\]<>])""",
        0.8,
        ("pass", "pwd"),
        triggers_ignore_case=True,
        check=_password_value_ok,
        literal_check=_password_literal_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_cli_flag",
        r"(?:\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]{0,80}?\s-p|--(?:db-)?pass(?:word|wd)?[= ])"
        r"""(?P<q>["']?)(?P<s>[^\s"']{4,128})(?P=q)(?!\S)""",
        0.8,
        ("mysql", "mariadb", "--pass", "--db-pass"),
        triggers_ignore_case=True,
        check=_password_value_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_xml_element",
        r"<(?P<tag>(?i:[\w.\-]*(?:password|passwd|passphrase|pwd)))>(?P<s>[^<\s]{4,256})</(?P=tag)>",
        0.8,
        ("pass", "pwd"),
        triggers_ignore_case=True,
        check=_password_value_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "secret_xml_element",
        r"<(?P<tag>(?i:(?![\w.\-]*(?:" + _NOT_SECRET_KEYS + r")[_\-.]?keys?>)"
        r"[\w.\-]*(?:secret|token|key|credential)s?))>"
        r"(?P<s>[A-Za-z0-9_\-+/=.~]{16,256})</(?P=tag)>",
        0.8,
        ("secret", "token", "key", "credential"),
        triggers_ignore_case=True,
        min_entropy=3.0,
        check=_generic_value_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "secret_assignment",
        r"(?i:(?<![A-Za-z0-9])[\w.\-]*(?:secret|token|api[_\-]?key|apikey|access[_\-]?key|auth[_\-]?key|"
        r"private[_\-]?key|client[_\-]?secret|credentials?|auth|bearer|session[_\-]?key|signing[_\-]?key|"
        r"(?:secret|token|app|master|encryption)[_\-]?key)s?" + _NAME_SUFFIX + ")"
        + _ASSIGN
        + r"""(?:bearer\s+)?(?P<q>["'`]?)(?P<s>[A-Za-z0-9_\-+/=.~]{16,256})(?P=q)(?![A-Za-z0-9_\-+/=.~])""",
        0.8,
        ("secret", "token", "key", "credential", "auth", "bearer"),
        triggers_ignore_case=True,
        min_entropy=3.0,
        check=_generic_value_ok,
        literal_check=_generic_literal_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "bearer_header",
        r"(?i:authorization\s*:\s*(?:bearer|token|basic)\s+)(?P<s>[A-Za-z0-9_\-+/=.~]{16,})",
        0.85,
        ("authorization",),
        triggers_ignore_case=True,
        min_entropy=3.0,
        check=_generic_value_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "token_stated_in_prose",
        _TOKEN_PHRASE
        + r"(?:" + _PROSE_GAP + r"[ \t](?i:is|was|are|reads)[ \t]+(?i:now[ \t]+|still[ \t]+)?|[ \t]+(?i:is[ \t]+)?)"
        + _PROSE_VALUE,
        0.65,
        ("key", "token", "secret"),
        triggers_ignore_case=True,
        check=_prose_token_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "token_near_phrase",
        _TOKEN_PHRASE + _PROSE_GAP + r"[ \t]" + _PROSE_VALUE,
        0.6,
        ("key", "token", "secret"),
        triggers_ignore_case=True,
        check=lambda v: not _HEX.fullmatch(v) and _prose_token_ok(v),
    ),
    SecretSpec(
        "SECRET_HIGH_ENTROPY_STRING",
        "hex_near_secret_phrase",
        # "the encryption key ... and got 3f9a...", "master.key contents 8b8e...": hex of 32+ after a phrase that
        # names a secret (a bare "token" names endpoints and requests too), with no request/trace words between.
        _TOKEN_PHRASE.replace("|token)s?", ")s?")
        + _PROSE_GAP.replace("uuid))", "uuid|request|trace|span|response|session))")
        + r"[ \t][(\"'`]?(?P<s>[0-9a-fA-F]{32,128})(?![0-9A-Za-z_\-+/=~])",
        0.6,
        ("key", "secret", "token"),
        triggers_ignore_case=True,
        check=_prose_token_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_in_prose",
        _PASSWORD_WORD
        + r"(?:" + _PROSE_GAP + r"[ \t](?i:is|was|are|=|to|:|es|est|ist|é|era)[ \t]+"
        r"(?i:now[ \t]+|still[ \t]+|set[ \t]+to[ \t]+)?|[ \t]+)"
        # The value has a non-letter or an inner capital (a word never does): the gap can run on past "changed".
        r"""["'`]?(?=[^\s"'`(){}\[\]<>,;]*?(?:[^A-Za-z\s"'`(){}\[\]<>,;.]|\.\S|[a-z][A-Z]))"""
        r"""(?P<s>[^\s"'`(){}\[\]<>,;$][^\s"'`(){}\[\]<>,;]{5,127}?)["'`]?(?=[.,;!?)]*(?:\s|$))""",
        0.75,
        _PASSWORD_TRIGGERS,
        triggers_ignore_case=True,
        check=_prose_password_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_near_phrase",
        # "the password for the demo account Xk3...", "asked for a password and I typed tiger%81": no verb, so the
        # value must look generated (a digit or symbol, or an inner capital) and the gap says nothing of hashes.
        _PASSWORD_WORD
        + _PROSE_GAP.replace("{0,40}", "{0,64}")
        + r"""[ \t][("'`]?(?=[^\s"'`(){}\[\]<>,;]*?(?:[0-9@#$%^&*+=~_/\\|!?]|[a-z][A-Z]))"""
        r"""(?P<s>[^\s"'`(){}\[\]<>,;$][^\s"'`(){}\[\]<>,;]{7,127}?)["'`]?(?=[.,;!?)]*(?:\s|$))"""
        # a word followed by "is" is the subject ("password on build-07 is ..."), not the value
        r"(?![.,;!?)]*[ \t]+(?i:is|was|are|has|had|will)\b)",
        0.7,
        _PASSWORD_TRIGGERS,
        triggers_ignore_case=True,
        check=_prose_password_near_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_value_first",
        r"""(?i:\b(?:use|try|typed?|enter(?:ed)?|set|choose|chose|picked?)\b)[ \t]+["'`]?(?P<s>[^\s"'`]{6,128}?)"""
        r"""["'`]?[ \t]+(?i:as)[ \t]+(?i:(?:the|your|my|a|our|its)[ \t]+)?"""
        r"(?i:(?:new|temporary|temp|initial|default|admin|root|account)[ \t]+)?"
        r"(?i:password|passphrase|passwd|pw|pwd)\b",
        0.75,
        _PASSWORD_TRIGGERS,
        triggers_ignore_case=True,
        check=_prose_password_near_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "login_user_slash_password",
        # "the admin login is admin / Xk3...", "credentials are ops@vendor / Copper#174"
        r"(?i:\b(?:login|logins|log-in|credentials?|creds)\b)[^\n.;]{0,40}?[ \t][^\s/]{1,64}[ \t]?/[ \t]?"
        r"""["'`]?(?P<s>[^\s/"'`]{6,128}?)["'`]?(?=[.,;!?)]*(?:\s|$))""",
        0.7,
        ("login", "log-in", "credential", "creds"),
        triggers_ignore_case=True,
        check=lambda v: _prose_password_near_ok(v) and bool(re.search(r"[^A-Za-z]", v)),
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_server_flag",
        r"(?:\bredis-cli\b[^\n]{0,120}?\s-a|\bsshpass\s+-p|\bldap\w+\b[^\n]{0,120}?\s-w|"
        r"\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|cqlsh|cypher-shell|mysqlsh|influx|vsql|"
        r"clickhouse-client|docker|podman|nerdctl|helm|buildah|skopeo|oras)\b[^\n]{0,120}?\s(?:-p|--password|-password)"
        r"(?![\w\-]))"
        r"""\s*(?P<q>["']?)(?P<s>[^\s"']{4,128})(?P=q)(?!\S)""",
        0.8,
        ("redis-cli", "sshpass", "ldap", "mongo", "cqlsh", "cypher-shell", "mysqlsh", "influx", "vsql", "clickhouse",
         "docker", "podman", "nerdctl", "helm", "buildah", "skopeo", "oras"),
        triggers_ignore_case=True,
        check=_password_value_ok,
    ),
    _cli_password(
        "password_user_flag_pair",
        # "-u admin -p S3cret", "-U sa -P S3cret": a password right after a user flag, whatever the tool
        r"(?<!\S)-(?:u|U|-user|-username)[ =]?[^\s\-]\S{0,63}\s+(?:-[pP](?:[ =]|(?=[^\s\-]))|--pass(?:word)?[ =])",
        (" -u", " -U", "--user"),
    ),
    _cli_password(
        "password_sql_client_flag",
        r"\b(?:sqlcmd|bcp|osql|isql|vertica|nzsql|db2)\b[^\n]{0,160}?\s-P[ \t]*",
        ("sqlcmd", "bcp", "osql", "isql", "vertica", "nzsql", "db2"),
    ),
    _cli_password(
        "htpasswd_batch_password",
        # htpasswd -b [-c] FILE USER PASS, htpasswd -nb USER PASS
        r"\bhtpasswd(?=[^\n]*\s-[A-Za-z]*b)(?:\s+-[A-Za-z]+)*"
        r"(?:(?<=n)|(?<=n[A-Za-z])|(?<=n[A-Za-z]{2})|\s+[^\s\-]\S*)\s+[^\s\-]\S*\s+",
        ("htpasswd",),
    ),
    _cli_password(
        "rabbitmq_user_password",
        r"\brabbitmqctl\b(?:\s+-\S+(?:\s+[^\s\-]\S*)?)*?\s+(?:add_user|change_password)\s+[^\s\-]\S*\s+",
        ("rabbitmqctl",),
    ),
    _cli_password(
        "java_keystore_password",
        r"(?<!\S)-(?:src|dest|new)?(?:store|key)pass(?::file|:env)?\s+",
        ("storepass", "keypass"),
    ),
    _cli_password(
        "openssl_pass_argument",
        r"(?<!\S)-(?:passin|passout|pass|password|k)\s+pass:",
        ("pass:",),
        after_prefix=True,
    ),
    _cli_password(
        "archive_password_flag",
        r"\b(?:zip|unzip|zipcloak|funzip)\b[^\n]{0,80}?\s-P\s*|\b(?:7z|7za|7zr|rar|unrar)\b[^\n]{0,80}?\s-p",
        ("zip", "7z", "rar"),
    ),
    _cli_password(
        "rdp_password_flag",
        r"\b(?:xfreerdp|wlfreerdp|sdl-freerdp)\b[^\n]{0,200}?\s/p:|\brdesktop\b[^\n]{0,120}?\s-p\s*",
        ("freerdp", "rdesktop"),
    ),
    _cli_password(
        "net_use_password",
        r"\bnet\s+use\b[^\n]{0,160}?/user:\S+\s+(?![*/])",
        ("net use",),
    ),
    _cli_password(
        "smb_user_percent_password",
        r"\b(?:smbclient|rpcclient|smbmap|smbget|mount\.cifs|crackmapexec|netexec|winexe)\b[^\n]{0,160}?"
        r"""\s-U\s*["']?[^%\s"']+%""",
        ("smbclient", "rpcclient", "smbmap", "smbget", "cifs", "crackmapexec", "netexec", "winexe"),
    ),
    _cli_password(
        "lftp_user_comma_password",
        r"""\blftp\b[^\n]{0,80}?\s-u\s*["']?[^,\s"']+,""",
        ("lftp",),
    ),
    _cli_password(
        "minio_alias_secret",
        r"\bmc\s+(?:alias\s+set|config\s+host\s+add)\s+\S+\s+\S+\s+\S+\s+",
        ("mc alias", "mc config"),
    ),
    _cli_password(
        "rclone_config_secret",
        r"\brclone\s+config\s+(?:create|update)\b[^\n]{0,160}?\s"
        r"(?:key|pass|password|secret_access_key|client_secret|account_key|token)\s+",
        ("rclone",),
    ),
    _cli_password(
        "ftp_script_user_password",
        # "user NAME PASS" inside an ftp here-document or script
        r"\b(?:ftp|lftp)\b[^\n]*(?:\n[^\n]*){0,6}?\n[ \t]*user[ \t]+\S+[ \t]+",
        ("ftp",),
        line_end=True,
    ),
    _cli_password(
        "vncpasswd_input",
        r"\bvncpasswd\b[^\n]{0,40}?<<<\s*",
        ("vncpasswd",),
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "password_long_flag",
        r"(?<![\w\-])--(?i:[a-z]+-)*(?i:pass(?:word|wd|phrase)?|requirepass|secret|token|api-?key|access-key|"
        r"auth-key|auth-token|api-token)[= ]"
        r"""(?P<q>["']?)(?P<s>[^\s"']{4,128})(?P=q)(?!\S)""",
        0.8,
        ("--",),
        check=_password_value_ok,
    ),
    SecretSpec(
        "SECRET_PASSWORD",
        "curl_user_password",
        r"""\bcurl\b[^\n]{0,160}?\s(?:-u|--user)\s*["']?[^:\s"']+:(?P<s>[^\s"'@]{4,128})["']?(?!\S)""",
        0.8,
        ("curl",),
        triggers_ignore_case=True,
        check=_password_value_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "key_variable_assignment",
        r"(?i:(?<![A-Za-z0-9])(?![\w.\-]*(?:" + _NOT_SECRET_KEYS + r")[_\-.]?keys?\b)[\w.\-]*[_\-.]keys?"
        + _NAME_SUFFIX
        + ")"
        + _ASSIGN
        + r"""(?P<q>["'`]?)(?P<s>[A-Za-z0-9_\-+/=.~]{16,256})(?P=q)(?![A-Za-z0-9_\-+/=.~])""",
        0.75,
        ("key",),
        triggers_ignore_case=True,
        check=_key_variable_ok,
    ),
    SecretSpec(
        "SECRET_GENERIC_CREDENTIAL",
        "env_list_name_value",
        # Kubernetes / ECS / compose env lists: `- name: ROOT_KEY` then `value: "..."` (YAML or JSON)
        r"""(?i:\bname["']?[ \t]*:[ \t]*["']?(?![\w.\-]*(?:""" + _NOT_SECRET_KEYS + r""")[_\-.]?keys?\b)"""
        r"""[\w.\-]*(?:key|secret|token|password|passwd|pwd|pass|credential|auth)s?""" + _NAME_SUFFIX + r""")"""
        r"""["']?[ \t]*,?[ \t]*\r?\n?[ \t]*(?:-[ \t]*)?["']?(?i:value)["']?[ \t]*:[ \t]*"""
        r"""(?P<q>["'`]?)(?P<s>[A-Za-z0-9_\-+/=.~!@#$%^&*]{6,256})(?P=q)(?![A-Za-z0-9_\-+/=.~])""",
        0.8,
        ("value",),
        triggers_ignore_case=True,
        check=_generic_value_ok,
        literal_check=_password_literal_ok,
    ),
    SecretSpec(
        "SECRET_HIGH_ENTROPY_STRING",
        "high_entropy_near_keyword",
        r"(?i:\b(?:api[ _\-]?key|secret|token|password|passwd|credentials?|access[ _\-]?key|auth(?:entication)?)\b)"
        r"[^\n]{0,30}?(?<![\w/+=.\-])(?P<s>[A-Za-z0-9_\-+/=]{20,200})(?![\w/+=\-])",
        0.7,
        ("key", "secret", "token", "passw", "credential", "auth"),
        triggers_ignore_case=True,
        min_entropy=3.5,
        check=_high_entropy_value_ok,
    ),
)
