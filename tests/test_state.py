"""The state directory: outbox and checkpoints in one SQLite transaction, in-order sending, crash recovery, lock.

Crashes and the second instance are real processes: a child killed with SIGKILL, a child holding the lock.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tailer.state import Position, StateError, Store

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_736_935_200.0


def at(offset: int, source: str = "error.log", line: int = 0) -> Position:
    return Position(source, "0123abcd", source, offset, offset, (), "m", line=line)


def offset(store: Store, source: str = "error.log") -> int | None:
    positions = store.positions(source)
    return positions[0].offset if positions else None


def child(code: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_batch_is_queued_once_however_often_it_is_read(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        batch = [("k1", "slack", '{"text":"a"}'), ("k2", "slack", '{"text":"b"}'), ("k1", "console", "a")]
        assert store.commit(batch, [at(120)], now=NOW) == 3
        assert store.commit(batch, [at(240)], now=NOW) == 0  # the same bytes read again
        assert store.depth() == 3 and store.depth("slack") == 2
        assert offset(store) == 240
        assert offset(store, "access.log") is None


def test_a_failed_batch_leaves_no_message_and_no_checkpoint(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([], [at(100)], now=NOW)
        bad = [("k1", "slack", "ok"), ("k2", "slack", None)]  # NOT NULL: the second row fails
        with pytest.raises(sqlite3.IntegrityError):
            store.commit(bad, [at(200)], now=NOW)  # type: ignore[arg-type]
        assert store.depth() == 0
        assert offset(store) == 100
        assert store.commit([("k1", "slack", "ok")], now=NOW) == 1  # and the store still works


def test_messages_of_a_notifier_go_in_order_and_a_waiting_one_holds_the_rest(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([(f"k{i}", "slack", str(i)) for i in range(3)] + [("w", "webhook", "w")], now=NOW)
        [first] = store.next_due("slack", NOW)
        assert first.key == "k0"
        store.sending([first], NOW)
        store.retry([first], NOW + 30, "500 rollup_error")
        assert store.next_due("slack", NOW + 10) == []  # k1 waits behind k0
        assert store.next_due("webhook", NOW + 10) != []  # another notifier does not
        assert store.waiting() == {"slack": NOW + 30, "webhook": 0.0}
        [again] = store.next_due("slack", NOW + 30)
        assert (again.key, again.attempts, again.last_error, again.first_attempt) == ("k0", 1, "500 rollup_error", NOW)
        store.sending([again], NOW + 30)
        store.sent([again], NOW + 30)
        [following] = store.next_due("slack", NOW + 30)
        assert following.key == "k1"
        assert [r.key for r in store.next_due("slack", NOW + 30, limit=5)] == ["k1", "k2"]
        assert store.depth("slack") == 2


def test_dead_letters_are_kept_and_can_be_revived(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([("k1abc", "slack", "a"), ("k2", "slack", "b")], now=NOW)
        row = store.next_due("slack", NOW)
        store.sending(row, NOW)
        store.dead(row, "404 no_service")
        assert [(r.key, r.last_error) for r in store.dead_letters()] == [("k1abc", "404 no_service")]
        [nxt] = store.next_due("slack", NOW)
        assert nxt.key == "k2"  # a dead letter does not block the others
        assert store.revive(["k9"]) == 0
        assert store.revive(["k1"]) == 1  # a key's start is enough, as `outbox list` shows 12 characters
        assert store.dead_letters() == []
        [revived] = store.next_due("slack", NOW)
        assert (revived.key, revived.attempts) == ("k1abc", 0)


def test_a_row_sending_when_the_process_was_killed_is_sent_again(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([("k1", "slack", "a")], [at(77)], now=NOW)
    proc = child(
        """
        import sys
        from tailer.state import Store
        store = Store(sys.argv[1])
        store.sending(store.next_due("slack", 2e9), 2e9)
        print("sending", flush=True)
        sys.stdin.read()  # in the middle of the POST: killed here
        """,
        str(tmp_path),
    )
    assert proc.stdout is not None and proc.stdout.readline() == "sending\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with Store(str(tmp_path)) as store:  # the lock died with the process
        assert store.recover(NOW, 300) == 1
        [row] = store.next_due("slack", NOW)
        assert (row.key, row.state, row.attempts) == ("k1", "pending", 1)
        assert offset(store) == 77


def test_a_second_instance_is_refused_and_told_the_first_ones_pid(tmp_path: Path) -> None:
    proc = child(
        """
        import sys
        from tailer.state import Store
        store = Store(sys.argv[1])
        print("open", flush=True)
        sys.stdin.read()
        """,
        str(tmp_path),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "open\n"
        with pytest.raises(StateError) as err:
            Store(str(tmp_path))
        assert f"pid {proc.pid}" in str(err.value) and str(tmp_path) in str(err.value)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    Store(str(tmp_path)).close()  # free again once it has gone


def test_state_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Store(str(tmp_path)).close()
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer kong-tailer"):
        Store(str(tmp_path))


def test_the_database_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.parametrize("content", [b"", b"\x00" * 4096, bytes(range(256)) * 64])
def test_an_empty_or_damaged_database_is_refused_not_reset(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "state.db").write_bytes(content)
    with pytest.raises(StateError, match="not a usable kong-tailer state database") as err:
        Store(str(tmp_path))
    assert str(tmp_path / "state.db") in str(err.value) and err.value.exit_code == 3
    assert (tmp_path / "state.db").read_bytes() == content  # left as it was, for a person to look at


def test_a_wall_clock_jump_back_does_not_leave_a_message_waiting_for_hours(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([("k1", "slack", "a")], now=NOW)
        rows = store.next_due("slack", NOW)
        store.sending(rows, NOW)
        store.retry(rows, NOW + 3600, "429 rate_limited")  # as if written by a clock an hour ahead
        store.recover(NOW, max_wait=300)
        assert [r.key for r in store.next_due("slack", NOW)] == ["k1"]


def test_positions_and_the_snapshot_go_in_the_same_transaction(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        store.commit([], [at(10)], b"state-1", now=NOW)
        with pytest.raises(sqlite3.IntegrityError):
            store.commit([("k", "slack", None)], [at(20)], b"state-2", now=NOW)  # type: ignore[list-item]
        assert (offset(store), store.snapshot()) == (10, b"state-1")
        done = Position("error.log", "0123abcd", "error.log.1", 30, 30, (), "m", finished=True)
        store.commit([], [done], None, now=NOW)
        assert store.positions("error.log") == [] and store.known("error.log") == {"0123abcd"}
        assert store.snapshot() == b"state-1"  # None leaves it


# The tables as the first release made them (schema 1, before line numbers were kept); the others are made
# when a database is opened.
FIRST_GENERATION = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, notifier TEXT NOT NULL, payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    sent_at REAL, last_error TEXT, first_attempt REAL, UNIQUE (key, notifier)
);
CREATE TABLE generation (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, origin TEXT NOT NULL, path TEXT NOT NULL,
    offset INTEGER NOT NULL, emitted INTEGER NOT NULL, open TEXT NOT NULL DEFAULT '', marker TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL, UNIQUE (source, origin)
);
INSERT INTO generation (source, origin, path, offset, emitted, marker, updated_at)
VALUES ('error.log', '0123abcd', 'error.log', 500, 500, 'm', 0);
"""


def test_a_database_of_the_first_release_gains_line_numbers_and_stays_readable_by_it(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.executescript(FIRST_GENERATION)
    db.close()
    with Store(str(tmp_path)) as store:
        [old] = store.positions("error.log")
        assert (old.offset, old.line) == (500, 0)  # not known: the follower counts it
        store.commit([], [at(700, line=12)], None, now=NOW)
        assert [(p.offset, p.line) for p in store.positions("error.log")] == [(700, 12)]
    # the first release, run again on it, moves the position without knowing the line: the line is not known
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("UPDATE generation SET offset = 900, emitted = 900")
    db.commit()
    db.close()
    with Store(str(tmp_path)) as store:
        assert [(p.offset, p.line) for p in store.positions("error.log")] == [(900, 0)]


def test_an_alert_queued_alone_or_in_a_digest_is_never_queued_again_in_another_digest(tmp_path: Path) -> None:
    """Reading bytes again (a file taken for a new one) makes the same alerts again, with the same keys: a
    digest of them has a key of its own, so the outbox is asked about each alert it holds."""
    from tailer.alerts import Message, unqueued
    from tests.test_slack_render import alert

    a, b, c, d = (alert(key=k * 32) for k in "abcd")
    with Store(str(tmp_path)) as store:
        digest = Message("slack", [b, c], alert().time)
        store.commit(
            [(a.key, "slack", "a"), (digest.key, "slack", "b c")], now=NOW, folded=[("slack", b.key), ("slack", c.key)]
        )
        assert store.queued("slack", [a.key, b.key, c.key, d.key]) == {a.key, b.key, c.key}
        assert store.queued("webhook", [a.key, b.key]) == set()  # per notifier
        again = [Message("slack", [a, b, c, d], alert().time), Message("slack", [b], alert().time)]
        queued = {("slack", k) for k in store.queued("slack", [x.key for m in again for x in m.alerts])}
        [left] = unqueued(again, queued)
        assert [x.key for x in left.alerts] == [d.key] and left.key == d.key
        assert unqueued([Message("slack", [d, d], alert().time)], set())[0].alerts == [d]  # once in a batch too
