"""`loomllm budget status|reset`: readable limits, unknown agents refused, the memory store explained."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import run_cli


def _config(tmp_path: Path, state: str | None = None) -> Path:
    path = tmp_path / "b.yaml"
    path.write_text(
        "model_list:\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-x}\n"
        f"loomllm:\n  state: {state or f'sqlite:///{tmp_path}/budget.db'}\n"
        "  agents: {a: {model: g, budget: p}, b: {model: g}}\n"
        "  budgets: {policies: {p: {limits: [{usd: 2, per: day}, {tokens: 900, per: hour}]}}}\n"
    )
    return path


class TestStatus:
    def test_table_with_readable_limits(self, tmp_path: Path) -> None:
        """One row per limit, labelled like people say it ("p: $2/day"), with spent, reserved, remaining."""
        result = run_cli("budget", "status", "--config", str(_config(tmp_path)))
        assert (0, "") == (result.returncode, result.stderr)
        header, *rows = result.stdout.splitlines()
        assert header.split() == ["scope", "name", "limit", "mode", "spent", "reserved", "remaining", "resets"]
        assert "p: $2/day" in rows[0] and "$2.000000" in rows[0]
        assert "p: 900 tokens/hour" in rows[1] and "900 tokens" in rows[1]
        assert "[0]" not in result.stdout

    def test_json(self, tmp_path: Path) -> None:
        """`--json` gives the same rows as data."""
        result = run_cli("budget", "status", "--json", "--agent", "a", "--config", str(_config(tmp_path)))
        assert 0 == result.returncode, result.stderr
        rows = json.loads(result.stdout)
        assert [("p: $2/day", "usd", 2.0, 0.0), ("p: 900 tokens/hour", "tokens", 900.0, 0.0)] == [
            (r["limit"], r["unit"], r["remaining"], r["spent"]) for r in rows]

    def test_unknown_agent_is_an_error(self, tmp_path: Path) -> None:
        """`--agent nosuch` exits 2 and names the known agents."""
        result = run_cli("budget", "status", "--agent", "nosuch", "--config", str(_config(tmp_path)))
        assert (2, "") == (result.returncode, result.stdout)
        assert "unknown agent 'nosuch' (known: a, b)" in result.stderr

    def test_agent_without_limits(self, tmp_path: Path) -> None:
        """An agent with no budget says so."""
        result = run_cli("budget", "status", "--agent", "b", "--config", str(_config(tmp_path)))
        assert (0, "no budget limits apply to agent 'b'\n") == (result.returncode, result.stdout)

    def test_memory_store_is_explained(self, tmp_path: Path) -> None:
        """On memory:// the zeros come with a note on stderr saying why and what to use instead."""
        result = run_cli("budget", "status", "--config", str(_config(tmp_path, "memory://")))
        assert 0 == result.returncode
        assert "every new process starts at zero" in result.stderr and "sqlite:///" in result.stderr
        assert "$2.000000" in result.stdout
        quiet = run_cli("-q", "budget", "status", "--config", str(_config(tmp_path, "memory://")))
        assert (0, "", result.stdout) == (quiet.returncode, quiet.stderr, quiet.stdout)


class TestReset:
    def test_needs_confirmation_off_a_terminal(self, tmp_path: Path) -> None:
        """Without --yes and without a terminal, reset refuses (1); with --yes it resets (0)."""
        config = str(_config(tmp_path))
        refused = run_cli("budget", "reset", "--agent", "a", "--config", config)
        assert (1, "") == (refused.returncode, refused.stdout)
        assert "refusing to reset without --yes" in refused.stderr
        done = run_cli("budget", "reset", "--agent", "a", "--config", config, "--yes")
        assert (0, "budget of agent 'a' reset\n") == (done.returncode, done.stdout)

    def test_unknown_agent(self, tmp_path: Path) -> None:
        """Resetting an agent the config does not define is an error."""
        result = run_cli("budget", "reset", "--agent", "x", "--yes", "--config", str(_config(tmp_path)))
        assert 2 == result.returncode and "unknown agent 'x'" in result.stderr
