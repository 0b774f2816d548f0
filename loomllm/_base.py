"""Base class and field types for every configuration model: unknown keys are errors, values are immutable.

A config value that pydantic would coerce into something else can switch a policy off without a
word (``usd: true`` read as a $1 limit, ``require_https: "false"`` as off), so policy fields use
these types instead of bare ``bool``/``int``/``float``:

* :data:`Flag`: only a real YAML boolean. ``true/false`` and YAML 1.1's unquoted ``yes/no/on/off``
  are booleans (PyYAML reads them so, and in a switch they mean what they say); a string
  (``"false"``, ``"off"``, ``"0"``, an environment variable) or a number is refused.
* :data:`Number` and :data:`Integer`: a number, or a string that spells one (``1e3``, which
  PyYAML reads as a string; an environment variable); never a boolean (``true``, ``yes``, ``on``
  would be 1), never NaN or infinity (NaN compares false with every limit).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, StrictBool

__all__ = ["Flag", "Integer", "Number", "StrictModel"]


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number (YAML reads true/false and unquoted yes/no/on/off as "
                         "booleans): write the number")
    return value


def _whole_number(value: Any) -> Any:
    value = _not_a_boolean(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)  # PyYAML reads 1e6 (no dot) as the string '1e6'
        except ValueError:
            return value
        if number.is_integer():
            return int(number)
    return value


Flag = StrictBool
"""A switch: a YAML boolean only (see the module docstring)."""

Number = Annotated[float, BeforeValidator(_not_a_boolean), AllowInfNan(False)]
"""A finite number; a boolean is refused."""

Integer = Annotated[int, BeforeValidator(_whole_number)]
"""A whole number; a boolean is refused."""


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown keys (a typo must never silently disable a policy)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
