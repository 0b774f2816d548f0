# ruff: noqa: E501  (data: one record per line reads better than wrapped strings)
"""Write the second held-out guardrail corpus (``tests/guardrails/heldout2/*.jsonl``), seeded.

Written from vendor documentation of token formats and from the way people paste things into
tickets, chats, shells, CI logs and config files, before reading any of loomllm's pattern code.
Every value is fake: random characters in the documented shape, checksums computed where the
format has one (Luhn, NHS mod 11, IBAN mod 97). Nothing here was ever a live credential.

A text marks a labelled span as ``⟦TYPE|value⟧`` (or ``⟦TYPE@family|value⟧`` for a span whose
family differs from its record's); :func:`record` strips the markers and computes offsets.
Records: ``{"id", "kind", "family", "text", "spans": [{"start", "end", "type", "family"}]}``,
``kind`` is ``secret``/``pii`` (by the record's spans) or ``negative`` (no span at all).

Run: ``python tests/guardrails/heldout2/make_heldout2.py`` (rewrites the JSONL files).
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
R = random.Random(20261202)

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"

MARK = re.compile(r"⟦([A-Z0-9_]+)(?:@([a-z0-9_]+))?\|(.*?)⟧", re.S)


def rs(alphabet: str, n: int) -> str:
    """n random characters from alphabet (never a long run of one class only, like real keys)."""
    while True:
        s = "".join(R.choice(alphabet) for _ in range(n))
        if n < 12 or alphabet not in (ALNUM, URLSAFE, B64) or (
            any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)
        ):
            return s


def digits(n: int) -> str:
    return "".join(R.choice(string.digits) for _ in range(n))


# ---------------------------------------------------------------- vendor secrets (documented shapes)


def github() -> str:
    kind = R.choice(["ghp_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "pat"])
    if kind == "pat":
        return "github_pat_11" + rs(UPPER_DIGITS, 20) + "_" + rs(ALNUM, 59)
    return kind + rs(ALNUM, 36)


def gitlab() -> str:
    return R.choice(["glpat-", "glpat-", "gldt-", "glrt-"]) + rs(URLSAFE, 20)


def slack() -> str:
    k = R.choice(["xoxb", "xoxb", "xoxp", "xapp"])
    if k == "xoxb":
        return f"xoxb-{digits(11)}-{digits(13)}-{rs(ALNUM, 24)}"
    if k == "xoxp":
        return f"xoxp-{digits(11)}-{digits(12)}-{digits(13)}-{rs(HEX, 32)}"
    return f"xapp-1-A{rs(UPPER_DIGITS, 10)}-{digits(13)}-{rs(HEX, 64)}"


def slack_webhook() -> str:
    return f"https://hooks.slack.com/services/T{rs(UPPER_DIGITS, 8)}/B{rs(UPPER_DIGITS, 10)}/{rs(ALNUM, 24)}"


def stripe() -> str:
    k = R.choice(["sk_live_", "sk_live_", "rk_live_", "whsec_"])
    if k == "sk_live_" and R.random() < 0.5:
        return "sk_live_51" + rs(ALNUM, 97)
    return k + rs(ALNUM, R.choice([24, 32]))


def aws_id() -> str:
    return R.choice(["AKIA", "AKIA", "ASIA"]) + rs("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)


def aws_secret() -> str:
    return rs(B64, 40)


def gcp_key() -> str:
    return "AIza" + rs(URLSAFE, 35)


def google_oauth() -> str:
    return "ya29.a0" + rs(URLSAFE, 150)


def azure_storage() -> str:
    return rs(B64, 86) + "=="


def azure_client_secret() -> str:
    return rs(ALNUM, 3) + R.choice(string.digits) + "Q~" + rs(ALNUM + "_~.-", 34)


def azure_sas_sig() -> str:
    return rs(ALNUM, 30) + "%2B" + rs(ALNUM, 10) + "%3D"


def openai() -> str:
    k = R.choice(["proj", "proj", "svc", "legacy"])
    if k == "proj":
        return "sk-proj-" + rs(URLSAFE, 74) + "T3BlbkFJ" + rs(URLSAFE, 74)
    if k == "svc":
        return "sk-svcacct-" + rs(URLSAFE, 74) + "T3BlbkFJ" + rs(URLSAFE, 74)
    return "sk-" + rs(ALNUM, 20) + "T3BlbkFJ" + rs(ALNUM, 20)


def anthropic() -> str:
    return "sk-ant-api03-" + rs(URLSAFE, 93) + "AA"


def huggingface() -> str:
    return "hf_" + rs(string.ascii_letters, 34)


def twilio_key() -> str:
    return "SK" + rs(HEX, 32)


def sendgrid() -> str:
    return "SG." + rs(URLSAFE, 22) + "." + rs(URLSAFE, 43)


def npm() -> str:
    return "npm_" + rs(ALNUM, 36)


def pypi() -> str:
    return "pypi-AgEIcHlwaS5vcmc" + rs(URLSAFE, 160)


def discord_bot() -> str:
    uid = base64.b64encode(digits(18).encode()).decode().rstrip("=")
    return f"{uid}.{rs(URLSAFE, 6)}.{rs(URLSAFE, 38)}"


def discord_webhook() -> str:
    return f"https://discord.com/api/webhooks/{digits(19)}/{rs(URLSAFE, 68)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt() -> str:
    header = b64url(json.dumps({"alg": R.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps({"sub": digits(8), "iat": 1700000000 + R.randint(0, 10**7), "scope": "read write"}).encode()
    )
    return f"{header}.{payload}.{rs(URLSAFE, 43)}"


def pem(kind: str = "") -> str:
    kind = kind or R.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    lead = {
        "RSA PRIVATE KEY": "MIIEowIBAAKCAQEA",
        "PRIVATE KEY": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "EC PRIVATE KEY": "MHcCAQEEI",
        "OPENSSH PRIVATE KEY": "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    }[kind]
    body = lead + rs(B64, 64 * R.randint(3, 6) - len(lead))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def mailchimp() -> str:
    return rs(HEX, 32) + f"-us{R.randint(1, 21)}"


def mailgun() -> str:
    return "key-" + rs(HEX, 32)


def newrelic() -> str:
    return "NRAK-" + rs(UPPER_DIGITS, 27)


def digitalocean() -> str:
    return "dop_v1_" + rs(HEX, 64)


def doppler() -> str:
    return "dp.st.prd." + rs(ALNUM, 43)


def dockerhub() -> str:
    return "dckr_pat_" + rs(URLSAFE, 27)


def groq() -> str:
    return "gsk_" + rs(ALNUM, 52)


def perplexity() -> str:
    return "pplx-" + rs(ALNUM, 48)


def replicate() -> str:
    return "r8_" + rs(ALNUM, 37)


def shopify() -> str:
    return R.choice(["shpat_", "shpss_", "shpca_"]) + rs(HEX, 32)


def square() -> str:
    return R.choice(["EAAA" + rs(URLSAFE, 60), "sq0atp-" + rs(URLSAFE, 22), "sq0csp-" + rs(URLSAFE, 43)])


def telegram() -> str:
    return f"{R.randint(100000000, 7999999999)}:AA{rs(URLSAFE, 33)}"


def vault() -> str:
    return "hvs." + rs(URLSAFE, 91)


def xai() -> str:
    return "xai-" + rs(ALNUM, 80)


def age() -> str:
    return "AGE-SECRET-KEY-1" + rs("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)


# name shown in prose, generator, loomllm type
VENDORS: list[tuple[str, object, str]] = [
    ("GitHub", github, "SECRET_GITHUB_TOKEN"),
    ("GitLab", gitlab, "SECRET_GITLAB_TOKEN"),
    ("Slack", slack, "SECRET_SLACK_TOKEN"),
    ("Stripe", stripe, "SECRET_STRIPE_KEY"),
    ("AWS", aws_id, "SECRET_AWS_ACCESS_KEY"),
    ("Google Cloud", gcp_key, "SECRET_GCP_API_KEY"),
    ("Google", google_oauth, "SECRET_GOOGLE_OAUTH_TOKEN"),
    ("Azure AD", azure_client_secret, "SECRET_AZURE_CLIENT_SECRET"),
    ("OpenAI", openai, "SECRET_OPENAI_API_KEY"),
    ("Anthropic", anthropic, "SECRET_ANTHROPIC_API_KEY"),
    ("Hugging Face", huggingface, "SECRET_HUGGINGFACE_TOKEN"),
    ("Twilio", twilio_key, "SECRET_TWILIO_API_KEY"),
    ("SendGrid", sendgrid, "SECRET_SENDGRID_API_KEY"),
    ("npm", npm, "SECRET_NPM_TOKEN"),
    ("PyPI", pypi, "SECRET_PYPI_TOKEN"),
    ("Discord", discord_bot, "SECRET_DISCORD_BOT_TOKEN"),
    ("Mailchimp", mailchimp, "SECRET_MAILCHIMP_API_KEY"),
    ("Mailgun", mailgun, "SECRET_MAILGUN_API_KEY"),
    ("New Relic", newrelic, "SECRET_NEW_RELIC_KEY"),
    ("DigitalOcean", digitalocean, "SECRET_DIGITALOCEAN_TOKEN"),
    ("Doppler", doppler, "SECRET_DOPPLER_TOKEN"),
    ("Docker Hub", dockerhub, "SECRET_DOCKERHUB_TOKEN"),
    ("Groq", groq, "SECRET_GROQ_API_KEY"),
    ("Perplexity", perplexity, "SECRET_PERPLEXITY_API_KEY"),
    ("Replicate", replicate, "SECRET_REPLICATE_TOKEN"),
    ("Shopify", shopify, "SECRET_SHOPIFY_TOKEN"),
    ("Square", square, "SECRET_SQUARE_TOKEN"),
    ("Telegram", telegram, "SECRET_TELEGRAM_BOT_TOKEN"),
    ("Vault", vault, "SECRET_VAULT_TOKEN"),
    ("xAI", xai, "SECRET_XAI_API_KEY"),
    ("age", age, "SECRET_AGE_SECRET_KEY"),
    ("JWT", jwt, "SECRET_JWT"),
]


def vendor(i: int) -> tuple[str, str, str]:
    name, gen, etype = VENDORS[i % len(VENDORS)]
    return name, gen(), etype  # type: ignore[operator]


def m(etype: str, value: str, family: str | None = None) -> str:
    return f"⟦{etype}@{family}|{value}⟧" if family else f"⟦{etype}|{value}⟧"


# ---------------------------------------------------------------- PII with checksums


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


def card(prefix: str, length: int = 16) -> str:
    body = prefix + digits(length - 1 - len(prefix))
    return body + luhn_digit(body)


def group_card(n: str, sep: str) -> str:
    if len(n) == 15:
        return sep.join([n[:4], n[4:10], n[10:]])
    return sep.join(n[i : i + 4] for i in range(0, 16, 4))


def any_card() -> str:
    prefix = R.choice(["4", "4", "4", "51", "53", "55", "34", "37", "6011"])
    return card(prefix, 15 if prefix in ("34", "37") else 16)


def mastercard2() -> str:
    return card(str(R.randint(2221, 2720)))


def nhs() -> str:
    while True:
        d = [R.randint(0, 9) for _ in range(9)]
        if d[0] == 0:
            continue
        check = 11 - sum(w * x for w, x in zip(range(10, 1, -1), d, strict=True)) % 11
        if check == 11:
            check = 0
        if check == 10:
            continue
        s = "".join(map(str, d)) + str(check)
        return s


def nino() -> str:
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = R.choice(first) + R.choice(second)
        if p not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            return p + digits(6) + R.choice("ABCD")


def ssn() -> str:
    while True:
        area = R.randint(1, 899)
        if area != 666:
            return f"{area:03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"


def iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(num) % 97
    return f"{country}{check:02d}{bban}"


def random_iban() -> str:
    c = R.choice(["DE", "GB", "FR", "ES", "NL", "IT", "CH", "PL", "BE", "AT"])
    bban = {
        "DE": lambda: digits(18),
        "GB": lambda: R.choice(["NWBK", "BARC", "MIDL", "LOYD", "HBUK"]) + digits(14),
        "FR": lambda: digits(10) + rs(UPPER_DIGITS, 11) + digits(2),
        "ES": lambda: digits(20),
        "NL": lambda: R.choice(["ABNA", "INGB", "RABO", "TRIO"]) + digits(10),
        "IT": lambda: R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + digits(10) + rs(UPPER_DIGITS, 12),
        "CH": lambda: digits(17),
        "PL": lambda: digits(24),
        "BE": lambda: digits(12),
        "AT": lambda: digits(16),
    }[c]()
    return iban(c, bban)


def spaced_iban(s: str) -> str:
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


# ---------------------------------------------------------------- record assembly


def record(rid: str, family: str, marked: str) -> dict[str, object]:
    text_parts: list[str] = []
    spans: list[dict[str, object]] = []
    pos = 0
    out_len = 0
    for mm in MARK.finditer(marked):
        before = marked[pos : mm.start()]
        text_parts.append(before)
        out_len += len(before)
        value = mm.group(3)
        spans.append(
            {"start": out_len, "end": out_len + len(value), "type": mm.group(1), "family": mm.group(2) or family}
        )
        text_parts.append(value)
        out_len += len(value)
        pos = mm.end()
    text_parts.append(marked[pos:])
    text = "".join(text_parts)
    assert "⟦" not in text and "⟧" not in text, rid
    if not spans:
        kind = "negative"
    elif any(str(s["type"]).startswith("SECRET_") for s in spans):
        kind = "secret"
    else:
        kind = "pii"
    return {"id": rid, "kind": kind, "family": family, "text": text, "spans": spans}


def write(name: str, records: list[dict[str, object]]) -> None:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), name
    with (HERE / name).open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- secrets: vendor tokens in prose

PROSE = [
    "hey, can you check why the deploy job fails? I'm using the {v} token {T} and it keeps saying unauthorized",
    "I rotated the {v} key yesterday, the new one is {T} so please update the shared vault entry",
    "for the record the old {v} credential {T} was revoked this morning",
    "Here is the {v} key you asked for {T} (it only has read scope)",
    "just paste {T} into the settings page and the {v} integration should light up",
    "the {v} token that leaked in the screenshot was {T}, we need to revoke it today",
    "Why does {v} reject {T} when I call the API from the staging box?",
    "I think the problem is the {v} key, I set it to {T} but the worker still uses the previous one",
    "{T} is the {v} token for the nightly export, do not share it outside the team",
    "Use {T} for now and we'll switch to a scoped {v} token after the audit",
    "My {v} key {T} stopped working after I upgraded the SDK, any idea?",
    "Could you add {T} to the CI secrets? It's the {v} one for the release pipeline",
    "Before you ask, yes {T} is a production {v} key, and yes I know I shouldn't paste it here",
    "we tried the {v} key {T} again with curl and got a 401 back",
    "Reminder that the {v} token is still {T} until Friday's rotation",
    "Customer says their {v} credential {T} shows up in our error emails, please confirm and scrub",
    "the bot authenticates with {T} which is a {v} token minted by the platform team",
    "Found this in the old wiki page, looks like a live {v} key {T}",
    "in case it helps the failing call was made with {T} against the {v} endpoint",
    "ok so I regenerated it, new {v} token {T}, old one is dead",
    "Please try again with this {v} key {T} and tell me whether the quota error persists",
    "the contractor's laptop had {T} cached, that is our {v} token so treat it as compromised",
    "{v} says the key {T} belongs to a deleted project, which is odd",
    "I will DM you the rest but the {v} key starts the same as {T}",
    "Swap the placeholder in the notebook for {T} and rerun cell 4 ({v} access)",
    "It works locally with {T} but not in the container, is the {v} token scoped per IP?",
    "we share one {v} account, its token is {T}, please don't rotate it without telling ops",
    "Quick q, is {T} the right format for a {v} key or did I copy it wrong?",
    "token for {v} -> {T}",
    "{v} access for the demo tenant is {T} (expires end of month)",
    "the leaked {v} secret in commit history was {T}, the history rewrite is scheduled",
    "I added {T} as the {v} key in the team password manager under integrations",
    "Pasting the {v} key here so you can test the migration {T}",
    "Can someone with admin rights revoke {T}? It's our {v} token and it was posted in a public channel",
    "Log excerpt shows the client sent {T} in the header, that's the {v} token of the billing service",
    "sorry for the noise, the correct {v} key is actually {T}",
    "I'm getting rate limited by {v} even though the key {T} is on the enterprise plan",
    "Add the {v} token {T} to your shell profile and restart the terminal",
    "We found {T} in a public gist, it matches the format of a {v} key and we are notifying the owner",
    "the {v} key for the analytics sandbox is {T} and it has no spending limit",
    "as discussed the fallback {v} credential is {T}",
    "{v} support asked us to send the key {T} so they could look up the account",
    "my coworker hardcoded {T} in the Dockerfile, that's the {v} token we use for pulls",
    "Setting {T} as the {v} key fixes the 403 in my tests",
    "the integration test suite still references {T}, our old {v} key",
    "here you go {T}",
]


def gen_token_prose() -> list[dict[str, object]]:
    out = []
    i = 0
    for tpl in PROSE:
        for rep in range(2):
            name, tok, etype = vendor(i)
            i += 1
            text = tpl.replace("{v}", name).replace("{T}", m(etype, tok))
            if "{v}" not in tpl and rep == 1:
                continue
            assert "=" not in text.replace(tok, "") and ":" not in text.replace(tok, ""), tpl
            out.append(record(f"h2-prose-{len(out):03d}", "token_prose", text))
    return out


# ---------------------------------------------------------------- secrets: vendor tokens in config/code/logs


def gen_token_config() -> list[dict[str, object]]:
    recs: list[str] = []
    aid, asec = aws_id(), aws_secret()
    recs.append(f"[default]\naws_access_key_id = {m('SECRET_AWS_ACCESS_KEY', aid)}\naws_secret_access_key = {m('SECRET_AWS_SECRET_KEY', asec)}\nregion = eu-west-1\n")
    recs.append(f"export AWS_ACCESS_KEY_ID={m('SECRET_AWS_ACCESS_KEY', aws_id())}\nexport AWS_SECRET_ACCESS_KEY={m('SECRET_AWS_SECRET_KEY', aws_secret())}\naws s3 ls s3://acme-backups/\n")
    recs.append(f"# .env\nNODE_ENV=production\nSTRIPE_SECRET_KEY={m('SECRET_STRIPE_KEY', stripe())}\nPORT=8080\n")
    recs.append(f"services:\n  api:\n    image: acme/api:2.3.1\n    environment:\n      - OPENAI_API_KEY={m('SECRET_OPENAI_API_KEY', openai())}\n      - LOG_LEVEL=info\n")
    recs.append(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: slack-bot\ntype: Opaque\nstringData:\n  SLACK_BOT_TOKEN: {m('SECRET_SLACK_TOKEN', slack())}\n")
    recs.append(f'{{"github": {{"token": "{m("SECRET_GITHUB_TOKEN", github())}", "org": "acme"}}, "retries": 3}}')
    recs.append(f"//registry.npmjs.org/:_authToken={m('SECRET_NPM_TOKEN', npm())}\nregistry=https://registry.npmjs.org/\n")
    recs.append(f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {m('SECRET_PYPI_TOKEN', pypi())}\n")
    recs.append(f"curl https://api.anthropic.com/v1/messages \\\n  -H \"x-api-key: {m('SECRET_ANTHROPIC_API_KEY', anthropic())}\" \\\n  -H \"anthropic-version: 2023-06-01\" -d @body.json")
    recs.append(f"curl -s -H \"Authorization: Bearer {m('SECRET_OPENAI_API_KEY', openai())}\" https://api.openai.com/v1/models | jq .")
    recs.append(f"from openai import OpenAI\n\nclient = OpenAI(api_key=\"{m('SECRET_OPENAI_API_KEY', openai())}\")\nprint(client.models.list())")
    recs.append(f"const stripe = require('stripe')('{m('SECRET_STRIPE_KEY', stripe())}');\nconst session = await stripe.checkout.sessions.create(params);")
    recs.append(f"package main\n\nconst slackToken = \"{m('SECRET_SLACK_TOKEN', slack())}\"\n\nfunc main() {{ api := slack.New(slackToken); _ = api }}")
    recs.append(f"provider \"digitalocean\" {{\n  token = \"{m('SECRET_DIGITALOCEAN_TOKEN', digitalocean())}\"\n}}")
    recs.append(f"HF_TOKEN={m('SECRET_HUGGINGFACE_TOKEN', huggingface())} huggingface-cli download meta-llama/Llama-3.1-8B --local-dir ./weights")
    recs.append(f"$ export GITLAB_TOKEN={m('SECRET_GITLAB_TOKEN', gitlab())}\n$ glab mr list --assignee=@me")
    recs.append(f"SENDGRID_API_KEY='{m('SECRET_SENDGRID_API_KEY', sendgrid())}'\nFROM_EMAIL_DOMAIN=mail.acme.io")
    recs.append(f"twilio:\n  account_sid: AC{rs(HEX, 32)}\n  api_key: {m('SECRET_TWILIO_API_KEY', twilio_key())}\n  region: ie1")
    recs.append(f"DISCORD_TOKEN={m('SECRET_DISCORD_BOT_TOKEN', discord_bot())}\nCOMMAND_PREFIX=!")
    recs.append(f"alerting:\n  slack_webhook: {m('SECRET_SLACK_WEBHOOK', slack_webhook())}\n  channel: '#ops-alerts'")
    recs.append(f"notify() {{ curl -X POST -H 'Content-type: application/json' --data \"$1\" {m('SECRET_SLACK_WEBHOOK', slack_webhook())}; }}")
    recs.append(f"WEBHOOK_URL = \"{m('SECRET_DISCORD_WEBHOOK', discord_webhook())}\"\nrequests.post(WEBHOOK_URL, json={{\"content\": msg}})")
    recs.append(f"DefaultEndpointsProtocol=https;AccountName=acmeprodlogs;AccountKey={m('SECRET_AZURE_STORAGE_KEY', azure_storage())};EndpointSuffix=core.windows.net")
    recs.append(f"https://acmeassets.blob.core.windows.net/exports/report.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-01-31T00:00:00Z&st=2025-12-01T00:00:00Z&spr=https&sig={m('SECRET_AZURE_SAS_TOKEN', azure_sas_sig())}")
    recs.append(f"az login --service-principal -u 3f1c2b9e-7a45-4d1e-9c0b-5e2f8a6d4c13 -p {m('SECRET_AZURE_CLIENT_SECRET', azure_client_secret())} --tenant 9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f")
    recs.append(f"{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-analytics-4471\",\n  \"private_key_id\": \"{rs(HEX, 40)}\",\n  \"private_key\": \"{m('SECRET_GCP_SERVICE_ACCOUNT_KEY', pem('PRIVATE KEY').replace(chr(10), chr(92) + 'n'))}\"\n}}")
    recs.append(f"<script src=\"https://maps.googleapis.com/maps/api/js?key={m('SECRET_GCP_API_KEY', gcp_key())}&callback=initMap\" async></script>")
    recs.append(f"GET /v1/userinfo HTTP/1.1\nHost: openidconnect.googleapis.com\nAuthorization: Bearer {m('SECRET_GOOGLE_OAUTH_TOKEN', google_oauth())}\nAccept: */*")
    recs.append(f"2025-11-30T14:02:11Z INFO  auth: verifying session token {m('SECRET_JWT', jwt())} for request 8841")
    recs.append(f"VAULT_ADDR=https://vault.internal:8200 VAULT_TOKEN={m('SECRET_VAULT_TOKEN', vault())} vault kv get secret/payments")
    recs.append(f"[mailgun]\ndomain = mg.acme.io\napi_key = {m('SECRET_MAILGUN_API_KEY', mailgun())}")
    recs.append(f"MAILCHIMP_API_KEY={m('SECRET_MAILCHIMP_API_KEY', mailchimp())}\nMAILCHIMP_LIST_ID=4b1e2f9a0c")
    recs.append(f"newrelic:\n  license_key_ref: nr-license\n  user_api_key: {m('SECRET_NEW_RELIC_KEY', newrelic())}")
    recs.append(f"- name: Log in to Docker Hub\n  run: echo {m('SECRET_DOCKERHUB_TOKEN', dockerhub())} | docker login -u acmebuild --password-stdin")
    recs.append(f"DOPPLER_TOKEN=\"{m('SECRET_DOPPLER_TOKEN', doppler())}\" doppler run -- npm start")
    recs.append(f"client = Groq(api_key=\"{m('SECRET_GROQ_API_KEY', groq())}\")\nresp = client.chat.completions.create(model=\"llama-3.1-8b-instant\", messages=msgs)")
    recs.append(f"PPLX_API_KEY={m('SECRET_PERPLEXITY_API_KEY', perplexity())}\nREPLICATE_API_TOKEN={m('SECRET_REPLICATE_TOKEN', replicate())}")
    recs.append(f"shopify:\n  store: acme-outdoor.myshopify.com\n  admin_token: {m('SECRET_SHOPIFY_TOKEN', shopify())}")
    recs.append(f"SQUARE_ACCESS_TOKEN={m('SECRET_SQUARE_TOKEN', square())}\nSQUARE_ENVIRONMENT=production")
    recs.append(f"bot = telebot.TeleBot(\"{m('SECRET_TELEGRAM_BOT_TOKEN', telegram())}\")\nbot.infinity_polling()")
    recs.append(f"XAI_API_KEY={m('SECRET_XAI_API_KEY', xai())}")
    recs.append(f"# created: 2025-10-02T11:20:45+02:00\n# public key: age1{rs('qpzry9x8gf2tvdw0s3jn54khce6mua7l', 58)}\n{m('SECRET_AGE_SECRET_KEY', age())}")
    recs.append(f"Traceback (most recent call last):\n  File \"/app/sync.py\", line 41, in <module>\n    gh = Github(\"{m('SECRET_GITHUB_TOKEN', github())}\")\n  File \"/usr/lib/python3.12/site-packages/github/MainClass.py\", line 212, in __init__\n    raise BadCredentialsException(401)\ngithub.GithubException.BadCredentialsException: 401")
    recs.append(f"[2025-11-28 09:14:03] ERROR worker.sendgrid: POST /v3/mail/send failed (403) key={m('SECRET_SENDGRID_API_KEY', sendgrid())} retry=2")
    recs.append(f"url = \"https://api.telegram.org/bot{m('SECRET_TELEGRAM_BOT_TOKEN', telegram())}/sendMessage\"")
    recs.append(f"git clone https://oauth2:{m('SECRET_GITLAB_TOKEN', gitlab())}@gitlab.com/acme/platform/infra.git")
    recs.append(f"git remote set-url origin https://x-access-token:{m('SECRET_GITHUB_TOKEN', github())}@github.com/acme/web.git")
    recs.append(f"ssh_private_key: |\n  {m('SECRET_PRIVATE_KEY', pem('OPENSSH PRIVATE KEY').replace(chr(10), chr(10) + '  '))}\nknown_hosts: github.com")
    recs.append(f"$ cat ~/.ssh/id_rsa\n{m('SECRET_PRIVATE_KEY', pem('RSA PRIVATE KEY'))}\n$ chmod 600 ~/.ssh/id_rsa")
    recs.append(f"tls:\n  key: |\n    {m('SECRET_PRIVATE_KEY', pem('EC PRIVATE KEY').replace(chr(10), chr(10) + '    '))}")
    recs.append(f"Authorization: Bearer {m('SECRET_JWT', jwt())}")
    recs.append(f"fetch('/api/orders', {{ headers: {{ Authorization: `Bearer {m('SECRET_JWT', jwt())}` }} }})")
    recs.append(f"settings.py\nANTHROPIC_API_KEY = \"{m('SECRET_ANTHROPIC_API_KEY', anthropic())}\"\nDEBUG = False")
    recs.append(f"$env:OPENAI_API_KEY = \"{m('SECRET_OPENAI_API_KEY', openai())}\"\npython .\\agent.py")
    recs.append(f"set AWS_SECRET_ACCESS_KEY={m('SECRET_AWS_SECRET_KEY', aws_secret())}\nset AWS_DEFAULT_REGION=us-east-2")
    recs.append(f"jobs:\n  build:\n    env:\n      NPM_TOKEN: {m('SECRET_NPM_TOKEN', npm())}\n    steps:\n      - run: npm publish")
    recs.append(f"hf = HfApi(token='{m('SECRET_HUGGINGFACE_TOKEN', huggingface())}')\nhf.upload_folder(folder_path='out', repo_id='acme/ft-run-12')")
    recs.append(f"stripe listen --api-key {m('SECRET_STRIPE_KEY', stripe())} --forward-to localhost:4242/webhook")
    recs.append(f"<add key=\"SlackToken\" value=\"{m('SECRET_SLACK_TOKEN', slack())}\" />")
    recs.append(f"spring:\n  cloud:\n    azure:\n      active-directory:\n        credential:\n          client-secret: {m('SECRET_AZURE_CLIENT_SECRET', azure_client_secret())}")
    recs.append(f"-- connection for the report job\nSET @api_token = '{m('SECRET_GITHUB_TOKEN', github())}';")
    return [record(f"h2-config-{i:03d}", "token_config", t) for i, t in enumerate(recs)]


# ---------------------------------------------------------------- secrets: pure hex values


def gen_hex() -> list[dict[str, object]]:
    H = "SECRET_HIGH_ENTROPY_STRING"
    t = [
        lambda: f"the webhook signing secret is {m(H, rs(HEX, 64))}, verify the HMAC with it",
        lambda: f"Twilio auth token {m('SECRET_TWILIO_AUTH_TOKEN', rs(HEX, 32))} for account AC{rs(HEX, 32)}",
        lambda: f"AZURE_OPENAI_API_KEY={m('SECRET_AZURE_API_KEY', rs(HEX, 32))}\nAZURE_OPENAI_ENDPOINT=https://acme-eastus.openai.azure.com/",
        lambda: f"SECRET_KEY_BASE={m(H, rs(HEX, 128))}",
        lambda: f"session:\n  secret: {m(H, rs(HEX, 64))}\n  cookie_name: sid",
        lambda: f"Our HMAC secret for the partner callback is {m(H, rs(HEX, 40))} and it never changed since 2021",
        lambda: f"app.config['SECRET_KEY'] = '{m(H, rs(HEX, 48))}'",
        lambda: f"api secret {m(H, rs(HEX, 32))} (the key id is public, this one is not)",
        lambda: f"{{\"client_id\": \"acme-web\", \"client_secret\": \"{m(H, rs(HEX, 40))}\"}}",
        lambda: f"export JWT_SECRET={m(H, rs(HEX, 64))}",
        lambda: f"the Mailgun webhook signing key is {m(H, rs(HEX, 32))}",
        lambda: f"I generated the encryption key with openssl rand -hex 32 and got {m(H, rs(HEX, 64))}, is that long enough?",
        lambda: f"ENCRYPTION_KEY: \"{m(H, rs(HEX, 64))}\"",
        lambda: f"token {m(H, rs(HEX, 40))} still works on the legacy endpoint, revoke it",
        lambda: f"Paystack secret {m(H, rs(HEX, 40))} was in the screenshot",
        lambda: f"appsecret_proof uses the app secret {m(H, rs(HEX, 32))} so rotate that too",
        lambda: f"algolia:\n  app_id: KX7Q2M1ZPB\n  admin_api_key: {m(H, rs(HEX, 32))}",
        lambda: f"the old (pre-2021) GitHub token format was forty hex characters, ours was {m('SECRET_GITHUB_TOKEN', rs(HEX, 40))} and it still works",
        lambda: f"DB_ENCRYPTION_SECRET='{m(H, rs(HEX, 64))}'",
        lambda: f"const signingSecret = \"{m(H, rs(HEX, 32))}\";",
        lambda: f"cloudflare api token for dns edits is {m(H, rs(HEX, 37))}",
        lambda: f"PUSHER_APP_SECRET={m(H, rs(HEX, 20))}",
        lambda: f"our Datadog API key {m(H, rs(HEX, 32))} ended up in the public repo",
        lambda: f"Rails master.key contents {m(H, rs(HEX, 32))}",
        lambda: f"--secret {m(H, rs(HEX, 64))}",
        lambda: f"private key (hex, secp256k1) {m(H, rs(HEX, 64))}",
        lambda: f"Please verify the signature with shared secret {m(H, rs(HEX, 64))}",
        lambda: f"lastfm api secret is {m(H, rs(HEX, 32))}",
    ]
    return [record(f"h2-hex-{i:03d}", "hex_secret", f()) for i, f in enumerate(t)]


# ---------------------------------------------------------------- secrets: passwords in prose


def password() -> str:
    words = ["Winter", "harbor", "Maple", "falcon", "Quartz", "tiger", "Summit", "lunar", "Copper", "orbit", "Velvet", "Nimbus"]
    style = R.randint(0, 4)
    if style == 0:
        return R.choice(words) + R.choice("!@#$%&*") + digits(R.randint(2, 4))
    if style == 1:
        return rs(ALNUM + "!@#$%^&*", R.randint(10, 18))
    if style == 2:
        return "-".join(R.choice(["correct", "staple", "violet", "canyon", "pepper", "rocket", "ember", "glacier"]) for _ in range(3)) + digits(2)
    if style == 3:
        return R.choice(words).lower() + digits(4) + R.choice(words)
    return rs(ALNUM, 12)


def gen_password_prose() -> list[dict[str, object]]:
    P = "SECRET_PASSWORD"
    t = [
        "the password for the staging db is {p}",
        "Hi team, the admin password on the new router is {p} until we set up SSO",
        "I reset it, new password is {p}",
        "Password for the shared Netflix-style demo account {p}, please don't change it",
        "can you log into the jump host? user deploy, password {p}",
        "The wifi password in the Berlin office is now {p}",
        "fyi the root pw for the NAS is {p}",
        "my password is {p} if you need to check my mailbox settings",
        "The temporary password we set for the customer's account is {p} and it expires in 24h",
        "the Jenkins admin login is admin / {p}",
        "use {p} as the password when the installer asks",
        "Grafana is up, log in with admin and the password {p}",
        "the db password was changed to {p} last night, update your local config",
        "passwd for the backup user {p}",
        "I think the problem is my password, it contains special characters ({p})",
        "Our vendor portal credentials are ops@acme-vendor / {p}",
        "here's the keystore password {p} for signing the android build",
        "Please set the RabbitMQ password to {p} in both environments",
        "The default password of the appliance is {p}, we never changed it",
        "sudo password on build-07 is {p}",
        "for the VPN use your usual username and the one-time password {p}",
        "Elastic superuser password {p} (generated by the setup wizard)",
        "the zip is encrypted, the password is {p}",
        "Remember the Postgres password is {p} not the old one",
        "password {p} works for the read replica too",
        "Kibana asked for a password and I typed {p}",
        "Your new portal password is {p}. Please change it after your first login.",
        "Mot de passe du compte de test {p}",
        "La contraseña del servidor de pruebas es {p}",
        "the password i gave the auditor was {p}, can we rotate it now that they're done",
        "SMTP relay auth is user alerts and password {p}",
        "the BIOS password on the loaner laptops is {p}",
    ]
    out = []
    for i, tpl in enumerate(t):
        out.append(record(f"h2-pwprose-{i:03d}", "password_prose", tpl.replace("{p}", m(P, password()))))
    return out


# ---------------------------------------------------------------- secrets: passwords as CLI flags of servers


def gen_cli_password() -> list[dict[str, object]]:
    P = "SECRET_PASSWORD"
    D = "SECRET_DATABASE_PASSWORD"
    t = [
        lambda: f"PGPASSWORD={m(D, password())} psql -h db.internal -U app -d orders -c 'select count(*) from orders'",
        lambda: f"PGPASSWORD='{m(D, password())}' pg_dump -h pg-primary.internal -U postgres shop > shop.sql",
        lambda: f"redis-cli -h cache.internal -p 6379 -a {m(P, password())} INFO memory",
        lambda: f"redis-cli -a '{m(P, password())}' --no-auth-warning KEYS 'session:*'",
        lambda: f"mongo --host rs0/mongo1:27017 -u admin -p {m(D, password())} --authenticationDatabase admin",
        lambda: f"mongosh \"mongodb://mongo1:27017\" --username reporting --password {m(D, password())}",
        lambda: f"mongodump -u backup -p '{m(D, password())}' --db inventory --out /backups/",
        lambda: f"curl -u admin:{m(P, password())} https://jenkins.internal/api/json",
        lambda: f"curl --user deploy:{m(P, password())} -X POST https://nexus.internal/service/rest/v1/components",
        lambda: f"sshpass -p '{m(P, password())}' ssh -o StrictHostKeyChecking=no pi@raspberrypi",
        lambda: f"sshpass -p {m(P, password())} scp backup.tar.gz ops@backup01:/srv/",
        lambda: f"htpasswd -b -c /etc/nginx/.htpasswd monitor {m(P, password())}",
        lambda: f"htpasswd -nbB admin {m(P, password())}",
        lambda: f"docker login registry.acme.io -u ci -p {m(P, password())}",
        lambda: f"rabbitmqctl add_user metrics {m(P, password())}",
        lambda: f"rabbitmqctl change_password guest {m(P, password())}",
        lambda: f"ldapsearch -x -H ldap://ldap.internal -D 'cn=admin,dc=acme,dc=io' -w {m(P, password())} '(uid=jsmith)'",
        lambda: f"smbclient //fileserver/finance -U accounting%{m(P, password())}",
        lambda: f"wget --user=builder --password={m(P, password())} https://artifacts.internal/release.tar.gz",
        lambda: f"openssl pkcs12 -export -in cert.pem -inkey key.pem -out bundle.p12 -passout pass:{m(P, password())}",
        lambda: f"keytool -importkeystore -srckeystore app.jks -srcstorepass {m(P, password())} -destkeystore app.p12",
        lambda: f"sqlcmd -S tcp:sql01.internal,1433 -U sa -P '{m(D, password())}' -Q 'SELECT @@VERSION'",
        lambda: f"mysqladmin -u root --password={m(D, password())} status",
        lambda: f"lftp -u uploader,{m(P, password())} sftp://files.partner.net",
        lambda: f"influx -username admin -password {m(D, password())} -execute 'SHOW DATABASES'",
        lambda: f"cqlsh cassandra01 -u cassandra -p {m(D, password())}",
        lambda: f"psql \"host=db.internal port=5432 dbname=app user=app password={m(D, password())} sslmode=require\"",
        lambda: f"mc alias set minio http://minio:9000 minioadmin {m(P, password())}",
        lambda: f"rclone config create b2 b2 account 0021a3f4b5c6 key {m(P, password())}",
        lambda: f"ansible-playbook site.yml -e ansible_become_password={m(P, password())}",
        lambda: f"net use Z: \\\\fs01\\share /user:ACME\\svc_backup {m(P, password())}",
        lambda: f"xfreerdp /v:rdp-gw.internal /u:Administrator /p:{m(P, password())}",
        lambda: f"ftp -n <<EOF\nopen ftp.legacy.internal\nuser transfer {m(P, password())}\nput report.csv\nEOF",
        lambda: f"$ history | tail -3\n  501  cd /opt/app\n  502  redis-cli -h localhost -a {m(P, password())} FLUSHDB\n  503  exit",
        lambda: f"vncpasswd -f <<< '{m(P, password())}' > ~/.vnc/passwd",
        lambda: f"zip -P {m(P, password())} payroll.zip payroll.xlsx",
        lambda: f"7z a -p{m(P, password())} archive.7z ./exports",
        lambda: f"kubectl create secret generic db --from-literal=username=app --from-literal=password={m(D, password())}",
        lambda: f"clickhouse-client --host ch01 --user default --password {m(D, password())} --query 'SELECT 1'",
        lambda: f"rsync -av ./site/ rsync://mirror.internal/www --password-file=<(echo {m(P, password())})",
    ]
    return [record(f"h2-cli-{i:03d}", "cli_password", f()) for i, f in enumerate(t)]


# ---------------------------------------------------------------- secrets: *_KEY variables with no keyword in the name


def license_key() -> str:
    return "-".join(rs(UPPER_DIGITS, 5) for _ in range(5))


def gen_generic_key() -> list[dict[str, object]]:
    G = "SECRET_GENERIC_CREDENTIAL"
    vals = [lambda: rs(ALNUM, 32), lambda: rs(URLSAFE, 40), license_key, lambda: rs(B64, 44).rstrip("+/") + "=", lambda: rs(ALNUM, 24)]
    t = [
        lambda v: f"LICENSE_KEY={m(G, v)}",
        lambda v: f"ADMIN_KEY={m(G, v)}\nADMIN_USER=ops",
        lambda v: f"MASTER_KEY=\"{m(G, v)}\"",
        lambda v: f"export PARTNER_KEY={m(G, v)}",
        lambda v: f"licence_key: {m(G, v)}",
        lambda v: f"{{\"adminKey\": \"{m(G, v)}\", \"endpoint\": \"https://search.acme.io\"}}",
        lambda v: f"MEILI_MASTER_KEY={m(G, v)}",
        lambda v: f"NEW_RELIC_LICENSE_KEY={m(G, v)}",
        lambda v: f"env:\n  - name: ROOT_KEY\n    value: \"{m(G, v)}\"",
        lambda v: f"INTERNAL_KEY = '{m(G, v)}'",
        lambda v: f"[license]\nproduct_key = {m(G, v)}",
        lambda v: f"MAPS_KEY={m(G, v)}",
        lambda v: f"SIGNING_KEY={m(G, v)}",
        lambda v: f"WEBHOOK_KEY: {m(G, v)}",
        lambda v: f"const MERCHANT_KEY = \"{m(G, v)}\";",
        lambda v: f"$ADMIN_KEY = '{m(G, v)}';",
        lambda v: f"config.ingest_key = \"{m(G, v)}\"",
        lambda v: f"OPS_KEY={m(G, v)} ./bin/rotate --dry-run",
        lambda v: f"<LicenseKey>{m(G, v)}</LicenseKey>",
        lambda v: f"CIPHER_KEY={m(G, v)}",
        lambda v: f"tenant_key = \"{m(G, v)}\"",
        lambda v: f"docker run -e RELAY_KEY={m(G, v)} acme/relay:1.4",
        lambda v: f"SERVICE_KEY: '{m(G, v)}'",
        lambda v: f"os.environ[\"CLIENT_KEY\"] = \"{m(G, v)}\"",
        lambda v: f"ENTERPRISE_KEY={m(G, v)}\nSEATS=250",
        lambda v: f"VENDOR_KEY={m(G, v)}",
        lambda v: f"sentry:\n  relay_key: {m(G, v)}",
        lambda v: f"BACKUP_KEY={m(G, v)}",
        lambda v: f"ACCESS_KEY={m(G, v)}",
        lambda v: f"activation key {m(G, license_key())} for 25 seats, keep it somewhere safe",
    ]
    return [record(f"h2-key-{i:03d}", "generic_key_var", f(vals[i % len(vals)]())) for i, f in enumerate(t)]


# ---------------------------------------------------------------- secrets: passwords inside URLs


def gen_url_password() -> list[dict[str, object]]:
    U = "SECRET_URL_PASSWORD"
    t = [
        lambda: f"DATABASE_URL=postgres://app:{m(U, password().replace('@', '!').replace('#', '%'))}@db.internal:5432/orders",
        lambda: f"MONGO_URI=\"mongodb+srv://etl:{m(U, rs(ALNUM, 16))}@cluster0.ab12c.mongodb.net/analytics?retryWrites=true\"",
        lambda: f"redis://:{m(U, rs(ALNUM, 24))}@redis-prod.internal:6379/0",
        lambda: f"amqp://orders:{m(U, rs(ALNUM, 14))}@rabbit.internal:5672/%2F",
        lambda: f"the broker URL in prod is amqps://worker:{m(U, rs(ALNUM, 18))}@mq.acme.io/vhost",
        lambda: f"pip install --index-url https://build:{m(U, rs(ALNUM, 20))}@pypi.acme.internal/simple acme-core",
        lambda: f"sqlalchemy.url = mysql+pymysql://report:{m(U, rs(ALNUM, 12))}@mysql01/reports",
        lambda: f"jdbc:postgresql://db:5432/app?user=app&password={m(U, rs(ALNUM, 15))}",
        lambda: f"git clone https://jdoe:{m(U, rs(ALNUM, 13))}@bitbucket.acme.io/scm/plat/api.git",
        lambda: f"proxy: http://squid:{m(U, rs(ALNUM, 12))}@proxy.corp:3128",
        lambda: f"CELERY_BROKER_URL=redis://default:{m(U, rs(ALNUM, 32))}@redis-12345.c1.eu-west-1.ec2.cloud.redislabs.com:12345",
        lambda: f"ftp://upload:{m(U, rs(ALNUM, 11))}@ftp.partner.net/incoming/",
        lambda: f"I connect with postgresql://readonly:{m(U, rs(ALNUM, 16))}@dwh.internal/warehouse and it times out",
        lambda: f"spring.datasource.url=jdbc:sqlserver://sql01;user=svc;password={m(U, rs(ALNUM, 14))}",
        lambda: f"elastic: https://elastic:{m(U, rs(ALNUM, 20))}@es.internal:9200",
    ]
    return [record(f"h2-urlpw-{i:03d}", "url_password", f()) for i, f in enumerate(t)]


# ---------------------------------------------------------------- obfuscation

ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def zw_once(tok: str) -> str:
    i = R.randint(3, len(tok) - 3)
    return tok[:i] + R.choice(ZW) + tok[i:]


def zw_every(tok: str, n: int = 4) -> str:
    ch = R.choice(ZW)
    return ch.join(tok[i : i + n] for i in range(0, len(tok), n))


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in s)


SHORT_VENDORS = [
    ("GitHub", github, "SECRET_GITHUB_TOKEN"),
    ("OpenAI", openai, "SECRET_OPENAI_API_KEY"),
    ("Stripe", stripe, "SECRET_STRIPE_KEY"),
    ("AWS", aws_id, "SECRET_AWS_ACCESS_KEY"),
    ("Slack", slack, "SECRET_SLACK_TOKEN"),
    ("Anthropic", anthropic, "SECRET_ANTHROPIC_API_KEY"),
    ("Hugging Face", huggingface, "SECRET_HUGGINGFACE_TOKEN"),
    ("GitLab", gitlab, "SECRET_GITLAB_TOKEN"),
    ("SendGrid", sendgrid, "SECRET_SENDGRID_API_KEY"),
    ("npm", npm, "SECRET_NPM_TOKEN"),
    ("Google Cloud", gcp_key, "SECRET_GCP_API_KEY"),
    ("Groq", groq, "SECRET_GROQ_API_KEY"),
]


def sv(i: int) -> tuple[str, str, str]:
    name, gen, etype = SHORT_VENDORS[i % len(SHORT_VENDORS)]
    return name, gen(), etype  # type: ignore[operator]


def gen_obfuscation() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    zw_t = [
        "here is the key {T} can you test it",
        "OPENAI_API_KEY={T}",
        "my {v} token is {T}",
        "token {T}",
        "please use {T} for the sync job",
        "{\"api_key\": \"{T}\"}",
        "export TOKEN={T}",
        "the {v} credential {T} leaked",
        "{T}",
        "curl -H 'Authorization: Bearer {T}' https://api.acme.io/v1/me",
        "Use this {T} thanks",
        "{v} -> {T}",
    ]
    for i, tpl in enumerate(zw_t):
        name, tok, et = sv(i)
        ob = zw_once(tok)
        out.append(record(f"h2-zw1-{i:03d}", "zero_width", tpl.replace("{v}", name).replace("{T}", m(et, ob))))
    for i, tpl in enumerate(zw_t[:8]):
        name, tok, et = sv(i + 5)
        ob = zw_every(tok, R.choice([3, 4, 5]))
        out.append(record(f"h2-zwn-{i:03d}", "zero_width", tpl.replace("{v}", name).replace("{T}", m(et, ob))))
    fw_t = [
        "here's my key {T}",
        "{v} token {T} for the build",
        "API_KEY={T}",
        "please rotate {T}",
        "the {v} key {T} is in the doc",
        "{T} <- that one",
        "token: {T}",
        "use {T} please",
        "creds {T}",
        "{v} {T}",
    ]
    for i, tpl in enumerate(fw_t):
        name, tok, et = sv(i + 2)
        ob = fullwidth(tok) if i % 3 else fullwidth(tok[: len(tok) // 2]) + tok[len(tok) // 2 :]
        out.append(record(f"h2-fw-{i:03d}", "fullwidth", tpl.replace("{v}", name).replace("{T}", m(et, ob))))
    b64_t = [
        "can you run echo {B} | base64 -d and tell me if it's still valid",
        "decode this for me {B}",
        "the configmap has {B} in it, what is that?",
        "data:\n  token: {B}",
        "payload {B}",
        "I encoded it so the bot wouldn't see it {B}",
        "Value in the vault export {B}",
        "{B}",
    ]
    for i, tpl in enumerate(b64_t):
        name, tok, et = sv(i + 7)
        enc = base64.b64encode(tok.encode()).decode()
        out.append(record(f"h2-b64-{i:03d}", "base64_key", tpl.replace("{B}", m(et, enc))))
    kv_t = [
        ("OPENAI_API_KEY", openai, "SECRET_OPENAI_API_KEY"),
        ("AWS_SECRET_ACCESS_KEY", aws_secret, "SECRET_AWS_SECRET_KEY"),
        ("GITHUB_TOKEN", github, "SECRET_GITHUB_TOKEN"),
        ("STRIPE_SECRET_KEY", stripe, "SECRET_STRIPE_KEY"),
        ("DB_PASSWORD", password, "SECRET_DATABASE_PASSWORD"),
        ("SLACK_BOT_TOKEN", slack, "SECRET_SLACK_TOKEN"),
        ("ANTHROPIC_API_KEY", anthropic, "SECRET_ANTHROPIC_API_KEY"),
    ]
    kv_wrap = [
        "here is our env, base64 so it survives the form {B}",
        "apiVersion: v1\nkind: Secret\ndata:\n  .env: {B}",
        "echo {B} | base64 --decode > .env",
        "the attachment was {B}",
        "{B}",
        "blob {B} from the old deploy script",
        "const cfg = atob(\"{B}\");",
    ]
    for i, (var, gen, et) in enumerate(kv_t):
        line = f"{var}={gen()}"  # type: ignore[operator]
        if i % 2:
            line = f"NODE_ENV=production\n{line}\nPORT=3000\n"
        enc = base64.b64encode(line.encode()).decode()
        out.append(record(f"h2-b64kv-{i:03d}", "base64_kv", kv_wrap[i].replace("{B}", m(et, enc))))
    # JSON-escaped values in tool-call arguments (the arguments are a JSON string inside JSON)
    js: list[str] = []
    tok = stripe()
    js.append('{"role": "assistant", "tool_calls": [{"id": "call_7", "type": "function", "function": {"name": "write_file", "arguments": "{\\"path\\": \\".env\\", \\"content\\": \\"STRIPE_KEY=' + m("SECRET_STRIPE_KEY", tok) + '\\\\n\\"}"}}]}')
    tok = github()
    js.append('{"name": "run_shell", "arguments": "{\\"cmd\\": \\"git push https:\\/\\/' + m("SECRET_GITHUB_TOKEN", tok) + '@github.com\\/acme\\/web.git\\"}"}')
    hook = slack_webhook()
    js.append('{"function": {"name": "notify", "arguments": "{\\"url\\": \\"' + m("SECRET_SLACK_WEBHOOK", hook.replace("/", "\\/")) + '\\", \\"text\\": \\"deploy done\\"}"}}')
    tok = openai()
    esc = "\\u0073\\u006b" + tok[2:]
    js.append('{"tool": "set_secret", "arguments": {"name": "llm", "value": "' + m("SECRET_OPENAI_API_KEY", esc) + '"}}')
    tok = aws_id()
    esc = "".join(f"\\u{ord(c):04x}" if j < 4 else c for j, c in enumerate(tok))
    js.append('{"arguments": "{\\"access_key\\": \\"' + m("SECRET_AWS_ACCESS_KEY", esc) + '\\"}"}')
    tok = anthropic()
    esc = tok.replace("-", "\\u002d")
    js.append('{"type": "tool_use", "name": "http_request", "input": {"headers": {"x-api-key": "' + m("SECRET_ANTHROPIC_API_KEY", esc) + '"}}}')
    pw = rs(ALNUM, 14)
    js.append('{"function": {"name": "db_connect", "arguments": "{\\"dsn\\": \\"postgresql:\\/\\/app:' + m("SECRET_URL_PASSWORD", pw) + '@db.internal:5432\\/prod\\"}"}}')
    tok = huggingface()
    js.append('{"arguments": "{\\"token\\": \\"' + m("SECRET_HUGGINGFACE_TOKEN", tok) + '\\", \\"repo\\": \\"acme\\/model\\"}"}')
    tok = slack()
    esc = tok.replace("-", "\\u002D", 2)
    js.append('{"tool_calls": [{"function": {"name": "post", "arguments": "{\\"auth\\": \\"Bearer ' + m("SECRET_SLACK_TOKEN", esc) + '\\"}"}}]}')
    tok = npm()
    js.append('{"name": "write_file", "arguments": "{\\"path\\": \\".npmrc\\", \\"content\\": \\"\\/\\/registry.npmjs.org\\/:_authToken=' + m("SECRET_NPM_TOKEN", tok) + '\\"}"}')
    tok = sendgrid()
    esc = "SG\\u002e" + tok[3:]
    js.append('{"arguments": {"api_key": "' + m("SECRET_SENDGRID_API_KEY", esc) + '"}}')
    tok = gitlab()
    js.append('{"name": "clone", "arguments": "{\\"url\\": \\"https:\\/\\/oauth2:' + m("SECRET_GITLAB_TOKEN", tok) + '@gitlab.com\\/acme\\/infra.git\\"}"}')
    for i, t in enumerate(js):
        out.append(record(f"h2-json-{i:03d}", "json_escaped", t))
    enc_t: list[str] = []
    tok = github()
    enc_t.append("https://ci.acme.io/hook?token=" + m("SECRET_GITHUB_TOKEN", tok.replace("_", "%5F")))
    tok = stripe()
    enc_t.append("redirect_uri=https%3A%2F%2Fapp.acme.io%2Fcb%3Fkey%3D" + m("SECRET_STRIPE_KEY", tok.replace("_", "%5F")))
    tok = openai()
    enc_t.append("the key in hex is " + m("SECRET_OPENAI_API_KEY", tok.encode().hex()))
    tok = slack()
    enc_t.append("payload=" + m("SECRET_SLACK_TOKEN", "".join(f"%{b:02X}" for b in tok.encode())))
    tok = aws_id() + " " + aws_secret()
    enc_t.append("hexdump of the creds file " + m("SECRET_AWS_ACCESS_KEY", tok.encode().hex()))
    tok = anthropic()
    enc_t.append("x-api-key%3D" + m("SECRET_ANTHROPIC_API_KEY", tok.replace("-", "%2D")))
    for i, t in enumerate(enc_t):
        out.append(record(f"h2-enc-{i:03d}", "other_encoding", t))
    return out


# ---------------------------------------------------------------- PII

NAMES = [
    "Emily Carter", "James O'Connor", "Sarah Mitchell", "Michael Thompson", "Olivia Bennett", "Daniel Hughes",
    "María José Hernández", "Alejandro Ruiz", "Lucía Fernández García", "Carlos Mendoza", "Sofía Ramírez",
    "Priya Raghavan", "Arjun Venkataraman", "Sneha Kulkarni", "Rahul Deshpande", "Ananya Iyer", "Vikram Malhotra",
    "Wei Zhang", "Li Na", "Chen Xiaoming", "Liu Yang", "Zhou Jiahui", "Huang Wen",
    "Omar Al-Farsi", "Fatima Haddad", "Youssef El Amrani", "Layla Mansour", "Khalid Rahman", "Noor Abdullah",
    "Chinedu Okafor", "Adaeze Nwosu", "Kwame Mensah", "Amani Mwangi",
    "Haruto Sato", "Yuki Tanaka", "Kim Min-jun", "Park Ji-woo", "Nguyen Thi Lan", "Tran Van Duc",
    "Dmitri Volkov", "Katarzyna Nowak", "Lukas Schneider", "Camille Dubois", "Giulia Romano", "João Silva",
    "Emre Yılmaz", "Siobhán Murphy", "Nikos Papadopoulos", "Noa Levi", "Ingrid Johansson", "Mateus Oliveira",
    "Rebecca Stone", "Thomas Wright", "Hannah Fischer", "Aisha Bello", "Ravi Shankar Pillai", "Elena Petrova",
    "Marcus Johnson", "Grace Kelly-Owusu", "Tomás Ó Briain", "Sara Lindqvist",
]

PERSON_T = [
    "Please escalate this to {P}, she owns the billing migration.",
    "{P} from finance approved the refund on Tuesday.",
    "Spoke with {P} on the phone this morning; he says the invoice never arrived.",
    "Assigned to {P} for follow-up.",
    "Thanks,\n{P}\nCustomer Success",
    "cc {P} and {P2}",
    "The account holder, {P}, asked us to close the account and delete the data.",
    "{P} and {P2} will run the incident review on Monday.",
    "Hi {P}, your ticket has been updated.",
    "Our new hire {P} starts next week on the platform team.",
    "Per {P}'s request I moved the meeting to 3pm.",
    "Dear {P},\n\nThank you for contacting support.",
    "The patient {P} was referred by Dr. {P2} for a follow-up scan.",
    "Reviewed-by: {P}",
    "Interview feedback for {P}: strong on systems design, weaker on SQL.",
    "I'm writing on behalf of my mother, {P}, who can't access her account.",
    "{P} reported that the export fails for files over 2 GB.",
    "Shipping label printed for {P}.",
    "According to {P} the contract renewal is still pending legal review.",
    "Passenger name: {P}",
    "Meeting notes (attendees {P}, {P2})",
    "Can you add {P} to the on-call rotation?",
    "Condolences to {P} and family.",
    "Candidate {P} accepted the offer.",
    "The tenant {P} has been late on rent twice this year.",
    "{P} wrote the original parser back in 2019.",
    "Signed,\n{P}",
    "Ask {P} in accounting; she knows the vendor codes.",
    "The complaint was filed by {P} on 12 March.",
    "Emergency contact: {P} (sister)",
    "Thanks {P} for the quick turnaround!",
    "{P} is out of office until the 14th, please contact {P2} instead.",
]


def gen_person() -> list[dict[str, object]]:
    names = NAMES[:]
    R.shuffle(names)
    out = []
    k = 0
    for i, tpl in enumerate(PERSON_T):
        p = names[k % len(names)]
        k += 1
        text = tpl.replace("{P}", m("PERSON", p), 1)
        if "{P2}" in text:
            text = text.replace("{P2}", m("PERSON", names[k % len(names)]))
            k += 1
        out.append(record(f"h2-person-{i:03d}", "person", text))
    # second pass with the remaining names in more free-form prose
    free = [
        "Last Thursday {P} called again about the duplicate charge; I promised a callback by Friday.",
        "{P} has been a customer since 2014 and is asking for a loyalty discount.",
        "The author of the report, {P}, is on sabbatical.",
        "I met {P} at the conference in Lisbon and she mentioned their outage.",
        "Forwarding from {P}: the new pricing page is live.",
        "Winner of the hackathon: {P}'s team with the offline sync demo.",
        "The delivery was signed for by {P}.",
        "{P} (legal) needs the DPA signed before we onboard them.",
        "According to the HR file, {P} transferred to the Madrid office.",
        "Please update the beneficiary to {P}.",
        "{P} said the build was green before the merge.",
        "Notes from the call with {P}, CTO at the client.",
        "The driver, {P}, waited twenty minutes at the gate.",
        "Happy birthday {P}!",
        "{P} reviewed the PR and asked for tests.",
        "The landlord {P} wants the keys back by the 30th.",
        "Booking confirmed for {P}, two nights.",
        "{P} won't be able to join, forwarding the invite to {P2}.",
        "We owe {P} a reimbursement for the hotel.",
        "{P} from the Chennai office flagged the same bug.",
        "Student {P} missed the deadline because of a medical emergency.",
        "Reply from {P}: we are fine with the new SLA.",
        "The order was placed by {P} but shipped to her brother.",
        "{P} is the data protection officer; send the request to her.",
        "Voicemail from {P} asking about the warranty.",
        "Our contact there is {P}; he prefers email.",
        "Welcome aboard, {P}!",
        "{P} approved the budget; {P2} will handle procurement.",
        "The tutor {P} rescheduled the session.",
        "{P} raised the security concern during the review.",
    ]
    for i, tpl in enumerate(free):
        p = names[k % len(names)]
        k += 1
        text = tpl.replace("{P}", m("PERSON", p), 1)
        if "{P2}" in text:
            text = text.replace("{P2}", m("PERSON", names[k % len(names)]))
            k += 1
        out.append(record(f"h2-person2-{i:03d}", "person", text))
    return out


US_STREETS = ["Maple", "Oak", "Cedar Ridge", "Peachtree", "Mission", "Lakeshore", "Elm", "Washington", "Martin Luther King Jr",
              "Sunset", "Willow Creek", "Highland", "Park", "Pine", "Chestnut", "Magnolia", "River Bend", "W 42nd", "3rd", "Old Mill"]
US_TYPES = ["Street", "St", "St.", "Avenue", "Ave", "Boulevard", "Blvd", "Road", "Rd", "Drive", "Dr", "Lane", "Ln", "Court", "Ct",
            "Way", "Place", "Terrace", "Parkway", "Circle"]
US_CITIES = [("Austin", "TX", "787"), ("Springfield", "IL", "627"), ("Seattle", "WA", "981"), ("Denver", "CO", "802"),
             ("Atlanta", "GA", "303"), ("Portland", "OR", "972"), ("Boston", "MA", "021"), ("Columbus", "OH", "432"),
             ("San Jose", "CA", "951"), ("Brooklyn", "NY", "112"), ("Tampa", "FL", "336"), ("Madison", "WI", "537")]
UK_STREETS = ["Baker Street", "Station Road", "Church Lane", "Victoria Road", "High Street", "Mill Lane", "Queens Gardens",
              "Albert Crescent", "Kings Mews", "Oakwood Close", "Park Avenue", "Manor Way", "Elm Grove"]
UK_TOWNS = [("London", "SW1A 2AA"), ("Manchester", "M1 1AE"), ("Edinburgh", "EH8 9YL"), ("Birmingham", "B33 8TH"),
            ("Croydon", "CR2 6XH"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("Cardiff", "CF10 1EP"), ("Glasgow", "G2 3BZ"),
            ("Oxford", "OX1 3PN"), ("York", "YO1 7HH")]


def us_address() -> str:
    city, st, z = R.choice(US_CITIES)
    unit = R.choice(["", "", "", f", Apt {R.randint(1, 30)}{R.choice('ABCD')}", f" Suite {R.randint(100, 950)}", f", Unit {R.randint(1, 12)}"])
    return f"{R.randint(12, 9899)} {R.choice(US_STREETS)} {R.choice(US_TYPES)}{unit}, {city}, {st} {z}{digits(2)}"


def uk_address() -> str:
    town, pc = R.choice(UK_TOWNS)
    flat = R.choice(["", "", f"Flat {R.randint(1, 20)}, ", ""])
    return f"{flat}{R.randint(1, 240)}{R.choice(['', '', 'A', 'B'])} {R.choice(UK_STREETS)}, {town} {pc}"


ADDR_T = [
    "Ship the replacement to {A} before Friday.",
    "My new address is {A}, please update my account.",
    "Billing address: {A}",
    "The package was delivered to {A} but nobody was home.",
    "Please send the contract to our office at {A}.",
    "Customer moved; old address {A}.",
    "Pick-up location is {A} (ring the bell twice).",
    "I live at {A} and the technician never showed up.",
    "Return to sender: {A}",
    "Registered office {A}",
    "Invoice recipient\n{A}",
    "Can you confirm the shipping address is still {A}?",
    "The claim concerns water damage at {A}.",
    "Mail the documents to {A}, attention accounts payable.",
    "Deliver to: {A}",
    "Our warehouse moved to {A} in June.",
    "He gave {A} as his home address.",
    "Venue for the offsite is {A}.",
]


def gen_address() -> list[dict[str, object]]:
    out = []
    for i in range(36):
        addr = us_address() if i % 3 else uk_address()
        tpl = ADDR_T[i % len(ADDR_T)]
        out.append(record(f"h2-addr-{i:03d}", "street_address", tpl.replace("{A}", m("STREET_ADDRESS", addr))))
    return out


def fmt_nhs(s: str) -> str:
    return R.choice([f"{s[:3]} {s[3:6]} {s[6:]}", s, f"{s[:3]}-{s[3:6]}-{s[6:]}"])


def fmt_nino(s: str) -> str:
    return R.choice([s, f"{s[:2]} {s[2:4]} {s[4:6]} {s[6:8]} {s[8]}"])


def gen_pattern_pii() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(fam: str, tpls: list[str], etype: str, gen: object) -> None:
        for i, tpl in enumerate(tpls):
            out.append(record(f"h2-{fam}-{i:03d}", fam, tpl.replace("{X}", m(etype, gen()))))  # type: ignore[operator]

    add("uk_nino", [
        "My National Insurance number is {X}.",
        "NI number {X}",
        "Employee NINO: {X}",
        "please find my NI no. {X} for the payroll form",
        "National Insurance: {X} (from my P60)",
        "HMRC asked me to quote {X} in every letter",
        "ni_number,{X}",
        "Her national insurance number {X} is on the contract",
        "NINO {X} tax code 1257L",
        "The applicant's NI number is {X}.",
        "{X} is my NI number",
        "Payroll record: name withheld, NI {X}, week 32",
        "update NI number to {X} please",
        "P45 shows national insurance no {X}",
        "nino={X}",
    ], "UK_NINO", lambda: fmt_nino(nino()))
    add("uk_nhs", [
        "NHS number: {X}",
        "My NHS number is {X}, can you check my prescription?",
        "patient nhs no {X}",
        "Referral for NHS {X} to cardiology",
        "{X} is the NHS number on the letter",
        "nhs_number,{X}",
        "The GP surgery asked for my NHS number ({X}).",
        "Please quote NHS No. {X} when you call",
        "Discharge summary - NHS number {X}",
        "NHS {X}",
        "my son's nhs number is {X}",
        "record updated for nhs number {X}",
        "Appointment letter ref NHS: {X}",
        "Hospital number unknown, NHS number {X}",
        "The NHS number {X} belongs to a different patient",
    ], "UK_NHS", lambda: fmt_nhs(nhs()))
    add("mastercard2", [
        "card number {X} exp 09/28",
        "I paid with my Mastercard {X} and was charged twice",
        "Please refund to {X}",
        "CC: {X}",
        "the card ending in the digits of {X} was declined",
        "new corporate card {X}",
        "{X} is my card number",
        "charge {X} for the renewal",
        "mastercard {X} cvv on the back",
        "card_number=\"{X}\"",
        "Payment method: Mastercard {X}",
        "Use card {X} for the hotel deposit",
    ], "CREDIT_CARD", lambda: group_card(mastercard2(), R.choice([" ", "-", "", " "])))
    add("credit_card", [
        "Visa {X} exp 11/27",
        "card number {X}",
        "My Amex is {X}",
        "charge it to {X} please",
        "credit card {X} was declined at checkout",
        "{X}",
        "cc_number: {X}",
        "the card {X} belongs to the company",
        "Mastercard {X}",
        "Discover card {X}",
        "pay with {X}",
        "Card on file: {X}",
        "can you update my card to {X}",
        "Refund issued to card {X}",
        "I see a charge on {X} that I didn't make",
    ], "CREDIT_CARD", lambda: group_card(any_card(), R.choice([" ", "-", ""])))
    add("us_ssn", [
        "SSN: {X}",
        "My social security number is {X}.",
        "ssn {X} dob withheld",
        "Please verify the applicant's SSN ({X}).",
        "Employee SSN {X}",
        "{X} is my SSN",
        "social security no. {X}",
        "tax id (SSN) {X}",
        "W-2 shows SSN {X}",
        "ssn=\"{X}\"",
        "The SSN on file, {X}, doesn't match the IRS record",
        "Social Security Number {X}",
        "I typed {X} as my social and it was rejected",
        "ssn,{X}",
        "SSN # {X}",
    ], "US_SSN", lambda: R.choice([ssn(), ssn(), ssn().replace("-", " ")]))

    def ipv4() -> str:
        while True:
            a = R.randint(1, 223)
            if a not in (10, 127, 172, 192, 0, 100, 169):
                return f"{a}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"

    def ipv6() -> str:
        return "2a02:" + ":".join(f"{R.randint(0, 65535):x}" for _ in range(7))

    add("ip_address", [
        "The login came from {X}, which is not one of our offices.",
        "client_ip={X}",
        "Blocked {X} after 300 failed attempts",
        "my home IP is {X}",
        "{X} - - [30/Nov/2025:10:12:01 +0000] \"GET /login HTTP/1.1\" 200 512",
        "whitelist {X} on the firewall please",
        "Connection reset by peer {X} port 51522",
        "X-Forwarded-For: {X}",
        "the suspicious request originated at {X}",
        "Add {X} to the allowlist for the partner",
        "ip address {X}",
        "Failed password attempt from {X}",
        "user connected from {X} at 09:14",
        "geo lookup for {X} says Frankfurt",
        "remote_addr: {X}",
        "the IPv6 address was {X}",
        "src={X}",
        "Ban {X} for 24h",
        "fail2ban: banned {X}",
        "Your last sign-in was from {X}.",
    ], "IP_ADDRESS", lambda: ipv6() if R.random() < 0.2 else ipv4())

    def email() -> str:
        first, last = R.choice(NAMES).split(" ")[0], R.choice(NAMES).split(" ")[-1]
        first = first.lower().encode("ascii", "ignore").decode() or "user"
        last = last.lower().replace("'", "").encode("ascii", "ignore").decode() or "x"
        dom = R.choice(["northwind-logistics.com", "gmail.com", "outlook.de", "correo.mx", "acme.io", "fastmail.fm", "uni-hamburg.de", "yahoo.co.uk"])
        local = R.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{R.randint(1, 99)}", f"{first}+billing"])
        return f"{local}@{dom}"

    add("email", [
        "Please reply to {X}.",
        "contact: {X}",
        "My email is {X} but I never got the reset link",
        "send the invoice to {X}",
        "From: {X}",
        "The user {X} can't log in",
        "cc {X}",
        "email={X}",
        "{X} is the billing contact",
        "reach me at {X} anytime",
        "Bounce: delivery to {X} failed permanently",
        "updated the account email to {X}",
        "reporter_email: \"{X}\"",
        "Mailto {X} for the press kit",
        "the invitation went to {X} instead",
        "Reset link sent to {X}.",
        "owner <{X}>",
        "please unsubscribe {X}",
        "write to {X} with the subject line REFUND",
        "{X}",
    ], "EMAIL_ADDRESS", email)

    def phone() -> str:
        k = R.randint(0, 7)
        if k == 0:
            return f"+1 {R.choice(['415', '212', '312', '617', '206', '512'])}-{R.randint(201, 989)}-{digits(4)}"
        if k == 1:
            return f"({R.choice(['303', '404', '503', '646', '718'])}) {R.randint(201, 989)}-{digits(4)}"
        if k == 2:
            return f"+44 20 {R.randint(3000, 8999)} {digits(4)}"
        if k == 3:
            return f"07{R.randint(400, 999)} {digits(6)}"
        if k == 4:
            return f"+49 30 {R.randint(2000000, 9999999)}"
        if k == 5:
            return f"+91 9{digits(4)} {digits(5)}"
        if k == 6:
            return f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}"
        return f"+61 2 {R.randint(8000, 9999)} {digits(4)}"

    add("phone", [
        "Call me back on {X}.",
        "phone: {X}",
        "My mobile number is {X}",
        "you can reach the site manager at {X}",
        "Tel {X}",
        "customer phone {X}, prefers afternoons",
        "SMS the code to {X}",
        "Her number changed to {X}",
        "contact number {X}",
        "phone_number=\"{X}\"",
        "ring {X} when you arrive",
        "Emergency line {X}",
        "the caller ID showed {X}",
        "WhatsApp {X}",
        "Please call {X} between 9 and 5",
        "Mobile: {X}",
        "the fax is {X}",
        "He left a voicemail from {X}",
        "{X} (home)",
        "update phone to {X}",
    ], "PHONE_NUMBER", phone)

    add("iban", [
        "Please wire the refund to IBAN {X}.",
        "IBAN: {X}",
        "my bank account {X}",
        "Bankverbindung {X}",
        "pay to {X} reference INV-2291",
        "the supplier's IBAN changed to {X}",
        "iban={X}",
        "Beneficiary account {X}",
        "{X} is our company account",
        "Transfer 250 EUR to {X}",
        "Cuenta {X}",
        "direct debit from {X}",
        "payout_iban: \"{X}\"",
        "IBAN {X} BIC COBADEFFXXX",
        "Refund account {X}",
    ], "IBAN_CODE", lambda: R.choice([random_iban(), spaced_iban(random_iban())]))
    return out


# ---------------------------------------------------------------- hard negatives


def sha40() -> str:
    return rs(HEX, 40)


def uuid4() -> str:
    h = rs(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{R.choice('89ab')}{h[17:20]}-{h[20:]}"


def png_b64(n: int = 120) -> str:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(R.randint(0, 255) for _ in range(n))
    return base64.b64encode(data).decode()


def luhn_bad(length: int = 16, prefix: str = "") -> str:
    while True:
        n = prefix + digits(length - len(prefix))
        if not luhn_ok(n):
            return n


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="7"/></svg>'


def gen_negatives() -> list[dict[str, object]]:
    fams: dict[str, list[str]] = {}
    fams["neg_git_sha"] = [
        f"commit {sha40()}\nDate:   Mon Nov 24 10:02:11 2025 +0100\n\n    Fix flaky retry test",
        f"HEAD is now at {rs(HEX, 7)} Bump version to 2.4.0",
        f"git cherry-pick {sha40()}",
        f"Fixed in {rs(HEX, 7)}, will ship with the next patch release.",
        f"Merge: {rs(HEX, 7)} {rs(HEX, 7)}",
        f"https://github.com/acme/api/commit/{sha40()}",
        f"{rs(HEX, 7)} (HEAD -> main, origin/main) Add pagination to /orders\n{rs(HEX, 7)} Drop Python 3.8\n{rs(HEX, 7)} Update lockfile",
        f"git revert --no-edit {sha40()}",
        f'{{"sha": "{sha40()}", "node_id": "C_kwDOAbc123", "commit": {{"message": "ci: cache pip"}}}}',
        f" {sha40()} vendor/protobuf (v25.1)\n+{sha40()} third_party/abseil (20240116.1)",
        f"The regression started at {sha40()}; bisect log attached.",
        f"Run actions/checkout@{sha40()} # v4.1.1",
        f"uses: actions/setup-python@{sha40()}",
        f"git diff {rs(HEX, 12)}..{rs(HEX, 12)} -- src/",
        f"Deployed revision {sha40()} to production at 14:05 UTC.",
        f"pip install git+https://github.com/acme/sdk.git@{sha40()}",
        f"error: pathspec '{rs(HEX, 7)}' did not match any file(s) known to git",
        f"Reverts {sha40()} because it broke the ARM build.",
        f"tree {sha40()}\nparent {sha40()}",
        f"Built from source tree {sha40()} (dirty=false)",
    ]
    fams["neg_uuid"] = [
        f"X-Request-Id: {uuid4()}",
        f"Please include the correlation id {uuid4()} when you contact support.",
        f"metadata:\n  uid: {uuid4()}\n  resourceVersion: \"48213\"",
        f"az account set --subscription {uuid4()}",
        f"traceparent: 00-{rs(HEX, 32)}-{rs(HEX, 16)}-01",
        f"trace_id={rs(HEX, 32)} span_id={rs(HEX, 16)} level=info msg=\"request done\"",
        f"{{\"orderId\": \"{uuid4()}\", \"status\": \"shipped\"}}",
        f"{{{uuid4().upper()}}}",
        f"urn:uuid:{uuid4()}",
        f"tenant {uuid4()} exceeded its quota",
        f"The job {uuid4()} failed after 3 retries.",
        f"DELETE /v2/projects/{uuid4()}/members/{uuid4()}",
        f"device_id,{uuid4()}\nsession_id,{uuid4()}",
        f"Installation ID {uuid4()}",
        f"idempotency-key: {uuid4()}",
        f"s3://acme-uploads/tmp/{uuid4()}.parquet",
        f"Workspace {uuid4()} was archived.",
        f"amzn-requestid: {uuid4()}",
    ]
    fams["neg_sha256"] = [
        f"{rs(HEX, 64)}  acme-cli-2.4.0-linux-amd64.tar.gz",
        f"Digest: sha256:{rs(HEX, 64)}",
        f"docker pull ghcr.io/acme/api@sha256:{rs(HEX, 64)}",
        f"requests==2.32.3 \\\n    --hash=sha256:{rs(HEX, 64)} \\\n    --hash=sha256:{rs(HEX, 64)}",
        f"<script src=\"https://cdn.example.net/lib.min.js\" integrity=\"sha384-{rs(B64, 64)}\" crossorigin=\"anonymous\"></script>",
        f"\"integrity\": \"sha512-{rs(B64, 86)}==\"",
        f"golang.org/x/net v0.19.0 h1:{rs(B64, 43)}=",
        f"ETag: \"{rs(HEX, 32)}\"",
        f"checksum: {rs(HEX, 64)}",
        f"SHA256 ({rs(ALNUM, 6)}.iso) = {rs(HEX, 64)}",
        f"md5sum backup.tar: {rs(HEX, 32)}",
        f"provider \"registry.terraform.io/hashicorp/aws\" {{\n  version = \"5.31.0\"\n  hashes = [\n    \"h1:{rs(B64, 43)}=\",\n    \"zh:{rs(HEX, 64)}\",\n  ]\n}}",
        f"The host key fingerprint is SHA256:{rs(B64, 43)}.",
        f"sha1: {sha40()}",
        f"Image digest {rs(HEX, 64)} matches the signed manifest.",
        f"content-sha256: {rs(HEX, 64)}",
        f"blake2b-256 {rs(HEX, 64)} wheel",
        f"x-amz-content-sha256: {rs(HEX, 64)}",
        f"Verified OK, file hash {rs(HEX, 64)}",
        f"\"resolved\": \"https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz\", \"shasum\": \"{sha40()}\"",
    ]
    fams["neg_base64_blob"] = [
        f"<img src=\"data:image/png;base64,{png_b64()}\" alt=\"chart\">",
        f"data:image/png;base64,{png_b64(200)}",
        f"Content-Type: image/png\nContent-Transfer-Encoding: base64\n\n{png_b64(90)}",
        "background-image: url(data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==);",
        f"the screenshot as base64 is {png_b64(150)}",
        f"{{\"next_cursor\": \"{base64.b64encode(json.dumps({'page': R.randint(2, 90), 'sort': 'created'}).encode()).decode()}\"}}",
        f"echo {base64.b64encode(b'hello from the build server').decode()} | base64 -d",
        f"file: {{ name: 'logo.png', content: '{png_b64(80)}' }}",
        f"data:font/woff2;base64,d09GMgABAAAAA{rs(B64, 120)}",
        f"apiVersion: v1\nkind: ConfigMap\nbinaryData:\n  favicon.ico: {png_b64(60)}",
        f"{base64.b64encode(json.dumps({'event': 'click', 'x': 10, 'y': 22}).encode()).decode()}",
        f"Attachment (image/jpeg, base64): /9j/4AAQSkZJRgABAQAAAQABAAD{rs(B64, 150)}",
        f"thumbnail: \"data:image/webp;base64,UklGR{rs(B64, 100)}\"",
        f"The PDF preview was {base64.b64encode(b'%PDF-1.7' + bytes(R.randint(0, 255) for _ in range(90))).decode()}",
        f"state={base64.urlsafe_b64encode(json.dumps({'return_to': '/dashboard'}).encode()).decode()}",
        f"protobuf bytes (base64) CgZhY21lLTESBAgBEAIaDA{rs(B64, 40)}",
        f"decoded {base64.b64encode(b'The quick brown fox jumps over the lazy dog').decode()} and got the pangram",
        "svg: " + base64.b64encode(SVG).decode(),
    ]
    fams["neg_version"] = [
        "Upgraded litellm from 1.105.0 to 1.106.2 and the tests pass.",
        "firmware 2.4.10.3 fixes the Wi-Fi drop",
        "Windows build 10.0.19045.3803",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
        "version 1.2.3-rc.1+build.5",
        "Android 14 (UP1A.231005.007)",
        "Running on kernel 6.5.0-14-generic",
        "BIOS version 1.18.0, EC firmware 3.1.0.12",
        "Server: nginx/1.25.3",
        "OpenSSL 3.0.13 30 Jan 2024",
        "Terraform v1.6.6 on linux_amd64",
        "NVIDIA driver 535.129.03, CUDA 12.2",
        "The router was on firmware 1.0.4.118 before the update to 1.0.5.2",
        "pip install 'numpy>=1.26.4,<2.0'",
        "Release 2025.11.3 is out",
        "We pinned node 20.11.1 and npm 10.2.4",
        "controller firmware v4.22.1.8 (bootloader 2.1.0.0)",
        "product version 8.0.1.2 build 7731",
        "Java(TM) SE Runtime Environment (build 21.0.1+12-LTS-29)",
        "iOS 17.1.2 on iPhone 14",
    ]
    fams["neg_placeholder"] = [
        "OPENAI_API_KEY=sk-...",
        "export OPENAI_API_KEY=\"YOUR_API_KEY\"",
        "Authorization: Bearer <token>",
        "api_key: xxxx",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "aws_access_key_id = AKIA****************",
        "openai.AuthenticationError: Error code: 401 - Incorrect API key provided: sk-proj-********************************wXyZ.",
        "STRIPE_SECRET_KEY=sk_live_XXXXXXXXXXXXXXXXXXXXXXXX",
        "password: ********",
        "token: <REDACTED>",
        "SLACK_BOT_TOKEN=xoxb-your-bot-token",
        "Replace YOUR_HF_TOKEN with the token from your settings page.",
        "SECRET_KEY=<generate with openssl rand -hex 32>",
        "ANTHROPIC_API_KEY=sk-ant-...",
        "api_key = \"<your-api-key-here>\"",
        "\"password\": \"REPLACE_ME\"",
        "client_secret: \"{{ client_secret }}\"",
        "NPM_TOKEN=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "Set DB_PASSWORD to something strong, e.g. generated by your password manager.",
        "curl -H \"x-api-key: $ANTHROPIC_API_KEY\" https://api.anthropic.com/v1/models",
        "key: [redacted]",
        "Your API key ends in ...4f2a",
        "hf_****************************",
        "Paste your token here: ____________",
    ]

    def part_no() -> str:
        k = R.randint(0, 3)
        if k == 0:
            return f"9{digits(2)}-{R.randint(10, 49)}-{digits(4)}"
        if k == 1:
            return f"000-{digits(2)}-{digits(4)}"
        if k == 2:
            return f"666-{digits(2)}-{digits(4)}"
        return f"{R.randint(100, 899)}-00-{digits(4)}"

    fams["neg_ssn_shaped"] = [t.replace("{X}", part_no()) for t in [
        "Part no. {X}, qty 4",
        "replacement filter SKU {X}",
        "catalog number {X} is back in stock",
        "The hinge kit ({X}) ships separately.",
        "model {X} rev B",
        "P/N {X}",
        "Order line: {X} x2 @ 14.99",
        "drawing {X} sheet 3",
        "the lot number printed on the box is {X}",
        "spare part {X} discontinued",
        "Use gasket {X} for the 2019 units",
        "item {X} backordered",
        "Bin location {X}",
        "assembly {X}, torque to 12 Nm",
        "Kit {X} includes the screws",
        "case ref {X}",
        "serial range {X} affected",
        "component {X} failed QA",
    ]]
    fams["neg_git_remote"] = [
        "git@github.com:acme/payments.git",
        "git remote add origin git@gitlab.com:infra/terraform-modules.git",
        "git clone git@github.com:acme-corp/mobile-app.git && cd mobile-app",
        "[remote \"origin\"]\n\turl = git@bitbucket.org:team-data/etl.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*",
        "fatal: Could not read from remote repository. (git@github.com:acme/private-repo.git)",
        "submodule url git@gitlab.acme.io:platform/protos.git",
        "ERROR: Repository not found. git@github.com:acme/old-service.git",
        "go env -w GOPRIVATE=github.com/acme && git config --global url.\"git@github.com:\".insteadOf \"https://github.com/\"",
        "- repo: git@github.com:acme/pre-commit-hooks.git\n  rev: v1.4.0",
        "Pushing to git@codeberg.org:acme/docs.git",
        "ssh -T git@github.com",
        "origin\tgit@ssh.dev.azure.com:v3/acme/web/web (fetch)",
    ]
    fams["neg_giftcard"] = [t.replace("{X}", R.choice([luhn_bad(16), " ".join([luhn_bad(16)[i:i+4] for i in range(0, 16, 4)])]).replace("  ", " ")) for t in [
        "gift card {X} balance is 25.00",
        "Redeem code {X} at checkout",
        "The voucher number {X} was already used.",
        "store credit card no. {X} (not a payment card)",
        "Loyalty card {X}",
        "gift card number {X} pin withheld",
        "membership number {X}",
        "The e-gift {X} expires next year.",
        "Coupon {X} applied",
        "library card {X}",
        "reward card {X} has 1200 points",
        "Ticket barcode {X}",
        "voucher {X} refunded",
        "gift certificate {X}",
        "prepaid code {X}",
    ]]
    fams["neg_order_id"] = [
        f"Order ORD-2025-{digits(6)} shipped today.",
        f"Your order #{digits(3)}-{digits(7)}-{digits(7)} has been delivered.",
        f"invoice INV-{digits(6)} is overdue by 12 days",
        f"ticket ZD-{digits(5)} reopened",
        f"tracking number 1Z{rs(UPPER_DIGITS, 16)}",
        f"PO {digits(10)} approved",
        f"RMA {digits(5)}-{digits(4)} created for the broken unit",
        f"case {digits(8)} escalated to tier 2",
        f"booking reference {rs('ABCDEFGHJKLMNPQRSTUVWXYZ', 6)}",
        f"shipment {digits(4)}-{digits(4)}-{digits(4)} left the warehouse",
        f"Reference: {digits(2)}/{digits(6)}/{digits(2)}",
        f"Transaction ID {digits(12)}",
        f"order_id={digits(9)}&status=paid",
        f"customer number {digits(8)}",
        f"Refund {digits(4)}-{digits(3)}-{digits(3)} processed",
        f"confirmation code {rs(UPPER_DIGITS, 8)}",
        f"AWB {digits(3)}-{digits(8)}",
        f"claim number CLM{digits(9)}",
        f"Job #{digits(6)} finished",
        f"ref {digits(4)} {digits(4)} {digits(4)}",
    ]
    fams["neg_timestamp"] = [
        "2025-11-30T09:15:22.123Z INFO request completed in 41 ms",
        "[2025-11-28 14:03:11,482] WARNING retrying in 2.0 seconds",
        "Nov 28 14:03:11 web-01 systemd[1]: Started Daily apt upgrade.",
        f"created_at: {R.randint(1700000000, 1760000000)}",
        f"\"ts\": {R.randint(1700000000000, 1760000000000)}",
        "0 3 * * * /usr/local/bin/backup.sh",
        "Last-Modified: Wed, 26 Nov 2025 08:12:44 GMT",
        "The meeting is at 10:30 on 2025-12-04.",
        "uptime 47 days, 03:12:09",
        "expires 2026-01-31T23:59:59+01:00",
        "elapsed 00:04:12.873",
        "2025/11/29 22:41:07 http: TLS handshake error",
        "date range 2025-01-01..2025-03-31",
        "Timestamp: 20251130T091522Z",
        "run started 11/30/2025 09:15 AM",
        "retention: 30d, compaction every 6h",
        "week 48 (24.11.2025 - 30.11.2025)",
        "ISO week 2025-W48-1",
    ]
    fams["neg_password_prose"] = [
        "I forgot my password again, can you send a reset link?",
        "Password must be at least 12 characters and include a number.",
        "We rotate service passwords every 90 days.",
        "Please use a password manager instead of a spreadsheet.",
        "The password is stored in Vault under the payments path.",
        "password reset emails are delayed by about ten minutes",
        "The login form shows 'invalid password' even for correct credentials.",
        "Do not share your password with anyone, including support staff.",
        "password: required, string, min length 12",
        "Users can change their password from the profile page.",
        "the password field should be masked on the mobile app",
        "The password policy now blocks the 10,000 most common passwords.",
        "POST /api/v1/users/reset-password returns 500",
        "I typed the wrong password three times and got locked out.",
        "Passwords are hashed with argon2id.",
        "After the migration everyone has to set a new password.",
        "Is there a way to log in without a password, like a magic link?",
        "def check_password(raw, hashed): return argon2.verify(hashed, raw)",
        "mysql -u root -p",
        "Enter password for user admin: (input hidden)",
        "The password expired yesterday, which is why the job failed.",
        "We don't keep plaintext passwords anywhere.",
    ]
    fams["neg_non_person"] = [
        "We're expanding to Jordan and Lebanon next quarter.",
        "The Jenkins pipeline failed on the lint stage.",
        "Kafka consumer lag is above 10k messages on the orders topic.",
        "Ask Alexa to turn off the lights in the demo room.",
        "We bank with Wells Fargo and Chase for the US entities.",
        "The Ford Transit fleet needs new tires.",
        "Dell XPS 15 laptops are on backorder.",
        "Morgan Stanley published the quarterly outlook.",
        "Our Django app runs behind gunicorn.",
        "Georgia and Virginia have the new warehouses.",
        "The Tesla Model Y charging cable is missing.",
        "Harley-Davidson is a new customer in the enterprise tier.",
        "Marriott and Hilton both use the booking integration.",
        "Deploy with Ansible, not by hand.",
        "Grafana dashboards are in the monitoring folder.",
        "The Lincoln Navigator rental was returned late.",
        "We need a Goldman Sachs style risk report.",
        "Johnson Controls replaced the HVAC sensors.",
        "Sentry reported 40 new errors after the release.",
        "The Chrome extension crashes on Safari too.",
        "Disney+ and Hulu bundles are out of scope.",
        "Travis CI was replaced by GitHub Actions last year.",
    ]
    fams["neg_street_words"] = [
        "Wall Street reacted badly to the earnings call.",
        "This is a Main Street business, not a tech startup.",
        "The road map for Q3 has three big items.",
        "The court ruled in favour of the supplier.",
        "High Street retailers are seeing fewer visitors.",
        "We need to drive adoption of the new API.",
        "The park was closed for maintenance all week.",
        "Take the high road in the customer reply.",
        "Our way forward is to split the monolith.",
        "The lane detection model needs more night footage.",
        "The place holder text is still on the landing page.",
        "The Silk Road analogy in the deck is a bit much.",
        "We hit a dead end with the vendor.",
        "The Avenue 5 premiere was postponed.",
        "street-level imagery is licensed separately",
        "The terrace seating at the offsite is limited to 40 people.",
        "Circle back with pricing by Friday.",
        "Ship it to the usual warehouse, the one we used last month.",
    ]
    fams["neg_code"] = [
        "api_key = os.environ[\"OPENAI_API_KEY\"]",
        "const token = process.env.GITHUB_TOKEN;",
        "password = getpass.getpass(\"Password: \")",
        "env:\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}",
        "valueFrom:\n  secretKeyRef:\n    name: db-credentials\n    key: password",
        "def get_api_key(self) -> str:\n    return self._settings.api_key",
        "if password != confirm_password:\n    raise ValueError(\"passwords do not match\")",
        "password: {{ .Values.postgresql.auth.password | quote }}",
        "token := os.Getenv(\"SLACK_BOT_TOKEN\")",
        "let key = std::env::var(\"ANTHROPIC_API_KEY\")?;",
        "redis-cli -a \"$REDIS_PASSWORD\" PING",
        "curl -u \"$CI_USER:$CI_TOKEN\" https://nexus.internal/api",
        "docker login -u ci --password-stdin < /run/secrets/registry",
        "PGPASSFILE=~/.pgpass psql -h db.internal -U app",
        "sshpass -e ssh ops@jumphost",
        "aws_secret_access_key = (from instance profile)",
        "client = OpenAI()  # reads OPENAI_API_KEY from the environment",
        "@Value(\"${stripe.secret-key}\") private String stripeKey;",
        "SECRET_KEY = env(\"DJANGO_SECRET_KEY\")",
        "hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
    ]
    fams["neg_numbers"] = [
        "Total due: $1,249.99 (incl. 19% VAT)",
        "Error 0x80070005: access denied",
        "ISBN 978-0-13-468599-1",
        "The box weighs 12.5 kg and measures 40 x 30 x 20 cm.",
        "Listening on port 8443, workers 4, backlog 2048",
        "Segfault at address 0x00007ffd5c3a2b10",
        "HTTP 429 after 1200 requests per minute",
        "arn:aws:iam::123456789012:role/deploy",
        "Response time p50 41 ms, p99 388 ms over 120000 requests",
        "Color palette #1f2937, #f59e0b, #10b981",
        "Memory 15.6 GiB total, 3.2 GiB used",
        "Invoice total 4,380.00 EUR, due 2025-12-15, 3 line items",
        "Latitude 52.5200, longitude 13.4050",
        "ENOENT: no such file or directory, errno -2",
        "Build 4821 took 6m 12s on runner 3",
    ]
    fams["neg_ids"] = [
        f"customer cus_{rs(ALNUM, 14)} has 2 open invoices",
        f"PaymentIntent pi_{rs(ALNUM, 24)} requires_action",
        f"Twilio account SID AC{rs(HEX, 32)} (not secret, the auth token is separate)",
        f"Slack channel C0{rs(UPPER_DIGITS, 9)}, user U0{rs(UPPER_DIGITS, 9)}",
        f"instance i-0{rs(HEX, 16)} in vpc-0{rs(HEX, 16)}",
        f"AMI ami-0{rs(HEX, 16)}",
        f"GitHub Actions run {digits(10)} attempt 2",
        "Jira PLAT-4821 blocked by PLAT-4790",
        f"GCP project number {digits(12)}",
        f"subnet-0{rs(HEX, 16)} has no free addresses",
        f"charge ch_{rs(ALNUM, 24)} refunded",
        f"sg-0{rs(HEX, 16)} allows 443 from the load balancer",
        f"discord guild id {digits(18)}",
        f"Zendesk ticket {digits(7)} merged into {digits(7)}",
        f"price_{rs(ALNUM, 24)} is the monthly plan",
    ]
    fams["neg_prose"] = [
        "Hi, since the last update the dashboard takes about 30 seconds to load and sometimes times out. We have around 2,400 orders per day.",
        "The export from last Tuesday had 18,332 rows but the one from today only 17,901. Can you check whether filters changed?",
        "We were charged 3 times for the same month (November). Please refund two of the charges.",
        "After upgrading to 4.2 the mobile app logs users out every few minutes.",
        "Our team of 45 needs SSO before we can roll this out company-wide.",
        "The webhook retries every 5 minutes for 24 hours and then gives up.",
        "I'd like to downgrade from the Business plan to Pro at the end of the billing cycle.",
        "Please add a dark mode; several of us work late and the white background is painful.",
        "The API returns 502 for roughly 1 in 200 requests between 02:00 and 03:00 UTC.",
        "Can we get the invoice in PDF instead of HTML? Our accounting tool only imports PDF.",
        "The CSV import fails on rows with commas inside quotes.",
        "We migrated 1.2 TB of data over the weekend without downtime.",
        "Is there a rate limit on the search endpoint? We're seeing throttling at 50 rps.",
        "The sandbox environment was reset and our test data is gone.",
        "Thanks for the quick fix, everything works again.",
    ]
    fams["neg_hex_misc"] = [
        "Hello in hex is 48656c6c6f20776f726c64",
        "MOV EAX, 0xDEADBEEF",
        "color: #ff5733; border-color: #c70039;",
        "Magic bytes 89504e470d0a1a0a mean it's a PNG.",
        "CRC32 0x1c291ca3",
        "The register dump shows 0000 7ffd 5c3a 2b10",
        "wasm module starts with 0061736d01000000",
        "Bluetooth UUID 0000180d-0000-1000-8000-00805f9b34fb",
        "opcode 0x0f 0x1f 0x44 0x00 0x00",
        "UTF-8 for the euro sign is e282ac",
        "Mask 0xffffff00 on the config register",
        "font-feature table 7461626c65",
    ]
    out = []
    for fam, texts in fams.items():
        for i, t in enumerate(texts):
            out.append(record(f"h2-{fam}-{i:03d}", fam, t))
    return out


# ---------------------------------------------------------------- hand-written longer records


def gen_hand() -> list[dict[str, object]]:
    pos: list[str] = []
    pos.append(
        "Subject: Can't connect the CRM integration\n\n"
        f"Hello, this is {m('PERSON@person', 'Fernanda Castillo')} from the Lisbon office. Our integration stopped syncing on Monday. "
        f"I tried the token again ({m('SECRET_GENERIC_CREDENTIAL@token_prose', 'pat-eu1-' + uuid4())}) but it still fails. "
        f"You can call me on {m('PHONE_NUMBER@phone', '+351 912 345 678')} or write to {m('EMAIL_ADDRESS@email', 'f.castillo@lusocargo.pt')}.\n"
        "Thanks!"
    )
    pos.append(
        "#incident-2291 thread\n"
        "10:02 ops-bot: deploy of api 2.31.0 failed on step migrate\n"
        f"10:04 oncall: looks like the DB creds in the job are stale, the password for prod-db is {m('SECRET_PASSWORD@password_prose', 'Harbor#Lights2291')} right?\n"
        "10:05 lead: don't paste those here!! rotating now\n"
        f"10:09 oncall: also saw {m('SECRET_GITHUB_TOKEN@token_prose', github())} in the job env, that one needs to go too"
    )
    pos.append(
        "Run ./scripts/deploy.sh\n"
        "+ set -x\n"
        f"+ export AWS_ACCESS_KEY_ID={m('SECRET_AWS_ACCESS_KEY@token_config', aws_id())}\n"
        f"+ export AWS_SECRET_ACCESS_KEY={m('SECRET_AWS_SECRET_KEY@token_config', aws_secret())}\n"
        "+ aws ecs update-service --cluster prod --service api --force-new-deployment\n"
        "An error occurred (AccessDeniedException) when calling the UpdateService operation\n"
        "Error: Process completed with exit code 254."
    )
    pos.append(
        "Traceback (most recent call last):\n"
        '  File "/srv/app/payments.py", line 88, in charge\n'
        f"    stripe.api_key = \"{m('SECRET_STRIPE_KEY@token_config', stripe())}\"\n"
        '  File "/srv/app/payments.py", line 91, in charge\n'
        f"    customer = lookup(card=\"{m('CREDIT_CARD@credit_card', group_card(any_card(), ' '))}\")\n"
        "KeyError: 'customer'"
    )
    pos.append(
        "version: '3.8'\nservices:\n  db:\n    image: postgres:16\n    environment:\n"
        f"      POSTGRES_PASSWORD: {m('SECRET_DATABASE_PASSWORD@token_config', rs(ALNUM, 18))}\n"
        "  redis:\n    image: redis:7\n"
        f"    command: redis-server --requirepass {m('SECRET_PASSWORD@cli_password', rs(ALNUM, 20))}\n"
        "  app:\n    build: .\n    environment:\n"
        f"      LICENSE_KEY: {m('SECRET_GENERIC_CREDENTIAL@generic_key_var', license_key())}\n"
    )
    pos.append(
        "Hi support,\n\nPlease change the delivery address on order ORD-2025-118833 to "
        f"{m('STREET_ADDRESS@street_address', '1187 Willow Creek Lane, Apt 3C, Portland, OR 97214')}. "
        f"The card I used was {m('CREDIT_CARD@mastercard2', group_card(mastercard2(), '-'))}.\n\n"
        f"Best,\n{m('PERSON@person', 'Deepika Raman')}"
    )
    pos.append(
        "Patient transfer note\n"
        f"Name: {m('PERSON@person', 'Gareth Llewellyn')}\n"
        f"NHS number: {m('UK_NHS@uk_nhs', fmt_nhs(nhs()))}\n"
        f"NI: {m('UK_NINO@uk_nino', fmt_nino(nino()))}\n"
        f"Address: {m('STREET_ADDRESS@street_address', '42 Station Road, Cardiff CF10 1EP')}\n"
        "Ward 7B, bed 12, allergies none known"
    )
    pos.append(
        "$ history\n"
        "  210  cd ~/projects/shop\n"
        "  211  git pull\n"
        f"  212  mysql -h db.internal -u shop -p{m('SECRET_DATABASE_PASSWORD@cli_password', rs(ALNUM, 12))} shop\n"
        f"  213  psql postgres://shop:{m('SECRET_URL_PASSWORD@url_password', rs(ALNUM, 14))}@pg.internal/shop\n"
        f"  214  curl -u admin:{m('SECRET_PASSWORD@cli_password', rs(ALNUM, 12))} http://grafana.internal/api/health\n"
        "  215  exit"
    )
    pos.append(
        "Wire details for the contractor payment:\n"
        f"Beneficiary: {m('PERSON@person', 'Oluwaseun Adeyemi')}\n"
        f"IBAN: {m('IBAN_CODE@iban', spaced_iban(random_iban()))}\n"
        "Amount: 3,200.00 EUR, reference CONTRACT-2025-11"
    )
    pos.append(
        "User report: since yesterday I get 'invalid signature' on every call. Our setup:\n"
        f"- webhook secret {m('SECRET_STRIPE_KEY@token_prose', 'whsec_' + rs(ALNUM, 32))}\n"
        f"- server IP {m('IP_ADDRESS@ip_address', '81.169.145.92')}\n"
        "- SDK 14.2.0 on Node 20"
    )
    pos.append(
        "k8s secret (kubectl get secret app -o yaml):\n"
        "apiVersion: v1\nkind: Secret\ndata:\n"
        f"  OPENAI_API_KEY: {m('SECRET_OPENAI_API_KEY@base64_key', base64.b64encode(openai().encode()).decode())}\n"
        f"  DB_PASSWORD: {m('SECRET_DATABASE_PASSWORD@base64_key', base64.b64encode(password().encode()).decode())}\n"
        "  DB_HOST: ZGIuaW50ZXJuYWw=\n"
    )
    pos.append(
        "Employee onboarding form\n"
        f"Full name: {m('PERSON@person', 'Rosa María Delgado')}\n"
        f"SSN: {m('US_SSN@us_ssn', ssn())}\n"
        f"Home address: {m('STREET_ADDRESS@street_address', '2250 Peachtree Rd NW, Atlanta, GA 30309')}\n"
        f"Personal email: {m('EMAIL_ADDRESS@email', 'rosadelgado77@gmail.com')}\n"
        f"Mobile: {m('PHONE_NUMBER@phone', '(404) 872-3391')}"
    )
    pos.append(
        "Could you check why the bot is silent? I set it up like this:\n```python\n"
        f"client = discord.Client(intents=intents)\nclient.run('{m('SECRET_DISCORD_BOT_TOKEN@token_config', discord_bot())}')\n```\n"
        "It prints nothing, not even the ready message."
    )
    pos.append(
        "Re: access for the auditors\n\n"
        f"{m('PERSON@person', 'Hamid Karimi')} will need read access. I created a user for him, login hkarimi, "
        f"temporary password {m('SECRET_PASSWORD@password_prose', 'Tulip-Orbit-5582')}, and shared the VPN profile. "
        f"He'll connect from {m('IP_ADDRESS@ip_address', '145.40.68.201')}."
    )
    pos.append(
        "ssh-keygen output pasted by mistake:\n"
        f"{m('SECRET_PRIVATE_KEY@private_key', pem('OPENSSH PRIVATE KEY'))}\n"
        "please delete this message"
    )
    neg = [
        "Deploy log 2025-11-30\n[09:00:01] pulling ghcr.io/acme/api:2.31.0\n[09:00:14] digest sha256:"
        + rs(HEX, 64) + "\n[09:00:40] running migrations (14 pending)\n[09:02:03] health check ok after 3 attempts\n[09:02:04] done in 123 s",
        "Support reply: We've reset the password policy for your workspace. Users will be asked to choose a new password at next login; "
        "passwords must be 14+ characters. No action is needed from admins.",
        "Release notes 4.2.0\n- firmware 2.4.10.3 for the gateway\n- fixed crash when the order id (e.g. 112-4839201-7734512) contains dashes\n"
        "- gift cards like 6035 7114 0298 1170 now validate the check digit\n- upgraded OpenSSL to 3.0.13",
        "Config template (fill in your own values):\n\nOPENAI_API_KEY=\nSTRIPE_SECRET_KEY=\nDB_PASSWORD=\n# never commit real values",
        "git log --oneline -5\n" + "\n".join(f"{rs(HEX, 7)} {msg}" for msg in ["fix: handle empty cart", "chore: bump deps", "feat: export to parquet", "test: cover refund path", "docs: api keys section"]),
        "pytest output\n============================= test session starts ==============================\nplatform linux -- Python 3.12.1, pytest-8.3.3\n"
        "collected 412 items\n\ntests/test_api.py ........................................ [ 10%]\n====== 412 passed in 38.21s ======",
        "Meeting summary: the team agreed to move the API key rotation to the first Monday of each month and to store all tokens in Vault. "
        "Action items: update the runbook, add an alert for keys older than 90 days.",
        "Here is the JSON the client sent (ids only):\n{\"request_id\": \"" + uuid4() + "\", \"items\": [{\"sku\": \"A-1029\", \"qty\": 2}, {\"sku\": \"B-7781\", \"qty\": 1}], \"total_cents\": 4598}",
    ]
    out = [record(f"h2-hand-{i:03d}", "mixed", t) for i, t in enumerate(pos)]
    out += [record(f"h2-handneg-{i:03d}", "neg_long", t) for i, t in enumerate(neg)]
    return out


def main() -> None:
    secrets = gen_token_prose() + gen_token_config() + gen_hex() + gen_password_prose() + gen_cli_password() + gen_generic_key() + gen_url_password()
    obfuscation = gen_obfuscation()
    pii = gen_person() + gen_address() + gen_pattern_pii()
    negatives = gen_negatives()
    hand = gen_hand()
    write("secrets.jsonl", secrets)
    write("obfuscation.jsonl", obfuscation)
    write("pii.jsonl", pii)
    write("negatives.jsonl", negatives)
    write("hand.jsonl", hand)
    allrec = secrets + obfuscation + pii + negatives + hand
    n_spans = sum(len(r["spans"]) for r in allrec)  # type: ignore[arg-type]
    n_neg = sum(r["kind"] == "negative" for r in allrec)
    print(f"{len(allrec)} records, {n_spans} positive spans, {n_neg} hard negatives")


if __name__ == "__main__":
    main()
