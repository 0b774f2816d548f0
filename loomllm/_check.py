"""``loomllm check``: what each agent can reach, with credentials and egress verdicts, and every problem.

An invalid config (malformed YAML, unknown key, unknown group) raises :class:`ConfigError`; a
config that loads but cannot work as written (unset variables, denied hosts, unpriced deployments
under a dollar limit) yields a :class:`CheckReport` whose ``problems`` list them, one line each.
An unset variable is reported once, where it is used, and the rest of the config is still checked.
Proxy-only features loomllm does not run are listed in ``ignored_features``; with ``strict`` each
one is also a problem (file and key path first).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from loomllm._egress import check_deployments, deployment_url
from loomllm.config import MISSING_PREFIX, LoomConfig, deployment_id, load_config, unset_variable_effect
from loomllm.errors import ConfigError, ConfigWarning

OFFLINE_URL_VARIABLE = "LOOMLLM_OFFLINE_URL"
_ENV_REFERENCE = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Sections config.py resolves strictly (an unset variable there is a load error); ``check`` stands
# a placeholder in for it so that the rest of the file is still checked.
_STRICT_SECTIONS = ("loomllm", "router_settings", "litellm_settings")
_PLACEHOLDERS = {"loomllm.state": "memory://"}


@dataclass(frozen=True)
class ReachRow:
    """One deployment an agent can reach."""

    agent: str
    group: str
    via_fallback: bool
    deployment: str
    host: str
    missing: list[str]
    egress: str


@dataclass
class PriceRow:
    """A deployment's price per million tokens and where it comes from (``yaml``, ``cost map: KEY``, ``unknown``)."""

    deployment: str
    input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    source: str


@dataclass
class CheckReport:
    """What ``loomllm check`` found in one config."""

    path: str
    agents: int
    deployments: int
    ignored_sections: list[str] = field(default_factory=list)
    ignored_features: list[str] = field(default_factory=list)
    rows: list[ReachRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What loads but differs from what the file says: settings whose variable is unset, read as None."""
    prices: list[PriceRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops any agent from working as configured."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (``loomllm check --json``)."""
        return {"config": self.path, "ok": self.ok, "agents": self.agents, "deployments": self.deployments,
                "ignored_sections": self.ignored_sections, "ignored_features": self.ignored_features,
                "reach": [asdict(r) for r in self.rows], "prices": [asdict(p) for p in self.prices],
                "problems": self.problems, "notes": self.notes}


def load_tolerant(path: str | os.PathLike[str]) -> tuple[LoomConfig, dict[str, list[str]]]:
    """Load a config even when variables are unset; also returns unset variable -> key paths using it.

    Raises :class:`ConfigError` when the config is invalid for any other reason.
    """
    unset = _unset_references(Path(path))
    with _placeholders(unset):
        return load_config(path), unset


def run_check(path: str | os.PathLike[str], *, strict: bool = False) -> CheckReport:
    """Check the config at ``path``; raises :class:`ConfigError` when it is invalid.

    ``strict``: every ignored proxy-only feature is a problem too (``loomllm check --strict``).
    """
    with warnings.catch_warnings():
        # The report lists what the load warning would say (ignored features, unset variables).
        warnings.simplefilter("ignore", ConfigWarning)
        config, unset = load_tolerant(path)
    report = CheckReport(str(path), len(config.loom.agents), len(config.model_list), list(config.ignored_sections),
                         list(config.ignored_features))
    for name, where in unset.items():
        effects = {unset_variable_effect(w) for w in where}
        if "error" in effects:
            report.problems.append(_unset_problem(name, where))
        elif "none" in effects:
            tolerated = [w for w in where if unset_variable_effect(w) == "none"]
            (report.problems if strict else report.notes).append(
                _unset_problem(name, tolerated) + ": the setting is None, as the proxy reads it"
                + (" (refused by --strict)" if strict else ""))
        # only inside proxy-only sections: those are listed as ignored already
    if strict:
        report.problems += [f"{path}: {feature} (a proxy-only feature loomllm does not run; refused by --strict)"
                            for feature in config.ignored_features]
    verdicts = egress_verdicts(config)
    for name, spec in config.loom.agents.items():
        report.rows += _reach_rows(config, name, spec.model, spec.embedding_model, verdicts)
    report.problems += _egress_problems(config, report.rows)
    report.problems += _price_problems(config)
    report.prices = _price_rows(config)
    return report


def _price_rows(config: LoomConfig) -> list[PriceRow]:
    from loomllm._budget import price_table

    rows = []
    for dep in config.model_list:
        try:
            price = price_table([dep])[0]
        except Exception:  # a model LiteLLM cannot place has no price; the listing goes on
            price = {"input_usd_per_mtok": None, "output_usd_per_mtok": None, "source": "unknown"}
        rows.append(PriceRow(deployment_id(dep), price["input_usd_per_mtok"], price["output_usd_per_mtok"],
                             price["source"]))
    return rows


def _reach_rows(config: LoomConfig, agent: str, model: str, embedding: str | None,
                verdicts: Mapping[tuple[str, str], str]) -> list[ReachRow]:
    groups = config.reachable_groups(model)
    if embedding:
        groups += [g for g in config.reachable_groups(embedding) if g not in groups]
    rows = []
    for group in groups:
        for dep in config.deployments_for(group):
            dep_id = deployment_id(dep)
            missing = config.missing_env.get(dep_id, [])
            url = deployment_url(dep)
            if url is not None and MISSING_PREFIX in url:
                verdict = f"unknown (needs {', '.join(missing)})"
                url = None
            else:
                verdict = verdicts.get((agent, dep_id), "-")
            rows.append(ReachRow(agent, group, group not in (model, embedding), dep_id, host_of(url), missing,
                                 verdict))
    return rows


def _egress_problems(config: LoomConfig, rows: Sequence[ReachRow]) -> list[str]:
    problems: list[str] = []
    remove = config.loom.egress.on_denied_deployment == "remove"
    for agent in config.loom.agents:
        mine = [r for r in rows if r.agent == agent]
        denied = [r for r in mine if r.egress.startswith("denied")]
        if not remove:
            problems += [f"agent {agent!r}: deployment {r.deployment!r}: egress {r.egress}" for r in denied]
        elif mine and len(denied) == len(mine):
            problems.append(f"agent {agent!r}: every reachable deployment is denied by egress")
        problems += [f"agent {agent!r}: deployment {r.deployment!r}: {r.egress}" for r in mine
                     if r.egress.startswith("unresolvable")]
    return problems


def _price_problems(config: LoomConfig) -> list[str]:
    from loomllm._budget import check_prices

    problems = []
    policies = config.agent_policies("budget")
    for name in config.loom.agents:
        try:
            check_prices(config.loom.budgets, {name: policies[name]}, {name: config.reachable_deployments(name)})
        except ConfigError as exc:
            problems.append(f"{exc.path}: {exc.problem}" if exc.path else exc.problem)
    return list(dict.fromkeys(problems))  # agents sharing a deployment report it once


def egress_verdicts(config: LoomConfig) -> dict[tuple[str, str], str]:
    """(agent, deployment id) -> ``allowed``, ``no policy``, ``denied (why)`` or ``removed, denied (why)``."""
    reachable = {name: config.reachable_deployments(name) for name in config.loom.agents}
    remove = config.loom.egress.on_denied_deployment == "remove"
    out: dict[tuple[str, str], str] = {}
    global_base = config.litellm_settings.get("api_base")
    for v in check_deployments(config.loom.egress, config.agent_policies("egress"), reachable,
                               global_base=str(global_base) if global_base else None):
        if v.allowed:
            verdict = "allowed" if v.policy else "no policy"
        elif not v.resolvable:
            verdict = f"unresolvable ({v.reason})"
        else:
            verdict = ("removed, " if remove else "") + f"denied ({v.reason})"
        out[(v.agent, v.deployment)] = verdict
    return out


# --- unset variables -------------------------------------------------------------------------------


def _unset_references(path: Path) -> dict[str, list[str]]:
    """Unset variable -> key paths that reference it (the whole file; empty if it cannot be read)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}  # load_config reports it, naming the file
    found: dict[str, list[str]] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            for name, where in _references(value, str(key)):
                if name not in os.environ:
                    found.setdefault(name, []).append(where)
    return found


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _references(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _references(v, f"{path}[{i}]")
    elif isinstance(value, str):
        for match in _ENV_REFERENCE.finditer(value):
            yield match.group(1) or match.group(2), path


def _unset_problem(name: str, where: Sequence[str]) -> str:
    shown = ", ".join(where[:2]) + (f" and {len(where) - 2} more" if len(where) > 2 else "")
    hint = " (`loomllm check --offline` starts the local server and sets it)" if name == OFFLINE_URL_VARIABLE else ""
    return f"environment variable {name} is not set (used at {shown}){hint}"


@contextlib.contextmanager
def _placeholders(unset: Mapping[str, Sequence[str]]) -> Iterator[None]:
    """Stand in for variables the strict sections need, so that one unset variable hides nothing else."""
    strict = {name: where for name, where in unset.items()
              if any(w.split(".", 1)[0].split("[", 1)[0] in _STRICT_SECTIONS for w in where)}
    for name, where in strict.items():
        os.environ[name] = next((_PLACEHOLDERS[w] for w in where if w in _PLACEHOLDERS), f"unset-{name}")
    try:
        yield
    finally:
        for name in strict:
            os.environ.pop(name, None)


# --- shared with the demo ---------------------------------------------------------------------------


def limit_label(row: Any) -> str:
    """A limit as people say it: ``planner_daily: $20/day``, ``small: 900 tokens/hour``."""
    window = "total" if row.window == "lifetime" else row.window
    return f"{row.policy}: {_short_amount(row.unit, row.cap)}/{window}"


def budget_table(rows: Iterable[Any]) -> str:
    """Budget status rows (:class:`LimitStatus` from the ledger) as a plain-text table."""
    headers = ["scope", "name", "limit", "mode", "spent", "reserved", "remaining"]
    out = [
        [row.scope, row.scope_name, limit_label(row), row.mode,
         *(amount(row.unit, v) for v in (row.spent, row.reserved, row.remaining))]
        for row in rows
    ]
    return table(headers, out) if out else "no budget limits apply"


def amount(unit: str, value: float) -> str:
    """A budget amount with its unit: ``$0.001200`` or ``1,200 tokens``."""
    return f"${value:,.6f}" if unit == "usd" else f"{value:,.0f} {unit.replace('_', ' ')}"


def _short_amount(unit: str, value: float) -> str:
    if unit == "usd":
        return f"${value:,.2f}".replace(".00", "") if value >= 0.01 else f"${value:g}"
    return f"{value:,.0f} {unit.replace('_', ' ')}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def host_of(url: str | None) -> str:
    """``host`` or ``host:port`` of a URL, ``?`` when unknown."""
    if not url:
        return "?"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host
