"""What of an event may become a metric label or a span attribute: configuration, never a caller's value."""

from __future__ import annotations

from typing import Any

__all__ = ["limit_label"]


def limit_label(event: dict[str, Any]) -> str:
    """The limit's own name (``per_user[0]``, or the name it was given), without the scope prefix.

    A limit's display name starts with its scope (``team ops: ``, ``global: ``, ``model smart: ``,
    and ``user=jane@example.com: `` for a budget key): only the part after it is configuration.
    """
    name = str(event.get("limit"))
    scope, scope_name = event.get("scope"), event.get("scope_name")
    if scope is None:  # a refusal names the limit only: its own name follows the last scope separator
        return name.rpartition(": ")[2]
    prefix = {"agent": "", "global": "global: ", "team": f"team {scope_name}: ", "model": f"model {scope_name}: ",
              "key": f"{scope_name}: "}.get(str(scope))
    if prefix is None or not name.startswith(prefix):
        return "unknown"  # a name this code cannot take apart might hold a key value
    return name[len(prefix):]
