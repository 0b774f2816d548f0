# source: written for loomllm's tests; stands in for the app module that
# 21_causal_insights_vertex_custom_provider.yaml names in custom_provider_map (`custom_handler.grok_video` ...).
"""LiteLLM CustomLLM handlers, as that gateway registers them for providers LiteLLM lacks."""

from __future__ import annotations

from typing import Any

import litellm
from litellm import CustomLLM


class EchoProvider(CustomLLM):
    """Answers locally with the provider's name (a real handler would call the vendor's API)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.calls = 0

    def completion(self, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        self.calls += 1
        return litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                  mock_response=f"{self.name} handled it")

    async def acompletion(self, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        return self.completion(*args, **kwargs)


grok_video = EchoProvider("grok-video")
grok_image = EchoProvider("grok-image")
seedance = EchoProvider("seedance")
