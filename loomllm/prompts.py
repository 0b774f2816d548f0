"""Versioned prompt templates loaded from YAML and rendered to OpenAI-format messages.

A prompt file (``*.yaml`` or ``*.yml``) holds one template as a mapping, or several as a list of
mappings or under a top-level ``templates:`` key (the layout of older prompt libraries, whose
``variables: [goal, context]`` lists of names are read as required variables). A template::

    name: plan_generation          # letters, digits, "_", "-", "."; no "@"
    version: 1.1                   # semantic version; 1.10 > 1.9, 1.0 == 1.0.0, 1.1.0-rc.1 < 1.1.0
    description: Break a goal into steps.
    system: |                      # Jinja2, optional
      You are a planner. ...
    user: |                        # Jinja2, optional (at least one of system / user)
      Goal: {{ goal }}
    variables:                     # every variable the template uses must be declared
      goal: {description: The objective, required: true}
      max_steps: {description: Upper bound on steps, default: 8}
      context: Background text     # shorthand for {description: ...}; no default means required
    examples:                      # few-shot pairs, sent literally (stripped, not rendered)
      - {user: "...", assistant: "..."}
    metadata: {owner: planning}    # free-form, never interpreted

``version`` is read as written, so an unquoted ``version: 1.10`` stays ``1.10`` (not the float 1.1).

Templates are parsed and compiled once, when loaded: a syntax error or a use of an undeclared variable
is a :class:`PromptError` (a :class:`~loomllm.errors.ConfigError` and a ``ValueError``) at load time
that names the file, the template and the line.
Rendering runs in Jinja2's immutable sandbox with ``StrictUndefined`` and without autoescaping
(prompts are not HTML). A variable that is declared but not required and has no default renders as
``None``, so ``{% if context %}`` works. Rendered parts are stripped; a system part that renders empty
is left out. ``tojson`` dumps plain JSON (no HTML escaping).

Errors name variables, templates, files and lines, never the values passed in.
"""

from __future__ import annotations

import difflib
import io
import json
import keyword
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal, cast

import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import Field, ValidationError, field_validator, model_validator

from loomllm._base import StrictModel
from loomllm.errors import ConfigError

__all__ = [
    "PromptError",
    "PromptExample",
    "PromptFileMissingWarning",
    "PromptMessage",
    "PromptRegistry",
    "PromptTemplate",
    "PromptVariable",
    "load_prompt_file",
    "resolve_system_prompt",
    "version_key",
]

Part = Literal["system", "user"]
_PARTS: tuple[Part, ...] = ("system", "user")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_NUM = r"(?:0|[1-9]\d*)"
_IDENT = r"[0-9A-Za-z\-]+"
_VERSION_RE = re.compile(
    rf"(?P<major>{_NUM})(?:\.(?P<minor>{_NUM}))?(?:\.(?P<patch>{_NUM}))?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+{_IDENT}(?:\.{_IDENT})*)?"
)
_YAML_SUFFIXES = frozenset({".yaml", ".yml"})

# A version's precedence: (major, minor, patch, pre-release key). A release's key (1,) sorts after
# every pre-release key (0, ...); pre-release identifiers compare numerically when numeric, numeric
# before alphanumeric, and a shorter identifier list first when one is a prefix of the other (semver 11).
VersionKey = tuple[int, int, int, tuple[Any, ...]]


class PromptError(ConfigError, ValueError):
    """A prompt template or prompt file is wrong, or a render got the wrong variables.

    A :class:`~loomllm.errors.ConfigError` that is also a ``ValueError``, which is what code written
    against older template registries catches.
    """


class PromptFileMissingWarning(UserWarning):
    """An agent's ``prompt_file`` does not exist, so a fallback system prompt is used instead."""


def version_key(version: str) -> VersionKey:
    """Return the semantic-version precedence key of ``version``; raises ``ValueError`` if malformed."""
    match = _VERSION_RE.fullmatch(version.strip())
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version (expected MAJOR[.MINOR[.PATCH]][-PRERELEASE])")
    pre = match["pre"]
    pre_key: tuple[Any, ...] = (1,)
    if pre is not None:
        pre_key = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return (int(match["major"]), int(match["minor"] or 0), int(match["patch"] or 0), pre_key)


class PromptVariable(StrictModel):
    """A declared template variable. Without a ``default`` it is required unless ``required: false``."""

    description: str = ""
    default: Any = None
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, str):
            return {"description": data}
        if isinstance(data, dict) and "required" not in data:
            return {**data, "required": "default" not in data}
        return data

    @model_validator(mode="after")
    def _required_has_no_default(self) -> PromptVariable:
        if self.required and "default" in self.model_fields_set:
            raise ValueError("a required variable cannot have a default")
        return self


class PromptExample(StrictModel):
    """A few-shot exchange: sent as a user message followed by an assistant message."""

    user: str
    assistant: str

    @field_validator("user", "assistant")
    @classmethod
    def _strip(cls, text: str) -> str:
        return text.strip()


VariablesIn = Mapping[str, "PromptVariable | str | Mapping[str, Any] | None"] | Sequence[str]
ExamplesIn = Sequence["PromptExample | Mapping[str, str]"]


class _TemplateSpec(StrictModel):
    """The YAML schema of one template."""

    name: str
    version: str
    description: str = ""
    system: str | None = None
    user: str | None = None
    variables: dict[str, PromptVariable] = Field(default_factory=dict)
    examples: list[PromptExample] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid template name (letters, digits, '_', '-', '.'; no '@')")
        return name

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, version: Any) -> Any:
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        if isinstance(version, str):
            version_key(version)
        return version

    @field_validator("variables", mode="before")
    @classmethod
    def _names_list(cls, variables: Any) -> Any:
        if isinstance(variables, list) and all(isinstance(v, str) for v in variables):
            return {name: {} for name in variables}  # `variables: [goal, context]`: all required
        return variables

    @field_validator("variables")
    @classmethod
    def _check_variable_names(cls, variables: dict[str, PromptVariable]) -> dict[str, PromptVariable]:
        for name in variables:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"variable name {name!r} is not a valid identifier")
        return variables

    @model_validator(mode="after")
    def _has_a_part(self) -> _TemplateSpec:
        if self.system is None and self.user is None:
            raise ValueError("a template needs a `system` or a `user` part (or both)")
        return self


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["tojson"] = _tojson
    return env


@dataclass(frozen=True)
class PromptTemplate:
    """One version of a prompt: Jinja2 ``system`` / ``user`` parts, declared variables and few-shot examples.

    The parts are compiled when the object is created; :meth:`render` only fills them in.
    """

    name: str
    version: str
    description: str = ""
    system: str | None = None
    user: str | None = None
    variables: VariablesIn = field(default_factory=dict)
    """Declared variables: ``{name: PromptVariable}`` (or a description / a dict), or a list of names (all required)."""
    examples: ExamplesIn = ()
    """Few-shot pairs: :class:`PromptExample` objects or ``{"user": ..., "assistant": ...}`` dicts."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    # 1-based file line of each part's first line, when the YAML layout lets us know it.
    part_lines: InitVar[Mapping[str, int] | None] = None
    _compiled: dict[Part, Template] = field(init=False, repr=False, compare=False)
    _references: dict[Part, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self, part_lines: Mapping[str, int] | None) -> None:
        try:
            version_key(self.version)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        set_ = object.__setattr__
        set_(self, "variables", MappingProxyType(self._normalized_variables()))
        set_(self, "examples", self._normalized_examples())
        for part in _PARTS:
            if getattr(self, part) == "":  # the older registries' "no part" default
                set_(self, part, None)
        set_(self, "metadata", MappingProxyType(dict(self.metadata)))
        env = _environment()
        compiled: dict[Part, Template] = {}
        references: dict[Part, frozenset[str]] = {}
        for part in _PARTS:
            text = getattr(self, part)
            if text is None:
                continue
            first_line = (part_lines or {}).get(part)
            compiled[part], references[part] = self._compile(env, part, text, first_line)
        set_(self, "_compiled", compiled)
        set_(self, "_references", references)

    def _normalized_variables(self) -> dict[str, PromptVariable]:
        given = self.variables
        if isinstance(given, str):
            raise self._error("variables must be a list of names or a mapping, not a string")
        try:
            if isinstance(given, Mapping):
                return {str(k): v if isinstance(v, PromptVariable) else PromptVariable.model_validate(v)
                        for k, v in given.items()}
            return {str(name): PromptVariable() for name in given}
        except ValidationError as exc:
            raise self._error(f"variables: {_first_error(exc)}") from None

    def _normalized_examples(self) -> tuple[PromptExample, ...]:
        try:
            return tuple(e if isinstance(e, PromptExample) else PromptExample.model_validate(dict(e))
                         for e in self.examples)
        except ValidationError as exc:
            raise self._error(f"examples: {_first_error(exc)}") from None

    @property
    def _declared(self) -> Mapping[str, PromptVariable]:
        return cast(Mapping[str, PromptVariable], self.variables)

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.source))

    @property
    def ref(self) -> str:
        """``name@version``: how this template is referenced in configuration."""
        return f"{self.name}@{self.version}"

    @property
    def required_variables(self) -> frozenset[str]:
        """The declared variables a caller of :meth:`render` must pass."""
        return frozenset(n for n, v in self._declared.items() if v.required)

    def render(self, /, **variables: object) -> list[PromptMessage]:
        """Render to messages: system (if any), one user/assistant pair per example, then user (if any)."""
        context = self._context(variables, self.required_variables)
        messages: list[PromptMessage] = []
        system = self._render_part("system", context)
        if system:
            messages.append(PromptMessage(role="system", content=system))
        for example in cast(tuple[PromptExample, ...], self.examples):
            messages.append(PromptMessage(role="user", content=example.user))
            messages.append(PromptMessage(role="assistant", content=example.assistant))
        user = self._render_part("user", context)
        if user is not None:
            messages.append(PromptMessage(role="user", content=user))
        return messages

    def render_system(self, /, **variables: object) -> str | None:
        """Render only the system part (``None`` if there is none or it renders empty).

        Only the required variables the system part uses must be passed.
        """
        needed = self.required_variables & self._references.get("system", frozenset())
        return self._render_part("system", self._context(variables, needed)) or None

    # -- internals ---------------------------------------------------------------------------------

    @property
    def _filename(self) -> str:
        return str(self.source) if self.source is not None else "<prompt>"

    def _error(self, problem: str, part: str | None = None) -> PromptError:
        path = f"{self.name}@{self.version}" + (f".{part}" if part else "")
        return PromptError(problem, file=str(self.source) if self.source is not None else None, path=path)

    def _compile(
        self, env: ImmutableSandboxedEnvironment, part: Part, text: str, first_line: int | None
    ) -> tuple[Template, frozenset[str]]:
        name = f"{self.ref}.{part}"
        try:
            ast = env.parse(text, name=name, filename=self._filename)
            used = frozenset(meta.find_undeclared_variables(ast) - set(env.globals))  # range, dict, namespace...
            self._check_declared(part, ast, used, first_line)
            code = env.compile(ast, name=name, filename=self._filename)  # unknown filters/tests fail here
        except TemplateSyntaxError as exc:
            raise self._error(f"template syntax error {_where(exc.lineno, first_line)}: {exc.message}", part) from None
        return env.template_class.from_code(env, code, env.make_globals(None)), used

    def _check_declared(self, part: Part, ast: nodes.Template, used: frozenset[str], first_line: int | None) -> None:
        undeclared = sorted(used - set(self._declared))
        if not undeclared:
            return
        name = undeclared[0]
        lineno = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"), 1)
        raise self._error(
            f"variable {name!r} {_where(lineno, first_line)} is not declared under `variables` "
            f"(declared: {_names(self._declared)})",
            part,
        )

    def _context(self, given: Mapping[str, object], needed: Iterable[str]) -> dict[str, object]:
        unknown = sorted(set(given) - set(self._declared))
        if unknown:
            raise self._error(
                f"unknown variable{_s(unknown)} {_quoted(unknown)} passed to render "
                f"(declared: {_names(self._declared)})"
            )
        missing = sorted(set(needed) - set(given))
        if missing:
            raise self._error(f"missing required variable{_s(missing)} {_quoted(missing)}")
        context: dict[str, object] = {n: v.default for n, v in self._declared.items() if not v.required}
        context.update(given)
        return context

    def _render_part(self, part: Part, context: Mapping[str, object]) -> str | None:
        template = self._compiled.get(part)
        if template is None:
            return None
        try:
            return template.render(context).strip()
        except Exception as exc:
            # Messages can quote a variable's value (``{{ table[user_text] }}`` reports the missing key),
            # so only the kind of failure and the line are kept, and the original is not chained.
            line = _template_line(exc.__traceback__, self._filename)
            raise self._error(f"render failed at line {line}: {_failure_kind(exc)}", part) from None


class PromptMessage(dict[str, str]):
    """A rendered message: an OpenAI-format dict that also reads as ``message.role`` / ``message.content``."""

    @property
    def role(self) -> str:
        """``system``, ``user`` or ``assistant``."""
        return self["role"]

    @property
    def content(self) -> str:
        """The rendered text."""
        return self["content"]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or '<value>'}: {err['msg']}"


def _failure_kind(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return "unsafe access blocked by the sandbox"
    if isinstance(exc, UndefinedError):
        return "undefined attribute or item"
    return type(exc).__name__


def _where(lineno: int, first_line: int | None) -> str:
    if first_line is None:
        return f"at line {lineno} of the template"
    return f"at line {first_line + lineno - 1} (line {lineno} of the template)"


def _template_line(tb: TracebackType | None, filename: str) -> int | str:
    line: int | str = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _s(items: list[str]) -> str:
    return "s" if len(items) > 1 else ""


def _quoted(items: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in items)


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"


# -- loading -----------------------------------------------------------------------------------------


def load_prompt_file(path: str | Path) -> list[PromptTemplate]:
    """Load the template (mapping) or templates (list of mappings) in one YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt file: {exc.strerror or type(exc).__name__}", file=str(path)) from None
    except UnicodeDecodeError:
        raise PromptError("cannot read prompt file: not UTF-8", file=str(path)) from None
    root, data = _compose(text, path)
    if isinstance(root, yaml.MappingNode) and isinstance(data, dict) and set(data) == {"templates"}:
        # `templates: [...]`, the layout of older prompt libraries
        root = next(v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "templates")
        data = data["templates"]
        if not isinstance(root, yaml.SequenceNode) or not isinstance(data, list):
            raise PromptError("`templates` must be a list of templates", file=str(path), path="templates")
    elif isinstance(root, yaml.MappingNode):
        return [_build(root, data, path, index=None)]
    if isinstance(root, yaml.SequenceNode) and isinstance(data, list):
        return [_build(node, item, path, index=i) for i, (node, item) in enumerate(zip(root.value, data, strict=True))]
    raise PromptError("a prompt file holds a template (mapping) or a list of templates", file=str(path))


def _compose(text: str, path: Path) -> tuple[yaml.Node, Any]:
    stream = io.StringIO(text)
    stream.name = str(path)  # YAML error marks then name the file
    loader = yaml.SafeLoader(stream)
    try:
        root = loader.get_single_node()
        if root is None:
            raise PromptError("prompt file is empty", file=str(path))
        _reject_duplicate_keys(root, path)
        return root, loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise PromptError(f"invalid YAML: {exc}", file=str(path)) from None
    finally:
        loader.dispose()


def _reject_duplicate_keys(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    line = key.start_mark.line + 1
                    raise PromptError(
                        f"key {key.value!r} repeated at line {line} (first at line {seen[key.value]})", file=str(path)
                    )
                seen[key.value] = key.start_mark.line + 1
            _reject_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, path)


def _build(node: yaml.Node, data: Any, path: Path, *, index: int | None) -> PromptTemplate:
    where = None if index is None else f"[{index}] (line {node.start_mark.line + 1})"
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise PromptError("a template must be a mapping", file=str(path), path=where)
    fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    version_node = fields.get("version")
    if isinstance(version_node, yaml.ScalarNode) and not isinstance(data.get("version"), str):
        data = {**data, "version": version_node.value}  # keep "1.10" as written: YAML would read the float 1.1
    if isinstance(data.get("name"), str) and isinstance(data.get("version"), str):
        where = f"{data['name']}@{data['version']}"
    try:
        spec = _TemplateSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<template>'}: {err['msg']}" for err in exc.errors()
        )
        raise PromptError(problems, file=str(path), path=where) from None
    return PromptTemplate(
        name=spec.name,
        version=spec.version,
        description=spec.description,
        system=spec.system,
        user=spec.user,
        variables=spec.variables,
        examples=tuple(spec.examples),
        metadata=spec.metadata,
        source=path,
        part_lines=_part_lines(fields),
    )


def _part_lines(fields: Mapping[str, yaml.Node]) -> dict[str, int]:
    """Map each part to the file line of its first template line, where the YAML style makes that exact."""
    lines: dict[str, int] = {}
    for part in _PARTS:
        node = fields.get(part)
        if not isinstance(node, yaml.ScalarNode):
            continue
        if node.style == "|":  # literal block: content starts on the line after the indicator
            lines[part] = node.start_mark.line + 2
        elif "\n" not in node.value and node.start_mark.line == node.end_mark.line:
            lines[part] = node.start_mark.line + 1
    return lines


# -- registry ----------------------------------------------------------------------------------------


class PromptRegistry:
    """All loaded templates, by name and version. ``name@version`` works wherever a name does."""

    def __init__(self, templates: Iterable[PromptTemplate] = ()) -> None:
        self._templates: dict[str, dict[VersionKey, PromptTemplate]] = {}
        for template in templates:
            self._add(template)

    @classmethod
    def from_directory(cls, path: str | Path) -> PromptRegistry:
        """Load every ``*.yaml`` / ``*.yml`` file under ``path`` (recursively, skipping hidden entries)."""
        root = Path(path)
        if not root.is_dir():
            raise PromptError("prompt directory does not exist or is not a directory", file=str(root))
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix in _YAML_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        return cls(t for f in files for t in load_prompt_file(f))

    def register(self, template: PromptTemplate) -> None:
        """Add ``template``; a second template with the same name and version is an error."""
        self._add(template)

    def load_directory(self, path: str | Path) -> int:
        """Add every template under ``path`` (see :meth:`from_directory`); returns how many were added."""
        loaded = type(self).from_directory(path)
        for versions in loaded._templates.values():
            for template in versions.values():
                self._add(template)
        return len(loaded)

    def get(self, name: str, version: str | None = None) -> PromptTemplate:
        """Return ``name`` at ``version`` exactly, or its highest version. ``name`` may be ``name@version``."""
        name, version = _split_ref(name, version)
        versions = self._templates.get(name)
        if versions is None:
            hint = difflib.get_close_matches(name, self._templates, n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            raise PromptError(f"unknown prompt template {name!r} (known: {_names(self._templates)}){did_you_mean}")
        if version is None:
            return versions[max(versions)]
        try:
            key = version_key(version)
        except ValueError as exc:
            raise PromptError(f"prompt template {name!r}: {exc}") from None
        if key not in versions:
            raise PromptError(
                f"prompt template {name!r} has no version {version!r} (known: {', '.join(self.versions(name))})"
            )
        return versions[key]

    def names(self) -> list[str]:
        """The template names, sorted."""
        return sorted(self._templates)

    def versions(self, name: str) -> list[str]:
        """The versions of ``name`` as written in their files, lowest to highest."""
        if name not in self._templates:
            self.get(name)  # raises the unknown-template error
        return [self._templates[name][key].version for key in sorted(self._templates[name])]

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        try:
            self.get(ref)
        except PromptError:
            return False
        return True

    def __len__(self) -> int:
        return sum(len(v) for v in self._templates.values())

    def _add(self, template: PromptTemplate) -> None:
        versions = self._templates.setdefault(template.name, {})
        key = version_key(template.version)
        other = versions.get(key)
        if other is not None:
            raise PromptError(
                f"prompt template {template.name!r} version {template.version!r} is defined twice: "
                f"in {other.source or '<code>'} (as {other.version!r}) and in {template.source or '<code>'}"
            )
        versions[key] = template


def _split_ref(name: str, version: str | None) -> tuple[str, str | None]:
    if "@" not in name:
        return name, version
    name, _, ref_version = name.partition("@")
    if version is not None and version_key(version) != version_key(ref_version):
        raise PromptError(f"prompt reference {name}@{ref_version} conflicts with version={version!r}")
    return name, ref_version


# -- system prompt resolution ------------------------------------------------------------------------


def resolve_system_prompt(
    *,
    prompt_file: str | None,
    system_prompt: str | None,
    template: PromptTemplate | None,
    base_dir: Path,
    variables: Mapping[str, object] | None = None,
) -> str | None:
    """Pick an agent's system prompt: its ``prompt_file`` if that exists, else ``system_prompt``, else the template's.

    A relative ``prompt_file`` is resolved against ``base_dir`` (the config file's directory). A missing
    file emits :class:`PromptFileMissingWarning` and falls back, so a deployment without the file still
    runs. The file is used as written (not rendered), stripped of surrounding whitespace. ``variables``
    are passed to the template's :meth:`PromptTemplate.render_system`.
    """
    if prompt_file is not None:
        path = Path(prompt_file).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if path.is_file():
            try:
                return path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise PromptError(f"cannot read prompt_file: {type(exc).__name__}", file=str(path)) from None
        if system_prompt is not None:
            fallback = "the inline system_prompt"
        else:
            fallback = f"the system part of {template.ref}" if template is not None else "no system prompt"
        warnings.warn(f"prompt_file {str(path)!r} not found; using {fallback}", PromptFileMissingWarning, stacklevel=2)
    if system_prompt is not None:
        return system_prompt
    if template is not None:
        return template.render_system(**(variables or {}))
    return None
