"""The call scope: concurrent calls each send under their own call and egress scope, cancellations included."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from loomllm._attempt import current_call
from loomllm._egress import current_scope
from loomllm._egress import guard as transport_guard
from loomllm.testing import Reply, WireServer

AGENTS = """
    agents:
      open: {model: smart, max_tokens: 20}
      fenced: {model: smart, max_tokens: 20, egress: local}
    egress:
      policies:
        local: {allow: ["http://127.0.0.1:*"]}
    """


class TestConcurrentCalls:
    async def test_each_request_leaves_under_its_own_call(
        self, make_loom: Any, wire_server: WireServer, monkeypatch: Any
    ) -> None:
        """200 calls (a third of them streams) of two agents at once, a quarter cancelled at random moments:
        every check the transport guard makes runs under the scope of the call that is current, never another
        call's, and no call fails."""
        loom = make_loom(AGENTS)
        agents = [loom.agent("open"), loom.agent("fenced")]
        await agents[1].chat("warm-up")  # the transport guard is in place from here on
        seen: list[tuple[str | None, bool]] = []
        resolver = transport_guard._STATE.resolver

        def observing() -> Any:
            call, scope = current_call(), current_scope()
            seen.append((call.call_id if call else None, call is not None and scope is call.egress_scope))
            return resolver()

        monkeypatch.setattr(transport_guard._STATE, "resolver", observing)
        rng = random.Random(7)
        wire_server.route(lambda request: Reply.text("ok").with_latency(rng.random() * 0.02))

        async def one(index: int) -> Any:
            agent = agents[index % 2]
            if index % 3:
                return await agent.chat(f"question {index}")
            parts = [chunk async for chunk in agent.stream([{"role": "user", "content": f"question {index}"}])]
            return "".join(c.choices[0].delta.content or "" for c in parts if c.choices)

        tasks = [asyncio.create_task(one(index)) for index in range(200)]
        for index in rng.sample(range(200), 50):
            await asyncio.sleep(rng.random() * 0.005)
            tasks[index].cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        failures = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, asyncio.CancelledError)]
        assert [] == failures
        assert seen and all(own for _, own in seen)
        assert len({call_id for call_id, _ in seen}) >= sum(not isinstance(o, BaseException) for o in outcomes)
        assert current_call() is None and current_scope() is None
