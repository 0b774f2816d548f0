"""The loomllm command: fast help, check, chat, demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loomllm.cli import main

ROOT = Path(__file__).parent.parent


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "loomllm.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)


class TestStartup:
    def test_import_and_help_do_not_load_litellm(self) -> None:
        """`import loomllm` and `loomllm --help` load neither LiteLLM nor Presidio."""
        code = ("import sys, loomllm, loomllm.cli, contextlib, io\n"
                "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
                "    loomllm.cli.main(['--help'])\n"
                "heavy = [m for m in ('litellm', 'presidio_analyzer', 'spacy') if m in sys.modules]\n"
                "assert not heavy, heavy\n")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    def test_no_socket_opened_by_import_or_setup(self) -> None:
        """Importing loomllm and LiteLLM and building a Loom opens no socket (cost map, tokenizers...)."""
        code = ("import socket\n"
                "def refuse(*a, **k): raise AssertionError('network touched: %r' % (a,))\n"
                "socket.socket.connect = refuse; socket.create_connection = refuse\n"
                "import os; os.environ['LOOMLLM_OFFLINE_URL'] = 'http://127.0.0.1:9'\n"
                "import loomllm\n"
                "from loomllm._litellm import litellm_module\n"
                "litellm = litellm_module()\n"
                "loom = loomllm.Loom('config/offline.yaml'); loom._litellm_router()\n"
                "litellm.token_counter(model='openai/gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])\n"
                "loom.close()\n")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)


class TestCheck:
    def test_offline_config_is_ok(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """`loomllm check` prints a table of agents → groups → deployments → hosts and exits 0."""
        monkeypatch.setenv("LOOMLLM_OFFLINE_URL", "http://127.0.0.1:9")
        assert 0 == main(["check", str(ROOT / "config" / "offline.yaml")])
        out = capsys.readouterr().out
        assert "planner" in out and "smart/openai/gpt-4o" in out and "127.0.0.1:9" in out

    def test_missing_credentials_listed(self, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
        """Unset key variables are listed per deployment and make the exit code 1."""
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LOOMLLM_REDIS_URL", "redis://127.0.0.1:6379/0")
        assert 1 == main(["check", str(ROOT / "config" / "loomllm.yaml")])
        out = capsys.readouterr().out
        assert "missing OPENAI_API_KEY" in out and "needs unset variable(s) OPENAI_API_KEY" in out

    def test_invalid_config_exits_1(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A config error is printed with file and key, exit code 1."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("loomllm: {agents: {a: {model: nope}}}\n")
        assert 1 == main(["check", str(bad)])
        assert "loomllm.agents.a.model: unknown model group 'nope'" in capsys.readouterr().out


class TestChatAndDemo:
    def test_chat_streams_and_reports_cost(self) -> None:
        """`loomllm chat --offline` streams an answer and prints tokens and cost."""
        result = _run("chat", "--offline", "--config", "config/offline.yaml", "--agent", "planner", "Plan it")
        assert 0 == result.returncode, result.stderr
        assert "1. Define the audience" in result.stdout
        assert "tokens in" in result.stderr and "$" in result.stderr

    def test_demo_runs_offline(self) -> None:
        """`loomllm demo` runs the whole scenario with no network and exits 0."""
        result = _run("demo")
        assert 0 == result.returncode, result.stderr
        out = result.stdout
        assert "falls back" in out and "no byte left this machine" in out
        assert "BudgetExceeded" in out and "requests sent for it: 0" in out
        assert "EgressDenied" in out and "api.untrusted.example" in out
        assert "GuardrailViolation" in out and "AKIA" not in out
        assert "received: 'Send the plan to <EMAIL_ADDRESS_1>'" in out and "jane.doe@acme-corp.com'" in out


class TestBudgetCommands:
    def _config(self, tmp_path: Path) -> Path:
        path = tmp_path / "b.yaml"
        path.write_text(
            "model_list:\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-x}\n"
            f"loomllm:\n  state: sqlite:///{tmp_path}/budget.db\n"
            "  agents: {a: {model: g, budget: p}}\n"
            "  budgets: {policies: {p: {limits: [{usd: 2, per: day}, {tokens: 900, per: hour}]}}}\n"
        )
        return path

    def test_status_prints_a_table(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`loomllm budget status` prints one row per limit with spent, reserved and remaining."""
        assert 0 == main(["budget", "status", "--config", str(self._config(tmp_path))])
        out = capsys.readouterr().out
        assert "remaining" in out and "$2.000000" in out and "900 tokens" in out

    def test_reset_needs_confirmation(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --yes and without a terminal, reset refuses; with --yes it resets."""
        config = str(self._config(tmp_path))
        monkeypatch.setattr("sys.stdin.isatty", lambda: False)
        assert 1 == main(["budget", "reset", "--agent", "a", "--config", config])
        assert 0 == main(["budget", "reset", "--agent", "a", "--config", config, "--yes"])
        assert "reset" in capsys.readouterr().out


class TestScan:
    def test_scan_reports_positions_not_values(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`loomllm scan FILE` lists findings by type, line and column (never the value) and exits non-zero."""
        secret = "ghp_" + "R8s2KfQ0pLx7VwN3bYc5Hd9JmT1eZa4Ug6Io"
        path = tmp_path / "settings.py"
        path.write_text(f"DEBUG = True\nGITHUB_TOKEN = '{secret}'\n")
        assert 0 != main(["scan", str(path)])
        out = capsys.readouterr().out
        assert f"{path}:2:17: SECRET_GITHUB_TOKEN" in out
        assert secret not in out

    def test_clean_file_exits_zero(self, tmp_path: Path) -> None:
        """A file with nothing to block exits 0 (usable as a pre-commit hook)."""
        path = tmp_path / "ok.txt"
        path.write_text("nothing to see here\n")
        assert 0 == main(["scan", str(path)])
