"""``loomllm scan``: findings by position, never values; exit status for pre-commit hooks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from guardrail_values import EMAIL, GITHUB_TOKEN

from loomllm._guardrails import run_scan_command, scan_text


def test_block_finding_fails_with_position(tmp_path: Path) -> None:
    """A secret on line 3 is reported with line and column, and the exit status is 1."""
    path = tmp_path / "settings.py"
    path.write_text("import os\n\nTOKEN = '" + GITHUB_TOKEN + "'\n")
    out = io.StringIO()
    assert 1 == run_scan_command([str(path)], None, out=out)
    assert f"{path}:3:10: SECRET_GITHUB_TOKEN score=" in out.getvalue()
    assert GITHUB_TOKEN not in out.getvalue()


def test_clean_file_passes(tmp_path: Path) -> None:
    """Redact-level findings are printed but do not fail the hook."""
    path = tmp_path / "notes.md"
    path.write_text(f"ask {EMAIL}\n")
    out = io.StringIO()
    assert 0 == run_scan_command([str(path)], None, out=out)
    assert "EMAIL_ADDRESS" in out.getvalue() and EMAIL not in out.getvalue()


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """`-` reads standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(f"x {GITHUB_TOKEN}"))
    assert 1 == run_scan_command(["-"], None, out=io.StringIO())


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """An unreadable path gives exit status 2."""
    assert 2 == run_scan_command([str(tmp_path / "nope.txt")], None, out=io.StringIO())


def test_scan_text_returns_positions() -> None:
    """scan_text gives offsets into the text."""
    text = f"a {GITHUB_TOKEN} b"
    (finding,) = scan_text(text)
    assert (2, 2 + len(GITHUB_TOKEN)) == (finding.start, finding.end)


class TestDirectories:
    def test_walk_honours_gitignore(self, tmp_path: Path) -> None:
        """Outside a git work tree, ignored files and folders are skipped; the rest is scanned."""
        (tmp_path / ".gitignore").write_text("build/\n*.log\n")
        (tmp_path / "build").mkdir()
        (tmp_path / "build" / "out.py").write_text(f"T = '{GITHUB_TOKEN}'\n")
        (tmp_path / "debug.log").write_text(f"T = '{GITHUB_TOKEN}'\n")
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "app.py").write_text(f"T = '{GITHUB_TOKEN}'\n")
        out = io.StringIO()
        assert 1 == run_scan_command([str(tmp_path)], None, out=out)
        reported = {line.split(":")[0] for line in out.getvalue().splitlines()}
        assert {str(tmp_path / "src" / "app.py")} == reported

    def test_git_repository_uses_ls_files(self, tmp_path: Path) -> None:
        """Inside a repository the files git knows (tracked or not ignored) are scanned."""
        import subprocess

        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        (tmp_path / ".gitignore").write_text("secret.env\n")
        (tmp_path / "secret.env").write_text(f"T={GITHUB_TOKEN}\n")
        (tmp_path / "tracked.py").write_text(f"T = '{GITHUB_TOKEN}'\n")
        subprocess.run(["git", "-C", str(tmp_path), "add", "tracked.py"], check=True)
        (tmp_path / "new.py").write_text(f"T = '{GITHUB_TOKEN}'\n")
        out = io.StringIO()
        assert 1 == run_scan_command([str(tmp_path)], None, out=out)
        reported = {Path(line.split(":")[0]).name for line in out.getvalue().splitlines()}
        assert {"tracked.py", "new.py"} == reported


@pytest.mark.parametrize("comment", ["# pragma: allowlist secret", "# loomllm: allow", "// pragma: allowlist-secret"])
def test_allowlist_comment_silences_its_line(tmp_path: Path, comment: str) -> None:
    """A line with an allowlist comment is not reported; other lines still are."""
    path = tmp_path / "fixtures.py"
    path.write_text(f"T1 = '{GITHUB_TOKEN}'  {comment}\nmail = '{EMAIL}'\n")
    out = io.StringIO()
    assert 0 == run_scan_command([str(path)], None, out=out)
    assert ["EMAIL_ADDRESS"] == [line.split(": ")[1].split()[0] for line in out.getvalue().splitlines()]


def test_public_scan_text_reports_actions_not_values() -> None:
    """``loomllm.scan_text`` gives type, span, score and action; the value is not in the result."""
    import loomllm

    text = f"mail {EMAIL} with {GITHUB_TOKEN}"
    findings = loomllm.scan_text(text, profile="standard")
    assert [("EMAIL_ADDRESS", "redact"), ("SECRET_GITHUB_TOKEN", "block")] == [
        (f.entity_type, f.action) for f in findings
    ]
    assert GITHUB_TOKEN == text[slice(*findings[1].span)]
    assert GITHUB_TOKEN not in repr(findings) and EMAIL not in repr(findings)


def test_pre_commit_hook_is_declared() -> None:
    """The repository root declares a pre-commit hook that runs ``loomllm scan``."""
    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text())
    assert [("loomllm-scan", "loomllm scan")] == [(h["id"], h["entry"]) for h in hooks]
