"""``loomllm demo``: a short multi-agent scenario on ``config/offline.yaml``, with no network.

A local wire server plays OpenAI, Anthropic and a flaky provider; LiteLLM's real translation
code talks to it. The scenario shows routing, a fallback, and what each agent spent.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loomllm._check import OFFLINE_URL_VARIABLE, budget_table, table

_PLAN = (
    "1. Define the audience and the one promise of the launch.\n"
    "2. Ship a beta to ten design partners and collect their objections.\n"
    "3. Publish the launch post, the docs and a migration guide on the same day."
)
_CRITIQUE = "Step 2 is the weakest: ten partners is too few to find pricing objections. Aim for thirty."
_FAKE_AWS_KEY = "AKIA" + "Q3EGRVLMZ7TPKX2N"  # a made-up key in the real format
_SCOUT = "Three competitors launched similar features this quarter; none ships a migration guide."


@contextmanager
def offline_server() -> Iterator[Any]:
    """Start the local wire server with the demo's scripted replies; publish its URL for the config."""
    from loomllm.testing import WireServer

    previous = os.environ.get(OFFLINE_URL_VARIABLE)
    with WireServer() as server:
        route_demo_replies(server)
        os.environ[OFFLINE_URL_VARIABLE] = server.url
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop(OFFLINE_URL_VARIABLE, None)
            else:
                os.environ[OFFLINE_URL_VARIABLE] = previous


def route_demo_replies(server: Any) -> None:
    """The offline config's models answer as in the demo; ``flaky-model`` answers 503."""
    from loomllm.testing import Reply

    server.route(Reply.text(_PLAN), model="gpt-4o")
    server.route(Reply.text(_CRITIQUE), model="claude-haiku-4-5")
    server.route(Reply.text(_SCOUT), model="claude-sonnet-4-5")
    server.route(Reply.status(503), model="flaky-model")


def quiet_litellm() -> None:
    """Keep LiteLLM's own error logging and typing warnings out of a terminal session's output."""
    import logging

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message=r"Item '.*' on TypedDict class .* `ReadOnly` qualifier")


def default_offline_config() -> Path:
    """``config/offline.yaml`` of the source tree (or the current directory)."""
    here = Path(__file__).resolve().parent.parent / "config" / "offline.yaml"
    return here if here.exists() else Path("config/offline.yaml")


def run_demo(config: str | None = None) -> int:
    """Run the scenario and print what happened; returns the exit code."""
    quiet_litellm()
    with offline_server() as server:
        return asyncio.run(_scenario(Path(config) if config else default_offline_config(), server))


async def _scenario(config: Path, server: Any) -> int:
    from loomllm._runtime import Loom
    from loomllm.errors import BudgetExceeded, EgressDenied, GuardrailViolation
    from loomllm.testing import Reply

    events: list[dict[str, Any]] = []
    with warnings.catch_warnings(record=True) as startup_warnings:
        warnings.simplefilter("always")
        loom = Loom(config, on_event=events.append)
    with loom:
        _say("0. Start-up: every deployment each agent can reach is checked against its egress policy")
        for warning in startup_warnings:
            print(f"   {warning.message}")

        _say("1. The planner (model group 'smart', an OpenAI deployment) drafts a plan")
        plan = await loom.agent("planner").chat("Plan the launch of our new SDK in three steps.")
        _quote(plan)

        _say("2. The critic (group 'fast', an Anthropic deployment) reviews it: same agent code")
        _quote(await loom.agent("critic").chat(f"Review this plan:\n{plan}"))

        _say("3. The scout's provider answers 503: the Router falls back to group 'smart'")
        _quote(await loom.agent("scout").chat("What did competitors launch this quarter?"))

        _say("4. The librarian embeds two documents (OpenAI embeddings wire format)")
        vectors = await loom.agent("librarian").embed(["launch plan", "competitor notes"])
        print(f"   {len(vectors)} vectors of dimension {len(vectors[0])}")

        _say("5. The intern's budget ($0.001/day) cannot hold the worst case: refused before sending")
        await _refused(loom.agent("intern").chat("Write the launch announcement."), BudgetExceeded, server)

        _say("6. The courier's provider is down and its fallback host is outside its allowlist")
        await _refused(loom.agent("courier").chat("Deliver the summary."), EgressDenied, server,
                       note=" (to the failing local provider only)")

        _say("7. Guardrails: a prompt carrying an API key is blocked before anything is sent")
        await _refused(loom.agent("planner").chat(f"Deploy with AWS key {_FAKE_AWS_KEY} tonight."),
                       GuardrailViolation, server)

        _say("8. Guardrails: an e-mail address is redacted for the provider and restored for the caller")
        server.script(Reply.echo(prefix="Drafted a note for "), model="gpt-4o")
        answer = await loom.agent("planner").chat("Send the plan to jane.doe@acme-corp.com")
        sent = server.requests[-1].body["messages"][-1]["content"]
        print(f"   the provider received: {sent!r}")
        print(f"   the caller received:   {answer!r}")

        _say("Per-call log (from loomllm's structlog events)")
        print(_calls_table(events))

        _say("Budgets (also: loomllm budget status)")
        print(budget_table(await loom.budgets()))
        _say(f"The local server received {len(server.requests)} requests; no byte left this machine.")
        print("\nNext (with .venv/bin on PATH): loomllm check --offline · loomllm chat --offline \"Plan a launch\" · "
              "loomllm models --offline · loomllm --help")
    return 0


async def _refused(call: Awaitable[object], expected: type[Exception], server: Any, note: str = "") -> None:
    """Run ``call``, which a policy refuses, and show the refusal and how many requests it sent."""
    before = len(server.requests)
    try:
        await call
    except expected as exc:
        print(f"   {type(exc).__name__}: {exc}")
    print(f"   requests sent for it: {len(server.requests) - before}{note}")


def _calls_table(events: list[dict[str, Any]]) -> str:
    attempts = [e for e in events if e["event"] == "llm.attempt"]
    rows = []
    for call in (e for e in events if e["event"] == "llm.call"):
        tried = [a for a in attempts if a.get("call_id") == call["call_id"]]
        route = " → ".join(f"{a['deployment']} ({a['outcome']})" for a in tried) or str(call.get("deployment"))
        rows.append([call["agent"], call["model_group"], route, str(call["tokens_in"]), str(call["tokens_out"]),
                     f"${call['cost_usd']:.6f}", call["outcome"]])
    return table(["agent", "group", "attempts", "in", "out", "cost", "outcome"], rows)


def _say(text: str) -> None:
    print(f"\n== {text}")


def _quote(text: str) -> None:
    for line in text.splitlines():
        print(f"   > {line}")
