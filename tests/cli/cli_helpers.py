"""Run the installed ``loomllm`` entry point in a subprocess (helpers shared by tests/cli).

Every test here drives the real command line: exit code, stdout and stderr are what a user sees.
``PYTHONPATH`` points at this checkout so the code under test (not another install) runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ENTRY_POINT = Path(sys.executable).parent / "loomllm"
# Variables a developer's shell may carry that would change what the commands see.
_SCRUBBED = ("LOOMLLM_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "AZURE_", "COLUMNS", "FORCE_COLOR", "NO_COLOR")


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``loomllm`` subprocess: this checkout first, no provider keys, wide output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None,
            cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``loomllm ARGS...`` through the installed console script (``python -m loomllm.cli`` if there is none)."""
    command = [str(ENTRY_POINT)] if ENTRY_POINT.exists() else [sys.executable, "-m", "loomllm.cli"]
    return subprocess.run([*command, *args], input=stdin if stdin is not None else "", capture_output=True,
                          text=True, cwd=cwd, env=cli_env(env), timeout=timeout)
