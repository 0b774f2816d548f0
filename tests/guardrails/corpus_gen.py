"""Generates the labelled guardrail corpus (``corpus/*.jsonl``): synthetic, seeded, realistic fake values.

Run ``.venv/bin/python tests/guardrails/corpus_gen.py`` to regenerate. Every value is random (no real credential);
positives carry the span of each labelled value, hard negatives carry none.

Record shape: ``{"id": str, "kind": "secret"|"pii"|"negative", "text": str,
"entities": [{"type": str, "start": int, "end": int}]}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path

import phonenumbers

OUT = Path(__file__).parent / "corpus"
PER_FORMAT = 24
rng = random.Random(20261121)

B62 = string.ascii_letters + string.digits
URLSAFE = B62 + "-_"
B64 = B62 + "+/"
HEX = "0123456789abcdef"
UPPER_ALNUM = string.ascii_uppercase + string.digits
PW_CHARS = B62 + "!$%*_.~-#&^"


def r(alphabet: str, n: int) -> str:
    """``n`` random characters from ``alphabet``."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def mixed(alphabet: str, n: int) -> str:
    """Random, but with at least one upper, lower and digit when the alphabet has them (like real tokens)."""
    while True:
        value = r(alphabet, n)
        classes = [any(c.isupper() for c in value), any(c.islower() for c in value), any(c.isdigit() for c in value)]
        wanted = [
            any(c.isupper() for c in alphabet),
            any(c.islower() for c in alphabet),
            any(c.isdigit() for c in alphabet),
        ]
        if classes == wanted:
            return value


def password() -> str:
    while True:
        value = r(PW_CHARS, rng.randint(10, 18))
        if (
            sum((any(c.isupper() for c in value), any(c.islower() for c in value), any(c.isdigit() for c in value)))
            >= 2
        ):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- secret value generators: name -> (entity, value factory, contexts) -------------------------------------------


def jwt() -> str:
    header = b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps(
            {
                "sub": str(rng.randint(1000, 99999)),
                "iat": rng.randint(1600000000, 1800000000),
                "name": rng.choice(["alice", "bob", "carol"]),
            }
        ).encode()
    )
    return f"{header}.{payload}.{b64url(rng.randbytes(32))}"


def pem(kind: str) -> str:
    body = base64.b64encode(rng.randbytes(rng.choice([300, 600, 900]))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"


def discord_token() -> str:
    ident = base64.b64encode(str(rng.randint(10**17, 10**18)).encode()).decode().rstrip("=")
    ident = "M" + ident[1:] if not ident.startswith(("M", "N", "O")) else ident
    return f"{ident}.{r(URLSAFE, 6)}.{mixed(URLSAFE, 27)}"


def age_key() -> str:
    return "AGE-SECRET-KEY-1" + r("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)


SECRET_FORMATS: dict[str, tuple[str, Callable[[], str], list[str]]] = {
    "aws_access_key": (
        "SECRET_AWS_ACCESS_KEY",
        lambda: rng.choice(["AKIA", "ASIA"]) + r("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        [
            "aws_access_key_id = {v}",
            "export AWS_ACCESS_KEY_ID={v}",
            '"AccessKeyId": "{v}",',
            "use access key {v} for the deploy bucket",
        ],
    ),
    "aws_secret_key": (
        "SECRET_AWS_SECRET_KEY",
        lambda: mixed(B64, 40),
        [
            "aws_secret_access_key = {v}",
            "AWS_SECRET_ACCESS_KEY={v}",
            'aws_secret_access_key: "{v}"',
            "my AWS secret access key is {v}",
        ],
    ),
    "gcp_api_key": (
        "SECRET_GCP_API_KEY",
        lambda: "AIza" + mixed(URLSAFE, 35),
        [
            "GOOGLE_API_KEY={v}",
            "https://maps.googleapis.com/maps/api/geocode/json?key={v}&address=x",
            'const firebaseConfig = {{ apiKey: "{v}" }};',
        ],
    ),
    "gcp_oauth_secret": (
        "SECRET_GOOGLE_OAUTH_TOKEN",
        lambda: "GOCSPX-" + mixed(URLSAFE, 28),
        ['"client_secret": "{v}"', "client secret {v}"],
    ),
    "gcp_access_token": (
        "SECRET_GOOGLE_OAUTH_TOKEN",
        lambda: "ya29." + mixed(URLSAFE, 120),
        ["curl -H 'Authorization: Bearer {v}' https://www.googleapis.com/drive/v3/files"],
    ),
    "azure_conn_string": (
        "SECRET_AZURE_STORAGE_KEY",
        lambda: mixed(B64, 86) + "==",
        ["DefaultEndpointsProtocol=https;AccountName=prodstore{n};AccountKey={v};EndpointSuffix=core.windows.net"],
    ),
    "azure_sas": (
        "SECRET_AZURE_SAS_TOKEN",
        lambda: mixed(B64, 43) + "%3D",
        [
            "https://acct{n}.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r"
            "&se=2026-01-01T00:00:00Z&spr=https&sig={v}"
        ],
    ),
    "azure_service_bus": (
        "SECRET_AZURE_SAS_TOKEN",
        lambda: mixed(B64, 43) + "=",
        [
            "Endpoint=sb://orders{n}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey={v}"
        ],
    ),
    "azure_client_secret": (
        "SECRET_AZURE_CLIENT_SECRET",
        lambda: r(B62, 3) + str(rng.randint(0, 9)) + "Q~" + mixed(B62 + "_~.-", 34),
        ["AZURE_CLIENT_SECRET={v}", "client secret: {v}"],
    ),
    "azure_openai_key": (
        "SECRET_AZURE_API_KEY",
        lambda: r(HEX, 32),
        ["AZURE_OPENAI_API_KEY={v}", 'azure_api_key: "{v}"'],
    ),
    "digitalocean": (
        "SECRET_DIGITALOCEAN_TOKEN",
        lambda: "dop_v1_" + r(HEX, 64),
        ["DIGITALOCEAN_TOKEN={v}", "doctl auth init -t {v}"],
    ),
    "github_classic": (
        "SECRET_GITHUB_TOKEN",
        lambda: rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + mixed(B62, 36),
        [
            "GITHUB_TOKEN={v}",
            "git clone https://{v}@github.com/acme/app.git",
            "here is my token {v}, can you fix the CI?",
            '"token": "{v}"',
        ],
    ),
    "github_fine_grained": (
        "SECRET_GITHUB_TOKEN",
        lambda: "github_pat_" + mixed(B62, 22) + "_" + mixed(B62, 59),
        ["GH_TOKEN={v}", "export GITHUB_PAT={v}"],
    ),
    "gitlab": (
        "SECRET_GITLAB_TOKEN",
        lambda: "glpat-" + mixed(URLSAFE, 20),
        ["CI_JOB_TOKEN={v}", "private-token: {v}"],
    ),
    "npm": (
        "SECRET_NPM_TOKEN",
        lambda: "npm_" + mixed(B62, 36),
        ["//registry.npmjs.org/:_authToken={v}", "NPM_TOKEN={v}"],
    ),
    "pypi": (
        "SECRET_PYPI_TOKEN",
        lambda: "pypi-AgEIcHlwaS5vcmc" + mixed(URLSAFE, 70),
        ["password = {v}", "TWINE_PASSWORD={v}"],
    ),
    "dockerhub": ("SECRET_DOCKERHUB_TOKEN", lambda: "dckr_pat_" + mixed(URLSAFE, 27), ["docker login -u acme -p {v}"]),
    "slack_bot": (
        "SECRET_SLACK_TOKEN",
        lambda: f"xoxb-{rng.randint(10**10, 10**12)}-{rng.randint(10**10, 10**12)}-{mixed(B62, 24)}",
        ["SLACK_BOT_TOKEN={v}", 'client = WebClient(token="{v}")'],
    ),
    "slack_user": (
        "SECRET_SLACK_TOKEN",
        lambda: "xoxp-" + "-".join(str(rng.randint(10**10, 10**12)) for _ in range(3)) + "-" + r(HEX, 32),
        ["slack token: {v}"],
    ),
    "slack_app": (
        "SECRET_SLACK_TOKEN",
        lambda: f"xapp-1-A{r(UPPER_ALNUM, 10)}-{rng.randint(10**12, 10**13)}-{r(HEX, 64)}",
        ["SLACK_APP_TOKEN={v}"],
    ),
    "slack_webhook": (
        "SECRET_SLACK_WEBHOOK",
        lambda: f"https://hooks.slack.com/services/T{r(UPPER_ALNUM, 8)}/B{r(UPPER_ALNUM, 8)}/{mixed(B62, 24)}",
        ['webhook_url = "{v}"', "post alerts to {v}"],
    ),
    "discord_bot": ("SECRET_DISCORD_BOT_TOKEN", discord_token, ["DISCORD_TOKEN={v}", "bot.run('{v}')"]),
    "discord_webhook": (
        "SECRET_DISCORD_WEBHOOK",
        lambda: f"https://discord.com/api/webhooks/{rng.randint(10**17, 10**18)}/{mixed(URLSAFE, 68)}",
        ['requests.post("{v}", json=payload)'],
    ),
    "telegram": (
        "SECRET_TELEGRAM_BOT_TOKEN",
        lambda: f"{rng.randint(10**8, 10**9)}:AA{mixed(URLSAFE, 33)}",
        ["TELEGRAM_BOT_TOKEN={v}", 'bot = telebot.TeleBot("{v}")'],
    ),
    "twilio_api_key": ("SECRET_TWILIO_API_KEY", lambda: "SK" + r(HEX, 32), ["TWILIO_API_KEY={v}", "api key sid {v}"]),
    "twilio_auth_token": (
        "SECRET_TWILIO_AUTH_TOKEN",
        lambda: r(HEX, 32),
        ["TWILIO_AUTH_TOKEN={v}", "twilio_auth_token: '{v}'"],
    ),
    "sendgrid": (
        "SECRET_SENDGRID_API_KEY",
        lambda: f"SG.{mixed(URLSAFE, 22)}.{mixed(URLSAFE, 43)}",
        ["SENDGRID_API_KEY={v}", "sg = SendGridAPIClient('{v}')"],
    ),
    "mailgun": ("SECRET_MAILGUN_API_KEY", lambda: "key-" + r(HEX, 32), ["MAILGUN_API_KEY={v}", 'auth=("api", "{v}")']),
    "mailchimp": ("SECRET_MAILCHIMP_API_KEY", lambda: r(HEX, 32) + f"-us{rng.randint(1, 21)}", ["MAILCHIMP_KEY={v}"]),
    "stripe_live": (
        "SECRET_STRIPE_KEY",
        lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + mixed(B62, rng.choice([24, 99])),
        ['stripe.api_key = "{v}"', "STRIPE_SECRET_KEY={v}", "charge failed with key {v}"],
    ),
    "stripe_webhook": ("SECRET_STRIPE_KEY", lambda: "whsec_" + mixed(B62, 32), ["STRIPE_WEBHOOK_SECRET={v}"]),
    "square": (
        "SECRET_SQUARE_TOKEN",
        lambda: rng.choice(["EAAA" + mixed(URLSAFE, 60), "sq0csp-" + mixed(URLSAFE, 43)]),
        ["SQUARE_ACCESS_TOKEN={v}"],
    ),
    "shopify": (
        "SECRET_SHOPIFY_TOKEN",
        lambda: rng.choice(["shpat_", "shpss_"]) + r(HEX, 32),
        ["X-Shopify-Access-Token: {v}"],
    ),
    "anthropic": (
        "SECRET_ANTHROPIC_API_KEY",
        lambda: "sk-ant-api03-" + mixed(URLSAFE, 93) + "AA",
        ["ANTHROPIC_API_KEY={v}", 'client = anthropic.Anthropic(api_key="{v}")', "my key is {v}"],
    ),
    "openai_project": (
        "SECRET_OPENAI_API_KEY",
        lambda: "sk-proj-" + mixed(URLSAFE, 74) + "T3BlbkFJ" + mixed(URLSAFE, 74),
        ["OPENAI_API_KEY={v}", "openai.api_key = '{v}'", "I used {v} but it says quota exceeded"],
    ),
    "openai_legacy": (
        "SECRET_OPENAI_API_KEY",
        lambda: "sk-" + mixed(B62, 20) + "T3BlbkFJ" + mixed(B62, 20),
        ['OPENAI_API_KEY="{v}"'],
    ),
    "openai_48": ("SECRET_OPENAI_API_KEY", lambda: "sk-" + mixed(B62, 48), ["Authorization: Bearer {v}", "key: {v}"]),
    "huggingface": (
        "SECRET_HUGGINGFACE_TOKEN",
        lambda: "hf_" + mixed(string.ascii_letters, 34),
        ["HF_TOKEN={v}", "huggingface-cli login --token {v}"],
    ),
    "groq": ("SECRET_GROQ_API_KEY", lambda: "gsk_" + mixed(B62, 52), ["GROQ_API_KEY={v}"]),
    "replicate": ("SECRET_REPLICATE_TOKEN", lambda: "r8_" + mixed(B62, 37), ["REPLICATE_API_TOKEN={v}"]),
    "perplexity": ("SECRET_PERPLEXITY_API_KEY", lambda: "pplx-" + mixed(B62, 48), ["PPLX_API_KEY={v}"]),
    "xai": ("SECRET_XAI_API_KEY", lambda: "xai-" + mixed(B62, 80), ["XAI_API_KEY={v}"]),
    "vault": ("SECRET_VAULT_TOKEN", lambda: "hvs." + mixed(URLSAFE, 90), ["VAULT_TOKEN={v}", "vault login {v}"]),
    "new_relic": ("SECRET_NEW_RELIC_KEY", lambda: "NRAK-" + r(UPPER_ALNUM, 27), ["NEW_RELIC_API_KEY={v}"]),
    "doppler": ("SECRET_DOPPLER_TOKEN", lambda: "dp.pt." + mixed(B62, 43), ["DOPPLER_TOKEN={v}"]),
    "age": ("SECRET_AGE_SECRET_KEY", age_key, ["# created: 2024-01-01\n{v}"]),
    "jwt": ("SECRET_JWT", jwt, ["Authorization: Bearer {v}", "the session cookie is {v}", '{{"id_token": "{v}"}}']),
    "pem_rsa": ("SECRET_PRIVATE_KEY", lambda: pem("RSA "), ["{v}", "here is the deploy key:\n{v}\n"]),
    "pem_openssh": ("SECRET_PRIVATE_KEY", lambda: pem("OPENSSH "), ["cat ~/.ssh/id_ed25519\n{v}"]),
    "pem_pkcs8": ("SECRET_PRIVATE_KEY", lambda: pem(""), ["{v}"]),
    "gcp_service_account": (
        "SECRET_GCP_SERVICE_ACCOUNT_KEY",
        lambda: pem("").replace("\n", "\\n") + "\\n",
        [
            '{{"type": "service_account", "project_id": "acme-{n}", "private_key_id": "'
            + "{h}"
            + '", "private_key": "{v}", "client_email": "ci@acme-{n}.iam.gserviceaccount.com"}}'
        ],
    ),
    "postgres_url": (
        "SECRET_DATABASE_PASSWORD",
        lambda: r(B62 + "!$*_.~-", rng.randint(10, 20)),
        [
            "DATABASE_URL=postgres://app_user:{v}@db.internal:5432/orders",
            "postgresql+psycopg://admin:{v}@10.0.3.4/analytics",
            "mysql://root:{v}@localhost:3306/shop",
            "mongodb+srv://svc:{v}@cluster0.ab1cd.mongodb.net/prod?retryWrites=true",
            "redis://:{v}@cache.internal:6379/0",
            "amqp://worker:{v}@rabbit:5672/%2F",
        ],
    ),
    "basic_auth_url": (
        "SECRET_URL_PASSWORD",
        lambda: r(B62 + "!$*_.~-", rng.randint(10, 20)),
        [
            "git remote add origin https://deploy:{v}@git.acme.io/team/app.git",
            "proxy = http://proxyuser:{v}@proxy.corp:3128",
        ],
    ),
    "password_assignment": (
        "SECRET_PASSWORD",
        password,
        [
            'password = "{v}"',
            "DB_PASSWORD={v}",
            '"password": "{v}",',
            "db_pass: '{v}'",
            "PGPASSWORD={v} psql -h db",
            "smtp_password = '{v}'",
            '--password="{v}"',
            "mysql -u root -p{v} shop",
            "<password>{v}</password>",
            "Password: {v}",
            "  password: {v}  # prod",
            '$env:DB_PASSWORD = "{v}"',
        ],
    ),
    "generic_secret": (
        "SECRET_GENERIC_CREDENTIAL",
        lambda: mixed(B62, rng.choice([24, 32, 40])),
        [
            'client_secret = "{v}"',
            "API_KEY={v}",
            "api_key: {v}",
            "auth_token = '{v}'",
            'SECRET_KEY = "{v}"',
            "X-Api-Key: {v}",
            "curl -H 'X-API-Key: {v}' https://api.acme.io",
            "apiKey: '{v}',",
            '"accessToken": "{v}"',
            "app.config['SECRET_KEY'] = '{v}'",
            '<add key="ApiKey" value="{v}" />',
            "api-key={v}",
        ],
    ),
    "bearer_header": ("SECRET_GENERIC_CREDENTIAL", lambda: mixed(URLSAFE, 40), ["Authorization: Bearer {v}"]),
    "high_entropy_prose": (
        "SECRET_HIGH_ENTROPY_STRING",
        lambda: mixed(B62, rng.choice([24, 32, 40])),
        [
            "the api key for staging is {v} if you need it",
            "use this token {v} for the webhook",
            "our secret for the signing step: {v}",
        ],
    ),
}

# --- PII generators ------------------------------------------------------------------------------------------------

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
LAST = ["smith", "jones", "garcia", "müller", "nguyen", "kim", "patel", "rossi", "dubois", "silva"]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "acme-corp.io",
    "example.co.uk",
    "mail.uni-heidelberg.de",
    "yahoo.fr",
    "proton.me",
]


def email() -> str:
    sep = rng.choice([".", "_", ""])
    number = rng.randint(1, 99) if rng.random() < 0.4 else ""
    return f"{rng.choice(FIRST)}{sep}{rng.choice(LAST).replace('ü', 'u')}{number}@{rng.choice(DOMAINS)}"


def phone() -> str:
    region = rng.choice(["US", "US", "GB", "DE", "FR", "IN", "CA"])
    while True:
        example = phonenumbers.example_number_for_type(
            region, rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
        )
        digits = str(example.national_number)
        mutated = digits[:3] + "".join(rng.choice(string.digits) for _ in digits[3:])
        number = phonenumbers.parse(mutated, region)
        if phonenumbers.is_valid_number(number):
            fmt = rng.choice(
                [
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.E164,
                ]
            )
            return phonenumbers.format_number(number, fmt)


def luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return digits + str((10 - total % 10) % 10)


def credit_card() -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("6011", 16), ("37", 15), ("34", 15)])
    number = luhn_complete(prefix + "".join(rng.choice(string.digits) for _ in range(2)), length)
    if length == 16 and rng.random() < 0.6:
        sep = rng.choice([" ", "-"])
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def iban() -> str:
    country, bban = rng.choice(
        [
            ("DE", lambda: r(string.digits, 18)),
            ("GB", lambda: r(string.ascii_uppercase, 4) + r(string.digits, 14)),
            ("NL", lambda: r(string.ascii_uppercase, 4) + r(string.digits, 10)),
            ("ES", lambda: r(string.digits, 20)),
            ("FR", lambda: r(string.digits, 23)),
        ]
    )
    body = bban()
    numeric = "".join(str(int(c, 36)) for c in body + country + "00")
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{body}"
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def ipv4() -> str:
    return rng.choice(
        [
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )


def ipv6() -> str:
    return "2001:db8:" + ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(6))


def ssn() -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def itin() -> str:
    group = rng.choice([rng.randint(50, 65), rng.randint(70, 88), rng.randint(90, 92)])
    return f"9{rng.randint(0, 99):02d}-{group}-{rng.randint(0, 9999):04d}"


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def bitcoin() -> str:
    payload = b"\x00" + rng.randbytes(20)
    full = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(full, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = B58[rem] + out
    return "1" * (len(full) - len(full.lstrip(b"\x00"))) + out


def mac() -> str:
    sep = rng.choice([":", "-"])
    return sep.join(f"{rng.randint(0, 255):02X}" for _ in range(6))


def nhs() -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            s = "".join(map(str, digits)) + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}"


PII_FORMATS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "EMAIL_ADDRESS": (
        email,
        ["Please reply to {v} by Friday.", "contact: {v}", "From: Jane <{v}>", "send the invoice to {v}, thanks"],
    ),
    "PHONE_NUMBER": (
        phone,
        [
            "Call me at {v} tomorrow.",
            "phone: {v}",
            "my cell is {v}",
            "Tel. {v}",
            "You can reach the front desk on {v}.",
        ],
    ),
    "CREDIT_CARD": (credit_card, ["card number {v}, exp 09/27", "I paid with {v}", "cc: {v}", "Visa {v} was declined"]),
    "IBAN_CODE": (iban, ["IBAN: {v}", "please wire it to {v} (BIC DEUTDEFF)", "account {v}"]),
    "IP_ADDRESS": (
        lambda: ipv4() if rng.random() < 0.75 else ipv6(),
        ["the server at {v} is down", "ssh admin@{v}", "client ip {v} exceeded the rate limit", "allow from {v}"],
    ),
    "US_SSN": (ssn, ["SSN: {v}", "my social security number is {v}", "ssn {v} on file"]),
    "US_ITIN": (itin, ["ITIN {v}", "taxpayer id (ITIN): {v}"]),
    "CRYPTO": (bitcoin, ["send 0.1 BTC to {v}", "wallet: {v}"]),
    "MAC_ADDRESS": (mac, ["device mac {v}", "MAC address: {v}"]),
}

# --- hard negatives ------------------------------------------------------------------------------------------------


def hex_hash(n: int) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()[:n] if n <= 64 else r(HEX, n)


NEGATIVE_TEMPLATES: list[tuple[str, Callable[[], str]]] = [
    ("sha256: {v}", lambda: hex_hash(64)),
    ("md5 {v}  dist/app.tar.gz", lambda: hex_hash(32)),
    ("commit {v}\nAuthor: CI Bot", lambda: hex_hash(40)),
    ("git cherry-pick {v}", lambda: hex_hash(40)),
    ("Fixed in {v}.", lambda: hex_hash(7)),
    ('ETag: "{v}"', lambda: hex_hash(32)),
    ("cache_key: {v}", lambda: hex_hash(32)),
    ("integrity: sha512-{v}", lambda: base64.b64encode(rng.randbytes(64)).decode()),
    ('"checksum": "{v}"', lambda: hex_hash(64)),
    ("docker pull ghcr.io/acme/app@sha256:{v}", lambda: hex_hash(64)),
    ("request_id={v}", lambda: str(uuid.UUID(bytes=rng.randbytes(16)))),
    ("trace id {v} took 340ms", lambda: str(uuid.UUID(bytes=rng.randbytes(16)))),
    ("user {v} logged in", lambda: str(uuid.UUID(bytes=rng.randbytes(16)))),
    ('"id": "{v}",', lambda: str(uuid.UUID(bytes=rng.randbytes(16)))),
    ("data:image/png;base64,{v}", lambda: base64.b64encode(rng.randbytes(rng.randint(60, 300))).decode()),
    ("payload: {v}", lambda: base64.b64encode(rng.randbytes(rng.randint(30, 120))).decode()),
    ('"content": "{v}"', lambda: base64.b64encode(rng.randbytes(rng.randint(30, 120))).decode()),
    ("echo {v} | base64 -d", lambda: base64.b64encode(rng.randbytes(rng.randint(20, 60))).decode()),
    ("upgrade to version {v}", lambda: f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 30)}"),
    ("pip install numpy=={v}", lambda: f"1.{rng.randint(10, 26)}.{rng.randint(0, 9)}"),
    ("Python {v} (main, Jun  6 2023)", lambda: f"3.{rng.randint(8, 13)}.{rng.randint(0, 14)}"),
    ("Released v{v}", lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-rc.{rng.randint(1, 5)}"),
    ("Windows build {v}", lambda: f"10.0.{rng.randint(17000, 22631)}.{rng.randint(1, 3000)}"),
    (
        "bump the image to {v}",
        lambda: f"v{rng.randint(1, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
    ),
    ("order #{v} shipped", lambda: str(rng.randint(100000, 999999))),
    ("Invoice {v} total $1,284.50", lambda: f"INV-2024-{rng.randint(1, 99999):05d}"),
    ("timestamp {v}", lambda: str(rng.randint(1_600_000_000, 1_800_000_000))),
    ("took {v} ms", lambda: str(rng.randint(1, 99999))),
    ("color: #{v};", lambda: r(HEX, 6)),
    ("max_tokens: {v}", lambda: str(rng.choice([256, 1024, 4096, 8192, 128000]))),
    ("token_count = {v}", lambda: str(rng.randint(1000, 9999999))),
    (
        "ISBN {v}",
        lambda: f"978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}-{rng.randint(0, 9)}",
    ),
    ("build {v} passed", lambda: str(rng.randint(1000, 99999))),
    ("see https://docs.python.org/3/library/{v}.html", lambda: rng.choice(["re", "json", "asyncio", "hashlib"])),
    ("on {v} at 14:05 UTC", lambda: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
    # near key-like words, but not secrets
    ("token_hash: {v}", lambda: hex_hash(64)),
    ("the session token digest is {v}", lambda: hex_hash(64)),
    ("api key id {v} was rotated", lambda: str(uuid.UUID(bytes=rng.randbytes(16)))),
    ("secret version {v} is now active", lambda: str(rng.randint(1, 40))),
    ("key: {v}", lambda: hex_hash(40)),
    (
        "public_key: ssh-ed25519 {v} ci@build",
        lambda: "AAAAC3NzaC1lZDI1NTE5AAAAI" + base64.b64encode(rng.randbytes(24)).decode(),
    ),
    ("STRIPE_PUBLISHABLE_KEY=pk_live_{v}", lambda: mixed(B62, 24)),
    ("api_version: {v}", lambda: f"2024-{rng.randint(1, 12):02d}-01"),
    ("password reset link expires in {v} minutes", lambda: str(rng.choice([15, 30, 60]))),
    ("the token limit is {v}", lambda: str(rng.choice([4096, 8192, 32768]))),
    ("Signature: {v}", lambda: hex_hash(64)),
    ("X-Request-Id: {v}", lambda: r(B62, 20)),
    (
        "secret_name: {v}",
        lambda: rng.choice(["prod/db/password", "arn:aws:secretsmanager:us-east-1:123456789012:secret:app"]),
    ),
    (
        "import {{ {v} }} from './auth/token-store';",
        lambda: rng.choice(["getToken", "refreshAccessToken", "TokenStore"]),
    ),
    ("password_min_length = {v}", lambda: str(rng.choice([8, 12, 16]))),
    ("Room {v}, Building 4", lambda: str(rng.randint(100, 999))),
    ("lat/long {v}", lambda: f"{rng.uniform(-80, 80):.6f}, {rng.uniform(-170, 170):.6f}"),
    ("Amount: {v} EUR", lambda: f"{rng.randint(1000, 999999):,}.{rng.randint(0, 99):02d}"),
    ("port {v} is already in use", lambda: str(rng.randint(1024, 65535))),
    ("sed -n {v}p file.txt", lambda: f"{rng.randint(1, 500)},{rng.randint(501, 900)}"),
    ("model: {v}", lambda: rng.choice(["gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "llama-3.1-70b-instruct"])),
    ("dim {v}", lambda: f"{rng.randint(100, 4000)}x{rng.randint(100, 4000)}"),
]

PLACEHOLDERS = [
    "OPENAI_API_KEY=sk-...",
    "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "api_key = 'YOUR_API_KEY'",
    'api_key = "<your-api-key>"',
    "token: <token>",
    "password = os.environ['DB_PASSWORD']",
    'password = os.getenv("DB_PASSWORD")',
    "export GITHUB_TOKEN=${GITHUB_TOKEN}",
    "password: changeme",
    "secret: ****",
    "secret: '********'",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "DATABASE_URL=postgres://user:password@localhost:5432/db",
    "https://user:pass@host.example.com/path",
    "Authorization: Bearer <your-token>",
    "api_key: ${{ secrets.API_KEY }}",
    "password = get_password()",
    "token = settings.API_TOKEN",
    "secret_key = config['secret']",
    "password=self.password",
    "STRIPE_KEY=sk_live_...",
    "ANTHROPIC_API_KEY=sk-ant-...",
    "token = '{{ vault_token }}'",
    "client_secret=REPLACE_ME",
    "API_KEY=your-api-key-here",
    'hf_token = "hf_..."',
    'password: "${DB_PASS}"',
    'password = ""',
    "password: str = Field(..., min_length=8)",
    "def login(username: str, password: str) -> Token:",
    "if not token: raise AuthError('missing token')",
    "The access token expires after 3600 seconds.",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "redis://localhost:6379/0",
    "mongodb://mongo:27017/app",
    "Set SLACK_WEBHOOK_URL to https://hooks.slack.com/services/XXX/YYY/ZZZ",
    "token = tokenizer.encode(text)",
    'tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")',
    "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
    "Use `--password-stdin` instead of -p",
    "mysql -u root -p shop < dump.sql",
    "<password></password>",
    "<token>${TOKEN}</token>",
    "<apiKey>YOUR_API_KEY</apiKey>",
    "app.config['SECRET_KEY'] = os.environ['SECRET_KEY']",
    "docker login --password-stdin < token.txt",
    "--password=$DB_PASSWORD",
]

PROSE = [
    "The quarterly report shows revenue grew 12.5% to $4.2 million, driven by strong sales in the EMEA region.",
    "Can you refactor this function so it handles empty lists and returns None instead of raising?",
    "We met on Tuesday to discuss the roadmap; the team agreed to ship the beta by the end of Q3.",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "for i in range(10):\n    total += values[i] * weights[i]",
    "SELECT id, name, created_at FROM users WHERE created_at > '2024-01-01' ORDER BY id LIMIT 100;",
    "The cache key is derived from the request path and the user's locale.",
    "Rotate the API keys every 90 days and store them in the secret manager, never in the repository.",
    "Our password policy requires at least 12 characters, one digit and one symbol.",
    "Tokens are counted with tiktoken; the model has a 128k context window.",
    "const result = await fetch(`/api/v1/items?page=${page}&limit=50`);",
    "The meeting is in room 4.12 on the 3rd floor at 10:30.",
    "git rebase -i HEAD~3 && git push --force-with-lease origin feature/login",
    "kubectl -n prod rollout restart deployment/api-server",
    "The patient was prescribed 500 mg twice a day for 10 days.",
    "In 1969, Apollo 11 landed on the Moon; 600 million people watched the broadcast.",
    "Error: ECONNREFUSED 127.0.0.1:5432 - is the database running?",
    "import numpy as np\nx = np.linspace(0, 1, 1000)\ny = np.sin(2 * np.pi * 5 * x)",
    "The secret to a good sourdough is a long, cold fermentation.",
    "Press Ctrl+Shift+P and type 'Reload Window'.",
    "Server listening on http://localhost:8080",
    "Temperatures ranged from -5 to 12 degrees over the weekend.",
    "The function returns a tuple (status_code, headers, body).",
    "Memory usage: 1532 MB / 16384 MB (9.35%)",
    "Coordinates: 48.8584, 2.2945",
    "Please review PR #4821 before the release branch is cut.",
    "Average latency dropped from 240 ms to 85 ms after enabling HTTP/2.",
    "The API key header is named X-Api-Key and must be sent with every request.",
    "Use a password manager; a strong passphrase beats a complex short password.",
    "version: '3.8'\nservices:\n  web:\n    image: nginx:1.25\n    ports:\n      - \"8080:80\"",
]


def positive(kind: str, ident: str, template: str, entity: str, value: str) -> dict[str, object]:
    n = str(rng.randint(1, 99))
    h = hex_hash(40)
    head, _, rest = template.partition("{v}")
    head = head.replace("{n}", n).replace("{h}", h).replace("{{", "{").replace("}}", "}")
    rest = rest.replace("{n}", n).replace("{h}", h).replace("{{", "{").replace("}}", "}")
    text = head + value + rest
    return {
        "id": ident,
        "kind": kind,
        "text": text,
        "entities": [{"type": entity, "start": len(head), "end": len(head) + len(value)}],
    }


def snippet_record(kind: str, ident: str) -> dict[str, object]:
    """One labelled line from a random secret or PII format (offsets relative to the line)."""
    if kind == "secret":
        name = rng.choice(list(SECRET_FORMATS))
        entity, factory, templates = SECRET_FORMATS[name]
    else:
        entity = rng.choice(list(PII_FORMATS))
        factory, templates = PII_FORMATS[entity]
    return positive(kind, ident, rng.choice(templates), entity, factory())


def negative_line() -> str:
    """A hard-negative line or a line of prose/code."""
    if rng.random() < 0.5:
        template, factory = rng.choice(NEGATIVE_TEMPLATES)
        return template.replace("{v}", factory())
    return rng.choice(PROSE + PLACEHOLDERS)


def composite(ident: str) -> dict[str, object]:
    """A longer, realistic message: several labelled values among hard negatives, prose and code."""
    lines: list[str] = []
    entities: list[dict[str, object]] = []
    offset = 0
    for _ in range(rng.randint(4, 12)):
        if rng.random() < 0.3:
            record = snippet_record(rng.choice(["secret", "pii"]), ident)
            line = str(record["text"])
            for label in record["entities"]:  # type: ignore[attr-defined]
                entities.append({**label, "start": label["start"] + offset, "end": label["end"] + offset})
        else:
            line = negative_line()
        lines.append(line)
        offset += len(line) + 1
    if not entities:
        return composite(ident)
    return {"id": ident, "kind": "mixed", "text": "\n".join(lines), "entities": entities}


def long_negative(ident: str) -> dict[str, object]:
    """A longer message made only of hard negatives, prose and code."""
    text = "\n".join(negative_line() for _ in range(rng.randint(5, 15)))
    return {"id": ident, "kind": "negative", "text": text, "entities": []}


def build() -> dict[str, list[dict[str, object]]]:
    secrets = []
    for name, (entity, factory, templates) in SECRET_FORMATS.items():
        for i in range(PER_FORMAT):
            secrets.append(positive("secret", f"{name}-{i}", templates[i % len(templates)], entity, factory()))
    pii = []
    for entity, (factory, templates) in PII_FORMATS.items():
        for i in range(PER_FORMAT + 6):
            pii.append(positive("pii", f"{entity.lower()}-{i}", templates[i % len(templates)], entity, factory()))
    negatives: list[dict[str, object]] = []
    for j, (template, factory) in enumerate(NEGATIVE_TEMPLATES):
        for i in range(10):
            negatives.append(
                {"id": f"neg-{j}-{i}", "kind": "negative", "text": template.replace("{v}", factory()), "entities": []}
            )
    for i, text in enumerate(PLACEHOLDERS):
        negatives.append({"id": f"placeholder-{i}", "kind": "negative", "text": text, "entities": []})
    for i, text in enumerate(PROSE):
        negatives.append({"id": f"prose-{i}", "kind": "negative", "text": text, "entities": []})
    mixed = [composite(f"composite-{i}") for i in range(200)]
    negatives += [long_negative(f"long-negative-{i}") for i in range(100)]
    return {"secrets": secrets, "pii": pii, "negatives": negatives, "mixed": mixed}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, records in build().items():
        with open(OUT / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"{name}: {len(records)} records")


if __name__ == "__main__":
    main()
