"""Run the installed ``loomllm`` entry point in a subprocess, against one shared local wire server.

Every test here drives the real command line: exit code, stdout and stderr are what a user sees.
``PYTHONPATH`` points at this checkout so the code under test (not another install) runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from loomllm._demo import route_demo_replies
from loomllm.testing import WireServer

ROOT = Path(__file__).resolve().parent.parent.parent
_ENTRY_POINT = Path(sys.executable).parent / "loomllm"
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
    command = [str(_ENTRY_POINT)] if _ENTRY_POINT.exists() else [sys.executable, "-m", "loomllm.cli"]
    return subprocess.run([*command, *args], input=stdin if stdin is not None else "", capture_output=True,
                          text=True, cwd=cwd, env=cli_env(env), timeout=timeout)


@pytest.fixture(scope="session")
def demo_server() -> Iterator[WireServer]:
    """One wire server for the whole session, answering the offline config's models as the demo does."""
    with WireServer() as server:
        route_demo_replies(server)
        yield server


@pytest.fixture(scope="session")
def offline_env(demo_server: WireServer) -> dict[str, str]:
    """Environment that points ``config/offline.yaml`` at the shared server (what ``--offline`` does)."""
    return {"LOOMLLM_OFFLINE_URL": demo_server.url}
