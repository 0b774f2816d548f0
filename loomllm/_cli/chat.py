"""``loomllm chat``: one prompt (argument or stdin) or a conversation at the terminal, streamed to stdout.

The slow part of a first call is loading LiteLLM (and Presidio, when the agent has a guardrail).
It runs in a background thread from the start, so it overlaps with reading the prompt (stdin, or
the person typing), and a spinner on stderr says what is loading.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from loomllm._cli.app import ConfigOption, OfflineOption, app, config_path, handles_errors, maybe_offline, output
from loomllm._cli.output import QUIET, Output


@app.command()
@handles_errors
def chat(
    ctx: typer.Context,
    prompt: Annotated[str | None, typer.Argument(
        show_default=False,
        help="What to ask. Omit it (or pass -) to read stdin; at a terminal that starts a conversation.")] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", "-a", show_default=False,
        help="Agent to talk to. Default: loomllm.default_agent, else the first agent in the file.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", show_default=False,
        help="Model group to use instead of the agent's own (policies still apply).")] = None,
    system: Annotated[str | None, typer.Option(
        "--system", "-s", show_default=False, help="System prompt to use instead of the agent's own.")] = None,
    config: ConfigOption = None,
    offline: OfflineOption = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the answer with its agent, deployment, tokens and cost as one JSON object.")] = False,
) -> None:
    """Send a prompt to an agent and stream the answer to stdout (tokens and cost go to stderr)."""
    out = output(ctx)
    path = config_path(config, offline=offline)
    if prompt is not None and prompt != "-" and not prompt.strip():
        out.error("empty prompt")
        raise typer.Exit(2)
    with maybe_offline(offline):
        session = _Warmup(out, path, agent, model)
        session.start()
        try:
            if prompt is None or prompt == "-":
                if sys.stdin.isatty() and not as_json:
                    asyncio.run(_conversation(out, session, system))
                    return
                prompt = sys.stdin.read()
            if not prompt.strip():
                out.error("empty prompt")
                raise typer.Exit(2)
            ready = session.wait()
            messages = _messages(system, [], prompt)
            if as_json:
                out.json(asyncio.run(_answer_json(ready, messages)))
            else:
                asyncio.run(_stream(out, ready, messages))
        finally:
            session.close()


@dataclass
class _Ready:
    """A Loom and the agent the session talks to, once loaded."""

    loom: Any
    agent: Any
    name: str
    calls: list[dict[str, Any]] = field(default_factory=list)


class _Warmup:
    """Loads the config, LiteLLM, the Router and the agent's guardrail in a background thread."""

    def __init__(self, out: Output, path: Path, agent: str | None, model: str | None) -> None:
        self._out = out
        self._path = path
        self._agent = agent
        self._model = model
        self.stage = "Loading the config"
        self._result: _Ready | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="loomllm-warmup", daemon=True)

    def start(self) -> None:
        """Begin loading in the background."""
        self._thread.start()

    def wait(self) -> _Ready:
        """The loaded session (a spinner on stderr meanwhile); re-raises what loading raised."""
        if self._thread.is_alive():
            with self._out.progress(self.stage) as update:
                while self._thread.is_alive():
                    self._thread.join(0.1)
                    update(self.stage)
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def close(self) -> None:
        """Close the Loom (after loading finished, so nothing is left half-built)."""
        self._thread.join()
        if self._result is not None:
            self._result.loom.close()

    def _run(self) -> None:
        try:
            self._result = self._load()
        except BaseException as exc:  # handed to the main thread by wait()
            self._error = exc

    def _load(self) -> _Ready:
        from loomllm.config import load_config

        config = load_config(self._path)
        name = pick_agent(config, self._agent)
        if self._model is not None:
            use_model(config, name, self._model)
        self._out.only_agent = name
        self.stage = "Loading LiteLLM"
        from loomllm._runtime import Loom

        ready = _Ready(loom=None, agent=None, name=name)
        loom = Loom(config, on_event=lambda e: ready.calls.append(e) if e["event"] == "llm.call" else None)
        ready.loom = loom
        ready.agent = loom.agent(name)
        loom._litellm_router()  # builds the Router (LiteLLM's import is most of the wait)
        guard = loom.guard(name)
        if guard is not None:  # Presidio loads only for an agent that has a guardrail
            self.stage = "Loading Presidio (guardrails)"
            guard.decide("Loading the analyzer.", "input", message_index=None, agent=name)
        self.stage = "Preparing the first request"
        _prepare_first_request(loom.reachable_deployments(name))
        return ready


def _prepare_first_request(deployments: list[dict[str, Any]]) -> None:
    """Load what the first request would load: the tokenizer of the budget estimate, the provider SDK's client.

    The work is the same either way; done here it overlaps with reading the prompt.
    """
    import importlib

    from loomllm._egress.providers import deployment_provider
    from loomllm._litellm import litellm_module

    if not deployments:
        return
    litellm = litellm_module()
    model = str(deployments[0]["litellm_params"]["model"])
    with contextlib.suppress(Exception):  # a warm-up failure shows up, if at all, on the real call
        litellm.token_counter(model=model, messages=[{"role": "user", "content": "Loading the tokenizer."}])
    if deployment_provider(deployments[0]) in ("openai", "azure"):  # LiteLLM sends these with the openai SDK
        with contextlib.suppress(ImportError):
            importlib.import_module("openai.resources.chat")


def pick_agent(config: Any, requested: str | None) -> str:
    """``requested``, else ``loomllm.default_agent``, else the first agent in file order."""
    from loomllm.errors import ConfigError

    agents: list[str] = list(config.loom.agents)
    file = str(config.source) if config.source else None
    if requested is not None:
        if requested not in config.loom.agents:
            raise ConfigError(f"unknown agent {requested!r} (known: {', '.join(agents) or 'none'})",
                              file=file, path="loomllm.agents")
        return requested
    default: str | None = config.loom.default_agent
    if default:
        return default
    if not agents:
        raise ConfigError("the config defines no agents", file=file, path="loomllm.agents")
    return agents[0]


def use_model(config: Any, agent: str, group: str) -> None:
    """Point ``agent`` at model group ``group`` for this run (start-up checks then apply to it)."""
    from loomllm.errors import ConfigError

    if group not in config.groups:
        known = ", ".join(config.groups) or "none"
        raise ConfigError(f"unknown model group {group!r} for --model (known: {known})",
                          file=str(config.source) if config.source else None, path="model_list")
    spec = config.loom.agents[agent]
    config.loom.agents[agent] = spec.model_copy(update={"model": group})


def _messages(system: str | None, history: list[dict[str, str]], prompt: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, *history, {"role": "user", "content": prompt}]


async def _stream(out: Output, ready: _Ready, messages: list[dict[str, str]]) -> str:
    parts: list[str] = []
    async for chunk in ready.agent.stream(messages):
        for choice in chunk.choices:
            text = choice.delta.content or ""
            if text:
                parts.append(text)
                out.write(text)
    answer = "".join(parts)
    if not answer.endswith("\n"):
        out.write("\n")
    if ready.calls and out.verbosity > QUIET:
        call = ready.calls[-1]
        out.note(f"[{ready.name} · {call.get('deployment')} · {call['tokens_in']} tokens in, {call['tokens_out']} "
                 f"out · ${call['cost_usd']:.6f} · {call['latency_ms']:.0f} ms]")
    return answer


async def _answer_json(ready: _Ready, messages: list[dict[str, str]]) -> dict[str, Any]:
    response = await ready.agent.complete(messages)
    call = ready.calls[-1] if ready.calls else {}
    return {
        "agent": ready.name,
        "model_group": call.get("model_group"),
        "deployment": call.get("deployment"),
        "answer": str(response.choices[0].message.content or ""),
        "tokens_in": call.get("tokens_in"),
        "tokens_out": call.get("tokens_out"),
        "cost_usd": call.get("cost_usd"),
        "latency_ms": call.get("latency_ms"),
    }


async def _conversation(out: Output, session: _Warmup, system: str | None) -> None:
    """Read prompts at the terminal until an empty line or end of input; the agent sees the whole conversation."""
    out.note("Type a message and press Enter; an empty line or Ctrl-D ends the conversation.")
    history: list[dict[str, str]] = []
    while True:
        try:
            prompt = await asyncio.to_thread(out.err.input, "> ")
        except EOFError:
            return
        if not prompt.strip():
            return
        ready = session.wait()
        answer = await _stream(out, ready, _messages(system, history, prompt))
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
