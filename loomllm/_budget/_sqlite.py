"""SQLite store: several processes on one host share a WAL-mode database file.

Every operation is one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock up front:
two processes can never both read "fits" and both write (the overshoot LiteLLM's proxy has, 34732).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from loomllm.errors import BudgetStoreUnavailable, ConfigError

from ._store import SETTLED_TTL_S, Charge, Verdict

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
_SWEEP_EVERY = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS loom_budget_counters (
    key TEXT PRIMARY KEY, spent INTEGER NOT NULL DEFAULT 0, flag INTEGER NOT NULL DEFAULT 0, expires_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS loom_budget_leases (
    key TEXT NOT NULL, lease TEXT NOT NULL, amount INTEGER NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (key, lease)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS loom_budget_leases_until ON loom_budget_leases (key, until);
CREATE TABLE IF NOT EXISTS loom_budget_settled (lease TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID;
"""
_USED = (
    "SELECT (SELECT spent FROM loom_budget_counters WHERE key = ?1),"
    " (SELECT COALESCE(SUM(amount), 0) FROM loom_budget_leases WHERE key = ?1 AND until > ?2)"
)
_ADD = (
    "INSERT INTO loom_budget_counters (key, spent, expires_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent, expires_at = excluded.expires_at"
    " RETURNING spent"
)
_LEASE = "INSERT OR REPLACE INTO loom_budget_leases (key, lease, amount, until) VALUES (?, ?, ?, ?)"
_DROP_LEASE = "DELETE FROM loom_budget_leases WHERE key = ? AND lease = ?"
_SETTLE_ONCE = "INSERT OR IGNORE INTO loom_budget_settled (lease, until) VALUES (?, ?)"
_RENEW = "UPDATE loom_budget_leases SET until = ? WHERE key = ? AND lease = ?"
_FLAG = "UPDATE loom_budget_counters SET flag = 1 WHERE key = ? AND flag = 0"


class SQLiteStore:
    """Counters in one SQLite file (WAL). One connection per store object, guarded by a lock."""

    def __init__(self, path: str, *, prefix: str = "", busy_timeout_s: float = 10.0) -> None:
        self._prefix = prefix
        self.name = f"sqlite:///{path}?prefix={prefix}"
        self._lock = threading.Lock()
        self._ops = 0
        try:
            self._db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            self._setup(busy_timeout_s)
        except sqlite3.Error as exc:
            raise BudgetStoreUnavailable(f"budget store: cannot open SQLite database: {exc}") from exc

    def _setup(self, busy_timeout_s: float) -> None:
        # Switching a new file to WAL can fail with "database is locked" without waiting for the busy
        # timeout when several processes open it at once: retry until the timeout instead.
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None) -> SQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's convention)."""
        parts = urlsplit(url)
        path = url[len("sqlite:///") :].split("?", 1)[0]
        if not path:
            raise ConfigError(
                "sqlite state URL needs a file path: sqlite:////var/lib/loomllm/state.db", path="loomllm.state"
            )
        query_prefix = parse_qs(parts.query).get("prefix", [""])[0]
        return cls(path, prefix=prefix if prefix is not None else query_prefix)

    def _transaction(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise BudgetStoreUnavailable(f"budget store: SQLite is unavailable: {exc}") from exc
            try:
                result = body(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):  # nothing to roll back if COMMIT already ended it
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise BudgetStoreUnavailable(f"budget store: SQLite failed: {exc}") from exc
                raise

    def _expiry(self, charge: Charge, now: float) -> float | None:
        return None if charge.expire_s is None else now + charge.expire_s

    def _sweep(self, db: sqlite3.Connection, now: float) -> None:
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0:
            db.execute("DELETE FROM loom_budget_leases WHERE until <= ?", (now,))
            db.execute("DELETE FROM loom_budget_counters WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM loom_budget_settled WHERE until <= ?", (now,))

    def _reserve(self, lease: str, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        p = self._prefix

        def body(db: sqlite3.Connection) -> Verdict:
            self._sweep(db, now)
            used = []
            for c in charges:
                spent, reserved = db.execute(_USED, (p + c.key, now)).fetchone()
                used.append((spent or 0) + reserved)
            for i, c in enumerate(charges):
                if c.hard and used[i] + c.amount > c.cap:
                    return Verdict(i, tuple(used))
            for c in charges:
                key = p + c.key
                db.execute(_ADD, (key, 0, self._expiry(c, now))).fetchall()
                db.execute(_LEASE, (key, lease, c.amount, until))
            return Verdict(-1, tuple(used))

        return self._transaction(body)

    def _commit(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> list[int]:
        p = self._prefix

        def body(db: sqlite3.Connection) -> list[int]:
            if db.execute(_SETTLE_ONCE, (p + lease, now + SETTLED_TTL_S)).rowcount == 0:
                return []  # settled before: a journal replay
            spent: list[int] = []
            for c, amount in zip(charges, amounts, strict=True):
                key = p + c.key
                db.execute(_DROP_LEASE, (key, lease))
                spent.append(db.execute(_ADD, (key, amount, self._expiry(c, now))).fetchone()[0])
            crossed: list[int] = []
            for i, c in enumerate(charges):
                if 0 <= c.warn <= spent[i] and db.execute(_FLAG, (p + charges[c.flag].key,)).rowcount == 1:
                    crossed.append(i)
            return crossed

        return self._transaction(body)

    def _renew(self, lease: str, charges: Sequence[Charge], until: float) -> None:
        rows = [(until, self._prefix + c.key, lease) for c in charges]
        self._transaction(lambda db: db.executemany(_RENEW, rows))

    def _read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        with self._lock:
            try:
                rows = [self._db.execute(_USED, (self._prefix + k, now)).fetchone() for k in keys]
            except sqlite3.Error as exc:
                raise BudgetStoreUnavailable(f"budget store: SQLite failed: {exc}") from exc
        return [(spent or 0, reserved) for spent, reserved in rows]

    def _scan(self, prefix: str) -> list[str]:
        start = self._prefix + prefix
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT key FROM loom_budget_counters WHERE key >= ? AND key < ?", (start, start + "\U0010ffff")
                ).fetchall()
            except sqlite3.Error as exc:
                raise BudgetStoreUnavailable(f"budget store: SQLite failed: {exc}") from exc
        return [key[len(self._prefix) :] for (key,) in rows]

    def _delete(self, keys: Sequence[str]) -> None:
        full = [(self._prefix + k,) for k in keys]

        def body(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM loom_budget_counters WHERE key = ?", full)
            db.executemany("DELETE FROM loom_budget_leases WHERE key = ?", full)

        self._transaction(body)

    # SQLite calls block (a busy lock may wait for another process), so they run in a worker thread.
    async def reserve(self, lease: str, charges: Sequence[Charge], now: float, until: float) -> Verdict:
        """Reserve every charge or none, in one write transaction."""
        return await asyncio.to_thread(self._reserve, lease, charges, now, until)

    async def commit(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> list[int]:
        """Replace the lease by the actual amounts, once, in one write transaction."""
        return await asyncio.to_thread(self._commit, lease, charges, amounts, now)

    async def renew(self, lease: str, charges: Sequence[Charge], until: float) -> None:
        """Extend a lease still held."""
        await asyncio.to_thread(self._renew, lease, charges, until)

    async def read(self, keys: Sequence[str], now: float) -> list[tuple[int, int]]:
        """``(spent, live reserved)`` per key."""
        return await asyncio.to_thread(self._read, keys, now)

    async def scan(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``."""
        return await asyncio.to_thread(self._scan, prefix)

    async def delete(self, keys: Sequence[str]) -> None:
        """Forget these counters and their leases."""
        await asyncio.to_thread(self._delete, keys)

    async def aclose(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
