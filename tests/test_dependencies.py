"""The packages loomllm brings into a process do not tax every call the process makes."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from packaging.version import Version

_PROBE = """
import sys
import loomllm._guardrails.analyzer  # Presidio's recognizers: tldextract, and through it filelock
import filelock._api as api
print("filelock" in sys.modules, hasattr(api, "_audit_fork_safety"))
"""


def test_filelock_adds_no_audit_hook_to_the_process() -> None:
    """filelock 3.30+ calls ``sys.addaudithook`` on import; CPython then runs that Python hook on every audited
    event, ``builtins.id`` among them, and LiteLLM's deep copies call id() ~780 times per request (about 0.6 us each
    with the hook: ~0.47 ms per call). pyproject.toml pins filelock below 3.30; this keeps the pin from being lifted
    unnoticed."""
    assert Version(version("filelock")) < Version("3.30"), "filelock >= 3.30 installs a per-event audit hook"
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
