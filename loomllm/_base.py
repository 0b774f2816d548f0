"""Base class for every configuration model: unknown keys are errors, values are immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown keys (a typo must never silently disable a policy)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
