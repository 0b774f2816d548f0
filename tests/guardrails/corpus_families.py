"""The development corpus for the issue-10 families (``corpus/families.jsonl``): hand-written prose, random values.

Families: vendor and generic tokens stated in prose (no ``=`` or ``:``), passwords in prose, passwords and
tokens given as server CLI flags, generic keys in ``*_KEY`` variables; and PII the default profile must now
type: PERSON, street addresses, UK NINO and NHS numbers, Mastercard 2-series, IP addresses. Hard negatives
for each family sit beside them (hashes, UUIDs, version strings, part numbers, placeholders, prose).

Run ``.venv/bin/python tests/guardrails/corpus_families.py`` to regenerate. ``{v}`` marks the labelled value.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

OUT = Path(__file__).parent / "corpus" / "families.jsonl"
rng = random.Random(20261201)
B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
PW = B62 + "!#$%*_.-"
GENERIC, PASSWORD = "SECRET_GENERIC_CREDENTIAL", "SECRET_PASSWORD"


def r(alphabet: str, n: int) -> str:
    """``n`` random characters from ``alphabet``, with at least one digit, upper and lower where possible."""
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(n))
        if alphabet != HEX and not (any(c.isdigit() for c in value) and any(c.isupper() for c in value)):
            continue
        return value


def password() -> str:
    """A typed password: a word, digits and a symbol, or random characters."""
    if rng.random() < 0.5:
        word = rng.choice(["Tulip", "Harbor", "Quartz", "Mango", "Falcon"])
        return word + str(rng.randint(10, 9999)) + rng.choice("!#$%*")
    return r(PW, rng.randint(10, 16))


def license_key() -> str:
    """``XXXXX-XXXXX-XXXXX-XXXXX`` style product key."""
    return "-".join(r(string.ascii_uppercase + string.digits, 5) for _ in range(4))


TOKEN_PROSE = [
    "Our Datadog API key is {v}, please rotate it after the audit.",
    "fyi the api key for the staging account is {v}",
    "The new access token is {v} and it expires on Friday.",
    "Here's the auth token they sent us {v} - can you check it works?",
    "I generated a fresh secret key {v} for the webhook signer.",
    "Sendbird app token is {v} if you need it for the load test.",
    "the client secret is {v} (from the Okta app page)",
    "Token for the CI runner: it is {v}",
]
TOKEN_VALUES = [lambda: r(HEX, 32), lambda: r(HEX, 40), lambda: r(B62, 32), lambda: r(B62 + "_-", 43)]

PASSWORD_PROSE = [
    "the password for the staging db is {v}",
    "Hi Sam, the admin password is {v} - please change it after you log in.",
    "Wifi password in the office is now {v}",
    "My password was {v} before they reset it.",
    "The root password on the old box is {v}, don't share it.",
    "use password {v} for the shared mailbox",
    "I set the vault passphrase to {v} yesterday.",
    "Password for the VPN is {v} (same as last quarter).",
]

FLAG_LINES = [
    "redis-cli -h cache.internal -p 6379 -a {v} PING",
    "sshpass -p {v} ssh deploy@10.0.4.12",
    "psql --host=db.internal --username=app --password={v} appdb",
    "docker run -e X=1 myimage --admin-password {v}",
    "ldapsearch -x -D cn=admin,dc=corp -w {v} -b dc=corp",
    "mongosh --host mongo.internal -u root -p {v} --authenticationDatabase admin",
    "curl -u deploy:{v} https://ci.internal/api/jobs",
    "./server --port 8443 --api-token {v} --log-level info",
    "pg_dump --dbname=app --db-password {v} > dump.sql",
    "keycloak start --db-password={v} --hostname=auth.internal",
]

KEY_VARIABLES = [
    "LICENSE_KEY={v}",
    "export ADMIN_KEY={v}",
    "SITE_KEY: {v}",
    "lic_key = \"{v}\"",
    "SEGMENT_WRITE_KEY={v}",
    "ALGOLIA_ADMIN_KEY={v}",
    "config.license-key: {v}",
    "ROLLBAR_SERVER_KEY = '{v}'",
]
KEY_VALUES = [license_key, lambda: r(B62, 32), lambda: r(HEX, 32)]

NEGATIVES = [
    "The api key rotation is scheduled for 2024-06-01; nothing to do until then.",
    "Your password is wrong, try again or reset it.",
    "the password was reset yesterday by the help desk",
    "password must be at least 12 characters long",
    "The token is valid for 3600 seconds.",
    "api key id 183072a9-d22e-4cad-97dd-5bd3e0ede853 was rotated last week",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixes the token refresh",
    "the secret key is stored in Vault under kv/app/prod",
    "PRIMARY_KEY = \"id\"",
    "SORT_KEY=created_at",
    "cache_key = f\"user:{user_id}:profile\"",
    "STRIPE_PUBLISHABLE_KEY=pk_live_not_a_secret_really",
    "idempotency_key = str(uuid.uuid4())",
    "PARTITION_KEY=tenant_id",
    "public_key = load_pem_public_key(data)",
    "mysql --password < creds.txt",
    "docker login --password-stdin registry.internal < token.txt",
    "redis-cli -a $REDIS_PASSWORD ping",
    "sshpass -p \"$SSH_PASS\" ssh deploy@host",
    "curl -u $USER:$TOKEN https://api.internal/",
    "./server --api-token ${API_TOKEN} --port 80",
    "The license key is printed on the box.",
    "Use the access token from the previous step.",
    "I changed my password to something stronger.",
    "Part numbers 912-45-6789 and 987-65-4321 are discontinued.",
    "git clone git@github.com:acme/payments.git",
    "Firmware 10.2.14.3 fixes the boot loop; 4.19.0.12 is unaffected.",
    "Gift card 6035 1234 5678 9012 3456 was declined.",
    "sha1 of the tarball is da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "the token endpoint returned 401 for request 7f9c2ba4e88f827d616045507605853e",
]


def record(ident: str, kind: str, family: str, template: str, value: str, entity: str) -> dict[str, object]:
    """One labelled record: ``template`` with ``{v}`` replaced by ``value``."""
    start = template.index("{v}")
    text = template.replace("{v}", value)
    return {
        "id": ident,
        "kind": kind,
        "family": family,
        "text": text,
        "entities": [{"type": entity, "start": start, "end": start + len(value)}],
    }


def main() -> None:
    """Write ``corpus/families.jsonl``."""
    records: list[dict[str, object]] = []
    for i, template in enumerate(TOKEN_PROSE * 3):
        value = rng.choice(TOKEN_VALUES)()
        records.append(record(f"token-prose-{i}", "secret", "token_prose", template, value, GENERIC))
    for i, template in enumerate(PASSWORD_PROSE * 3):
        records.append(record(f"password-prose-{i}", "secret", "password_prose", template, password(), PASSWORD))
    for i, template in enumerate(FLAG_LINES * 2):
        records.append(record(f"cli-flag-{i}", "secret", "cli_flag", template, password(), PASSWORD))
    for i, template in enumerate(KEY_VARIABLES * 3):
        value = rng.choice(KEY_VALUES)()
        records.append(record(f"key-var-{i}", "secret", "key_variable", template, value, GENERIC))
    for i, text in enumerate(NEGATIVES):
        records.append({"id": f"family-negative-{i}", "kind": "negative", "family": "negative", "text": text})
    with open(OUT, "w", encoding="utf-8") as handle:
        for item in records:
            item.setdefault("entities", [])
            handle.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
