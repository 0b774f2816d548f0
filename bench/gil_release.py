"""What a C call costs the agent at concurrency 50 against what it costs alone: why the Hyperscan pass is dear.

``litellm.acompletion`` runs each request's synchronous part in the loop's default executor, so at concurrency
50 an executor thread is nearly always waiting for the GIL. The Hyperscan binding releases the GIL for every scan
and takes it back for every match it reports to Python. Measured here on 2 cores: the prefilter's pass over a 2 KB
ticket costs ~27 us alone and 200-360 us of process CPU per call inside the agent (with or without its match
callbacks), while other calls that release the GIL briefly (``os.urandom``, blake2b of the ticket) cost nothing
measurable there. ``time.sleep(0)``, which releases it and yields the CPU, shows what a lost GIL costs.

In one process, against the wire server (in a process of its own), the plain agent takes turns: blocks of
``--block`` calls at concurrency 50 with one operation run before every call, then without it, order
alternating, each call a new ~2 KB ticket. Printed per operation: what it costs alone in a tight loop, the
median CPU per call of each side, and the median of the per-pair differences (what it costs in the agent).
Reading 444 KB of memory with the GIL held (``bytes.find``, 4 us alone) costs ~150 us there too: the database's
size in the CPU caches is part of the price, not only the GIL.

    .venv/bin/python bench/gil_release.py [--pairs 20] [--block 100]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import CONFIG, log_events_to_devnull, wire_server_process
from ticket_text import make_ticket

Messages = list[dict[str, str]]


def operations() -> dict[str, Callable[[str], object]]:
    """The operations compared, each applied to the call's ticket text."""
    ops: dict[str, Callable[[str], object]] = {
        "time.sleep(0)": lambda text: time.sleep(0),
        "os.urandom(12)": lambda text: os.urandom(12),
        "blake2b of the ticket": lambda text: hashlib.blake2b(text.encode(), digest_size=16).digest(),
        "sum(range(100)) (keeps the GIL)": lambda text: sum(range(100)),
    }
    recorded = _recorded_prefilter()
    if recorded is None:
        return ops
    prefilter, expressions = recorded
    import hyperscan as hs

    whole = prefilter._hyperscan._database
    size = whole.size()
    # Memory as large as the prefilter's database, read through once with the GIL held: the caches' side alone.
    ops[f"bytes.find over {size // 1000} KB (keeps the GIL)"] = lambda text, block=bytes(size): block.find(b"\x01")
    ops["Hyperscan prefilter pass"] = prefilter._hyperscan.hits
    ops["Hyperscan prefilter database, no callback"] = _scanning(whole)
    literals = [(expression, flags) for expression, flags in expressions
                if flags & hs.HS_FLAG_CASELESS and expression.replace(b"\\", b"").isalnum()]
    small = hs.Database(mode=hs.HS_MODE_BLOCK)
    small.compile(expressions=[e for e, _ in literals], ids=list(range(len(literals))), elements=len(literals),
                  flags=[f for _, f in literals])
    ops[f"Hyperscan, its {len(literals)} literals only ({small.size() // 1000} KB)"] = _scanning(small)
    return ops


def _scanning(database: Any) -> Callable[[str], object]:
    """A scan of the text by ``database`` with no match callback."""
    import hyperscan as hs

    scratch = hs.Scratch(database)
    return lambda text: database.scan(text.encode("ascii", "replace"), scratch=scratch)


def _recorded_prefilter() -> tuple[Any, list[tuple[bytes, int]]] | None:
    """The guardrails' prefilter and the Hyperscan expressions and flags it compiled (``None``: no Hyperscan)."""
    try:
        import hyperscan as hs
    except ImportError:
        return None
    from loomllm._guardrails.analyzer import SECRET_SPECS
    from loomllm._guardrails.entities import DEFAULT_PII_ENTITIES
    from loomllm._guardrails.prefilter import Prefilter

    seen: dict[str, Any] = {}
    real = hs.Database

    class Recording:
        def __init__(self, **kwargs: Any) -> None:
            self._db = real(**kwargs)

        def compile(self, **kwargs: Any) -> None:
            seen.update(kwargs)
            self._db.compile(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._db, name)

    hs.Database = Recording
    try:
        prefilter = Prefilter(SECRET_SPECS, frozenset(DEFAULT_PII_ENTITIES))
    finally:
        hs.Database = real
    prefilter._hyperscan._database = prefilter._hyperscan._database._db
    return prefilter, list(zip(seen["expressions"], seen["flags"], strict=True))


def alone_us(op: Callable[[str], object], texts: list[str]) -> float:
    """Microseconds per call of ``op`` in a tight loop, no other thread about."""
    for text in texts[:50]:
        op(text)
    start = time.perf_counter()
    for text in texts:
        op(text)
    return (time.perf_counter() - start) / len(texts) * 1e6


async def cpu_per_call(call: Callable[[Messages], Awaitable[object]], batch: list[Messages], concurrency: int) -> float:
    """Process CPU milliseconds per call of ``batch`` at ``concurrency``."""
    gate = asyncio.Semaphore(concurrency)

    async def one(messages: Messages) -> None:
        async with gate:
            await call(messages)

    start = time.process_time()
    await asyncio.gather(*(one(m) for m in batch))
    return (time.process_time() - start) / len(batch) * 1000


async def measure(base: str, pairs: int, block: int, concurrency: int, only: str) -> None:
    """Print one row per operation (those whose name holds ``only``)."""
    from loomllm import Loom

    log_events_to_devnull()
    rng = random.Random(11)

    def requests(count: int) -> list[Messages]:
        return [[{"role": "user", "content": "Summarize this ticket in one sentence.\n\n" + make_ticket(rng)}]
                for _ in range(count)]

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(CONFIG.format(base=base))
        loom = Loom(config)
        plain = loom.agent("bench").complete
        texts = [m[0]["content"] for m in requests(2000)]
        print(f"{'operation before each call':50} {'alone us':>9} {'with ms':>8} {'without':>8} {'added us':>9}")
        for name, op in operations().items():
            if only and only not in name:
                continue
            async def with_op(messages: Messages, op: Callable[[str], object] = op) -> Any:
                op(messages[0]["content"])
                return await plain(messages)

            await cpu_per_call(with_op, requests(50), concurrency)
            await cpu_per_call(plain, requests(50), concurrency)
            withs: list[float] = []
            withouts: list[float] = []
            for index in range(pairs):
                order = [(withs, with_op), (withouts, plain)]
                for samples, call in order if index % 2 == 0 else order[::-1]:
                    samples.append(await cpu_per_call(call, requests(block), concurrency))
            added = statistics.median(a - b for a, b in zip(withs, withouts, strict=True)) * 1000
            print(f"{name:50} {alone_us(op, texts):9.2f} {statistics.median(withs):8.3f} "
                  f"{statistics.median(withouts):8.3f} {added:+9.0f}")
        loom.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="run only the operations whose name holds this text")
    args = parser.parse_args()
    with wire_server_process() as base:
        asyncio.run(measure(base, args.pairs, args.block, args.concurrency, args.only))


if __name__ == "__main__":
    main()
