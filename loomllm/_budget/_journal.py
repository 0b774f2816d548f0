"""The settle journal: settles the store could not take, kept in a local SQLite file until it is back.

A call that already ran must not lose its spend because Redis was restarting. Its settle goes
here; once the store answers again the ledger replays the journal. Replays are idempotent (the
store applies each lease's settle once), so a crash between "applied" and "forgotten" is harmless.
The file is created on the first outage only.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._store import Charge

__all__ = ["Journal", "JournalEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS loom_budget_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, store TEXT NOT NULL, lease TEXT NOT NULL, at REAL NOT NULL,
    charges TEXT NOT NULL, amounts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS loom_budget_journal_store ON loom_budget_journal (store, id);
"""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One settle waiting for the store."""

    id: int
    lease: str
    at: float
    charges: tuple[Charge, ...]
    amounts: tuple[int, ...]

    def charges_at(self, now: float) -> list[Charge]:
        """The charges with their expiry counted from ``now`` instead of from when the call settled."""
        late = max(0.0, now - self.at)
        return [
            c if c.expire_s is None else dataclasses.replace(c, expire_s=max(1.0, c.expire_s - late))
            for c in self.charges
        ]


def _encode(charges: Sequence[Charge]) -> str:
    return json.dumps([[c.key, c.cap, c.amount, c.hard, c.expire_s, c.warn, c.flag] for c in charges])


def _decode(text: str) -> tuple[Charge, ...]:
    return tuple(Charge(*fields) for fields in json.loads(text))


class Journal:
    """Pending settles of one store (``store`` is its name), in a SQLite file shared with other processes."""

    def __init__(self, path: str | Path, store: str) -> None:
        self.path = Path(path)
        self.store = store
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None and (create or self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            for attempt in range(200):  # a new file switched to WAL by several processes at once: "locked"
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 199:
                        raise
                    time.sleep(0.05)
            self._db = db
        return self._db

    def append(self, lease: str, charges: Sequence[Charge], amounts: Sequence[int], at: float) -> None:
        """Keep one settle (durably: it is on disk when this returns)."""
        with self._lock:
            db = self._conn(create=True)
            assert db is not None
            db.execute(
                "INSERT INTO loom_budget_journal (store, lease, at, charges, amounts) VALUES (?, ?, ?, ?, ?)",
                (self.store, lease, at, _encode(charges), json.dumps(list(amounts))),
            )

    def pending(self, limit: int = 200) -> list[JournalEntry]:
        """The oldest settles still waiting for this store."""
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return []
            rows = db.execute(
                "SELECT id, lease, at, charges, amounts FROM loom_budget_journal WHERE store = ? ORDER BY id LIMIT ?",
                (self.store, limit),
            ).fetchall()
        return [JournalEntry(i, lease, at, _decode(c), tuple(json.loads(a))) for i, lease, at, c, a in rows]

    def forget(self, entry_id: int) -> None:
        """Drop a settle the store has taken."""
        with self._lock:
            db = self._conn(create=False)
            if db is not None:
                db.execute("DELETE FROM loom_budget_journal WHERE id = ?", (entry_id,))

    def count(self) -> int:
        """How many settles wait for this store."""
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return 0
            row = db.execute("SELECT COUNT(*) FROM loom_budget_journal WHERE store = ?", (self.store,)).fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
