"""Fixtures for the legacy wrapper tests: one YAML config on the wire server, with policies set."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loomllm import Loom
from loomllm.legacy import close_default_looms
from loomllm.legacy._deprecation import reset_warnings
from loomllm.testing import WireServer


def legacy_yaml(server: WireServer, *, openai_key: str = "sk-test") -> str:
    """Deployments of the models legacy code names, a tiny token budget for agent "broke", guardrails on."""
    return textwrap.dedent(
        f"""
        model_list:
          - model_name: gpt
            litellm_params: {{model: openai/gpt-4o, api_base: "{server.openai_base}", api_key: {openai_key}}}
          - model_name: claude
            litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{server.anthropic_base}",
                              api_key: sk-ant-test}}
          - model_name: old-gpt4
            litellm_params: {{model: openai/gpt-4-0125-preview, api_base: "{server.openai_base}", api_key: sk-test}}
          - model_name: opus
            litellm_params: {{model: anthropic/claude-3-opus-20240229, api_base: "{server.anthropic_base}",
                              api_key: sk-ant-test}}
          - model_name: embeddings
            litellm_params: {{model: openai/text-embedding-3-small, api_base: "{server.openai_base}",
                              api_key: sk-test}}
        router_settings:
          num_retries: 0
        loomllm:
          agents:
            planner: {{model: gpt, system_prompt: You plan.}}
          budgets:
            policies:
              tiny: {{limits: [{{tokens: 100, per: day}}]}}
              meter: {{limits: [{{tokens: 1000, per: day}}]}}
            teams:
              broke: {{agents: [broke], policy: tiny}}
              metered: {{agents: [counted], policy: meter}}
          guardrails:
            default: standard
        """
    )


_LITELLM_CALLBACK_LISTS = ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
                           "_async_failure_callback", "input_callback", "service_callback")


@pytest.fixture(autouse=True)
def _fresh_legacy_state() -> Iterator[None]:
    """Every test sees each deprecation warning afresh and leaves no default Loom behind.

    Each Router adds its own callbacks to LiteLLM's global lists and nothing removes them (LiteLLM
    refuses more than 100): the lists are restored after each test so these tests do not use them up.
    """
    import litellm

    saved = {name: list(getattr(litellm, name)) for name in _LITELLM_CALLBACK_LISTS}
    reset_warnings()
    yield
    close_default_looms()
    reset_warnings()
    for name, callbacks in saved.items():
        getattr(litellm, name)[:] = callbacks


@pytest.fixture
def write_config(tmp_path: Path, wire_server: WireServer) -> Callable[..., Path]:
    """Write ``legacy_yaml`` (keyword arguments passed on) to a new file; returns its path."""

    def write(name: str = "loomllm.yaml", **kwargs: str) -> Path:
        path = tmp_path / name
        path.write_text(legacy_yaml(wire_server, **kwargs))
        return path

    return write


@pytest.fixture
def config_path(tmp_path: Path, wire_server: WireServer) -> Path:
    """The legacy YAML config, written to a file."""
    path = tmp_path / "loomllm.yaml"
    path.write_text(legacy_yaml(wire_server))
    return path


@pytest.fixture
def loom(config_path: Path) -> Iterator[Loom]:
    """A Loom on the legacy config, closed after the test."""
    with Loom(config_path) as built:
        yield built


SEED_OPENAI_KEY = "sk-seed-openai-0123456789abcdef"
SEED_ANTHROPIC_KEY = "sk-ant-seed-0123456789abcdef"


def seed_yaml(server: WireServer, *, models: str = "", policies: str = "") -> str:
    """The loomllm config a team adopting loomllm writes for the seeds' models (keys from the environment).

    ``models`` are more ``model_list`` entries and ``policies`` more keys of the ``loomllm:`` section
    (both YAML written from column 0; they are indented into their section here).
    """
    openai = f'api_base: "{server.openai_base}", api_key: os.environ/OPENAI_API_KEY'
    anthropic = f'api_base: "{server.anthropic_base}", api_key: os.environ/ANTHROPIC_API_KEY'
    return textwrap.dedent(
        f"""
        model_list:
          - model_name: claude
            litellm_params: {{model: anthropic/claude-sonnet-4-20250514, {anthropic}}}
          - model_name: claude-haiku
            litellm_params: {{model: anthropic/claude-3-5-haiku-20241022, {anthropic}}}
          - model_name: gpt
            litellm_params: {{model: openai/gpt-4o, {openai}}}
          - model_name: gpt-mini
            litellm_params: {{model: openai/gpt-4o-mini, {openai}}}
          - model_name: gpt-4
            litellm_params: {{model: openai/gpt-4, {openai}}}
          - model_name: o4-mini
            litellm_params: {{model: openai/o4-mini, {openai}}}
          - model_name: gpt-4.1-nano
            litellm_params: {{model: openai/gpt-4.1-nano, {openai}}}
          - model_name: gemini
            litellm_params: {{model: gemini/gemini-2.0-flash, api_base: "{server.gemini_base}",
                              api_key: os.environ/GEMINI_API_KEY}}
          - model_name: embeddings
            litellm_params: {{model: openai/text-embedding-3-small, {openai}}}
            model_info: {{mode: embedding}}
        router_settings:
          num_retries: 0
          fallbacks: [{{gpt: [claude]}}]
        loomllm:
          budgets:
            policies:
              tiny: {{limits: [{{tokens: 50, per: day}}]}}
            teams:
              broke: {{agents: [broke], policy: tiny}}
          guardrails:
            default: standard
        """
    ).replace("router_settings:", _indented(models) + "router_settings:", 1) + _indented(policies)


def _indented(yaml_text: str) -> str:
    return textwrap.indent(textwrap.dedent(yaml_text).strip("\n") + "\n", "  ") if yaml_text.strip() else ""


@pytest.fixture
def seed_config(tmp_path: Path, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed config as ``$LOOMLLM_CONFIG``, provider keys in the environment: legacy code passes no Loom."""
    path = tmp_path / "loomllm.yaml"
    path.write_text(seed_yaml(wire_server))
    monkeypatch.setenv("LOOMLLM_CONFIG", str(path))
    monkeypatch.setenv("OPENAI_API_KEY", SEED_OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SEED_ANTHROPIC_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-seed-gemini-test-key")
    return path
