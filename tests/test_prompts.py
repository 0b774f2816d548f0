"""Tests for loomllm.prompts: YAML templates, versions, sandboxed rendering, system prompt resolution."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from loomllm.errors import ConfigError
from loomllm.prompts import (
    PromptExample,
    PromptFileMissingWarning,
    PromptRegistry,
    PromptTemplate,
    PromptVariable,
    load_prompt_file,
    resolve_system_prompt,
    version_key,
)

SHIPPED = Path(__file__).resolve().parent.parent / "prompts"


def write(directory: Path, filename: str, text: str) -> Path:
    """Write a dedented YAML file and return its path."""
    path = directory / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def template(version: str = "1.0", name: str = "t") -> str:
    """A minimal template document."""
    return f"name: {name}\nversion: {version}\nuser: hello\n"


def make(system: str | None = None, user: str | None = "u", **variables: PromptVariable) -> PromptTemplate:
    """Build a template in code."""
    return PromptTemplate(name="t", version="1.0", system=system, user=user, variables=variables)


REQUIRED = PromptVariable()


class TestVersionOrder:
    @pytest.mark.parametrize(
        ("lower", "higher"),
        [
            ("1.9", "1.10"),
            ("1.9.9", "1.10"),
            ("1.0", "1.0.1"),
            ("1.99", "2"),
            ("0.9", "1.0"),
            ("1.1.0-rc.1", "1.1.0"),
            ("1.1-alpha", "1.1"),
            ("1.0", "1.1.0-rc.1"),
            ("1.0.0-alpha", "1.0.0-alpha.1"),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            ("1.0.0-alpha.2", "1.0.0-alpha.10"),
            ("1.0.0-beta.11", "1.0.0-rc.1"),
        ],
    )
    def test_lower_sorts_first(self, lower: str, higher: str) -> None:
        """Versions compare by semantic-version precedence, not as strings or floats."""
        assert version_key(lower) < version_key(higher)

    @pytest.mark.parametrize(("a", "b"), [("1", "1.0.0"), ("1.0", "1.0.0"), ("2.3", "2.3.0"), ("1.0+build.7", "1.0")])
    def test_equal(self, a: str, b: str) -> None:
        """Missing minor/patch parts are zero and build metadata does not count."""
        assert version_key(a) == version_key(b)

    @pytest.mark.parametrize("bad", ["", "v1.0", "1.0.0.0", "01.2", "1.x", "1.0-", "latest"])
    def test_malformed(self, bad: str) -> None:
        """Strings that are not semantic versions are rejected."""
        with pytest.raises(ValueError, match="not a semantic version"):
            version_key(bad)


class TestRegistry:
    @pytest.fixture
    def registry(self, tmp_path: Path) -> PromptRegistry:
        """Versions 1.9, 1.10 (unquoted), 1.11.0-rc.1 and 1.0 of 't' spread over files, plus 'other'."""
        write(tmp_path, "a.yaml", template("1.9"))
        write(tmp_path, "b.yml", template("1.10"))
        write(
            tmp_path, "nested/c.yaml", "[{name: t, version: 1.11.0-rc.1, user: x}, {name: t, version: '1.0', user: y}]"
        )
        write(tmp_path, "other.yaml", template("0.1", name="other"))
        write(tmp_path, ".hidden/ignored.yaml", "not: a template")
        write(tmp_path, "notes.txt", "ignored")
        return PromptRegistry.from_directory(tmp_path)

    def test_highest_version(self, registry: PromptRegistry) -> None:
        """get(name) returns the highest version; YAML's float 1.10 is kept as written."""
        assert registry.get("t").version == "1.11.0-rc.1"
        assert registry.versions("t") == ["1.0", "1.9", "1.10", "1.11.0-rc.1"]

    def test_exact_version(self, registry: PromptRegistry) -> None:
        """get(name, version) returns that version; 1.10.0 finds the one written 1.10."""
        assert registry.get("t", "1.9").version == "1.9"
        assert registry.get("t", "1.10.0").version == "1.10"

    def test_name_at_version(self, registry: PromptRegistry) -> None:
        """A name@version reference selects an exact version."""
        assert registry.get("t@1.10").version == "1.10"
        assert registry.get("t@1", "1.0.0").version == "1.0"

    def test_conflicting_versions(self, registry: PromptRegistry) -> None:
        """name@version and a different version argument are an error."""
        with pytest.raises(ConfigError, match="conflicts"):
            registry.get("t@1.9", "1.10")

    def test_names_and_contains(self, registry: PromptRegistry) -> None:
        """names() lists templates; `in` accepts names and name@version references."""
        assert registry.names() == ["other", "t"]
        assert len(registry) == 5
        assert "t" in registry
        assert "t@1.9.0" in registry
        assert "t@2.0" not in registry
        assert "t@garbage" not in registry
        assert "nope" not in registry

    def test_unknown_name_lists_known(self, registry: PromptRegistry) -> None:
        """An unknown name is a ConfigError listing the known names and a close match."""
        with pytest.raises(ConfigError, match=r"unknown prompt template 'tt' \(known: other, t\); did you mean 't'"):
            registry.get("tt")

    def test_unknown_version_lists_known(self, registry: PromptRegistry) -> None:
        """An unknown version is a ConfigError listing the versions that exist."""
        with pytest.raises(ConfigError, match=r"no version '3.0' \(known: 1.0, 1.9, 1.10, 1.11.0-rc.1\)"):
            registry.get("t@3.0")

    def test_duplicate_names_both_files(self, tmp_path: Path) -> None:
        """The same name and version (1.0 == 1.0.0) in two files is an error naming both."""
        first = write(tmp_path, "first.yaml", template("1.0"))
        second = write(tmp_path, "second.yaml", template("1.0.0"))
        with pytest.raises(ConfigError, match="defined twice") as info:
            PromptRegistry.from_directory(tmp_path)
        assert str(first) in str(info.value)
        assert str(second) in str(info.value)

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A directory that does not exist is a ConfigError naming it."""
        with pytest.raises(ConfigError, match="does not exist"):
            PromptRegistry.from_directory(tmp_path / "absent")


class TestLoading:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("name: t\nversion: '1.0'\nuser: u\nsytem: s\n", "sytem: Extra inputs are not permitted"),
            ("name: t\nversion: '1.0'\nuser: u\nvariables: {x: {requird: true}}\n", "variables.x.requird"),
            ("name: t\nversion: '1.0'\nuser: u\nvariables: {x: {required: true, default: 1}}\n", "cannot have a"),
            ("name: t\nversion: one\nuser: u\n", "not a semantic version"),
            ("name: a@b\nversion: '1.0'\nuser: u\n", "not a valid template name"),
            ("name: t\nversion: '1.0'\n", "needs a `system` or a `user`"),
            ("name: t\nversion: '1.0'\nuser: u\nuser: v\n", "key 'user' repeated at line 4"),
            ("name: t\nversion: '1.0'\nuser: [unclosed\n", "invalid YAML"),
            ("", "empty"),
            ("just a string\n", "holds a template"),
        ],
    )
    def test_invalid_file(self, tmp_path: Path, text: str, message: str) -> None:
        """Schema and YAML problems are ConfigErrors naming the file."""
        path = write(tmp_path, "bad.yaml", text)
        with pytest.raises(ConfigError, match=message) as info:
            load_prompt_file(path)
        assert info.value.file == str(path)

    def test_syntax_error_names_file_template_and_line(self, tmp_path: Path) -> None:
        """A Jinja syntax error surfaces at load with the file's line number."""
        path = write(
            tmp_path,
            "broken.yaml",
            """
            name: broken
            version: "2.0"
            user: |
              first line
              {{ goal }
            variables: {goal: The goal}
            """,
        )
        with pytest.raises(ConfigError) as info:
            load_prompt_file(path)
        assert str(info.value).startswith(f"{path}: broken@2.0.user: template syntax error at line 5")

    def test_unknown_filter_fails_at_load(self, tmp_path: Path) -> None:
        """A filter that does not exist is caught when the template is compiled, not when rendered."""
        path = write(tmp_path, "f.yaml", "name: f\nversion: '1.0'\nuser: '{{ x | shout }}'\nvariables: {x: X}\n")
        with pytest.raises(ConfigError, match=r"at line 3 .*No filter named 'shout'"):
            load_prompt_file(path)

    def test_undeclared_variable_fails_at_load(self, tmp_path: Path) -> None:
        """A variable used but not declared is an error at load naming it and its line."""
        path = write(tmp_path, "u.yaml", "name: u\nversion: '1.0'\nsystem: |\n  ok\n  {{ topic }}\n")
        with pytest.raises(ConfigError, match=r"u@1.0.system: variable 'topic' at line 5 .* not declared"):
            load_prompt_file(path)


class TestRender:
    def test_messages_with_examples(self) -> None:
        """System, then one user/assistant pair per example, then the user part."""
        t = PromptTemplate(
            name="t",
            version="1",
            system="Be {{ tone }}.",
            user="Q: {{ q }}",
            variables={"tone": PromptVariable(default="brief"), "q": REQUIRED},
            examples=(PromptExample(user="Q: 1+1", assistant="2"), PromptExample(user="Q: 2+2", assistant="4")),
        )
        assert t.render(q="3+3") == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q: 1+1"},
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": "Q: 2+2"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "Q: 3+3"},
        ]

    def test_defaults_and_optional(self) -> None:
        """Defaults apply, caller values win, and an optional variable without default is None."""
        t = make(
            user="{{ n }} {{ note if note else '-' }}", n=PromptVariable(default=3), note=PromptVariable(required=False)
        )
        assert t.render()[-1]["content"] == "3 -"
        assert t.render(n=5, note="x")[-1]["content"] == "5 x"

    def test_missing_variable_names_file_template_variable(self, tmp_path: Path) -> None:
        """A missing required variable is a ConfigError naming file, template and variable."""
        path = write(tmp_path, "m.yaml", "name: m\nversion: '1.2'\nuser: '{{ goal }}'\nvariables: {goal: The goal}\n")
        with pytest.raises(ConfigError) as info:
            load_prompt_file(path)[0].render()
        assert str(info.value) == f"{path}: m@1.2: missing required variable 'goal'"

    def test_unknown_variable_is_an_error(self) -> None:
        """A variable the template does not declare is rejected (typos do not pass silently)."""
        with pytest.raises(ConfigError, match=r"unknown variable 'gaol' passed to render \(declared: goal\)"):
            make(user="{{ goal }}", goal=REQUIRED).render(goal="g", gaol="g")

    @pytest.mark.parametrize(
        "expression",
        ["{{ x.__class__ }}", "{{ x.__class__.__mro__ }}", "{{ ''.__class__.__subclasses__() }}", "{{ x.append(1) }}"],
    )
    def test_sandbox_blocks(self, expression: str) -> None:
        """Dunder access and mutation of passed-in objects are refused by the sandbox."""
        with pytest.raises(ConfigError, match="render failed at line 1: unsafe access blocked by the sandbox"):
            make(user=expression, x=REQUIRED).render(x=[])

    def test_errors_do_not_quote_values(self) -> None:
        """A failing lookup keyed by a caller's value does not put that value in the error."""
        t = make(user="{{ table[key] }}", table=REQUIRED, key=REQUIRED)
        with pytest.raises(ConfigError, match="undefined attribute or item") as info:
            t.render(table={}, key="sk-very-secret-123")
        assert "sk-very-secret" not in str(info.value)
        assert info.value.__cause__ is None

    def test_jinja_globals_need_no_declaration(self) -> None:
        """Jinja's own globals such as range are not mistaken for undeclared variables."""
        t = make(user="{% for i in range(n) %}{{ loop.index }}{% endfor %}", n=REQUIRED)
        assert t.render(n=3)[-1]["content"] == "123"

    def test_no_autoescape_and_plain_tojson(self) -> None:
        """Prompts are not HTML: markup stays as written and tojson does not escape it."""
        t = make(user="{{ x }} {{ x | tojson }}", x=REQUIRED)
        assert t.render(x="<b>&'é")[-1]["content"] == "<b>&'é \"<b>&'é\""

    def test_empty_system_is_dropped(self) -> None:
        """A system part that renders blank is left out of the messages."""
        t = make(system="{% if rules %}{{ rules }}{% endif %}", rules=PromptVariable(default=""))
        assert t.render() == [{"role": "user", "content": "u"}]
        assert t.render_system() is None

    def test_render_system_needs_only_its_variables(self) -> None:
        """render_system requires only the required variables the system part uses."""
        t = make(system="You are {{ role }}.", user="{{ question }}", role=REQUIRED, question=REQUIRED)
        assert t.render_system(role="a tutor") == "You are a tutor."

    def test_compiled_once(self) -> None:
        """Rendering reuses the template compiled at construction."""
        t = make(user="{{ x }}", x=REQUIRED)
        compiled = t._compiled["user"]
        assert [t.render(x=i)[-1]["content"] for i in range(3)] == ["0", "1", "2"]
        assert t._compiled["user"] is compiled


class TestResolveSystemPrompt:
    @pytest.fixture
    def tmpl(self) -> PromptTemplate:
        """A template whose system part is recognisable."""
        return make(system="from template")

    def test_prompt_file_wins(self, tmp_path: Path, tmpl: PromptTemplate) -> None:
        """An existing prompt_file, relative to base_dir, beats inline and template prompts."""
        write(tmp_path, "prompts/agent.md", "from file\n")
        got = resolve_system_prompt(
            prompt_file="prompts/agent.md", system_prompt="inline", template=tmpl, base_dir=tmp_path
        )
        assert got == "from file"

    def test_absolute_prompt_file(self, tmp_path: Path) -> None:
        """An absolute prompt_file ignores base_dir."""
        path = write(tmp_path, "abs.md", "absolute")
        got = resolve_system_prompt(prompt_file=str(path), system_prompt=None, template=None, base_dir=Path("/nope"))
        assert got == "absolute"

    @pytest.mark.parametrize(
        ("inline", "use_template", "expected"),
        [("inline", True, "inline"), (None, True, "from template"), (None, False, None)],
    )
    def test_missing_file_warns_and_falls_back(
        self, tmp_path: Path, tmpl: PromptTemplate, inline: str | None, use_template: bool, expected: str | None
    ) -> None:
        """A missing prompt_file warns and falls back to inline, then template, then None."""
        with pytest.warns(PromptFileMissingWarning, match="missing.md' not found"):
            got = resolve_system_prompt(
                prompt_file="missing.md",
                system_prompt=inline,
                template=tmpl if use_template else None,
                base_dir=tmp_path,
            )
        assert got == expected

    def test_inline_then_template_without_file(self, tmp_path: Path, tmpl: PromptTemplate) -> None:
        """Without prompt_file, inline beats the template and the template beats nothing; no warning."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve_system_prompt(prompt_file=None, system_prompt="in", template=tmpl, base_dir=tmp_path) == "in"
            got = resolve_system_prompt(prompt_file=None, system_prompt=None, template=tmpl, base_dir=tmp_path)
            assert got == "from template"

    def test_template_variables(self, tmp_path: Path) -> None:
        """Variables reach the template's system part."""
        t = make(system="You are {{ role }}.", role=REQUIRED)
        got = resolve_system_prompt(
            prompt_file=None, system_prompt=None, template=t, base_dir=tmp_path, variables={"role": "a judge"}
        )
        assert got == "You are a judge."


class TestShippedTemplates:
    REGISTRY = PromptRegistry.from_directory(SHIPPED)

    def test_expected_templates(self) -> None:
        """The shipped directory holds the four templates, plan_generation in two versions."""
        assert self.REGISTRY.names() == ["memory_summarization", "plan_generation", "plan_review", "safety_review"]
        assert self.REGISTRY.versions("plan_generation") == ["1.0", "1.1"]
        assert self.REGISTRY.get("plan_generation").version == "1.1"

    @pytest.mark.parametrize(
        "ref",
        ["plan_generation@1.0", "plan_generation@1.1", "plan_review", "memory_summarization", "safety_review"],
    )
    def test_renders(self, ref: str) -> None:
        """Each shipped template renders with only its required variables, which all appear in the output."""
        t = self.REGISTRY.get(ref)
        values = {name: f"<<{name} value>>" for name in sorted(t.required_variables)}
        messages = t.render(**values)
        assert messages[0]["role"] == "system"
        assert messages[-1]["role"] == "user"
        text = "\n".join(m["content"] for m in messages)
        assert all(v in text for v in values.values())
        assert "{{" not in text
        assert "{%" not in text

    def test_optional_sections(self) -> None:
        """Optional lists render as bullet points when given."""
        t = self.REGISTRY.get("plan_generation@1.1")
        messages = t.render(goal="Ship", constraints=["No Friday deploys"], tools=["git: version control"], max_steps=3)
        assert "- git: version control" in messages[0]["content"]
        assert "at most 3 steps" in messages[0]["content"]
        assert "- No Friday deploys" in messages[-1]["content"]


class TestOlderRegistryForms:
    """The forms of the seed registries (AGI-HPC): list variables, dict examples, `templates:` files."""

    def test_variables_as_a_list_of_names_are_required(self) -> None:
        """variables=["goal"] declares a required variable; a missing one is a ValueError."""
        template = PromptTemplate(name="t", version="1.0", user="Goal: {{goal}}", variables=["goal"])

        assert frozenset({"goal"}) == template.required_variables
        with pytest.raises(ValueError, match="missing required variable 'goal'"):
            template.render()

    def test_examples_as_dicts_and_empty_parts(self) -> None:
        """examples=[{user, assistant}] become few-shot pairs; system="" means no system part."""
        template = PromptTemplate(name="t", version="1.0", system="", user="{{q}}", variables=["q"],
                                  examples=[{"user": "1 + 1?", "assistant": "2"}])

        messages = template.render(q="2 + 2?")

        assert [("user", "1 + 1?"), ("assistant", "2"), ("user", "2 + 2?")] == [(m.role, m.content) for m in messages]
        assert {"role": "user", "content": "2 + 2?"} == messages[-1]

    def test_bad_example_names_the_template(self) -> None:
        """An example without an assistant part is a PromptError naming the template."""
        with pytest.raises(ValueError, match=r"t@1\.0: examples"):
            PromptTemplate(name="t", version="1.0", user="u", examples=[{"user": "only"}])

    def test_templates_key_file_and_load_directory(self, tmp_path: Path) -> None:
        """A `templates:` file loads every entry; load_directory returns how many it added."""
        write(tmp_path, "planning.yaml", """
            templates:
              - name: plan
                version: "1.0"
                variables: [goal]
                user: "Goal: {{goal}}"
              - name: review
                variables: [plan]
                version: "1.0"
                system: Review carefully.
                user: "{{plan}}"
            """)
        registry = PromptRegistry()

        assert 2 == registry.load_directory(tmp_path)
        assert ["plan", "review"] == registry.names()
        with pytest.raises(ValueError, match="defined twice"):
            registry.load_directory(tmp_path)

    def test_register(self) -> None:
        """register(template) adds a template built in code; an unknown name is a ValueError."""
        registry = PromptRegistry()
        registry.register(PromptTemplate(name="t", version="2.0", user="u"))

        assert "2.0" == registry.get("t").version
        with pytest.raises(ValueError, match="unknown prompt template"):
            registry.get("nope")

    def test_templates_must_be_a_list(self, tmp_path: Path) -> None:
        """`templates:` that is not a list is a PromptError naming the file."""
        path = write(tmp_path, "bad.yaml", "templates: {name: t}\n")
        with pytest.raises(ConfigError, match="must be a list"):
            load_prompt_file(path)
