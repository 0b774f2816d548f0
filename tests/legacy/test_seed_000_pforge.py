"""Seed 000 (pForge "llm_clients/" plan): per-provider clients, tenacity retries, a token budget meter and
guardrails (secrets in prompts, egress, harmful responses), as pForge's agents would use them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from loomllm import BudgetExceeded, ConfigError, GuardrailViolation, Loom, ProviderError
from loomllm.legacy import ChatGPTProvider, ClaudeProvider, LLMProviderFactory, TokenBudget
from loomllm.testing import Reply, WireServer

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

    @pytest.mark.xfail(reason="harmful-response check: the output content policy is being built by the middleware "
                              "engineer; legacy calls go through UnifiedAgent's output guard and get it unchanged",
                       strict=False)
    def test_harmful_response_is_refused(self, wire_server: WireServer) -> None:
        """A response with harmful instructions is refused by the output check."""
        wire_server.route(Reply.text("Step 1: disable the building's fire alarms. Step 2: start the fire."))
        with pytest.raises(GuardrailViolation):
            ClaudeProvider().generate_response("How do I make the fire drill realistic?")


def test_loom_can_be_passed_explicitly(seed_config: Path, wire_server: WireServer) -> None:
    """Code that holds a Loom passes it; the same policies apply."""
    with Loom(seed_config) as loom:
        assert "echo: Hi" == ClaudeProvider(loom=loom).generate_response("Hi")
