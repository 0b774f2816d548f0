"""Migrating a legacy ``LLMManager`` caller, in two steps.

Step 1: change one import. The old code runs unchanged, through a loomllm agent (budgets,
guardrails and egress now apply) and warns once, saying what to use instead.
Step 2: call an agent configured in YAML. The model choice moves from code to the YAML file.

Run: python examples/migrate_llm_manager.py [CONFIG]   (default: configs/agents.yaml and a local server)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from loomllm import Loom
from loomllm.legacy import LLMManager  # step 1: was `from our_app.llm import LLMManager`
from loomllm.testing import WireServer

OFFLINE_CONFIG = Path(__file__).resolve().parent / "configs" / "agents.yaml"


class ConfigManager:
    """The legacy app's config object: anything with ``get(key, default=None)`` (or a dict) works."""

    def __init__(self, **values: Any) -> None:
        self._values = values

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._values.get(key, default)


def legacy_review(config_manager: ConfigManager, plan: str) -> str:
    """Legacy code, unchanged: the provider comes from the config key ``llm_provider``."""
    manager = LLMManager(config_manager)
    print(f"LLMManager uses model {manager.get_model_name()}")
    return manager.generate_response(f"Review this plan: {plan}", temperature=0.0)


def review(loom: Loom, plan: str) -> str:
    """Step 2, the replacement: the agent's model, prompt and policies live in the YAML file."""
    return loom.agent("critic").chat_sync(f"Review this plan: {plan}", temperature=0.0)


def main(config: str | Path) -> None:
    """Run the legacy call and its replacement side by side."""
    # `loomllm_config` tells legacy objects which YAML to load (else $LOOMLLM_CONFIG).
    settings = ConfigManager(llm_provider="claude", loomllm_config=str(config))
    print(f"Before: {legacy_review(settings, 'ship on Friday')}")
    with Loom(config) as loom:
        print(f"After:  {review(loom, 'ship on Friday')}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with WireServer() as server:  # answers by echoing the prompt
            os.environ["LOOMLLM_OFFLINE_URL"] = server.url
            main(OFFLINE_CONFIG)
