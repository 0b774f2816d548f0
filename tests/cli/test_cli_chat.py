"""`loomllm chat`: the answer alone on stdout, the default agent, -m, -s, stdin, --json, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from cli_helpers import ROOT, run_cli

from loomllm.testing import WireServer

PLAN = ("1. Define the audience and the one promise of the launch.\n"
        "2. Ship a beta to ten design partners and collect their objections.\n"
        "3. Publish the launch post, the docs and a migration guide on the same day.\n")


CRITIC_PROMPT = "Review the plan for the warehouse move in May."


@pytest.fixture(scope="module")
def logged_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config/offline.yaml with ``logging.file: events.jsonl`` and no guardrails (in a temporary directory)."""
    folder = tmp_path_factory.mktemp("logs")
    text = (ROOT / "config" / "offline.yaml").read_text()
    guardrails = "  guardrails:\n    default: standard"
    assert guardrails in text
    text = text.replace(guardrails, "  guardrails:\n    default: null")
    text = text.replace("prompts_dir: ../prompts", f"prompts_dir: {ROOT / 'prompts'}")
    text = text.replace("  logging:\n", "  logging:\n    file: events.jsonl\n", 1)
    path = folder / "offline.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def critic_on_smart(logged_config: Path, offline_env: dict[str, str]) -> CompletedProcess[str]:
    """One chat run shared by the override and the logs tests: the critic on group smart, its own system prompt."""
    return run_cli("chat", "-c", str(logged_config), "-a", "critic", "-m", "smart", "-s", "Answer in one line.",
                   CRITIC_PROMPT, env={**offline_env, "FORCE_COLOR": "1"})  # FORCE_COLOR: Rich draws the spinner


def _request_with(server: WireServer, prompt: str) -> Any:
    """The recorded request whose last message is ``prompt``."""
    return next(r for r in server.requests if (r.body.get("messages") or [{}])[-1].get("content") == prompt)


class TestChat:
    def test_model_and_system_override(self, demo_server: WireServer, critic_on_smart: CompletedProcess[str]) -> None:
        """-m sends the critic's prompt to another model group, -s replaces its system prompt."""
        result = critic_on_smart
        assert 0 == result.returncode, result.stderr
        assert PLAN == result.stdout  # the server's gpt-4o route, not the critic's haiku
        sent = _request_with(demo_server, CRITIC_PROMPT)
        assert "gpt-4o" == sent.model
        assert {"role": "system", "content": "Answer in one line."} == sent.body["messages"][0]
        assert "[critic · smart/openai/gpt-4o · " in result.stderr
        assert "Loading " in result.stderr  # the spinner drew (which stage it showed depends on timing)
        assert "Presidio" not in result.stderr  # no guardrail configured: Presidio is never loaded

    def test_stdin_and_json(self, demo_server: WireServer, offline_env: dict[str, str]) -> None:
        """The prompt comes from stdin; --json prints one object with the answer, tokens and cost."""
        prompt = "What did the three competitors ship in October?"
        result = run_cli("chat", "-c", "config/offline.yaml", "-a", "scout", "--json", stdin=prompt,
                         env={**offline_env, "FORCE_COLOR": "1"})
        assert 0 == result.returncode, result.stderr
        assert "Loading " in result.stderr  # the spinner, while stdin was read (its stage depends on timing)
        answer = json.loads(result.stdout)
        assert ("scout", "flaky", "smart/openai/gpt-4o") == (answer["agent"], answer["model_group"],
                                                              answer["deployment"])  # the fallback answered
        assert answer["answer"].startswith("1. Define the audience")
        assert answer["tokens_in"] > 0 and answer["cost_usd"] > 0
        tried = [r.model for r in demo_server.requests
                 if (r.body.get("messages") or [{}])[-1].get("content") == prompt]
        assert ["flaky-model", "gpt-4o"] == tried

    def test_refused_call_exits_1_with_one_warning(self, offline_env: dict[str, str]) -> None:
        """The courier's fallback host is denied: one warning, one error, exit 1, nothing on stdout (-v: events)."""
        result = run_cli("-v", "chat", "-c", "config/offline.yaml", "-a", "courier", "Deliver the summary.",
                         env=offline_env)
        assert (1, "") == (result.returncode, result.stdout)
        # -v: loomllm's events on stderr, one line each
        assert any("llm.attempt" in line and "outcome=refused" in line for line in result.stderr.splitlines())
        lines = result.stderr.splitlines()
        assert ["warning: agent 'courier': deployment 'outside/openai/gpt-4o-mini' removed, egress to "
                "'api.untrusted.example' denied: host is not on the allowlist"] == [
                    line for line in lines if line.startswith("warning:")]
        assert lines[-1].startswith("error: EgressDenied: agent 'courier'")
        assert "Traceback" not in result.stderr and ".py" not in result.stderr


class TestChatUsageErrors:
    def test_unknown_agent(self, offline_env: dict[str, str]) -> None:
        """An unknown agent is a config error (2) listing the known ones, before anything loads."""
        result = run_cli("chat", "-c", "config/offline.yaml", "-a", "nosuch", "hi", env=offline_env)
        assert (2, "") == (result.returncode, result.stdout)
        assert "unknown agent 'nosuch' (known: planner, critic, scout" in result.stderr

    def test_unknown_model_group(self, offline_env: dict[str, str]) -> None:
        """-m must name a model group of the config."""
        result = run_cli("chat", "-c", "config/offline.yaml", "-m", "gpt5", "hi", env=offline_env)
        assert 2 == result.returncode
        assert "unknown model group 'gpt5' for --model (known: smart, smart-backup, fast" in result.stderr

    def test_empty_prompt(self, offline_env: dict[str, str]) -> None:
        """No prompt at all is a usage error."""
        result = run_cli("chat", "-c", "config/offline.yaml", "  ", env=offline_env)
        assert (2, "") == (result.returncode, result.stdout)
        assert "error: empty prompt" in result.stderr


class TestLogs:
    def test_latest_calls_after_a_chat(self, logged_config: Path, critic_on_smart: CompletedProcess[str]) -> None:
        """A chat appends its events to logging.file; `logs` shows the call, `logs --json -n 1` the last one."""
        assert 0 == critic_on_smart.returncode, critic_on_smart.stderr
        events_file = logged_config.parent / "events.jsonl"
        table = run_cli("logs", "-c", str(logged_config))
        assert (0, "") == (table.returncode, table.stderr)
        header, *rows = table.stdout.splitlines()
        assert ["time", "event", "agent", "group", "deployment", "in", "out", "cost", "ms", "outcome"] == \
            header.split()
        assert 1 == len(rows) and " llm.call " in rows[0] and " critic " in rows[0] and rows[0].endswith("ok")
        latest = json.loads(run_cli("logs", "--json", "-n", "1", "-c", str(logged_config)).stdout)
        assert [("llm.call", "critic", "smart", "smart/openai/gpt-4o")] == [
            (e["event"], e["agent"], e["model_group"], e["deployment"]) for e in latest]
        everything = json.loads(run_cli("logs", "--json", "--all", "-c", str(logged_config)).stdout)
        assert {"llm.attempt", "llm.call"} <= {e["event"] for e in everything}
        assert "warehouse" not in events_file.read_text()  # names and numbers only, never contents

    def test_no_log_configured(self, offline_env: dict[str, str]) -> None:
        """Without logging.file, `logs` says how to configure one and exits 1."""
        result = run_cli("logs", "-c", "config/offline.yaml", env=offline_env)
        assert (1, "") == (result.returncode, result.stdout)
        assert "no event log is configured; set loomllm.logging.file" in result.stderr


class TestConversation:
    def test_terminal_conversation_keeps_the_history(self, demo_server: WireServer,
                                                     offline_env: dict[str, str]) -> None:
        """At a terminal with no prompt: `> ` prompts, each answer streamed, the second turn sees the first."""
        import os
        import pty
        import select
        import time

        from cli_helpers import ENTRY_POINT, cli_env

        pid, fd = pty.fork()
        if pid == 0:  # the child: the real command on a terminal
            os.chdir(ROOT)
            os.execve(str(ENTRY_POINT), ["loomllm", "chat", "-c", "config/offline.yaml", "-a", "critic"],
                      cli_env(offline_env))
        seen = b""

        def read_until(marker: bytes, count: int, timeout: float = 120) -> None:
            nonlocal seen
            deadline = time.monotonic() + timeout
            while seen.count(marker) < count and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.2)[0]:
                    try:
                        seen += os.read(fd, 4096)
                    except OSError:
                        return

        read_until(b"> ", 1)
        os.write(fd, b"Review plan A for the office move\r")
        read_until(b"tokens in", 1)
        os.write(fd, b"And plan B?\r")
        read_until(b"tokens in", 2)
        os.write(fd, b"\r")  # an empty line ends the conversation
        _, status = os.waitpid(pid, 0)
        assert 0 == os.waitstatus_to_exitcode(status), seen.decode(errors="replace")
        text = seen.decode(errors="replace")
        assert 2 == text.count("Step 2 is the weakest")
        # the critic is an Anthropic deployment: the system prompt is apart, contents may be lists of blocks
        second = next(r for r in demo_server.requests if "And plan B?" in json.dumps(r.body["messages"][-1]))
        assert ["user", "assistant", "user"] == [m["role"] for m in second.body["messages"]]
        assert "Review plan A for the office move" in json.dumps(second.body["messages"][0])
