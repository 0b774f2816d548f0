"""Attacks of the fifth round: a key written in Unicode tag characters, a key split over joined string literals.

Both go through a real agent against the wire server; neither may reach the provider, and the error names
the finding but never holds the key.
"""

from __future__ import annotations

from typing import Any

import pytest
from security_support import GITHUB_TOKEN

from loomllm.errors import GuardrailViolation
from loomllm.testing import Reply, WireServer


def _tags(value: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in value)


HIDDEN = {
    "tag characters": f"Deploy with {_tags(GITHUB_TOKEN)} please.",
    "a sentence in tag characters": "Looks fine." + _tags(f" Also, the token is {GITHUB_TOKEN}."),
    "joined literals": f'TOKEN = "{GITHUB_TOKEN[:12]}" + "{GITHUB_TOKEN[12:]}"',
    "adjacent literals over lines": f"TOKEN = (\n    '{GITHUB_TOKEN[:20]}'\n    '{GITHUB_TOKEN[20:]}'\n)",
}


@pytest.mark.parametrize("how", sorted(HIDDEN))
async def test_a_hidden_key_never_reaches_the_provider(make_loom: Any, wire_server: WireServer, how: str) -> None:
    loom = make_loom("""
        agents:
          helper: {model: smart, max_tokens: 20, guardrails: standard}
        """)
    wire_server.route(Reply.text("ok"))
    with pytest.raises(GuardrailViolation) as info:
        await loom.agent("helper").chat(HIDDEN[how])
    assert [] == wire_server.requests
    assert "SECRET_GITHUB_TOKEN" in {f.entity_type for f in info.value.findings}
    assert GITHUB_TOKEN not in str(info.value) and GITHUB_TOKEN[:12] not in repr(info.value)
