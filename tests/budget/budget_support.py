"""Helpers and fixtures for the budget tests (imported by conftest.py and by the tests, which need its names)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loomllm._budget import BudgetLedger, BudgetsConfig, BudgetStore, open_store

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def require_redis() -> None:
    """Skip when no Redis listens on 127.0.0.1:6379, unless running in CI, where that is a failure."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis on 127.0.0.1:6379 is required in CI")
        pytest.skip("no Redis on 127.0.0.1:6379")


def drop_prefix(prefix: str) -> None:
    """Delete every Redis key under ``prefix`` (never FLUSHDB: the server is shared)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = [*client.scan_iter(match=f"{prefix}*", count=1000), *client.scan_iter(match=f"{{{prefix}}}*", count=1000)]
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the shared Redis, cleaned up afterwards."""
    require_redis()
    prefix = f"loomtest:{uuid.uuid4().hex}:"
    yield prefix
    drop_prefix(prefix)


def store_url(kind: str, tmp_path: Path, prefix: str) -> str:
    """A URL for a fresh store of ``kind``."""
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/budget.db"
    return f"{REDIS_URL}?prefix={prefix}"


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """A real 3-node Redis Cluster on free ports, started once per test session."""
    from redis_servers import start_cluster

    nodes = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real valkey-server on a free port, started once per test session (skipped if not installed)."""
    from redis_servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("valkey"), flavor="valkey").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """A real 3-node Valkey cluster (``valkey-cli --cluster create``), started once per test session."""
    from redis_servers import start_cluster

    nodes = start_cluster(tmp_path_factory.mktemp("valkey-cluster"), flavor="valkey")
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture(params=["memory", "sqlite", "redis", "cluster", "valkey", "valkey-cluster"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BudgetStore]:
    """A fresh store of each kind (server ones with a fresh prefix on the session's server or cluster)."""
    prefix = ""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
    if request.param in ("cluster", "valkey-cluster"):
        nodes = request.getfixturevalue("redis_cluster" if request.param == "cluster" else "valkey_cluster")
        url = f"redis://127.0.0.1:{nodes[0].port}/0?cluster=true&prefix=ct-{uuid.uuid4().hex}:"
    elif request.param == "valkey":
        port = request.getfixturevalue("valkey_server").port
        url = f"valkey://127.0.0.1:{port}/0?prefix=vk-{uuid.uuid4().hex}:"
    else:
        url = store_url(request.param, tmp_path, prefix)
    s = open_store(url)
    yield s
    await s.aclose()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-03-10 12:00:00 UTC."""
    return FakeClock(1773144000.0)


@pytest.fixture
def events() -> list[dict[str, Any]]:
    """Events received by the ``on_event`` hook."""
    return []


def make_ledger(
    store: BudgetStore,
    clock: Callable[[], float],
    events: list[dict[str, Any]],
    *,
    policies: dict[str, Any],
    agents: dict[str, str | None],
    **budgets: Any,
) -> BudgetLedger:
    """A ledger over ``store`` with the given policies and agent → policy mapping."""
    budgets.setdefault("journal_path", os.path.join(tempfile.mkdtemp(prefix="loom-journal-"), "journal.db"))
    config = BudgetsConfig.model_validate({"policies": policies, **budgets})
    return BudgetLedger(config, agents, store, clock=clock, on_event=events.append)
