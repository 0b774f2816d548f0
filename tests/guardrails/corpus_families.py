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

PEOPLE = [
    "Maria Gonzalez", "James O'Connor", "Priya Raman", "David Kim", "Emily Carter", "Olga Petrova",
    "Mohammed Hassan", "Sarah J. Thompson", "Kevin McCarthy", "Linda Nguyen", "Dr. Alan Whitfield",
    "Tom Becker", "Jessica Alvarez", "Mr. Brian Walsh", "Anna Schmidt", "Chen Wei", "Rachel Goldberg",
    "Siobhan Murphy", "Carlos Mendoza", "Hannah Fischer", "Ms. Patel", "Daniel Osei", "Laura Bianchi",
    "Michael Brown", "Fatima Khan",
]
PERSON_PROSE = [
    "Please escalate to {v} in the billing team.",
    "The ticket was opened by {v} on Monday.",
    "Hi, this is {v} from Contoso; our export keeps failing.",
    "Can you add {v} as an admin on the workspace?",
    "Thanks, {v}",
    "Customer contact is {v}, she prefers email.",
    "I spoke to {v} yesterday about the refund.",
]
ADDRESSES = [
    "1600 Amphitheatre Parkway, Mountain View, CA 94043",
    "221B Baker Street, London NW1 6XE",
    "742 Evergreen Terrace",
    "350 Fifth Avenue, New York, NY 10118",
    "10 Downing Street, London SW1A 2AA",
    "4059 Mt Lee Drive, Hollywood, CA 90068",
    "88 Colin P Kelly Jr Street, San Francisco, CA 94107",
    "1 Infinite Loop, Cupertino, CA 95014",
    "12 Elm Grove, Leeds LS6 2AB",
    "500 W 2nd St, Austin, TX 78701",
    "Hauptstraße 5, 10115 Berlin",
    "PO Box 4471",
    "77 Massachusetts Ave, Cambridge, MA 02139",
    "3 Abbey Road, London NW8 9AY",
    "2300 Oak Lane, Apt 4B, Springfield, IL 62704",
]
ADDRESS_PROSE = [
    "Ship the replacement to {v} please.",
    "Our billing address changed to {v} last month.",
    "She lives at {v}.",
    "Return label should go to {v}",
]
NINOS = ["AB123456C", "AB 12 34 56 C", "JG103759A", "PR 21 54 32 D", "ZX998877B"]
NHS_NUMBERS = ["943 476 5919", "401 023 2137", "485 777 3457", "943-476-5870", "450 557 7104"]
MC2_CARDS = ["2221 0000 0000 0009", "2720 9900 0000 0007", "2223 0031 2200 3222", "2500 0000 0000 0001"]
IPS = ["203.0.113.45", "198.51.100.7", "2001:db8:85a3::8a2e:370:7334", "192.0.2.146", "10.20.30.40"]
PATTERN_PROSE = {
    "UK_NINO": ["My National Insurance number is {v}.", "NI number: {v}", "nino {v} for the payroll form"],
    "UK_NHS": ["Patient NHS number {v} was admitted.", "NHS no. {v}", "her NHS number is {v}"],
    "CREDIT_CARD": ["Card on file: {v}, exp 09/27.", "please charge {v} for the renewal"],
    "IP_ADDRESS": ["The attack came from {v} at 03:12.", "whitelist {v} on the firewall", "client ip {v}"],
}

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
    "Grant Access to the Marketing folder before Friday.",
    "Northwind Traders renewed their Business plan.",
    "See Section 4 of the Terms of Service.",
    "We moved from Google Cloud to Amazon Web Services in March.",
    "Build 4471 passed on Windows Server 2022.",
    "The Customer Success team meets on Tuesday.",
    "Order 20231114 shipped via UPS Ground.",
    "Version 2.10.4 added the Export Wizard.",
    "Rows 1200 to 1800 failed validation.",
    "Set max_connections to 500 in postgresql.conf.",
    "Ticket 48213 was merged into 48190.",
    "Sales in New York grew 12% while Boston stayed flat.",
    "Use Visual Studio Code with the Python extension.",
    "timestamp 1686993153 logged by the collector",
    "Happy Path tests passed; Edge Cases remain.",
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
    for i in range(len(PEOPLE)):
        name = PEOPLE[i]
        records.append(record(f"person-{i}", "pii", "person", PERSON_PROSE[i % len(PERSON_PROSE)], name, "PERSON"))
    for i, address in enumerate(ADDRESSES):
        template = ADDRESS_PROSE[i % len(ADDRESS_PROSE)]
        records.append(record(f"address-{i}", "pii", "street_address", template, address, "STREET_ADDRESS"))
    values = {"UK_NINO": NINOS, "UK_NHS": NHS_NUMBERS, "CREDIT_CARD": MC2_CARDS, "IP_ADDRESS": IPS}
    for entity, templates in PATTERN_PROSE.items():
        for i, value in enumerate(values[entity]):
            template = templates[i % len(templates)]
            records.append(record(f"{entity.lower()}-family-{i}", "pii", entity.lower(), template, value, entity))
    for i, text in enumerate(NEGATIVES):
        records.append({"id": f"family-negative-{i}", "kind": "negative", "family": "negative", "text": text})
    with open(OUT, "w", encoding="utf-8") as handle:
        for item in records:
            item.setdefault("entities", [])
            handle.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
