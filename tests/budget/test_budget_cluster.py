"""Redis Cluster and Valkey: real 3-node clusters started here; every script touches one slot (hash tags)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from budget_support import FakeClock, make_ledger
from redis_servers import RedisServer

from loomllm._budget import BudgetStore, Charge, Estimate, Usage, open_store
from loomllm.errors import BudgetExceeded

EST = Estimate(input_tokens=100, output_tokens=100, cost_usd=0.3)
USD_DAY = {"limits": [{"usd": 1.0, "per": "day"}]}


@pytest.fixture(params=["redis", "valkey"])
def cluster(request: pytest.FixtureRequest) -> list[RedisServer]:
    """The session's three primaries (``redis-cli --cluster create``; ``valkey-cli`` for Valkey's)."""
    nodes: list[RedisServer] = request.getfixturevalue(f"{request.param}_cluster")
    return nodes


@pytest.fixture
async def cluster_store(cluster: list[RedisServer]) -> AsyncIterator[BudgetStore]:
    """A store on the cluster (through any one node), with a fresh prefix."""
    store = open_store(f"redis://127.0.0.1:{cluster[1].port}/0?cluster=true&prefix=ct-{uuid.uuid4().hex}:")
    yield store
    await store.aclose()


class TestCluster:
    async def test_reserve_commit_read_on_one_slot(self, cluster_store: BudgetStore) -> None:
        """Counters of several scopes are reserved and committed atomically on a cluster."""
        charges = [Charge("agent/a/p/0/usd@1", 100, 30, True, 60.0), Charge("global/*/g/0/usd@1", 1000, 30, True, 60.0)]
        assert (await cluster_store.reserve("l1", charges, 0.0, 30.0)).ok
        assert not (await cluster_store.reserve("l2", [Charge("agent/a/p/0/usd@1", 100, 80, True, 60.0)],
                                                0.0, 30.0)).ok
        await cluster_store.renew("l1", charges, 40.0)
        await cluster_store.commit("l1", charges, [20, 20], 1.0)
        await cluster_store.commit("l1", charges, [20, 20], 1.0)  # replayed: once only
        assert [(20, 0), (20, 0)] == await cluster_store.read([c.key for c in charges], 2.0)
        assert sorted(c.key for c in charges) == sorted(await cluster_store.scan(""))
        await cluster_store.delete([c.key for c in charges])
        assert [(0, 0), (0, 0)] == await cluster_store.read([c.key for c in charges], 2.0)

    async def test_keys_share_one_slot(self, cluster: list[RedisServer], cluster_store: BudgetStore) -> None:
        """Every key of a prefix hashes to the same slot (the prefix is the hash tag)."""
        import redis

        await cluster_store.reserve("l", [Charge("a/1", 10, 1, True, 60.0), Charge("b/2", 10, 1, True, 60.0)], 0, 9)
        client = redis.RedisCluster(host="127.0.0.1", port=cluster[0].port)
        prefix = cluster_store.name.split("#", 1)[1]
        keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
        slots = {client.keyslot(k) for k in keys}
        client.close()
        assert keys and 1 == len(slots)

    async def test_50_concurrent_first_calls_admit_3(self, cluster_store: BudgetStore, clock: FakeClock) -> None:
        """A new key's default policy holds on a cluster too: 50 concurrent first calls, 3 admitted."""
        ledger = make_ledger(cluster_store, clock, [], policies={"u": USD_DAY}, agents={"a": None},
                             scopes={"user": {"default": "u"}})

        async def one() -> bool:
            try:
                await ledger.reserve("a", EST, keys={"user": "brand-new"})
            except BudgetExceeded:
                return False
            return True

        assert 3 == sum(await asyncio.gather(*(one() for _ in range(50))))

    async def test_ledger_settle_and_spend(self, cluster_store: BudgetStore, clock: FakeClock) -> None:
        """Settles and spend reports work against the cluster."""
        ledger = make_ledger(cluster_store, clock, [], policies={"p": USD_DAY}, agents={"a": "p"})
        await (await ledger.reserve("a", EST)).settle(Usage(10, 10, 0.2))
        (row,) = await ledger.status("a")
        assert (0.2, 0.0) == (row.spent, row.reserved)
        (spent,) = await ledger.spend(["agent"])
        assert (0.2, 1) == (spent.usd, spent.calls)


class TestValkeyUrl:
    async def test_valkey_scheme_speaks_the_same_protocol(self, tmp_path: Path) -> None:
        """valkey:// URLs open the Redis store on a real valkey-server (same protocol, same scripts)."""
        server = RedisServer(tmp_path / "v", flavor="valkey").start()
        try:
            import redis

            assert "valkey_version" in redis.Redis(port=server.port).info("server")
            store = open_store(f"valkey://127.0.0.1:{server.port}/0?prefix=v:")
            assert (await store.reserve("l", [Charge("k", 5, 1, True, 60.0)], 0.0, 9.0)).ok
            assert [(0, 1)] == await store.read(["k"], 1.0)
            await store.aclose()
        finally:
            server.stop()


def test_prefix_with_braces_is_refused() -> None:
    """A prefix with braces would break the hash tag: a ConfigError."""
    from loomllm.errors import ConfigError

    with pytest.raises(ConfigError):
        open_store("redis://127.0.0.1:1/0?prefix={x}:")


