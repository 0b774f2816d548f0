# source: written for loomllm's tests; stands in for the app module that 12_cirisproxy_custom_callbacks.yaml
# names (`billing_callback.billing_callback_instance`, "a file in the working directory" per its comment).
"""A LiteLLM CustomLogger instance, as the CIRISProxy app defines one for its billing integration."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger


class BillingCallback(CustomLogger):
    """Records each successful and failed call's model, as a billing hook would charge it."""

    def __init__(self) -> None:
        super().__init__()
        self.charged: list[str] = []
        self.failed: list[str] = []

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.charged.append(str(kwargs.get("model")))

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.failed.append(str(kwargs.get("model")))


billing_callback_instance = BillingCallback()
