"""``loomllm check``: what each agent can reach, with credentials and egress verdicts, as a table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from loomllm._egress import check_deployments, deployment_url
from loomllm.config import LoomConfig, deployment_id, load_config, missing_env_vars
from loomllm.errors import ConfigError


def check_report(path: str) -> tuple[str, bool]:
    """The report ``loomllm check`` prints, and whether the config is usable."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return f"error: {exc}", False
    rows: list[list[str]] = []
    problems: list[str] = []
    verdicts = _egress_verdicts(config)
    for name in sorted(config.loom.agents):
        spec = config.loom.agents[name]
        groups = config.reachable_groups(spec.model)
        if spec.embedding_model:
            groups += [g for g in config.reachable_groups(spec.embedding_model) if g not in groups]
        for group in groups:
            for dep in config.groups.get(group, []):
                dep_id = deployment_id(dep)
                missing = missing_env_vars(dep["litellm_params"])
                url = deployment_url(dep)
                verdict = verdicts.get((name, dep_id), "-")
                if missing:
                    problems.append(f"{name}: deployment {dep_id!r} needs unset variable(s) {', '.join(missing)}")
                if verdict.startswith("denied"):
                    if config.loom.egress.on_denied_deployment == "remove":
                        verdict = "removed: " + verdict
                    else:
                        problems.append(f"{name}: deployment {dep_id!r}: egress {verdict}")
                rows.append([
                    name if not rows or rows[-1][0] != name else "",
                    group if group in (spec.model, spec.embedding_model) else f"↳ {group}",
                    dep_id,
                    _host(url),
                    "missing " + ",".join(missing) if missing else "ok",
                    verdict,
                ])
    lines = [f"{path}: {len(config.loom.agents)} agent(s), {len(config.model_list)} deployment(s)"]
    if config.ignored_sections:
        lines.append(f"ignored proxy-only sections: {', '.join(config.ignored_sections)}")
    lines.append(table(["agent", "group", "deployment", "host", "credentials", "egress"], rows))
    if problems:
        lines.append("problems:")
        lines += [f"  - {p}" for p in problems]
    else:
        lines.append("ok")
    return "\n".join(lines), not problems


def budget_table(rows: Iterable[Any]) -> str:
    """Budget status rows (:class:`LimitStatus` from the ledger) as a table."""
    headers = ["scope", "name", "limit", "mode", "window", "spent", "reserved", "remaining", "cap"]
    out = [
        [row.scope, row.scope_name, row.limit, row.mode, row.window,
         *(_amount(row.unit, v) for v in (row.spent, row.reserved, row.remaining, row.cap))]
        for row in rows
    ]
    return table(headers, out) if out else "no budget limits apply"


def _amount(unit: str, value: float) -> str:
    return f"${value:,.6f}" if unit == "usd" else f"{value:,.0f} {unit}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def _egress_verdicts(config: LoomConfig) -> dict[tuple[str, str], str]:
    reachable = {name: config.reachable_deployments(name) for name in config.loom.agents}
    out: dict[tuple[str, str], str] = {}
    global_base = config.litellm_settings.get("api_base")
    for v in check_deployments(config.loom.egress, config.agent_policies("egress"), reachable,
                               global_base=str(global_base) if global_base else None):
        out[(v.agent, v.deployment)] = "allowed" if v.allowed else f"denied ({v.reason})"
    return out


def _host(url: str | None) -> str:
    if not url:
        return "?"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host
