"""A fourth round of attacks, on the middleware and the output side (issue 12).

Single-flight, the cache policy, the output content policy, rate limits and telemetry. The
``xfail(strict=True)`` tests are holes that are still open: each reason says where and how to fix it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from security_support import AWS_KEY

from loomllm import ContentPolicyViolation, Loom
from loomllm.testing import Reply, WireServer

QUESTION = "Summarise the open items from the incident review."


class TestSingleFlightFollowers:
    async def test_a_cancelled_follower_breaks_neither_the_leader_nor_the_others(
            self, make_loom: Any, wire_server: WireServer) -> None:
        """One follower times out while the shared request runs: the others still get the answer and the
        leader's call is charged."""
        wire_server.route(Reply.text("1. Rotate the key. 2. Add the alert.", latency=0.4))
        loom = make_loom("""
            agents: {reviewer: {model: smart, temperature: 0, budget: b}}
            budgets: {default_output_cap: 64, policies: {b: {limits: [{tokens: 100000, per: day}]}}}
        """)
        agent = loom.agent("reviewer")
        leader = asyncio.create_task(agent.complete(QUESTION))
        await asyncio.sleep(0.1)
        follower = asyncio.create_task(agent.complete(QUESTION))
        impatient = asyncio.create_task(asyncio.wait_for(agent.complete(QUESTION), 0.1))
        results = await asyncio.gather(leader, follower, impatient, return_exceptions=True)
        assert 1 == len(wire_server.requests)
        assert isinstance(results[2], TimeoutError)
        [row] = await agent.budget_status()
        assert row.spent > 0 and row.reserved == 0  # was 0: the provider answered, nothing was charged
        assert [type(r).__name__ for r in results[:2]] == ["ModelResponse", "ModelResponse"]


def _moderated_head(server: WireServer, *, moderation_price: float) -> str:
    return f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o, api_base: "{server.openai_base}", api_key: sk-test}}
  - model_name: moderation
    litellm_params: {{model: openai/omni-moderation-latest, api_base: "{server.openai_base}", api_key: sk-test,
                      input_cost_per_token: {moderation_price}, output_cost_per_token: 0}}
router_settings: {{num_retries: 0}}
"""


class TestModerationBudget:
    async def test_a_priced_moderation_call_is_charged_in_dollars(self, make_loom: Any,
                                                                   wire_server: WireServer) -> None:
        wire_server.route(Reply.text("Restart the ingest worker, then page the on-call."))
        wire_server.script(Reply.moderation(), api="moderations")
        loom = make_loom("""
            agents: {support: {model: smart, temperature: 0, max_tokens: 20, budget: dollars}}
            budgets: {policies: {dollars: {limits: [{usd: 5, per: day}]}}}
            output_policy: {default: safe, policies: {safe: {moderation: {model: moderation}}}}
        """, head=_moderated_head(wire_server, moderation_price=0.01))
        agent = loom.agent("support")
        await agent.complete(QUESTION)
        [row] = [s for s in await agent.budget_status() if s.unit == "usd"]
        # gpt-4o's own cost is below $0.001; the moderation input is at least 5 tokens at $0.01 each
        assert row.spent >= 0.05



ENCODED_EMAIL = "margaret.okafor@northwind-logistics.com"


class TestModerationInput:
    @pytest.mark.parametrize("encoded", [
        base64.b64encode(ENCODED_EMAIL.encode()).decode(),
        ENCODED_EMAIL.encode().hex(),
        "".join(f"%{b:02X}" for b in ENCODED_EMAIL.encode()),
        ENCODED_EMAIL.replace("@", "\\u0040"),
    ], ids=["base64", "hex", "percent", "json_escape"])
    async def test_encoded_values_in_the_answer_reach_the_moderator_as_placeholders(
            self, make_loom: Any, wire_server: WireServer, encoded: str) -> None:
        """The input guardrail sees through these encodings, and so does the moderator's outbound view:
        the second provider never gets the address, in any of its encodings."""
        wire_server.route(Reply.text(f"Send the signed form to {encoded} before noon on Thursday."), api="openai")
        wire_server.route(Reply.moderation(), api="moderations")
        loom = make_loom("""
            agents: {clerk: {model: smart}}
            guardrails: {default: standard}
            output_policy: {default: p, policies: {p: {moderation: {model: moderation}}}}
        """, head=_moderated_head(wire_server, moderation_price=0.0))
        await loom.agent("clerk").complete("Where do I send the form?")
        [moderation] = wire_server.requests_for(api="moderations")
        assert "Thursday" in moderation.body["input"] and encoded not in moderation.body["input"]

DENY = """
    agents: {{support: {{model: smart, temperature: 0}}}}
    output_policy: {{default: strict, policies: {{strict: {{deny: {{words: ["wire the funds"]}}{extra}}}}}}}
"""


class TestDenyRuleEvasion:
    @pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u2060"])
    async def test_invisible_characters_inside_a_deny_word(self, make_loom: Any, wire_server: WireServer,
                                                           invisible: str) -> None:
        wire_server.route(Reply.text(f"Please wire the fu{invisible}nds to account 4471 today."))
        loom = make_loom(DENY.format(extra=""))
        with pytest.raises(ContentPolicyViolation):
            await loom.agent("support").complete(QUESTION)

    async def test_a_deny_word_split_over_stream_chunks_is_held_back(self, make_loom: Any,
                                                                     wire_server: WireServer) -> None:
        """Chunk boundaries do not split a deny word out of sight: nothing of it reaches the caller."""
        wire_server.route(Reply.text("Okay. Please wire the funds now. " + "Filler text here. " * 20))
        loom = make_loom(DENY.format(extra=", hold_back_chars: 0"))
        seen: list[str] = []
        with pytest.raises(ContentPolicyViolation):
            async for chunk in loom.agent("support").stream(QUESTION):
                seen.extend(c.delta.content or "" for c in chunk.choices)
        assert "funds" not in "".join(seen)


class ScriptedServer:
    """A stdlib OpenAI-compatible server on 127.0.0.1 answering every POST with ``body`` (a JSON answer, or
    the chunks of an SSE stream): shapes the wire server does not script (reasoning, interleaved deltas)."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | list[dict[str, Any]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                if isinstance(owner.body, list):
                    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in owner.body)
                    data, kind = data + b"data: [DONE]\n\n", "text/event-stream"
                else:
                    data, kind = json.dumps(owner.body).encode(), "application/json"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def loom(self, tmp_path: Path, loom_section: str) -> Loom:
        """A Loom whose group ``smart`` is this server."""
        path = tmp_path / "scripted.yaml"
        path.write_text(f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:{self.server.server_address[1]}/v1",
                      api_key: sk-test}}
router_settings: {{num_retries: 0}}
loomllm:
""" + textwrap.indent(textwrap.dedent(loom_section), "  "))
        return Loom(path)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _answer(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}


def _chunk(deltas: list[tuple[int, dict[str, Any]]], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": i, "delta": d, "finish_reason": finish} for i, d in deltas]}


def _tool_delta(index: int, arguments: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


USAGE_CHUNK = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}

# Two parallel tool calls whose argument deltas alternate: the caller joins each call's own deltas.
INTERLEAVED_TOOL_CALLS = [
    _chunk([(0, {"role": "assistant", "content": None})]),
    _chunk([(0, _tool_delta(0, '{"note": "wire the ', "send_note"))]),
    _chunk([(0, _tool_delta(1, '{"x": "', "log"))]),
    _chunk([(0, _tool_delta(0, 'funds now"}'))]),
    _chunk([(0, _tool_delta(1, 'ok"}'))]),
    _chunk([(0, {})], "tool_calls"), USAGE_CHUNK,
]
# Two choices (n=2) whose content deltas alternate.
INTERLEAVED_CHOICES = [
    _chunk([(0, {"role": "assistant", "content": "Please wire the "}), (1, {"role": "assistant", "content": "No "})]),
    _chunk([(1, {"content": "action needed. "})]),
    _chunk([(0, {"content": "funds now."})]),
    _chunk([(0, {}), (1, {})], "stop"), USAGE_CHUNK,
]
TOOLS = [{"type": "function", "function": {"name": "send_note", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "log", "parameters": {"type": "object"}}}]


class TestFieldsTheCallerSees:
    async def test_reasoning_content_meets_the_deny_rules(self, tmp_path: Path, scripted: ScriptedServer) -> None:
        scripted.body = _answer({"content": "Done.", "reasoning_content": "Plan: tell them to wire the funds."})
        with scripted.loom(tmp_path, DENY.format(extra="")) as loom:
            try:
                answer = await loom.agent("support").complete(QUESTION)
            except ContentPolicyViolation:
                return
        assert "wire the funds" not in str(answer.choices[0].message.reasoning_content)

    @pytest.mark.parametrize("chunks,params", [(INTERLEAVED_TOOL_CALLS, {"tools": TOOLS}),
                                               (INTERLEAVED_CHOICES, {"n": 2})], ids=["tool_calls", "choices"])
    async def test_interleaved_stream_deltas_meet_the_deny_rules(self, tmp_path: Path, scripted: ScriptedServer,
                                                                 chunks: list[dict[str, Any]],
                                                                 params: dict[str, Any]) -> None:
        scripted.body = chunks
        parts: dict[tuple[int, int], str] = {}
        with scripted.loom(tmp_path, DENY.format(extra="")) as loom:
            try:
                async for chunk in loom.agent("support").stream(QUESTION, **params):
                    for choice in chunk.choices:
                        delta = choice.delta
                        key = (choice.index, -1)
                        parts[key] = parts.get(key, "") + (delta.content or "")
                        for call in delta.tool_calls or []:
                            key = (choice.index, call.index)
                            parts[key] = parts.get(key, "") + (cast(Any, call).function.arguments or "")
            except ContentPolicyViolation:
                return
        assert not any("wire the funds" in text for text in parts.values()), parts


class TestModerationAnswers:
    @pytest.mark.parametrize("results", [[], [{}], [{"flagged": True}]], ids=["no_result", "empty", "flagged_only"])
    async def test_an_unusable_moderation_answer_fails_closed(self, tmp_path: Path, wire_server: WireServer,
                                                              scripted: ScriptedServer,
                                                              results: list[dict[str, Any]]) -> None:
        scripted.body = {"id": "modr-1", "model": "omni-moderation-latest", "results": results}
        wire_server.route(Reply.text("Here is the answer the moderator is meant to check."))
        moderator = f"http://127.0.0.1:{scripted.server.server_address[1]}/v1"
        path = tmp_path / "moderated.yaml"
        path.write_text(f"""
model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{wire_server.openai_base}", api_key: sk-test}}
  - model_name: moderation
    litellm_params: {{model: openai/omni-moderation-latest, api_base: "{moderator}", api_key: sk-test}}
router_settings: {{num_retries: 0}}
loomllm:
  agents: {{support: {{model: smart}}}}
  output_policy: {{default: p, policies: {{p: {{on_error: fail_closed, moderation: {{model: moderation}}}}}}}}
""")
        with Loom(path) as loom, pytest.raises(ContentPolicyViolation):
            await loom.agent("support").complete(QUESTION)


class TestTelemetryLabels:
    async def test_caller_chosen_hosts_do_not_become_metric_labels(self, secure_loom: Any,
                                                                   wire_server: WireServer, registry: Any) -> None:
        from loomllm import EgressDenied, instrument

        loom = secure_loom()
        telemetry = instrument(loom, traces=False, registry=registry)
        agent = loom.agent("worker")
        for i in range(12):
            image = {"type": "image_url", "image_url": {"url": f"https://u{i}-tracking.example.net/p.png"}}
            with pytest.raises(EgressDenied):
                await agent.complete([{"role": "user", "content": [{"type": "text", "text": "Describe it."}, image]}])
        telemetry.flush()
        hosts = {s.labels.get("host") for m in registry.collect() if m.name == "llm_egress_refusals"
                 for s in m.samples}
        assert [] == wire_server.requests
        assert len(hosts) <= 2, sorted(map(str, hosts))


    async def test_budget_key_values_do_not_become_metric_labels(self, make_loom: Any, registry: Any) -> None:
        from loomllm import instrument

        loom = make_loom("""
            agents: {a: {model: smart, max_tokens: 20}}
            budgets:
              scopes: {user: {default: per_user}}
              policies: {per_user: {mode: soft, warn_at: 0.01, limits: [{tokens: 100, per: day}]}}
        """)
        telemetry = instrument(loom, traces=False, registry=registry)
        for i in range(5):
            await loom.agent("a").chat("hello there", budget_keys={"user": f"jane.doe{i}@acme-corp.com"})
        telemetry.flush()
        labels = [s.labels for m in registry.collect() for s in m.samples]
        assert [] == [v for label in labels for v in label.values() if "acme-corp" in v]


class TestStreamsAndTheCache:
    async def test_a_redacted_streamed_secret_is_not_in_the_redis_cache(self, make_loom: Any,
                                                                        wire_server: WireServer,
                                                                        redis_url: str) -> None:
        import uuid

        import redis

        namespace = f"loomllm-sec4-{uuid.uuid4().hex}"
        wire_server.route(Reply.text(f"Here is the deploy key: {AWS_KEY} (rotate it after use)."))
        loom = make_loom("""
            agents: {ops: {model: smart, temperature: 0}}
            guardrails:
              default: scrub
              profiles: {scrub: {input: {default: allow}, output: {SECRET: redact, default: allow}}}
        """, extra=("litellm_settings:\n  cache: true\n  cache_params: {type: redis, ttl: 60, "
                    f"host: 127.0.0.1, port: 6379, namespace: {namespace}}}\n"))
        shown = "".join([c.choices[0].delta.content or "" async for c in loom.agent("ops").stream("deploy key?")
                         if c.choices])
        assert AWS_KEY not in shown
        await asyncio.sleep(0.5)  # LiteLLM writes the cache from its logging task
        client: Any = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(f"{namespace}*"))
        try:
            assert [] == [k for k in keys if AWS_KEY.encode() in (client.get(k) or b"")]
        finally:
            for key in keys:
                client.delete(key)
