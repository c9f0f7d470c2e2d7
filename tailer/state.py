"""The state directory: one SQLite database (WAL, synchronous=FULL) and a lock, for the daemon (issue 4).

    outbox       every message to send, rendered once: pending → sending → sent | dead
    checkpoint   per followed file, how far its bytes have durably become outbox rows
    meta         schema_version

`enqueue()` writes messages and checkpoints in one transaction, so a checkpoint is never ahead of or behind
what is queued; a message whose (key, notifier) is already there is ignored, so reading the same bytes again
after a crash queues nothing twice. A row is marked `sending` (committed) before its attempt; rows found in
`sending` when the store opens were maybe delivered, maybe not: `recover()` puts them back to `pending`
(at-least-once: lose nothing, at worst a duplicate, logged with its key).
Only one process may use a state directory: a second one is refused, naming the first one's pid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from tailer.errors import TailerError

SCHEMA_VERSION = 1
DATABASE = "state.db"
LOCK = "lock"

log = logging.getLogger("tailer.state")

RowState = Literal["pending", "sending", "sent", "dead"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,           -- queue order
    key TEXT NOT NULL,
    notifier TEXT NOT NULL,
    payload TEXT NOT NULL,                          -- what is sent, byte for byte, however often
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,             -- wall-clock seconds: no attempt before
    created_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    UNIQUE (key, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (notifier, state, id);
CREATE TABLE IF NOT EXISTS checkpoint (source TEXT PRIMARY KEY, offset INTEGER NOT NULL, updated_at REAL NOT NULL);
"""


class StateError(TailerError):
    """The state directory cannot be used: locked by another instance, unreadable, full, or too new."""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    key: str
    notifier: str
    payload: str
    state: RowState
    attempts: int
    not_before: float
    last_error: str | None


class Store:
    """The state directory of one daemon. Not thread-safe: one thread owns it (the sender gets its own)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self._lock = _take_lock(os.path.join(directory, LOCK))
            self.db = sqlite3.connect(os.path.join(directory, DATABASE), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.Error as exc:
            raise StateError(f"{directory}: cannot use the state database: {exc}") from exc
        except OSError as exc:
            raise StateError(f"{directory}: cannot use the state directory: {exc.strerror or exc}") from exc

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StateError(
                f"{self.directory}: state written by a newer kong-tailer (schema {row[0]}, this one knows "
                f"{SCHEMA_VERSION}); upgrade, or move the directory aside"
            )

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing a batch

    def enqueue(
        self, messages: Iterable[tuple[str, str, str]], checkpoints: Mapping[str, int] = {}, *, now: float
    ) -> int:
        """Queue (key, notifier, payload) messages and move checkpoints, in one transaction; the number of
        messages that were new (a key already queued is a replay of the same bytes, ignored)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            added = 0
            for key, notifier, payload in messages:
                cur = db.execute(  # not INSERT OR IGNORE: that would also drop a row breaking NOT NULL
                    "INSERT INTO outbox (key, notifier, payload, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key, notifier) DO NOTHING",
                    (key, notifier, payload, now),
                )
                added += cur.rowcount
            for source, offset in checkpoints.items():
                db.execute(
                    "INSERT INTO checkpoint VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
                    "offset = excluded.offset, updated_at = excluded.updated_at",
                    (source, offset, now),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLITE_FULL has rolled back already
                db.execute("ROLLBACK")
            raise
        return added

    def checkpoint(self, source: str) -> int | None:
        row = self.db.execute("SELECT offset FROM checkpoint WHERE source = ?", (source,)).fetchone()
        return None if row is None else int(row[0])

    # -- the sender's side

    def next_due(self, notifier: str, now: float) -> Row | None:
        """The oldest message of `notifier` still to send, if it may be tried at `now`. Messages go in order:
        while the oldest waits, the others wait behind it."""
        row = self.db.execute(
            "SELECT * FROM outbox WHERE notifier = ? AND state IN ('pending', 'sending') ORDER BY id LIMIT 1",
            (notifier,),
        ).fetchone()
        if row is None or row[6] > now:
            return None
        return _row(row)

    def sending(self, row: Row) -> None:
        """Committed before the attempt: a crash during it leaves the row `sending`, found by `recover()`."""
        self.db.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", (row.id,))

    def sent(self, row: Row, now: float) -> None:
        self.db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?", (now, row.id))

    def retry(self, row: Row, not_before: float, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET state = 'pending', not_before = ?, last_error = ? WHERE id = ?",
            (not_before, error, row.id),
        )

    def dead(self, row: Row, error: str) -> None:
        self.db.execute("UPDATE outbox SET state = 'dead', last_error = ? WHERE id = ?", (error, row.id))

    def recover(self) -> int:
        """Rows left `sending` by a crash go back to `pending`: they may have been delivered already."""
        rows = self.db.execute("SELECT key, notifier FROM outbox WHERE state = 'sending'").fetchall()
        for key, notifier in rows:
            log.warning("message %s for %s may have been sent before a crash; sending it again", key[:12], notifier)
        self.db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")
        return len(rows)

    # -- for `kong-tailer outbox` and metrics

    def depth(self, notifier: str | None = None) -> int:
        """Messages still to send."""
        query = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
        args: tuple[str, ...] = ()
        if notifier is not None:
            query += " AND notifier = ?"
            args = (notifier,)
        return int(self.db.execute(query, args).fetchone()[0])

    def dead_letters(self) -> list[Row]:
        rows = self.db.execute("SELECT * FROM outbox WHERE state = 'dead' ORDER BY id").fetchall()
        return [_row(r) for r in rows]

    def revive(self, keys: Iterable[str] = ()) -> int:
        """Dead letters (these keys, or all) back to `pending`, to be tried again from scratch."""
        keys = list(keys)
        where = "state = 'dead'" + (f" AND key IN ({', '.join('?' * len(keys))})" if keys else "")
        cur = self.db.execute(f"UPDATE outbox SET state = 'pending', attempts = 0, not_before = 0 WHERE {where}", keys)
        return cur.rowcount


def _row(r: Any) -> Row:
    """An outbox row from `SELECT *` (columns in the order of _SCHEMA)."""
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[9])


def _take_lock(path: str) -> TextIO:
    """An exclusive lock held while the returned file stays open; StateError naming the holder otherwise."""
    f = open(path, "a+")  # noqa: SIM115 (kept open: the lock lives as long as the file)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise StateError(
            f"{os.path.dirname(path)} is in use by another kong-tailer (pid {holder}); stop it, or give this one "
            "another --state-dir"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
