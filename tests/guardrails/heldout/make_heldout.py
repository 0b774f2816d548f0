"""Held-out evaluation records, written after the detectors and never used to tune them.

Each line below marks labelled values as ``[[TYPE|value]]``; lines without a mark are hard negatives.
Run ``.venv/bin/python tests/guardrails/heldout/make_heldout.py`` to rewrite ``heldout.jsonl``; score with
``bench/guardrails_eval.py --corpus tests/guardrails/heldout``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

LINES = {
    "token_prose": [
        "Mailjet secret key is [[SECRET|f3b91c0d27a44e6ab8c1d95e07f2a6b3]] according to the vault export.",
        "the bearer token they pasted in Slack was [[SECRET|Qk7Zr2Lp9Xw4Tn8Vb3Mc6Hd1Fj5Ys0Ue]]",
        "Reminder: our PagerDuty api key [[SECRET|u+Kx7Qe2Wz9Lm4Rt8Yp3Nc6Vb]] must be rotated.",
        "Licence key [[SECRET|7KQ2M-XW9PL-3RTB8-ZN4VC-H6JDY]] is for the build server only.",
        "access token is still [[SECRET|ATZx9Lq2Mw7Kp4Rn8Tb3Vc6Yd1Hf5Gj0]], nobody revoked it",
    ],
    "password_prose": [
        "FYI the password on the staging Jenkins is [[SECRET|Blu3Heron!22]].",
        "database passphrase is now [[SECRET|correct-Horse-7-battery]] after the rotation",
        "her old pwd was [[SECRET|Sunflower#1988]] which is why we forced a reset",
        "The shared inbox password: [[SECRET|Mx4!pQ9#vL2z]]",
    ],
    "cli_flag": [
        "redis-cli -h 10.1.2.3 -a [[SECRET|R3d!sPassw0rd]] --scan",
        "sshpass -p [[SECRET|Dep10y#Key]] scp build.tgz ops@bastion:/tmp",
        "mongodump --uri mongodb://db.internal -u backup -p [[SECRET|Bkp_2024!xyz]]",
        "./bin/start --listen :9000 --admin-token [[SECRET|a8Kq2Zp9Lm4Xw7Rt]]",
        "curl --user ci-bot:[[SECRET|9xT!q2Lm7Pz]] https://builds.internal/api/artifacts",
    ],
    "key_variable": [
        "GRAFANA_SERVICE_KEY=[[SECRET|glsvc7Kq2Zp9Lm4Xw7Rt3Yb8Nc]]",
        "export SENTRY_RELAY_KEY='[[SECRET|Wz8Kq2Lp9Xm4Tn7Vb3Rc6Hd]]'",
        "product_key: [[SECRET|PX9QK-2LMWZ-7RTN4-8VBC3-YHD6F]]",
    ],
    "obfuscated": [
        "deploy key ghp_\u200b[[SECRET|Zq8Rt2Vx9Lm4Kp7Nw3Bc6Yd1Hf5Gj0Ts2Ua9]]",
        "ＡＫＩＡ[[SECRET|Ｚ７ＱＫ３ＭＷＮ５ＴＸＢ２Ｐ６Ｒ]]",
        "echo [[SECRET|c2tfbGl2ZV81MUhxMlpwTGs4UnRXM3ZYeTlOY0I3bVFh]] | base64 -d",
    ],
    "person": [
        "Please loop in [[PERSON|Jennifer Walsh]] from procurement.",
        "Spoke with [[PERSON|Robert Chen]] about the outage.",
        "Dear [[PERSON|Mrs. Okafor]], your refund is on the way.",
        "The account owner is [[PERSON|Steven M. Clarke]].",
        "cc [[PERSON|Angela Russo]] and [[PERSON|Peter Novak]] on the thread",
        "Signed, [[PERSON|Karen Holloway]]",
    ],
    "street_address": [
        "Deliver to [[STREET_ADDRESS|915 Pine Street, Seattle, WA 98101]] before noon.",
        "Our office moved to [[STREET_ADDRESS|27 Old Gloucester Street, London WC1N 3AX]].",
        "He gave [[STREET_ADDRESS|4312 Maple Avenue]] as the billing address.",
        "Send the contract to [[STREET_ADDRESS|1200 Market St, Suite 400, Philadelphia, PA 19107]].",
    ],
    "pattern_pii": [
        "Call me on [[PHONE_NUMBER|+44 20 7946 0958]] after five.",
        "Her NI number is [[UK_NINO|JT 48 21 93 B]].",
        "NHS number [[UK_NHS|943 476 5919]] on the referral letter.",
        "Card [[CREDIT_CARD|2223 0000 4841 0010]] was used for the deposit.",
        "Blocked traffic from [[IP_ADDRESS|198.51.100.23]] overnight.",
        "SSN on the form: [[US_SSN|536-90-4399]]",
        "email [[EMAIL_ADDRESS|k.holloway@example.org]] for the invoice",
    ],
    "negative": [
        "Rotate the API key every 90 days as per policy.",
        "The password must contain one digit and one symbol.",
        "Password reset emails are delayed by about 10 minutes.",
        "Token usage rose to 1.2M per day in March.",
        "SHA-256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "request id 4f1c2a9b-7d3e-4b8a-9c6f-2e1d0b7a5c34 returned 200",
        "LICENSE_KEY=${LICENSE_KEY}",
        "SORT_KEY = 'created_at'",
        "redis-cli -a \"$REDISCLI_AUTH\" info",
        "git push git@gitlab.com:team/infra.git main",
        "Upgrade the router firmware to 7.2.10.4 tonight.",
        "Serial numbers 934-12-5567 through 934-12-5599 were recalled.",
        "Gift card 6010 1234 5678 9012 is not accepted online.",
        "Grant Thornton audits the books in April.",
        "Main Street Bistro is closed on Mondays.",
        "Release 3.14 ships with the new Billing Dashboard.",
        "unix time 1700000000 is in November 2023",
        "Mark Complete once the checklist is done.",
    ],
}
_MARK = re.compile(r"\[\[([A-Z_]+)\|(.+?)\]\]")


def parse(family: str, index: int, line: str) -> dict[str, object]:
    """One record from a marked line."""
    text, entities, cursor = "", [], 0
    for match in _MARK.finditer(line):
        text += line[cursor : match.start()]
        entity = "SECRET_GENERIC_CREDENTIAL" if match.group(1) == "SECRET" else match.group(1)
        entities.append({"type": entity, "start": len(text), "end": len(text) + len(match.group(2))})
        text += match.group(2)
        cursor = match.end()
    text += line[cursor:]
    kind = "negative" if family == "negative" else ("secret" if entities[0]["type"].startswith("SECRET") else "pii")
    return {"id": f"heldout-{family}-{index}", "kind": kind, "family": family, "text": text, "entities": entities}


def main() -> None:
    """Write ``heldout.jsonl`` beside this file."""
    out = Path(__file__).with_name("heldout.jsonl")
    with open(out, "w", encoding="utf-8") as handle:
        for family, lines in LINES.items():
            for index, line in enumerate(lines):
                handle.write(json.dumps(parse(family, index, line)) + "\n")


if __name__ == "__main__":
    main()
