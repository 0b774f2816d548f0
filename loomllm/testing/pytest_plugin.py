"""pytest plugin (entry point ``loomllm``): fixtures for the local wire server.

``wire_server`` is function-scoped: every test sees a running :class:`~loomllm.testing.WireServer`
with no scripts, routes or recorded requests. One server is shared by the whole session underneath,
so the port (and LiteLLM's pooled connections to it) stays the same from test to test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loomllm.testing import WireServer


@pytest.fixture(scope="session")
def wire_server_session() -> Iterator[WireServer]:
    """The session's shared wire server; prefer ``wire_server``, which also resets it."""
    with WireServer() as server:
        yield server


@pytest.fixture
def wire_server(wire_server_session: WireServer) -> Iterator[WireServer]:
    """A running wire server with no scripts, routes or recorded requests."""
    wire_server_session.reset()
    yield wire_server_session
    wire_server_session.reset()
