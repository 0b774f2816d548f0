"""Reading model output: structured (JSON) answers and tool calls."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from loomllm.errors import OutputValidationError

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for, with its arguments parsed."""

    id: str
    name: str
    arguments: dict[str, Any]


class Schema:
    """A pydantic model class or a JSON schema dict, with one way to validate against either."""

    def __init__(self, schema: type[BaseModel] | Mapping[str, Any]) -> None:
        self.model = schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        self.json_schema: dict[str, Any] = (
            self.model.model_json_schema() if self.model is not None else dict(schema)  # type: ignore[arg-type]
        )
        self.name = re.sub(r"[^A-Za-z0-9_-]", "_", str(self.json_schema.get("title") or "answer"))[:64]

    def remote_refs(self) -> list[str]:
        """``$ref`` values that point outside the schema (a validator would fetch them)."""
        return [ref for ref in _refs(self.json_schema) if not ref.startswith("#")]

    def response_format(self, native: bool) -> dict[str, Any]:
        """The ``response_format`` to send: the provider's structured mode where supported."""
        if native:
            return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.json_schema}}
        return {"type": "json_object"}

    def instruction(self) -> str:
        """A system instruction describing the expected JSON (used with plain JSON mode)."""
        return "Reply with a single JSON value that matches this JSON schema, and nothing else:\n" + json.dumps(
            self.json_schema, separators=(",", ":")
        )

    def validate(self, text: str) -> Any:
        """Parse ``text`` and validate it; raises ``ValueError`` describing the problem."""
        data = parse_json(text)
        if self.model is not None:
            try:
                return TypeAdapter(self.model).validate_python(data)
            except ValidationError as exc:
                raise ValueError(_pydantic_problems(exc)) from None
        import jsonschema
        import referencing
        import referencing.exceptions

        # An empty registry: a $ref is resolved inside the schema only, never fetched (no egress here).
        validator = jsonschema.validators.validator_for(self.json_schema)(self.json_schema,
                                                                          registry=referencing.Registry())
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        except referencing.exceptions.Unresolvable:
            raise ValueError("the schema has a $ref that cannot be resolved inside it") from None
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise ValueError(f"{where}: {error.message}")
        return data


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def parse_json(text: str) -> Any:
    """Parse a JSON answer, tolerating a Markdown code fence around it."""
    match = _FENCE.match(text)
    body = match.group(1) if match else text
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def tool_calls(response: Any) -> list[ToolCall]:
    """The tool calls in a ModelResponse's first choice, arguments parsed from JSON.

    Raises :class:`OutputValidationError` if the model sent arguments that are not a JSON object.
    """
    message = response.choices[0].message
    calls = getattr(message, "tool_calls", None) or []
    out: list[ToolCall] = []
    for call in calls:
        raw = call.function.arguments or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except json.JSONDecodeError:
            raise OutputValidationError(f"tool call {call.function.name!r}: arguments are not JSON", raw=raw) from None
        if not isinstance(arguments, dict):
            raise OutputValidationError(f"tool call {call.function.name!r}: arguments are not an object", raw=raw)
        out.append(ToolCall(id=str(call.id), name=str(call.function.name), arguments=arguments))
    return out


def _pydantic_problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:10])
