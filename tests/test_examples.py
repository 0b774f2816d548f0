"""Every example runs offline as a user would run it, exits 0 and prints its key line."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

KEY_LINES = {
    "planner_critic.py": ["Critic (fast):", "Weakest step: 2.", "critic: "],
    "swap_provider.py": ["sent as openai request", "sent as anthropic request"],
    "fallback.py": ["Answered by: backup/anthropic/claude-haiku-4-5"],
    "budgets.py": ["Intern refused before sending", "The provider received 1 request(s)"],
    "guardrails_restore.py": [
        "Provider saw: Draft a reply to <EMAIL_ADDRESS_1> about her refund.",
        "Sent to maria.lopez@northwind.io.",
        "Blocked: agent 'support': input blocked by guardrail: SECRET_AWS_ACCESS_KEY",
        "The provider received 1 request(s)",
    ],
    "structured_output.py": ["LaunchPlan with 3 steps", "total 17 days"],
    "tool_calling.py": ["Tool call: get_weather({'city': 'Oslo'})", "Answer: Yes: it is 18°C"],
    "migrate_llm_client.py": ["LLMClient stream finished: stop", "Before: echo:", "Replacement returns ModelResponse"],
    "migrate_llm_manager.py": ["LLMManager uses model claude-haiku-4-5", "Before: echo:", "After:  echo:"],
}


def _run(script: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOOMLLM_CONFIG", "LOOMLLM_OFFLINE_URL")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env,
                          cwd=script.parent.parent, check=False)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every example run once, one per core at a time (each is a new interpreter importing LiteLLM: seconds)."""
    names = sorted(KEY_LINES)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(names, pool.map(lambda name: _run(EXAMPLES / name), names), strict=True))


@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_example_runs_offline(name: str, runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The example exits 0 and prints the lines that show its point."""
    result = runs[name]

    assert 0 == result.returncode, result.stderr[-2000:]
    for line in KEY_LINES[name]:
        assert line in result.stdout


def test_every_example_is_tested_and_short() -> None:
    """Each example script has key lines here, a line in README.md, and fewer than 80 lines."""
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")

    assert sorted(KEY_LINES) == scripts
    for name in scripts:
        assert f"[`{name}`]" in readme
        assert len((EXAMPLES / name).read_text(encoding="utf-8").splitlines()) < 80


def test_legacy_example_warns_once(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The migration example shows one LoomDeprecationWarning, pointing at the legacy call."""
    result = runs["migrate_llm_manager.py"]

    assert 1 == result.stderr.count("LoomDeprecationWarning: LLMManager is deprecated")
    assert "migrate_llm_manager.py:" in result.stderr
