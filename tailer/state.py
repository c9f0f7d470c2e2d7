"""The state directory: one SQLite database (WAL, synchronous=FULL) and a lock, for the daemon.

    outbox       every message to send, rendered once: pending → sending → sent | dead
    folded       the keys of the alerts queued inside digests: an alert is queued once, alone or folded
    generation   per generation of a followed file (known by its first line): where reading resumes
    snapshot     the rules' state (windows, snooze digests, groups, budgets) as of the last batch
    silence      silences (`kong-tailer silence`), and in `silenced` the alerts they held back
    meta         schema_version, and `started` once the daemon has run here

`Store.commit()` writes a batch's messages, the generations' positions and the rules' snapshot in one
transaction, so the positions are never ahead of or behind what is queued; a message whose (key, notifier) is
already there is ignored, so reading the same bytes again after a crash queues nothing twice.

`Outbox` is one connection's view of the queue: the sender thread has its own, and `kong-tailer outbox` opens
one while the daemon runs (WAL lets them share the file). A row is marked `sending` (committed) before its
attempt; rows found `sending` when the daemon starts were maybe delivered, maybe not: `recover()` puts them
back to `pending` (at-least-once: lose nothing, at worst one duplicate, logged with its key).
Only one daemon may use a state directory: a second one is refused, naming the first one's pid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from tailer.errors import StateError

SCHEMA_VERSION = 1
DATABASE = "state.db"
LOCK = "lock"
BUSY_TIMEOUT = 30.0  # seconds a connection waits for another one's write to end

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
    first_attempt REAL,                             -- wall-clock seconds of the first attempt
    UNIQUE (key, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (notifier, id) WHERE state IN ('pending', 'sending');
CREATE TABLE IF NOT EXISTS generation (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,                           -- the followed path, as configured (or matched by a glob)
    origin TEXT NOT NULL,                           -- its key: hash of its first line, `.<n>` if others start alike
    path TEXT NOT NULL,                             -- where it was last seen (rotation renames it)
    offset INTEGER NOT NULL,                        -- reading resumes here
    emitted INTEGER NOT NULL,                       -- bytes read into events, but for the records still open
    open TEXT NOT NULL DEFAULT '',                  -- where those open records start, comma-separated
    marker TEXT NOT NULL,                           -- hash of the <= 32 bytes before `emitted`
    finished INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    line INTEGER NOT NULL DEFAULT 0,                -- the number of the line at `line_at` (0: not known)
    line_at INTEGER NOT NULL DEFAULT -1,            -- = offset, unless a version without line numbers moved it
    dev INTEGER,                                    -- st_dev and st_ino of its file when last saved (hints)
    ino INTEGER,
    head TEXT NOT NULL DEFAULT '',                  -- hash of its first bytes, up to 64 KiB of what was read
    UNIQUE (source, origin)
);
CREATE TABLE IF NOT EXISTS folded (                 -- the alerts queued inside a digest (a message of several)
    notifier TEXT NOT NULL,
    key TEXT NOT NULL,                              -- the alert's own key
    created_at REAL NOT NULL,
    PRIMARY KEY (notifier, key)
);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS silence (                -- `kong-tailer silence add` (tailer.silence)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,                             -- a rule name or a glob of rule names
    condition TEXT,                                 -- a `when` condition on the alert's event
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    starts_at REAL NOT NULL,                        -- wall-clock seconds
    ends_at REAL NOT NULL,
    silenced INTEGER NOT NULL DEFAULT 0,            -- alerts held back
    noticed INTEGER NOT NULL DEFAULT 0              -- its end was told to the notifiers
);
CREATE TABLE IF NOT EXISTS silenced (               -- alerts a silence held back
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    silence INTEGER NOT NULL,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    time REAL NOT NULL,                             -- the alert's log time
    text TEXT,                                      -- kept for the first KEEP_HELD of a silence
    UNIQUE (silence, key)
);
"""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    key: str
    notifier: str
    payload: str
    state: RowState
    attempts: int
    not_before: float
    created_at: float
    last_error: str | None
    first_attempt: float | None


@dataclass(frozen=True, slots=True)
class Held:
    """An alert a silence held back (tailer.silence): what `silence show` prints."""

    silence: int
    rule: str
    key: str
    time: float  # the alert's (log) time
    text: str | None  # None past the first KEEP_HELD of a silence


KEEP_HELD = 1000  # silenced alerts kept with their text, per silence; the others are only counted


@dataclass(frozen=True, slots=True)
class Position:
    """How far one generation of a followed file has been read (see the `generation` table)."""

    source: str
    key: str  # the generation's key (`lines.generation_key`: its origin, `.<n>` added if others start alike)
    path: str
    offset: int
    emitted: int
    open: tuple[int, ...]
    marker: str
    finished: bool = False
    line: int = 0  # the number of the line at `offset`; 0: not known (saved by a version that kept none)
    ident: tuple[int, int] | None = None  # (st_dev, st_ino) of its file when saved: a hint, never proof
    head: str = ""  # hash of its first min(emitted, HEAD_BYTES) bytes ("": not saved, by an older version)


def connect(directory: str) -> sqlite3.Connection:
    """A connection to the state database of `directory` (which must exist), in autocommit mode."""
    path = os.path.join(directory, DATABASE)
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        return db
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc


def open_outbox(directory: str) -> Outbox:
    """The outbox of a state directory, for a command run beside the daemon (no lock taken). Run as root on
    a directory that belongs to another user (the service's), the command becomes that user first: files
    SQLite makes beside the database (its WAL) must stay the service's."""
    path = os.path.join(directory, DATABASE)
    if not os.path.exists(path):
        raise StateError(f"{directory}: no state database here (has `kong-tailer run` used this --state-dir?)")
    _act_as_owner(path)
    outbox = Outbox(connect(directory), path)
    outbox.check()
    try:
        outbox.db.executescript(_SCHEMA)  # tables added since it was made (the daemon adds them too)
    except sqlite3.Error as exc:
        raise StateError(f"{path}: cannot write the state database: {exc}") from exc
    return outbox


def _act_as_owner(path: str) -> None:
    st = os.stat(path)
    if os.geteuid() != 0 or st.st_uid == 0:
        return
    try:
        os.setgid(st.st_gid)
        os.setgroups([])
        os.setuid(st.st_uid)
    except OSError as exc:
        raise StateError(f"{path}: cannot act as its owner (uid {st.st_uid}): {exc.strerror}") from exc


class Outbox:
    """The queue of messages, through one connection. Not thread-safe: one thread per Outbox."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.db = db
        self.path = path  # of the database file, for messages

    def check(self) -> None:
        """StateError unless this is a kong-tailer state database this version can read."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            self.db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone()
        except sqlite3.DatabaseError as exc:  # garbage: "file is not a database"; missing tables
            raise _unusable(self.path, exc) from exc
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: written by a newer kong-tailer (schema {row[0]}, this one knows {SCHEMA_VERSION}); "
                "upgrade, or move the directory aside"
            )

    def close(self) -> None:
        self.db.close()

    def head(self, notifier: str, limit: int = 1) -> list[Row]:
        """The oldest messages of `notifier` still to send (up to `limit`), whether they may be tried yet or
        not (the sender measures their waits on the monotonic clock)."""
        rows = self.db.execute(
            "SELECT * FROM outbox WHERE notifier = ? AND state IN ('pending', 'sending') ORDER BY id LIMIT ?",
            (notifier, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def next_due(self, notifier: str, now: float, limit: int = 1) -> list[Row]:
        """The oldest messages of `notifier` still to send (up to `limit`), if the oldest may be tried at
        `now` (wall-clock seconds). Messages go in order: while the oldest waits, the others wait behind it."""
        rows = self.head(notifier, limit)
        if not rows or rows[0].not_before > now:
            return []
        return [r for r in rows if r.not_before <= now]

    def waiting(self) -> dict[str, float]:
        """Per notifier with messages to send: when its oldest may be tried (wall-clock seconds)."""
        rows = self.db.execute(
            "SELECT notifier, not_before FROM outbox WHERE id IN (SELECT min(id) FROM outbox "
            "WHERE state IN ('pending', 'sending') GROUP BY notifier)"
        ).fetchall()
        return {n: float(t) for n, t in rows}

    def sending(self, rows: Sequence[Row], now: float) -> None:
        """Committed before the attempt: a crash during it leaves the rows `sending`, found by `recover()`."""
        self.db.executemany(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
            "first_attempt = coalesce(first_attempt, ?) WHERE id = ?",
            [(now, r.id) for r in rows],
        )

    def sent(self, rows: Sequence[Row], now: float) -> None:
        self.db.executemany(
            "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
            [(now, r.id) for r in rows],
        )

    def retry(self, rows: Sequence[Row], not_before: float, error: str) -> None:
        self.db.executemany(
            "UPDATE outbox SET state = 'pending', not_before = ?, last_error = ? WHERE id = ?",
            [(not_before, error, r.id) for r in rows],
        )

    def dead(self, rows: Sequence[Row], error: str) -> None:
        self.db.executemany(
            "UPDATE outbox SET state = 'dead', last_error = ? WHERE id = ?", [(error, r.id) for r in rows]
        )

    def recover(self, now: float, max_wait: float) -> int:
        """At startup: rows left `sending` by a crash go back to `pending` (they may have been delivered
        already), and no row waits longer than `max_wait` (the wall clock may have jumped back)."""
        rows = self.db.execute("SELECT key, notifier FROM outbox WHERE state = 'sending'").fetchall()
        for key, notifier in rows:
            log.warning("message %s for %s may have been sent before a crash: sending it again", key[:12], notifier)
        self.db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")
        self.db.execute(
            "UPDATE outbox SET not_before = ? WHERE state = 'pending' AND not_before > ?", (now, now + max_wait)
        )
        return len(rows)

    def depth(self, notifier: str | None = None) -> int:
        """Messages still to send."""
        query = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
        args: tuple[str, ...] = ()
        if notifier is not None:
            query += " AND notifier = ?"
            args = (notifier,)
        return int(self.db.execute(query, args).fetchone()[0])

    def counts(self) -> dict[tuple[str, str], int]:
        """Messages per (notifier, state)."""
        rows = self.db.execute("SELECT notifier, state, count(*) FROM outbox GROUP BY notifier, state")
        return {(n, s): int(c) for n, s, c in rows}

    def dead_letters(self) -> list[Row]:
        rows = self.db.execute("SELECT * FROM outbox WHERE state = 'dead' ORDER BY id").fetchall()
        return [_row(r) for r in rows]

    def revive(self, keys: Iterable[str] = ()) -> int:
        """Dead letters (those whose key starts with one of `keys`, or all) back to `pending`, to be tried
        again from scratch. Entries a rule failed on ("(rule NAME)") are not messages: they stay."""
        keys = list(keys)
        where = "state = 'dead' AND notifier NOT LIKE '(%'"
        if keys:
            where += " AND (" + " OR ".join("key LIKE ? || '%'" for _ in keys) + ")"
        cur = self.db.execute(
            f"UPDATE outbox SET state = 'pending', attempts = 0, not_before = 0, first_attempt = NULL WHERE {where}",
            keys,
        )
        return cur.rowcount

    def prune(self, before: float) -> int:
        """Forget messages sent before `before` (their keys only matter while their bytes may be re-read), and
        the keys of silenced alerts kept without their text, of silences that ended before `before` (their
        count stays with the silence)."""
        self.db.execute(
            "DELETE FROM silenced WHERE text IS NULL AND silence IN (SELECT id FROM silence WHERE ends_at < ?)",
            (before,),
        )
        self.db.execute("DELETE FROM folded WHERE created_at < ?", (before,))
        return self.db.execute("DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?", (before,)).rowcount

    def queued(self, notifier: str, keys: Iterable[str]) -> set[str]:
        """Which of the alert `keys` were queued for `notifier` already, alone or inside a digest."""
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 400):  # SQLite's limit on host parameters
            part = keys[i : i + 400]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT key FROM outbox WHERE notifier = ? AND key IN ({marks}) "
                f"UNION SELECT key FROM folded WHERE notifier = ? AND key IN ({marks})",
                (notifier, *part, notifier, *part),
            )
            found.update(r[0] for r in rows)
        return found


class Store(Outbox):
    """The state directory of one daemon, locked for it; the connection of the thread that reads the logs."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self._lock = _take_lock(os.path.join(directory, LOCK))
        except OSError as exc:
            raise StateError(f"{directory}: cannot use the state directory: {exc.strerror or exc}") from exc
        path = os.path.join(directory, DATABASE)
        try:
            if not os.path.exists(path):
                _create(path)
            super().__init__(connect(directory), path)
            self.check()  # an existing database must be ours: an empty or damaged one is never reset silently
            self.db.executescript(_SCHEMA)  # tables added since it was made
            _add_columns(self.db)
        except sqlite3.Error as exc:
            self._lock.close()
            raise StateError(f"{os.path.join(directory, DATABASE)}: cannot use the state database: {exc}") from exc
        except StateError:
            self._lock.close()
            raise

    def connect(self) -> Outbox:
        """Another connection to the same database, for the sender's thread. Its writes (a message being
        sent, sent) are not synced to disk one by one (synchronous=NORMAL: durable against a crash of the
        process, not a power cut, which may undo the last of them: a message may then be sent twice, never
        lost); they would otherwise cost two disk syncs per message."""
        db = connect(self.directory)
        db.execute("PRAGMA synchronous=NORMAL")
        return Outbox(db, self.path)

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value)
        )

    # -- one batch

    def commit(
        self,
        messages: Iterable[tuple[str, str, str]],
        positions: Iterable[Position] = (),
        snapshot: bytes | None = None,
        *,
        now: float,
        failed: Iterable[tuple[str, str, str, str]] = (),
        held: Iterable[Held] = (),
        folded: Iterable[tuple[str, str]] = (),
    ) -> int:
        """Queue (key, notifier, payload) messages, move the generations' positions and replace the rules'
        snapshot, in one transaction; the number of messages that were new (a key already queued is a
        replay of the same bytes, ignored). `failed` (key, "(rule NAME)", log entry, error): entries a rule
        failed on, kept as dead letters to look at. `held`: alerts silences held back, to count. `folded`
        (notifier, alert key): the alerts of the digests among `messages`. On any error nothing is written."""
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
            for key, where, raw, error in failed:
                db.execute(
                    "INSERT INTO outbox (key, notifier, payload, state, created_at, last_error) "
                    "VALUES (?, ?, ?, 'dead', ?, ?) ON CONFLICT (key, notifier) DO NOTHING",
                    (key, where, raw, now, error),
                )
            for p in positions:
                db.execute(
                    "INSERT INTO generation (source, origin, path, offset, emitted, open, marker, finished, "
                    "updated_at, line, line_at, dev, ino, head) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (source, origin) DO UPDATE SET "
                    "path = excluded.path, offset = excluded.offset, emitted = excluded.emitted, "
                    "open = excluded.open, marker = excluded.marker, finished = excluded.finished, "
                    "updated_at = excluded.updated_at, line = excluded.line, line_at = excluded.line_at, "
                    "dev = coalesce(excluded.dev, dev), ino = coalesce(excluded.ino, ino), head = excluded.head",
                    (
                        p.source,
                        p.key,
                        p.path,
                        p.offset,
                        p.emitted,
                        ",".join(map(str, p.open)),
                        p.marker,
                        int(p.finished),
                        now,
                        p.line,
                        p.offset,
                        *(p.ident or (None, None)),
                        p.head,
                    ),
                )
            db.executemany(
                "INSERT INTO folded VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [(n, k, now) for n, k in folded]
            )
            _record_held(db, held)
            if snapshot is not None:
                db.execute("INSERT OR REPLACE INTO snapshot VALUES (1, ?)", (snapshot,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLITE_FULL has rolled back already
                db.execute("ROLLBACK")
            raise
        return added

    def positions(self, source: str) -> list[Position]:
        """The unfinished generations of `source`, oldest first."""
        return [p for p in self.generations(source) if not p.finished]

    def generations(self, source: str) -> list[Position]:
        """Every generation of `source` ever read (or passed over at its first start), finished or not,
        oldest first."""
        rows = self.db.execute(
            "SELECT source, origin, path, offset, emitted, open, marker, finished, "
            "CASE WHEN line_at = offset THEN line ELSE 0 END, dev, ino, head FROM generation "
            "WHERE source = ? ORDER BY id",
            (source,),
        ).fetchall()
        return [
            Position(s, o, p, off, em, tuple(int(x) for x in op.split(",") if x), m, bool(f), line, _ident(dev, ino), h)
            for s, o, p, off, em, op, m, f, line, dev, ino, h in rows
        ]

    def known(self, source: str) -> set[str]:
        """The keys of every generation of `source` ever read (finished or not)."""
        rows = self.db.execute("SELECT origin FROM generation WHERE source = ?", (source,))
        return {r[0] for r in rows}

    def last_seen(self, source: str) -> float | None:
        row = self.db.execute("SELECT max(updated_at) FROM generation WHERE source = ?", (source,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def snapshot(self) -> bytes | None:
        row = self.db.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else bytes(row[0])


def _ident(dev: int | None, ino: int | None) -> tuple[int, int] | None:
    return None if dev is None or ino is None else (dev, ino)


def _record_held(db: sqlite3.Connection, held: Iterable[Held]) -> None:
    """Count alerts held back by silences; a key already counted (the same bytes read again) is not."""
    for h in held:
        cur = db.execute(
            "INSERT INTO silenced (silence, rule, key, time, text) "
            "SELECT ?, ?, ?, ?, CASE WHEN silenced < ? THEN ? END FROM silence WHERE id = ? "
            "ON CONFLICT (silence, key) DO NOTHING",
            (h.silence, h.rule, h.key, h.time, KEEP_HELD, h.text, h.silence),
        )
        if cur.rowcount:
            db.execute("UPDATE silence SET silenced = silenced + 1 WHERE id = ?", (h.silence,))


# Columns added since schema 1, without a new schema version: a version that does not know them still reads and
# writes the database (it ignores them; see `line_at`).
_ADDED_COLUMNS = {
    "generation": (
        "line INTEGER NOT NULL DEFAULT 0",
        "line_at INTEGER NOT NULL DEFAULT -1",
        "dev INTEGER",
        "ino INTEGER",
        "head TEXT NOT NULL DEFAULT ''",
    ),
}


def _add_columns(db: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _unusable(path: str, exc: Exception) -> StateError:
    return StateError(
        f"{path}: not a usable kong-tailer state database ({exc}); move it aside to start afresh "
        "(the logs are then followed from their end again)"
    )


def _create(path: str) -> None:
    """A new database with its tables, made beside `path` and renamed into place: `path` never exists
    without them."""
    new = path + ".new"
    for leftover in (new, new + "-wal", new + "-shm", new + "-journal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    db = sqlite3.connect(new, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(new + suffix):
            os.unlink(new + suffix)
    os.replace(new, path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _row(r: Any) -> Row:
    """An outbox row from `SELECT *` (columns in the order of _SCHEMA)."""
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[9], r[10])


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
            f"state directory {os.path.dirname(path)} is locked by another kong-tailer (pid {holder}); stop it, "
            "or give this one another --state-dir"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
