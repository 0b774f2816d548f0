"""`loomllm scan`: the command passes files and directories to the scanner (loomllm/_guardrails/scan.py)."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_cli

SECRET = "ghp_" + "R8s2KfQ0pLx7VwN3bYc5Hd9JmT1eZa4Ug6Io"


class TestScan:
    def test_reports_positions_not_values(self, tmp_path: Path) -> None:
        """A file with a token: `path:line:col: TYPE` on stdout, never the value, exit 1."""
        path = tmp_path / "settings.py"
        path.write_text(f"DEBUG = True\nGITHUB_TOKEN = '{SECRET}'\n")
        result = run_cli("scan", str(path))
        assert 1 == result.returncode, result.stderr
        assert f"{path}:2:17: SECRET_GITHUB_TOKEN" in result.stdout
        assert SECRET not in result.stdout + result.stderr

    def test_clean_file_and_stdin(self, tmp_path: Path) -> None:
        """Nothing to block: exit 0 (for files and for `-`, stdin)."""
        path = tmp_path / "ok.txt"
        path.write_text("nothing to see here\n")
        result = run_cli("scan", str(path), "-", stdin="the meeting moved to 3 pm\n")
        assert (0, "", "") == (result.returncode, result.stdout, result.stderr)

    def test_directory_is_passed_to_the_scanner(self, tmp_path: Path) -> None:
        """The CLI does not reject a directory (the scanner walks it); no usage error."""
        (tmp_path / "a.txt").write_text("hello\n")
        result = run_cli("scan", str(tmp_path))
        assert "Invalid value" not in result.stderr and "Usage:" not in result.stderr
