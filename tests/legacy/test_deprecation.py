"""Each legacy class warns once per process with LoomDeprecationWarning, naming its replacement."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loomllm import Loom
from loomllm.legacy import (
    ChatGPTProvider,
    ClaudeOpusAgent,
    ClaudeProvider,
    GPT_4_0125_Agent,
    LiteLLMAgent,
    LLMClient,
    LLMManager,
    LLMProviderFactory,
    LoomDeprecationWarning,
    TokenBudget,
    create_litellm_agent,
)

CONSTRUCTORS: list[Any] = [
    pytest.param(lambda loom: LLMManager({"llm_provider": "claude"}, loom=loom), "LLMManager", id="LLMManager"),
    pytest.param(lambda loom: ChatGPTProvider("sk-test", loom=loom), "ChatGPTProvider", id="ChatGPTProvider"),
    pytest.param(lambda loom: ClaudeProvider(loom=loom), "ClaudeProvider", id="ClaudeProvider"),
    pytest.param(lambda loom: LLMProviderFactory.create_provider("claude", loom=loom), "ClaudeProvider",
                 id="LLMProviderFactory"),
    pytest.param(lambda loom: LiteLLMAgent("gpt-4o", loom=loom), "LiteLLMAgent", id="LiteLLMAgent"),
    pytest.param(lambda loom: create_litellm_agent("gpt-4o", loom=loom), "LiteLLMAgent", id="create_litellm_agent"),
    pytest.param(lambda loom: GPT_4_0125_Agent(loom=loom), "GPT_4_0125_Agent", id="GPT_4_0125_Agent"),
    pytest.param(lambda loom: ClaudeOpusAgent(loom=loom), "ClaudeOpusAgent", id="ClaudeOpusAgent"),
    pytest.param(lambda loom: LLMClient("gpt-4o", loom=loom), "LLMClient", id="LLMClient"),
    pytest.param(lambda loom: TokenBudget(loom), "TokenBudget", id="TokenBudget"),
]


def _recorded(action: Callable[[], Any]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return [w for w in caught if issubclass(w.category, LoomDeprecationWarning)]


@pytest.mark.parametrize(("make", "class_name"), CONSTRUCTORS)
def test_warns_once_per_class(loom: Loom, make: Callable[[Loom], Any], class_name: str) -> None:
    """Making three objects of a legacy class warns once, naming the class and what to use instead."""
    caught = _recorded(lambda: [make(loom) for _ in range(3)])

    assert 1 == len(caught)
    assert str(caught[0].message).startswith(f"{class_name} is deprecated")
    assert "use loomllm." in str(caught[0].message) or "use a loomllm." in str(caught[0].message) \
        or "use the budgets" in str(caught[0].message)


def test_warning_points_at_the_callers_line(loom: Loom) -> None:
    """The warning is attributed to the legacy caller's file, not to loomllm."""
    caught = _recorded(lambda: GPT_4_0125_Agent(loom=loom))

    assert __file__ == caught[0].filename


def test_warning_is_a_user_warning_and_a_deprecation_warning() -> None:
    """Users see it by default (UserWarning) and deprecation tooling finds it (DeprecationWarning)."""
    assert issubclass(LoomDeprecationWarning, UserWarning)
    assert issubclass(LoomDeprecationWarning, DeprecationWarning)


def test_each_class_warns_separately(loom: Loom) -> None:
    """A subclass is its own legacy class: using two classes gives two warnings."""
    caught = _recorded(lambda: (LiteLLMAgent("gpt-4o", loom=loom), GPT_4_0125_Agent(loom=loom),
                                LiteLLMAgent("gpt-4o", loom=loom)))

    assert ["LiteLLMAgent", "GPT_4_0125_Agent"] == [str(w.message).split()[0] for w in caught]


def test_llm_manager_does_not_warn_for_its_provider(loom: Loom) -> None:
    """LLMManager's internal provider does not add a second warning the caller cannot act on."""
    caught = _recorded(lambda: LLMManager({"llm_provider": "chatgpt"}, loom=loom))

    assert ["LLMManager"] == [str(w.message).split()[0] for w in caught]


def test_warning_is_shown_for_library_callers(tmp_path: Path, config_path: Path) -> None:
    """Python hides DeprecationWarnings outside __main__; ours is shown for a caller in any module."""
    (tmp_path / "old_app.py").write_text(
        "from loomllm.legacy import LLMManager\n"
        f"def make():\n    return LLMManager({{'llm_provider': 'claude', 'loomllm_config': {str(config_path)!r}}})\n"
    )
    script = "import old_app; old_app.make(); old_app.make()"
    env = {**os.environ, "LOOMLLM_OFFLINE_URL": "http://127.0.0.1:9"}
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env=env, timeout=120, check=False)

    assert 0 == result.returncode, result.stderr[-2000:]
    assert 1 == result.stderr.count("old_app.py:3: LoomDeprecationWarning: LLMManager is deprecated")
