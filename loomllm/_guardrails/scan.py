"""Scanning text and files outside a model call: :func:`scan_text` for apps, ``loomllm scan`` for pre-commit.

Findings carry type, span, score and the action the profile takes — never the value. ``loomllm scan`` walks
files and directories (``git ls-files`` inside a repository, else a walk that honours ``.gitignore``), skips
lines that carry an allowlist comment (``# pragma: allowlist secret`` as with detect-secrets, or
``loomllm: allow``) and prints ``path:line:col: TYPE score=… action=…``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .config import GuardrailsConfig
from .guard import Guard
from .policy import Decision

__all__ = ["ScanFinding", "iter_scan_paths", "run_scan_command", "scan_text"]

_CHUNK = 32 * 1024
#: A line holding one of these is not reported (same comment as detect-secrets, or loomllm's own).
_ALLOW_COMMENT = re.compile(r"pragma:\s*allowlist[ -]secret|loomllm:\s*allow", re.IGNORECASE)
#: Files larger than this are skipped by directory walks (data dumps, not code).
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScanFinding:
    """One finding of :func:`scan_text`: what was found where, how sure, and what the profile does with it."""

    entity_type: str
    start: int
    end: int
    score: float
    #: ``block``, ``redact`` or ``mask`` (``allow``-ed types are not reported).
    action: str

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)`` offsets into the scanned text."""
        return self.start, self.end


def _guard(config: GuardrailsConfig | None, profile: str | None = None) -> Guard:
    config = config or GuardrailsConfig()
    fallback = "standard" if "standard" in config.profiles else next(iter(config.profiles), None)
    name = profile or config.default or fallback
    if name is None:
        config = GuardrailsConfig()
        name = "standard"
    return Guard.from_config(config, name)


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """``text`` in pieces of about 32 KB cut at line ends, with their offsets (bounds each analyzer call)."""
    start = 0
    while start < len(text):
        end = len(text) if len(text) - start <= _CHUNK else text.rfind("\n", start, start + _CHUNK) + 1
        if end <= start:
            end = min(len(text), start + _CHUNK)
        yield start, text[start:end]
        start = end


def _decisions(guard: Guard, text: str, direction: str = "input") -> list[Decision]:
    found: list[Decision] = []
    for offset, piece in _chunks(text):
        for d in guard.decide(piece, direction, message_index=None, agent="scan"):
            found.append(Decision(d.entity_type, d.start + offset, d.end + offset, d.score, d.action))
    return found


def scan_text(
    text: str,
    profile: str | None = None,
    *,
    config: GuardrailsConfig | None = None,
    direction: str = "input",
) -> list[ScanFinding]:
    """Secrets and PII in ``text`` under a guardrail ``profile`` (default: the config's default, ``standard``).

    For log scrubbing, pre-commit checks and anything else outside a model call. ``direction`` picks the
    profile's ``input`` (text sent to a provider) or ``output`` rules. Types the profile allows are left out;
    the values themselves are never returned — slice ``text`` with :attr:`ScanFinding.span` if you must.
    """
    guard = _guard(config, profile)
    return [ScanFinding(d.entity_type, d.start, d.end, d.score, d.action) for d in _decisions(guard, text, direction)]


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _allowed_line(text: str, offset: int) -> bool:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return _ALLOW_COMMENT.search(text, start, len(text) if end < 0 else end) is not None


# --- which files ------------------------------------------------------------------------------------------------


def _git_files(directory: Path) -> list[Path] | None:
    """Tracked and untracked-but-not-ignored files under ``directory``, or ``None`` outside a git work tree."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [directory / name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _walk_with_gitignore(directory: Path) -> Iterator[Path]:
    """Files under ``directory`` not matched by any ``.gitignore`` on the way down (``.git`` itself skipped)."""
    import pathspec

    def walk(folder: Path, specs: list[tuple[Path, pathspec.GitIgnoreSpec]]) -> Iterator[Path]:
        ignore = folder / ".gitignore"
        if ignore.is_file():
            lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
            specs = [*specs, (folder, pathspec.GitIgnoreSpec.from_lines(lines))]
        for entry in sorted(folder.iterdir()):
            if entry.name == ".git" or entry.is_symlink():
                continue
            is_dir = entry.is_dir()
            if any(spec.match_file(_relative(entry, base) + ("/" if is_dir else "")) for base, spec in specs):
                continue
            if is_dir:
                yield from walk(entry, specs)
            elif entry.is_file():
                yield entry

    yield from walk(directory, [])


def _relative(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def iter_scan_paths(paths: Iterable[str]) -> Iterator[str]:
    """Expand directories into the files a scan covers; files and ``-`` (stdin) pass through as given."""
    for raw in paths:
        path = Path(raw)
        if raw == "-" or not path.is_dir():
            yield raw
            continue
        files = _git_files(path)
        found = sorted(files) if files is not None else list(_walk_with_gitignore(path))
        for file in found:
            try:
                if file.is_file() and file.stat().st_size <= MAX_FILE_BYTES and not _looks_binary(file):
                    yield str(file)
            except OSError:
                continue


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as handle:
        return b"\0" in handle.read(8192)


# --- the command ------------------------------------------------------------------------------------------------


def run_scan_command(
    paths: list[str],
    config: GuardrailsConfig | None,
    *,
    out: TextIO | None = None,
    profile: str | None = None,
) -> int:
    """Scan files and directories (``-`` is stdin); print ``path:line:col: TYPE score=… action=…``, no values.

    Lines with ``# pragma: allowlist secret`` or ``loomllm: allow`` are skipped. Returns 1 when any finding's
    action is ``block``, 2 when a file cannot be read, else 0.
    """
    out = out or sys.stdout
    guard = _guard(config, profile)
    status = 0
    for path in iter_scan_paths(paths or ["-"]):
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
            status = max(status, 2)
            continue
        for d in _decisions(guard, text):
            if _allowed_line(text, d.start):
                continue
            line, col = _line_col(text, d.start)
            print(f"{path}:{line}:{col}: {d.entity_type} score={d.score:.2f} action={d.action}", file=out)
            if d.action == "block":
                status = max(status, 1)
    return status
