"""The wire server's own contract: scripting, routing, recording, HTTP behaviour, lifecycle."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import subprocess
import sys
from typing import Any

import aiohttp
import httpx
import pytest

from loomllm._litellm import litellm_module
from loomllm.testing import REDACTED, RecordedRequest, Reply, ToolCall, WireServer, count_tokens, embedding_vector


def _chat(server: WireServer, text: str = "hi", model: str = "m", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{server.openai_base}/chat/completions", json=body, headers={"Authorization": "Bearer sk-x"})


def _content(response: httpx.Response) -> str | None:
    content: str | None = response.json()["choices"][0]["message"]["content"]
    return content


class TestScripting:
    def test_default_is_echo(self, wire_server: WireServer) -> None:
        """With nothing scripted the last user message is echoed."""
        assert _content(_chat(wire_server, "hello world")) == "echo: hello world"

    def test_scripts_are_consumed_in_order(self, wire_server: WireServer) -> None:
        """One-shot replies answer successive requests, then echo resumes."""
        wire_server.script(Reply.text("first"), Reply.status(503))
        assert _content(_chat(wire_server)) == "first"
        assert _chat(wire_server).status_code == 503
        assert _content(_chat(wire_server)) == "echo: hi"
        assert wire_server.pending_scripts == 0

    def test_script_filtered_by_model_waits_for_that_model(self, wire_server: WireServer) -> None:
        """A script for one model is not consumed by requests for another."""
        wire_server.script(Reply.text("for b"), model="openai/b")
        assert _content(_chat(wire_server, model="a")) == "echo: hi"
        assert _content(_chat(wire_server, model="b")) == "for b"

    def test_script_filtered_by_api(self, wire_server: WireServer) -> None:
        """A script for the Anthropic API is not consumed by an OpenAI request."""
        wire_server.script(Reply.status(500), api="anthropic")
        assert _chat(wire_server).status_code == 200
        assert wire_server.pending_scripts == 1

    def test_routes_stand_and_newest_wins(self, wire_server: WireServer) -> None:
        """A route answers every matching request; a later route overrides an earlier one."""
        wire_server.route(Reply.text("old"), model="m")
        assert [_content(_chat(wire_server)) for _ in range(2)] == ["old", "old"]
        wire_server.route(Reply.text("new"), model="m")
        assert _content(_chat(wire_server)) == "new"
        assert _content(_chat(wire_server, model="other")) == "echo: hi"

    def test_scripts_take_precedence_over_routes(self, wire_server: WireServer) -> None:
        """A pending one-shot reply beats a standing route."""
        wire_server.route(Reply.text("route"))
        wire_server.script(Reply.text("script"))
        assert [_content(_chat(wire_server)) for _ in range(2)] == ["script", "route"]

    def test_responder_function_sees_the_request(self, wire_server: WireServer) -> None:
        """A callable reply is called with the recorded request."""

        def shout(request: RecordedRequest) -> Reply:
            return Reply.text(str(request.body["messages"][-1]["content"]).upper())

        wire_server.route(shout)
        assert _content(_chat(wire_server, "loud")) == "LOUD"

    def test_failing_responder_answers_500(self, wire_server: WireServer) -> None:
        """An exception in a responder becomes a 500 response, not a dead connection."""

        def broken(request: RecordedRequest) -> Reply:
            raise RuntimeError("bug")

        wire_server.route(broken)
        assert _chat(wire_server).status_code == 500

    def test_usage_is_word_count_unless_overridden(self, wire_server: WireServer) -> None:
        """Usage counts whitespace words; ``with_usage`` replaces it."""
        wire_server.script(Reply.text("a b c"), Reply.text("a").with_usage(100, 7))
        assert _chat(wire_server, "x y").json()["usage"] == {
            "prompt_tokens": 2,
            "completion_tokens": 3,
            "total_tokens": 5,
        }
        assert _chat(wire_server).json()["usage"]["total_tokens"] == 107
        assert count_tokens(" a  b\nc ") == 3

    def test_parallel_tool_calls(self, wire_server: WireServer) -> None:
        """``Reply.tool_calls`` returns several calls with the given ids."""
        wire_server.script(Reply.tool_calls(ToolCall("f", {"x": 1}, "call_1"), ToolCall("g", {}, "call_2")))
        calls = _chat(wire_server).json()["choices"][0]["message"]["tool_calls"]
        assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
            ("call_1", "f", {"x": 1}),
            ("call_2", "g", {}),
        ]

    def test_rate_limit_sets_retry_after(self, wire_server: WireServer) -> None:
        """``Reply.status(429, retry_after=2)`` sends a Retry-After header and an OpenAI error body."""
        wire_server.script(Reply.status(429, retry_after=2))
        response = _chat(wire_server)
        assert (
            response.status_code,
            response.headers["retry-after"],
            response.json()["error"]["type"],
        ) == (429, "2", "rate_limit_exceeded")

    @pytest.mark.parametrize("code", [200, 302, 600])
    def test_status_rejects_non_error_codes(self, code: int) -> None:
        """``Reply.status`` only takes HTTP error codes."""
        with pytest.raises(ValueError):
            Reply.status(code)

    def test_streamed_reply_with_chunk_delay_is_complete(self, wire_server: WireServer) -> None:
        """A stream paced by ``with_chunk_delay`` still arrives whole and ends with [DONE]."""
        wire_server.script(Reply.text("a b c").with_chunk_delay(0.001))
        body = _chat(wire_server, stream=True).text
        deltas = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]
        assert "".join(d["choices"][0]["delta"].get("content") or "" for d in deltas if d["choices"]) == "a b c"
        assert body.endswith("data: [DONE]\n\n")


class TestRecording:
    async def test_credentials_are_redacted(self, wire_server: WireServer) -> None:
        """No provider's API key survives in the recorded requests."""
        litellm = litellm_module()
        secret = "sk-very-secret-key-123"
        for model, api_base in [
            ("openai/gpt-4o-mini", wire_server.openai_base),
            ("anthropic/claude-3-5-haiku-20241022", wire_server.anthropic_base),
            ("gemini/gemini-1.5-flash", wire_server.gemini_base),
        ]:
            await litellm.acompletion(
                model=model, messages=[{"role": "user", "content": "x"}], api_base=api_base, api_key=secret
            )
        recorded = wire_server.requests
        assert secret not in repr(recorded)
        credential_headers = [
            r.headers.get(name) for r in recorded for name in ("authorization", "x-api-key", "x-goog-api-key")
        ]
        assert [value for value in credential_headers if value is not None] == [REDACTED] * 3

    def test_key_query_parameter_is_redacted(self, wire_server: WireServer) -> None:
        """A Gemini-style ``?key=`` query parameter is redacted too."""
        httpx.post(f"{wire_server.gemini_base}/models/gm:generateContent?key=secret", json={"contents": []})
        assert dict(wire_server.requests[0].query) == {"key": REDACTED}

    def test_requests_for_filters_and_reset_clears(self, wire_server: WireServer) -> None:
        """``requests_for`` selects by model and api; ``reset`` forgets everything."""
        _chat(wire_server, model="a")
        _chat(wire_server, model="b")
        httpx.post(f"{wire_server.anthropic_base}/v1/messages", json={"model": "a", "messages": []})
        assert [r.api for r in wire_server.requests_for(model="a")] == ["openai", "anthropic"]
        assert [r.model for r in wire_server.requests_for(model="openai/b", api="openai")] == ["b"]
        wire_server.script(Reply.text("x"))
        wire_server.reset()
        assert (wire_server.requests, wire_server.pending_scripts) == ([], 0)


class TestHTTP:
    def test_unknown_path_is_404_and_recorded(self, wire_server: WireServer) -> None:
        """Unknown paths answer 404 with a JSON error and are still recorded."""
        response = httpx.post(f"{wire_server.url}/nope", json={})
        assert (response.status_code, wire_server.requests[0].api) == (404, None)

    def test_models_listing(self, wire_server: WireServer) -> None:
        """``GET /v1/models`` lists the models named by routes."""
        wire_server.route(Reply.text("x"), model="alpha")
        assert [m["id"] for m in httpx.get(f"{wire_server.openai_base}/models").json()["data"]] == ["alpha"]

    def test_embeddings_base64(self, wire_server: WireServer) -> None:
        """``encoding_format=base64`` returns little-endian float32 vectors."""
        body = {"model": "e", "input": "hello", "encoding_format": "base64"}
        data = httpx.post(f"{wire_server.openai_base}/embeddings", json=body).json()["data"][0]["embedding"]
        decoded = struct.unpack("<8f", base64.b64decode(data))
        assert embedding_vector("hello") == pytest.approx(list(decoded), rel=1e-6)

    def test_keep_alive_serves_several_requests_on_one_connection(self, wire_server: WireServer) -> None:
        """Two requests written on one socket get two complete responses with Content-Length."""
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "k"}]}).encode()
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", wire_server.port)) as sock:
            stream = sock.makefile("rb")
            for _ in range(2):
                sock.sendall(request)
                assert stream.readline().startswith(b"HTTP/1.1 200")
                headers = dict(line.decode().strip().lower().split(": ", 1) for line in iter(stream.readline, b"\r\n"))
                assert headers.get("connection") != "close"
                assert (
                    json.loads(stream.read(int(headers["content-length"])))["choices"][0]["message"]["content"]
                    == "echo: k"
                )

    async def test_concurrent_requests(self, wire_server: WireServer) -> None:
        """200 concurrent requests over pooled keep-alive connections each get their own echo."""
        url = f"{wire_server.openai_base}/chat/completions"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:

            async def one(i: int) -> str:
                body = {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]}
                async with session.post(url, json=body) as response:
                    return str((await response.json())["choices"][0]["message"]["content"])

            answers = await asyncio.gather(*(one(i) for i in range(200)))
            answers += await asyncio.gather(*(one(i) for i in range(200, 400)))
        assert [f"echo: n{i}" for i in range(400)] == answers
        assert len(wire_server.requests) == 400

    async def test_latency_beyond_client_timeout_times_out(self, wire_server: WireServer) -> None:
        """A reply slower than LiteLLM's timeout surfaces as ``litellm.Timeout``."""
        litellm = litellm_module()
        wire_server.route(Reply.text("late", latency=0.5), model="slow")
        with pytest.raises(litellm.Timeout):
            await litellm.acompletion(
                model="openai/slow",
                messages=[{"role": "user", "content": "x"}],
                api_base=wire_server.openai_base,
                api_key="k",
                timeout=0.05,
                max_retries=0,
            )


class TestLifecycle:
    def test_context_manager_starts_and_stops(self) -> None:
        """Inside ``with`` the server answers; afterwards its port refuses connections."""
        with WireServer() as server:
            port = server.port
            assert _content(_chat(server)) == "echo: hi"
            keep_alive = httpx.Client()
            keep_alive.post(f"{server.openai_base}/chat/completions", json={"model": "m", "messages": []})
        with pytest.raises(httpx.TransportError):
            keep_alive.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "m", "messages": []})
        keep_alive.close()

    def test_standalone_process_serves_until_terminated(self) -> None:
        """``python -m loomllm.testing`` prints its URL, echoes, and exits cleanly on SIGTERM."""
        command = [sys.executable, "-m", "loomllm.testing", "--latency", "0.01"]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            body = {"model": "m", "messages": [{"role": "user", "content": "out of process"}]}
            answer = httpx.post(f"{url}/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
            process.terminate()
            assert (answer, process.wait(timeout=10)) == ("echo: out of process", 0)

    def test_addresses_need_a_running_server(self) -> None:
        """Asking a stopped server for its URL is an error, not a wrong URL."""
        with pytest.raises(RuntimeError):
            _ = WireServer().url

    def test_fixture_leaves_a_script_behind(self, wire_server: WireServer) -> None:
        """Leave an unconsumed script; the next test must not see it."""
        wire_server.script(Reply.text("stale"))

    def test_fixture_resets_between_tests(self, wire_server: WireServer) -> None:
        """The ``wire_server`` fixture starts each test with no scripts and no records."""
        assert (wire_server.pending_scripts, wire_server.requests) == (0, [])
