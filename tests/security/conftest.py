"""Attack fixtures: an allowed wire server, a forbidden one that must receive nothing, a redirector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from security_support import Redirector, secure_config

from loomllm import Loom
from loomllm.testing import WireServer


@pytest.fixture
def forbidden() -> Iterator[WireServer]:
    """A server no agent may reach: every test asserts it received nothing."""
    with WireServer() as server:
        yield server
    assert [] == server.requests, "a request reached a host the policy does not allow"


@pytest.fixture
def redirector(forbidden: WireServer) -> Iterator[Redirector]:
    """An allowed-looking host that redirects every request to the forbidden server."""
    server = Redirector(forbidden.openai_base.rsplit("/v1", 1)[0])
    yield server
    server.close()


@pytest.fixture
def secure_loom(tmp_path: Path, wire_server: WireServer) -> Iterator[Callable[..., Loom]]:
    """Build Looms from :func:`secure_config` keyword arguments; closed after the test."""
    looms: list[Loom] = []

    def build(**kwargs: Any) -> Loom:
        path = tmp_path / f"secure{len(looms)}.yaml"
        path.write_text(secure_config(wire_server, **kwargs))
        loom = Loom(path)
        looms.append(loom)
        return loom

    yield build
    for loom in looms:
        loom.close()


