"""Spend reports as text: a table, JSON or CSV (what ``loomllm budget report`` prints)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from ._ledger import SpendRow

__all__ = ["spend_report"]


def _records(rows: Sequence[SpendRow]) -> list[dict[str, object]]:
    return [
        {**row.group, "usd": round(row.usd, 9), "input_tokens": row.input_tokens,
         "output_tokens": row.output_tokens, "calls": row.calls}
        for row in rows
    ]


def spend_report(rows: Sequence[SpendRow], by: Sequence[str], fmt: str = "table") -> str:
    """Render spend rows (from :meth:`BudgetLedger.spend`) as ``table``, ``json`` or ``csv``."""
    records = _records(rows)
    columns = [*by, "usd", "input_tokens", "output_tokens", "calls"]
    if fmt == "json":
        return json.dumps(records, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown report format {fmt!r} (use table, json or csv)")
    if not records:
        return "no spend recorded"
    cells = [[_cell(r.get(c)) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)
