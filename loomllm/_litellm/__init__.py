"""The one place loomllm imports LiteLLM and touches its process-global settings.

LiteLLM fetches its model cost map from the network at import time unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, and downloads Hugging Face tokenizers on first use unless
told not to. Both are switched off here, before the first import. litellm takes about 2 s to
import, so nothing imports it at ``import loomllm`` time: call :func:`litellm_module` on first use.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()


def litellm_module() -> Any:
    """Import LiteLLM with its network-touching defaults switched off, and return the module."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", os.environ.get("LITELLM_LOG", "ERROR"))
    with _lock:
        import litellm

        litellm.disable_hf_tokenizer_download = True
        litellm.telemetry = False
        litellm.suppress_debug_info = True
    return litellm
