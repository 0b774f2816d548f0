"""User callables referenced from test configs as ``policy_checks:<name>``."""

from __future__ import annotations

CALLS: list[str] = []


def no_refund_promises(text: str) -> str | None:
    """Support answers may not promise refunds; the reason names the rule, not the text."""
    CALLS.append(text)
    return "refund_promise" if "refund" in text.lower() else None


async def async_never(text: str) -> list[str]:
    """An async check that finds nothing."""
    CALLS.append(text)
    return []
