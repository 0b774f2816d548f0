"""Fixtures for tests/cli: one local wire server for the session, answering as the demo does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loomllm._demo import route_demo_replies
from loomllm.testing import WireServer


@pytest.fixture(scope="session")
def demo_server() -> Iterator[WireServer]:
    """One wire server for the whole session, answering the offline config's models as the demo does."""
    with WireServer() as server:
        route_demo_replies(server)
        yield server


@pytest.fixture(scope="session")
def offline_env(demo_server: WireServer) -> dict[str, str]:
    """Environment that points ``config/offline.yaml`` at the shared server (what ``--offline`` does)."""
    return {"LOOMLLM_OFFLINE_URL": demo_server.url}
