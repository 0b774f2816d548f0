"""Single-flight across processes through real Redis: one provider call, answers stored encrypted."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from loomllm._middleware import RedisFlight
from loomllm.testing import Reply, WireServer

ANSWER = "Action items: migrate the billing queue, write ADR-17, load-test the gateway at 3k rps."
QUESTION = "List the open action items from Monday's architecture review."


def encode(value: str) -> bytes:
    return value.encode()


def decode(raw: bytes) -> str:
    return raw.decode()


@pytest.fixture
def prefix() -> str:
    return f"loomllm-test-flight-{uuid.uuid4().hex}:"


class TestRedisFlight:
    async def test_second_process_reads_the_first_ones_answer(self, redis_url: str, prefix: str) -> None:
        """Two flights on separate connections (as two processes): one call, the other gets its answer."""
        first, second = RedisFlight(redis_url, prefix), RedisFlight(redis_url, prefix)
        calls: list[str] = []

        async def slow() -> str:
            calls.append("called")
            await asyncio.sleep(0.2)
            return ANSWER

        results = await asyncio.gather(first.run(b"request", slow, encode=encode, decode=decode),
                                       second.run(b"request", slow, encode=encode, decode=decode))
        assert 1 == len(calls)
        assert {(ANSWER, False), (ANSWER, True)} == set(results)

    async def test_stored_answer_is_encrypted_and_keys_are_digests(self, redis_url: str, prefix: str) -> None:
        """Redis holds neither the request nor the answer in clear text."""
        import redis.asyncio

        flight = RedisFlight(redis_url, prefix)
        await flight.run(QUESTION.encode(), lambda: asyncio.sleep(0, ANSWER), encode=encode, decode=decode)
        client = redis.asyncio.Redis.from_url(redis_url)
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        assert keys
        for key in keys:
            value = await client.get(key)
            assert b"architecture" not in key and b"billing" not in (value or b"")
        await client.aclose()

    async def test_leader_failure_lets_followers_call_themselves(self, redis_url: str, prefix: str) -> None:
        """When the leading process fails, the waiting one makes its own call."""
        first, second = RedisFlight(redis_url, prefix), RedisFlight(redis_url, prefix)

        async def fails() -> str:
            await asyncio.sleep(0.1)
            raise RuntimeError("provider down")

        async def works() -> str:
            return ANSWER

        leader = asyncio.create_task(first.run(b"r", fails, encode=encode, decode=decode))
        await asyncio.sleep(0.02)
        follower = await second.run(b"r", works, encode=encode, decode=decode)
        with pytest.raises(RuntimeError):
            await leader
        assert (ANSWER, False) == follower

    async def test_a_forged_answer_is_not_served(self, redis_url: str, prefix: str) -> None:
        """A result in Redis that this request's key does not open (corrupt, or written by someone with
        access to Redis) is ignored: the caller makes its own request, and no crypto error escapes."""
        import hashlib

        import redis.asyncio

        name = prefix + hashlib.sha256(b"name\0request").hexdigest()
        client = redis.asyncio.Redis.from_url(redis_url)
        await client.set(name + ":lock", b"someone", px=5000)  # as if another process led
        await client.set(name + ":result", b"\x00" * 12 + b"not an answer", px=5000)
        await client.aclose()

        async def works() -> str:
            return ANSWER

        assert (ANSWER, False) == await RedisFlight(redis_url, prefix).run(b"request", works, encode=encode,
                                                                           decode=decode)

    async def test_unreachable_redis_never_fails_the_call(self) -> None:
        """With Redis down, the call is simply made."""
        flight = RedisFlight("redis://127.0.0.1:1/0", "x:")
        assert (ANSWER, False) == await flight.run(b"r", lambda: asyncio.sleep(0, ANSWER), encode=encode,
                                                   decode=decode)


class TestThroughTwoLooms:
    async def test_two_looms_on_redis_make_one_request_and_one_charge(self, make_loom: Any, wire_server: WireServer,
                                                                      redis_url: str, prefix: str) -> None:
        """Two Looms (two processes' worth of state) on one Redis: one provider request, spent once."""
        wire_server.route(Reply.text(ANSWER, latency=0.3))
        section = f"""
            state: "{redis_url}?prefix={prefix}"
            agents: {{reviewer: {{model: smart, temperature: 0, budget: b}}}}
            budgets: {{default_output_cap: 64, policies: {{b: {{limits: [{{tokens: 100000, per: day}}]}}}}}}
        """
        first, second = make_loom(section), make_loom(section)
        answers = await asyncio.gather(first.agent("reviewer").complete(QUESTION),
                                       second.agent("reviewer").complete(QUESTION))
        assert 1 == len(wire_server.requests)
        assert [ANSWER, ANSWER] == [a.choices[0].message.content for a in answers]
        [row] = await first.agent("reviewer").budget_status()
        usage = answers[0].usage
        assert usage.prompt_tokens + usage.completion_tokens == row.spent
