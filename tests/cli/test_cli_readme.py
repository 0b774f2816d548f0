"""README's quick start: every command a newcomer is told to type works through the installed `loomllm`."""

from __future__ import annotations

import re
import shlex

import pytest
from cli_helpers import ROOT, run_cli

_MARKER = "<!-- quick-start-commands:"


def quick_start_commands() -> list[list[str]]:
    """The `loomllm ...` lines of README's quick-start block, as argument lists (comments dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text[text.index(_MARKER):], re.S)
    assert block is not None
    return [shlex.split(line, comments=True)[1:] for line in block.group(1).splitlines() if line.startswith("loomllm ")]


COMMANDS = quick_start_commands()


def test_the_block_shows_check_chat_and_models() -> None:
    """The quick start names the second and third commands a newcomer types."""
    assert ["check", "chat", "models"] == [c[0] for c in COMMANDS][:3]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_command_works(args: list[str]) -> None:
    """Each command exits 0, prints its result on stdout and nothing alarming on stderr."""
    result = run_cli(*args)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr and "warning" not in result.stderr.lower()
    if args[0] == "check":
        lines = result.stdout.splitlines()
        assert "ok" == lines[-1]
        planner = next(line for line in lines if line.startswith("planner "))
        assert "smart/openai/gpt-4o" in planner and "127.0.0.1:" in planner and "allowed" in planner
        assert "removed, denied" in next(line for line in lines if "api.untrusted.example" in line)
    if args[0] == "chat":  # the default agent (planner) answers; only the answer is on stdout
        assert result.stdout.startswith("1. Define the audience") and result.stdout.count("\n") == 3
        assert "[planner · smart/openai/gpt-4o · " in result.stderr
        assert "courier" not in result.stderr and "llm.call" not in result.stdout + result.stderr
    if args[0] == "models":
        assert "$1.00 / $2.00" in next(line for line in result.stdout.splitlines() if line.startswith("flaky "))


def test_demo_runs_offline() -> None:
    """`loomllm demo` runs the whole scenario with no network, exits 0 and says what to type next."""
    result = run_cli("demo")
    assert 0 == result.returncode, result.stderr
    out = result.stdout
    assert "falls back" in out and "no byte left this machine" in out
    assert "BudgetExceeded" in out and "requests sent for it: 0" in out
    assert "EgressDenied" in out and "api.untrusted.example" in out
    assert "GuardrailViolation" in out and "AKIA" not in out
    assert "received: 'Send the plan to <EMAIL_ADDRESS_1>'" in out and "jane.doe@acme-corp.com'" in out
    assert "intern_daily: $0.001/day" in out
    assert "loomllm check --offline" in out.splitlines()[-1]
