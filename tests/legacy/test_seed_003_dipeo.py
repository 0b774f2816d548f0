"""Seed 003 (DiPeO "LLM Infrastructure Drivers"): LLMInfraService and its helpers, used as DiPeO code does.

``Message`` and ``Person`` below stand for DiPeO's domain objects (the seed's Person keeps the
conversation; messages carry who sent them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loomllm import GuardrailViolation, ProviderUnavailable
from loomllm.legacy import (
    APIKeyError,
    LLMInfraService,
    LLMService,
    LLMServiceError,
    MessageFormatter,
    PersonLLMConfig,
    SystemPromptHandler,
)
from loomllm.prompts import PromptFileMissingWarning
from loomllm.testing import Reply, WireServer

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]


@dataclass
class Message:
    """DiPeO's domain message."""

    from_person_id: str
    to_person_id: str
    content: str


@dataclass
class Person:
    """DiPeO's Person: an id, an LLM config and the conversation."""

    id: str
    llm_config: PersonLLMConfig
    messages: list[Message] = field(default_factory=list)

    def get_messages(self) -> list[Message]:
        return list(self.messages)


class ApiKeyService:
    """DiPeO's key store: api_key_id -> key."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def get_api_key(self, key_id: str) -> dict[str, str]:
        return {"key": self.keys[key_id]}


def reviewer(**config: str) -> Person:
    """A person with a two-turn history."""
    llm_config = PersonLLMConfig(service=LLMService.OPENAI, model="gpt-4.1-nano", api_key_id="openai_key",
                                 **config)  # type: ignore[arg-type]
    return Person("person1", llm_config, [Message("user", "person1", "Review the diagram."),
                                          Message("person1", "user", "Which part?"),
                                          Message("user", "person1", "The retry loop.")])


class TestComplete:
    async def test_standard_completion_openai_developer_role(self, wire_server: WireServer) -> None:
        """complete(messages, model, api_key_id, service=OPENAI): the system message goes as "developer"."""
        llm_service = LLMInfraService(None, None)

        result = await llm_service.complete(
            messages=[{"role": "system", "content": "You are a helpful assistant"},
                      {"role": "user", "content": "Hello"}],
            model="gpt-4.1-nano", api_key_id="openai_key", service=LLMService.OPENAI)

        assert "echo: Hello" == result.text
        assert result.token_usage["total"] > 0
        # litellm 1.106.2 rewrites "developer" to "system" for OpenAI models other than the o-series.
        sent = wire_server.requests[0].body
        assert ("gpt-4.1-nano", ["system", "user"]) == (sent["model"], [m["role"] for m in sent["messages"]])

    async def test_developer_role_reaches_openai(self, wire_server: WireServer) -> None:
        """On a model LiteLLM sends it for (o-series), the wire carries the "developer" role."""
        await LLMInfraService().complete([{"role": "system", "content": "You are a helpful assistant"},
                                          {"role": "user", "content": "Hello"}],
                                         model="o4-mini", api_key_id="openai_key", service=LLMService.OPENAI)

        assert ["developer", "user"] == [m["role"] for m in wire_server.requests[0].body["messages"]]

    async def test_anthropic_keeps_the_system_role(self, wire_server: WireServer) -> None:
        """For Anthropic the system prompt stays a system prompt."""
        await LLMInfraService().complete([{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": "Hello"}],
                                         model="claude-sonnet-4-20250514", api_key_id="anthropic_key",
                                         service=LLMService.ANTHROPIC)
        assert "Be terse." in str(wire_server.requests[0].body["system"])

    async def test_person_aware_completion(self, wire_server: WireServer) -> None:
        """complete_with_person: the person's own turns are assistant, others user, the prompt first."""
        person = reviewer(system_prompt="You review diagrams.")

        result = await LLMInfraService().complete_with_person(
            person_messages=person.get_messages(), person_id=person.id, llm_config=person.llm_config,
            temperature=0.7, max_tokens=4096)

        sent = wire_server.requests[0].body
        assert ["system", "user", "assistant", "user"] == [m["role"] for m in sent["messages"]]  # see above
        assert (0.7, 4096) == (sent["temperature"], sent["max_tokens"])
        assert "echo: The retry loop." == result.text

    async def test_prompt_file_under_dipeo_base_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    wire_server: WireServer) -> None:
        """A prompt_file relative to DIPEO_BASE_DIR wins over the inline prompt."""
        (tmp_path / "prompts").mkdir()
        (tmp_path / "prompts" / "assistant.txt").write_text("You are the diagram reviewer.\n")
        monkeypatch.setenv("DIPEO_BASE_DIR", str(tmp_path))
        person = reviewer(system_prompt="inline", prompt_file="prompts/assistant.txt")

        await LLMInfraService().complete_with_person(person.get_messages(), person.id, person.llm_config)

        assert "You are the diagram reviewer." == wire_server.requests[0].body["messages"][0]["content"]

    async def test_missing_prompt_file_falls_back(self, wire_server: WireServer) -> None:
        """A missing prompt_file degrades to system_prompt, with a warning."""
        person = reviewer(system_prompt="You review diagrams.", prompt_file="prompts/missing.txt")

        with pytest.warns(PromptFileMissingWarning):
            await LLMInfraService().complete_with_person(person.get_messages(), person.id, person.llm_config)
        assert "You review diagrams." == wire_server.requests[0].body["messages"][0]["content"]

    def test_deprecation_warning(self) -> None:
        """LLMInfraService warns once, naming the replacement."""
        with pytest.warns(DeprecationWarning, match="LLMInfraService is deprecated.*loomllm.UnifiedAgent"):
            LLMInfraService()


class TestHelpers:
    def test_system_prompt_handler(self, tmp_path: Path) -> None:
        """The seed's unit test: SystemPromptHandler(base_dir).get_system_prompt(llm_config)."""
        (tmp_path / "p.txt").write_text("From the file.")
        handler = SystemPromptHandler(base_dir=tmp_path)

        from_file = PersonLLMConfig(LLMService.OPENAI, "m", prompt_file="p.txt")
        assert "From the file." == handler.get_system_prompt(from_file)
        assert "inline" == handler.get_system_prompt(PersonLLMConfig(LLMService.OPENAI, "m", system_prompt="inline"))
        assert handler.get_system_prompt(PersonLLMConfig(LLMService.OPENAI, "m")) is None

    def test_openai_system_prompt_is_formatted_as_developer(self) -> None:
        """Without system_role, the formatter picks "developer" for OpenAI and "system" for Anthropic."""
        formatter = MessageFormatter()
        roles = [formatter.format_messages_for_llm([], "p", "Prompt", service)[0]["role"]
                 for service in (LLMService.OPENAI, LLMService.ANTHROPIC)]
        assert ["developer", "system"] == roles

    def test_message_formatter(self) -> None:
        """The seed's unit test: format_messages_for_llm(..., system_role="developer")."""
        messages = MessageFormatter().format_messages_for_llm(
            messages=[Message("user", "person1", "Hi"), Message("person1", "user", "Hello")], person_id="person1",
            system_prompt="Test prompt", service=LLMService.OPENAI, system_role="developer")

        assert [("developer", "Test prompt"), ("user", "Hi"), ("assistant", "Hello")] == [
            (m["role"], m["content"]) for m in messages]


class TestErrors:
    async def test_missing_key_is_api_key_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No key for the model's deployment: APIKeyError (a ValueError), naming the variable."""
        monkeypatch.delenv("OPENAI_API_KEY")
        with pytest.raises(APIKeyError, match="OPENAI_API_KEY") as caught:
            await LLMInfraService().complete([{"role": "user", "content": "Hi"}], model="gpt-4.1-nano",
                                             api_key_id="openai_key", service=LLMService.OPENAI)
        assert isinstance(caught.value, ValueError)

    async def test_conflicting_key_from_the_key_service(self, wire_server: WireServer) -> None:
        """A key service that resolves api_key_id to another key: refused, never sent, never shown."""
        service = LLMInfraService(ApiKeyService({"openai_key": "sk-proj-personal-key-0001"}))

        with pytest.raises(ValueError, match="api key 'openai_key'") as caught:
            await service.complete([{"role": "user", "content": "Hi"}], model="gpt-4.1-nano",
                                   api_key_id="openai_key", service=LLMService.OPENAI)
        assert "personal-key" not in str(caught.value)
        assert [] == wire_server.requests

    async def test_provider_failure_is_llm_service_error(self, monkeypatch: pytest.MonkeyPatch,
                                                         wire_server: WireServer) -> None:
        """A provider 500 after DIPEO_LLM_MAX_RETRIES retries raises LLMServiceError."""
        monkeypatch.setenv("DIPEO_LLM_MAX_RETRIES", "0")
        wire_server.route(Reply.status(500), model="gpt-4.1-nano")

        with pytest.raises(LLMServiceError) as caught:
            await LLMInfraService().complete([{"role": "user", "content": "Hi"}], model="gpt-4.1-nano",
                                             api_key_id="openai_key")
        assert isinstance(caught.value, ProviderUnavailable) and 500 == caught.value.status_code

    async def test_retries_and_timeout_from_the_environment(self, monkeypatch: pytest.MonkeyPatch,
                                                            wire_server: WireServer) -> None:
        """DIPEO_LLM_MAX_RETRIES=1 retries a 503 once; DIPEO_LLM_TIMEOUT is the request timeout."""
        monkeypatch.setenv("DIPEO_LLM_MAX_RETRIES", "1")
        monkeypatch.setenv("DIPEO_LLM_TIMEOUT", "12")
        wire_server.script(Reply.status(503), Reply.text("ok"), model="gpt-4.1-nano")
        service = LLMInfraService()

        result = await service.complete([{"role": "user", "content": "Hi"}], model="gpt-4.1-nano",
                                        api_key_id="openai_key")

        assert ("ok", 2, 12.0) == (result.text, len(wire_server.requests), service.timeout)


class TestPoolingAndPolicies:
    async def test_concurrent_requests_share_one_adapter(self, wire_server: WireServer) -> None:
        """Concurrent completions of one model build one pooled agent (single flight) and all answer."""
        service = LLMInfraService()

        results = await asyncio.gather(*(service.complete([{"role": "user", "content": f"q{i}"}],
                                                          model="gpt-4.1-nano", api_key_id="openai_key")
                                         for i in range(6)))

        assert sorted(r.text for r in results) == sorted(f"echo: q{i}" for i in range(6))
        assert 1 == len(service._pool._agents)

    async def test_guardrail_applies_to_person_messages(self, wire_server: WireServer) -> None:
        """A secret in a person's history is blocked before anything is sent."""
        person = reviewer(system_prompt="You review diagrams.")
        person.messages.append(Message("user", "person1", "The key is AKIA" + "Q3ZT7WXR2M9K4PLD"))

        with pytest.raises(GuardrailViolation):
            await LLMInfraService().complete_with_person(person.get_messages(), person.id, person.llm_config)
        assert [] == wire_server.requests
