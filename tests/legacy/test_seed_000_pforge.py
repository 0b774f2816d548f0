"""Seed 000 (pForge "llm_clients/" plan): per-provider clients, tenacity retries, a token budget meter and
guardrails (secrets in prompts, egress, harmful responses), as pForge's agents would use them.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from loomllm import BudgetExceeded, ConfigError, ContentPolicyViolation, GuardrailViolation, Loom, ProviderError
from loomllm.legacy import (
    ChatGPTProvider,
    ClaudeProvider,
    LiteLLMAgent,
    LLMClient,
    LLMInfraService,
    LLMManager,
    LLMProviderFactory,
    Message,
    Role,
    TokenBudget,
)
from loomllm.testing import Reply, WireServer
from tests.legacy.conftest import seed_yaml

pytestmark = [pytest.mark.filterwarnings("ignore::loomllm.legacy.LoomDeprecationWarning"),
              pytest.mark.usefixtures("seed_config")]


class TestProviderClients:
    def test_claude_client(self, wire_server: WireServer) -> None:
        """The FixerAgent's Claude client answers through the Anthropic deployment."""
        assert "echo: Fix the failing test" == ClaudeProvider().generate_response("Fix the failing test")
        assert "anthropic" == wire_server.requests[0].api

    def test_openai_o3_client(self, wire_server: WireServer) -> None:
        """The MisfitAgent's OpenAI reasoning-model client: an o-series model group."""
        ChatGPTProvider(model_group="o4-mini").generate_response("Find the misfit")
        assert "o4-mini" == wire_server.requests[0].model

    def test_gemini_client(self, wire_server: WireServer) -> None:
        """The PredictorAgent's Gemini client answers through the Gemini deployment."""
        client = LLMProviderFactory.create_provider("gemini")
        assert "echo: Predict the outcome" == client.generate_response("Predict the outcome")
        assert "gemini" == wire_server.requests[0].api


class TestRetry:
    def test_tenacity_decorator_retries_transient_provider_errors(self, wire_server: WireServer) -> None:
        """A tenacity-decorated client method retries a 503 (loomllm marks it retryable) and succeeds."""
        wire_server.script(Reply.status(503), Reply.text("plan ready"), model="claude-sonnet-4-20250514")
        client = ClaudeProvider()

        @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.01, max=0.05),
               retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable), reraise=True)
        def plan() -> str:
            return client.generate_response("Plan the fix")

        assert "plan ready" == plan()
        assert 2 == len(wire_server.requests)

    def test_policy_refusals_are_not_retryable(self, wire_server: WireServer) -> None:
        """A guardrail refusal is not a provider error: a retry-on-ProviderError policy does not repeat it."""
        calls = 0

        @retry(stop=stop_after_attempt(3), retry=retry_if_exception(lambda e: isinstance(e, ProviderError)),
               reraise=True)
        def ask() -> str:
            nonlocal calls
            calls += 1
            return ClaudeProvider().generate_response("token: ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8")

        with pytest.raises(GuardrailViolation):
            ask()
        assert (1, []) == (calls, wire_server.requests)


class TestBudgetMeter:
    def test_spend_refuses_past_the_quota(self) -> None:
        """budget_meter.spend: within the quota it counts; past it, BudgetExceeded and nothing counted."""
        meter = TokenBudget()
        meter.spend("broke", 30)

        assert 20 == meter.remaining("broke")
        assert not meter.can_spend("broke", 21)
        with pytest.raises(BudgetExceeded):
            meter.spend("broke", 21)
        assert 20 == meter.remaining("broke")

    def test_agent_calls_draw_on_the_same_budget(self, wire_server: WireServer) -> None:
        """A client call made as the budgeted agent is refused before sending once the meter is spent."""
        TokenBudget().spend("broke", 50)

        with pytest.raises(BudgetExceeded):
            ClaudeProvider(agent="broke").generate_response("One more plan")
        assert [] == wire_server.requests


class TestGuardrails:
    def test_secret_in_prompt_is_refused(self, wire_server: WireServer) -> None:
        """A prompt carrying a credential is refused before it is sent; the error does not contain it."""
        secret = "AKIA" + "Q3ZT7WXR2M9K4PLD"
        with pytest.raises(GuardrailViolation) as caught:
            ChatGPTProvider().generate_response(f"Use {secret} to upload the artefacts")
        assert secret not in str(caught.value)
        assert [] == wire_server.requests

    def test_unapproved_domain_is_refused(self, tmp_path: Path, wire_server: WireServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """With an egress allowlist of the real provider hosts, a client for the loopback host is refused."""
        path = tmp_path / "egress.yaml"
        path.write_text(textwrap.dedent(f"""
            model_list:
              - model_name: claude
                litellm_params: {{model: anthropic/claude-sonnet-4-20250514, api_base: "{wire_server.anthropic_base}",
                                  api_key: os.environ/ANTHROPIC_API_KEY}}
            loomllm:
              egress:
                default: providers
                policies:
                  providers: {{allow: [api.openai.com, api.anthropic.com]}}
            """))
        monkeypatch.setenv("LOOMLLM_CONFIG", str(path))
        # refused when the client is made (a config error: the host is known up front)
        with pytest.raises(ConfigError, match="host is not on the allowlist"):
            ClaudeProvider().generate_response("Plan the fix")
        assert [] == wire_server.requests


# How a pForge team configures "check a response for harmful content": a moderation model (OpenAI's,
# through the Router like any call) as the output policy of every agent, plus the phrases its own
# review banned outright. The wire server does not judge text: each test scripts the verdict.
HARMFUL_CHECK_MODELS = """
    - model_name: moderation
      litellm_params: {model: openai/omni-moderation-latest, api_base: "%s", api_key: os.environ/OPENAI_API_KEY}
      model_info: {mode: moderation}
    """
HARMFUL_CHECK_POLICY = """
    output_policy:
      default: harmful
      policies:
        harmful:
          moderation: {model: moderation, categories: [violence, illicit, illicit/violent, self-harm]}
          deny: {words: ["disable the fire alarms"]}
    """
HARMFUL_ANSWER = "Step 1: cut the power to the building's fire alarms. Step 2: start the fire."


@pytest.fixture
def harmful_check(seed_config: Path, wire_server: WireServer) -> Path:
    """The seed config with the team's harmful-response check on."""
    seed_config.write_text(seed_yaml(wire_server, models=HARMFUL_CHECK_MODELS % wire_server.openai_base,
                                     policies=HARMFUL_CHECK_POLICY))
    return seed_config


@pytest.mark.usefixtures("harmful_check")
class TestHarmfulResponses:
    def test_harmful_response_is_refused(self, wire_server: WireServer) -> None:
        """A response the moderation model flags is refused with a GuardrailViolation; the text is not in it."""
        wire_server.route(Reply.text(HARMFUL_ANSWER))
        wire_server.script(Reply.moderation({"illicit/violent": 0.91}), api="moderations")

        with pytest.raises(GuardrailViolation) as caught:
            ClaudeProvider().generate_response("How do I make the fire drill realistic?")

        error = caught.value
        assert isinstance(error, ContentPolicyViolation)
        assert ("output", "moderation", ("illicit/violent",)) == (error.direction, error.source, error.categories)
        assert "fire" not in str(error)
        [moderation] = wire_server.requests_for(api="moderations")
        assert "fire alarms" in moderation.body["input"]

    def test_banned_phrase_is_refused_without_a_moderation_call(self, wire_server: WireServer) -> None:
        """A phrase on the deny list is refused by the rule alone (the moderation model is not asked)."""
        wire_server.route(Reply.text("First, Disable  the fire ALARMS."))

        with pytest.raises(GuardrailViolation) as caught:
            ChatGPTProvider().generate_response("How do I make the fire drill realistic?")
        assert ("deny", ("words[0]",)) == (caught.value.source, caught.value.categories)
        assert [] == wire_server.requests_for(api="moderations")

    def test_safe_response_is_delivered(self, wire_server: WireServer) -> None:
        """A response the check passes comes back unchanged."""
        wire_server.route(Reply.text("Announce the drill, then walk the evacuation route."))
        assert "Announce the drill, then walk the evacuation route." == ClaudeProvider().generate_response("Plan it")

    def test_refused_response_is_logged_and_charged(self, harmful_check: Path, wire_server: WireServer) -> None:
        """The refused answer was produced: its call event counts its tokens, its outcome names the policy."""
        wire_server.route(Reply.text(HARMFUL_ANSWER))
        wire_server.script(Reply.moderation({"violence": 0.8}), api="moderations")
        events: list[dict[str, Any]] = []

        with Loom(harmful_check, on_event=events.append) as loom, pytest.raises(GuardrailViolation):
            ClaudeProvider(loom=loom).generate_response("Drill?")
        [call] = [e for e in events if e["event"] == "llm.call" and e["kind"] == "completion"]
        assert ("ContentPolicyViolation", True) == (call["outcome"], call["tokens_out"] > 0)

    @pytest.mark.parametrize("call", [
        pytest.param(lambda: LLMManager({"llm_provider": "claude"}).generate_response("Drill?"), id="seed 002"),
        pytest.param(lambda: asyncio.run(LLMInfraService().complete([{"role": "user", "content": "Drill?"}],
                                                                    model="gpt-4o")), id="seed 003"),
        pytest.param(lambda: LiteLLMAgent(model_name="gpt-4o").chat([{"role": "user", "content": "Drill?"}]),
                     id="seed 004"),
    ])
    def test_every_legacy_interface_refuses_it(self, call: Callable[[], Any], wire_server: WireServer) -> None:
        """The other seeds' interfaces get the same check and the same GuardrailViolation."""
        wire_server.route(Reply.text(HARMFUL_ANSWER))
        wire_server.script(Reply.moderation({"violence": 0.8}), api="moderations")
        with pytest.raises(GuardrailViolation) as caught:
            call()
        assert isinstance(caught.value, ContentPolicyViolation)

    async def test_streamed_harmful_response_is_refused(self, wire_server: WireServer) -> None:
        """Streamed through the seed-001 client, the same answer stops with the same GuardrailViolation."""
        wire_server.route(Reply.text(HARMFUL_ANSWER))
        wire_server.script(Reply.moderation({"violence": 0.8}), api="moderations")
        client = LLMClient()

        with pytest.raises(GuardrailViolation) as caught:
            async for _ in client.stream([Message(role=Role.USER, content="Drill?")]):
                pass
        assert isinstance(caught.value, ContentPolicyViolation)


def test_loom_can_be_passed_explicitly(seed_config: Path, wire_server: WireServer) -> None:
    """Code that holds a Loom passes it; the same policies apply."""
    with Loom(seed_config) as loom:
        assert "echo: Hi" == ClaudeProvider(loom=loom).generate_response("Hi")
