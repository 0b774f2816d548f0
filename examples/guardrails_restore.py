"""Guardrails: an e-mail address is redacted before sending and restored in the answer; a secret is blocked.

The profile in configs/guardrails.yaml redacts EMAIL_ADDRESS on input with ``restore: true``: the
provider sees ``<EMAIL_ADDRESS_1>``, the caller sees the real address again.

Run: python examples/guardrails_restore.py [CONFIG]   (default: configs/guardrails.yaml and a local server)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from loomllm import GuardrailViolation, Loom, UnifiedAgent
from loomllm.testing import RecordedRequest, Reply, WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "guardrails.yaml"


def main(config: str | Path) -> None:
    """Ask with PII (redacted, restored), then with a secret (blocked before sending)."""
    with Loom(config) as loom:
        support: UnifiedAgent = loom.agent("support")
        answer = support.chat_sync("Draft a reply to maria.lopez@northwind.io about her refund.")
        print(f"Answer: {answer}")
        try:
            support.chat_sync("Debug this: AWS_ACCESS_KEY_ID=AKIAQ3ZT7WXR2M9K4PLD fails to upload.")
        except GuardrailViolation as blocked:  # names the entity type and position, never the value
            print(f"Blocked: {blocked}")


def reply_with_placeholder(request: RecordedRequest) -> Reply:
    """Offline stand-in for a model that addresses the person it was asked about."""
    text = request.body["messages"][-1]["content"]
    print(f"Provider saw: {text}")
    address = re.search(r"<EMAIL_ADDRESS_\d+>", text)
    return Reply.text(f"Dear customer, your refund is on its way. Sent to {address.group() if address else '?'}.")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with WireServer() as server:
            server.route(reply_with_placeholder)
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            main(OFFLINE_CONFIG)
            print(f"The provider received {len(server.requests)} request(s): the secret never left.")
