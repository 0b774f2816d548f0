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
