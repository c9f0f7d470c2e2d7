"""tailer.follow.Follower on real files: rotation, truncation, deletion, restarts (fault matrix F22–F30, F33–F36).

Every test drives a Follower in-process with files in tmp_path and real renames, truncations and unlinks; the
writer is nginx-like (one O_APPEND fd, written after a rename until it is reopened). A `Store` keeps what the
daemon would have committed (positions by source and origin), so a "restart" is a new Follower built from it,
exactly as the daemon does after kill -9. Waiting (rotate_wait, quiet) always polls `reconcile()` to a deadline.
"""

from __future__ import annotations

import builtins
import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from tailer import state
from tailer.events import Event, ParseError
from tailer.follow import Follower, Settings, Tail
from tailer.parse import ParseContext
from tailer.reader import ReadOptions
from tailer.state import Position

ROTATE_WAIT = 0.2
QUIET = 0.1
LIMIT = 1 << 20
DEADLINE = 5.0  # seconds any wait may take before the test fails
BOX = (Path(__file__).parent / "fixtures" / "follow" / "event-hook-box.log").read_bytes()


def entry(tag: str, n: int, text: str | None = None) -> bytes:
    """One complete error-log entry (its context suffix closes it at once), distinct per (tag, n)."""
    body = text if text is not None else f"{tag} line {n}"
    return f"2025/01/15 10:00:{n % 60:02d} [error] 1234#0: *{n} {body}, client: 10.0.0.1, server: kong\n".encode()


def raw(tag: str, n: int) -> str:
    return entry(tag, n).decode().rstrip("\n")


def raws(tag: str, numbers: range | list[int]) -> list[str]:
    return [raw(tag, n) for n in numbers]


# -- the daemon's surroundings


class Store(state.Store):
    """The real state database, in the test's directory: what the daemon commits is what a restart sees."""

    def save(self, positions: list[Position]) -> None:
        self.commit([], positions, None, now=time.time())

    def finished(self, source: str, origin: str) -> bool:
        row = self.db.execute("SELECT finished FROM generation WHERE source = ? AND origin = ?", (source, origin))
        return bool(row.fetchone()[0])


class Run:
    """One life of the daemon: a Follower attached as `Daemon._start` does (then committed), reconciled as
    `Daemon._loop` does; with `autocommit` every reconcile is followed by a commit."""

    def __init__(
        self,
        patterns: list[str],
        store: Store,
        *,
        fresh: bool = False,
        start_at_end: bool = False,
        rotate_wait: float = ROTATE_WAIT,
        quiet: float = QUIET,
        max_line: int = 256 * 1024,
        limit: int = LIMIT,
        autocommit: bool = True,
    ) -> None:
        self.store = store
        self.limit = limit
        self.autocommit = autocommit
        opts = ReadOptions("error", ParseContext("", "gw", UTC), max_line=max_line)
        settings = Settings(start_at_end=start_at_end, rotate_wait=rotate_wait, quiet=quiet)
        self.follower = Follower(patterns, opts, store, settings)
        self.events: list[tuple[Tail, Event]] = []
        for source in self.follower.sources():
            self.follower.attach(source, fresh)
        self.commit()

    def commit(self) -> None:
        self.store.save(self.follower.positions_now())
        self.follower.done.clear()

    def step(self) -> list[Event]:
        got: list[Event] = []
        for tail, events in self.follower.reconcile(self.limit):
            got.extend(events)
            self.events.extend((tail, e) for e in events)
        if self.autocommit:
            self.commit()
        return got

    def until(self, what: str, done: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Reconcile until `done()` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            if done():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events so far: {self.raws()}")
            time.sleep(0.01)

    def until_events(self, n: int, timeout: float = DEADLINE) -> None:
        self.until(f"{n} events", lambda: len(self.events) >= n, timeout)

    def settle(self, seconds: float) -> None:
        """Keep reconciling for `seconds` (to show nothing more comes, or to let rotate_wait/quiet pass)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            time.sleep(0.01)

    def raws(self) -> list[str]:
        return [e.raw for _, e in self.events]

    def raws_of(self, tag: str) -> list[str]:
        return [r for r in self.raws() if f" {tag} line " in r]

    def lines_of(self, tag: str) -> list[int]:
        """The line numbers the events of `tag` name."""
        return [e.lineno for _, e in self.events if f" {tag} line " in e.raw]

    def close(self) -> None:
        self.follower.close()


class Writer:
    """nginx: one O_APPEND fd, written whatever happens to the name; `reopen()` is what USR1 does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def entries(self, tag: str, numbers: range | list[int]) -> None:
        for n in numbers:
            self.write(entry(tag, n))

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Lab:
    """Writers and runs of one test, closed at its end."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.log = self.logs / "error.log"
        self.store = Store(str(tmp_path / "state"))
        self.writers: list[Writer] = []
        self.runs: list[Run] = []

    def writer(self, path: Path | None = None) -> Writer:
        w = Writer(path or self.log)
        self.writers.append(w)
        return w

    def run(self, patterns: list[str] | None = None, **kwargs: Any) -> Run:
        r = Run(patterns or [str(self.log)], self.store, **kwargs)
        self.runs.append(r)
        return r

    def close(self) -> None:
        for w in self.writers:
            w.close()
        for r in self.runs:
            r.close()
        self.store.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    yield lab
    lab.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, attached to the follower's logger itself (another test may have stopped `tailer` propagating)."""
    logger = logging.getLogger("tailer.follow")
    old = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each record once
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.level, logger.propagate = old


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == "tailer.follow"]


def later_than(*paths: Path) -> None:
    """Wait until the clock is clearly past the files' mtimes (file times are coarse: a few ms), so that a file
    written next is newer, as it is when rotations are minutes apart."""
    newest = max(p.stat().st_mtime for p in paths)
    while time.time() < newest + 0.03:
        time.sleep(0.005)


def fds_on(path: Path) -> int:
    """How many of this process's fds are open on `path`."""
    target = str(path.resolve())
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                n += 1
        except OSError:
            pass
    return n


# -- the file missing, the directory replaced


@pytest.mark.parametrize("start_at_end", [False, True])
def test_f22_missing_at_start_then_created_is_read_from_0(lab: Lab, start_at_end: bool) -> None:
    run = lab.run(fresh=True, start_at_end=start_at_end)
    run.settle(0.05)
    assert run.events == []
    assert run.follower.tails == []
    w = lab.writer()
    w.entries("a", range(1, 4))
    run.until_events(3)
    w.entries("a", range(4, 6))
    run.until_events(5)
    run.settle(QUIET + 0.1)
    assert run.raws() == raws("a", range(1, 6))
    assert run.events[0][1].offset == 0


def test_f23_directory_removed_and_recreated(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    origin = run.follower.tails[0].origin
    assert origin is not None
    w.entries("a", [3])  # not read yet when the directory goes
    w.close()
    shutil.rmtree(lab.logs)
    run.until_events(3)  # what was left in the deleted file
    run.until("the deleted generation closed", lambda: run.follower.tails == [])
    assert lab.store.finished(str(lab.log), origin)
    lab.logs.mkdir()
    w2 = lab.writer()
    w2.entries("b", range(1, 4))
    run.until_events(6)
    w2.entries("b", [4])
    run.until_events(7)
    run.settle(QUIET + 0.1)
    assert run.raws_of("a") == raws("a", range(1, 4))
    assert run.raws_of("b") == raws("b", range(1, 5))
    assert len(run.events) == 7
    assert [e.offset for _, e in run.events if e.raw == raw("b", 1)] == [0]


# -- rotation while running


def test_f24_rename_create_with_late_writes(lab: Lab) -> None:
    rotated = lab.logs / "error.log.1"
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run(autocommit=False)
    run.until_events(2)
    old_origin = run.follower.tails[0].origin
    assert old_origin is not None
    old_ino = os.stat(lab.log).st_ino

    os.rename(lab.log, rotated)
    lab.log.touch()  # logrotate's `create`
    w.entries("a", [3])  # nginx has not reopened yet: into the renamed file
    run.step()
    [old] = [t for t in run.follower.tails if t.ino[1] == old_ino]
    assert old.rotated_at is not None
    w.entries("a", [4])  # later still
    read_at = time.monotonic()
    run.until("the late write", lambda: raw("a", 4) in run.raws())

    # Not closed while it may still grow: not before rotate_wait has passed since its last growth.
    deadline = time.monotonic() + DEADLINE
    checked_open = 0
    while old in run.follower.tails:
        if time.monotonic() - read_at < ROTATE_WAIT:
            assert not old.finished
            assert fds_on(rotated) == 2  # the writer's and ours
            checked_open += 1
        assert time.monotonic() < deadline, "the rotated generation was never closed"
        run.step()
        time.sleep(0.01)
    assert time.monotonic() - read_at >= ROTATE_WAIT
    assert checked_open > 0
    assert old.finished
    assert [p.finished for p in run.follower.positions_now() if p.key == old_origin] == [True]

    w.reopen()  # USR1
    w.entries("b", range(1, 4))
    run.until_events(7)
    run.settle(QUIET + 0.1)
    assert fds_on(rotated) == 0  # ours is closed too (the writer reopened)
    assert run.raws_of("a") == raws("a", range(1, 5))
    assert run.raws_of("b") == raws("b", range(1, 4))
    assert len(run.events) == 7


def test_f25_copytruncate_recovers_the_tail_from_the_copy(lab: Lab, logs: pytest.LogCaptureFixture) -> None:
    copy = lab.logs / "error.log.1"
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    w.entries("a", range(4, 6))  # written after the last reconcile, before the copy
    shutil.copy(lab.log, copy)
    os.truncate(lab.log, 0)
    w.entries("b", [1])  # O_APPEND: at the new end, byte 0
    run.until_events(6)
    assert any("truncated" in m and str(copy) in m for m in records(logs, logging.INFO))
    later_than(copy)
    w.entries("b", range(2, 4))
    run.until_events(8)
    run.until("the copy closed", lambda: len(run.follower.tails) == 1)
    run.settle(QUIET + 0.1)
    assert run.raws_of("a") == raws("a", range(1, 6))
    assert run.raws_of("b") == raws("b", range(1, 4))
    assert (run.lines_of("a"), run.lines_of("b")) == ([1, 2, 3, 4, 5], [1, 2, 3])  # the copy's lines go on
    assert len(run.events) == 8
    assert records(logs, logging.WARNING) == []
    assert fds_on(copy) == 0

    # After a restart the copy is not read again either.
    run.close()
    again = lab.run()
    w.entries("b", [4])
    again.until_events(1)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("b", [4])
    assert again.lines_of("b") == [4]


def test_f25_copytruncate_without_a_copy_warns_and_reads_on(lab: Lab, logs: pytest.LogCaptureFixture) -> None:
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    w.entries("a", [4])  # never read: truncated away with no copy
    os.truncate(lab.log, 0)
    w.entries("b", [1])
    run.until_events(4)
    w.entries("b", range(2, 4))
    run.until_events(6)
    run.settle(QUIET + 0.1)
    assert run.raws() == raws("a", range(1, 4)) + raws("b", range(1, 4))
    [warning] = records(logs, logging.WARNING)
    assert str(lab.log) in warning and "truncated" in warning and "no copy" in warning


@pytest.mark.parametrize("look", [True, False])
def test_f25_copytruncate_when_only_the_start_of_the_first_line_was_read(
    lab: Lab, logs: pytest.LogCaptureFixture, look: bool
) -> None:
    copy = lab.logs / "error.log.1"
    first, second = entry("a", 1), entry("b", 2)
    w = lab.writer()
    w.write(first[:30])  # the start of the first line: its origin is not known yet
    run = lab.run()
    run.step()
    [tail] = run.follower.tails
    assert (tail.origin, tail.pos) == (None, 30)
    w.write(first[30:])
    shutil.copy(lab.log, copy)
    os.truncate(lab.log, 0)
    w.write(second)  # refilled past byte 30 before the next reconcile: the 30 bytes read are not in it
    for _, events in run.follower.reconcile(LIMIT, look):  # a reconcile with or without a look at the paths
        run.events.extend((tail, e) for e in events)
    run.until_events(2)
    run.until("the copy closed", lambda: len(run.follower.tails) == 1)
    run.settle(QUIET + 0.1)
    assert run.raws() == [raw("a", 1), raw("b", 2)]
    assert [e.offset for _, e in run.events] == [0, 0]
    assert records(logs, logging.WARNING) == []

    # After a restart neither file is read again.
    run.close()
    again = lab.run()
    w.write(entry("b", 3))
    again.until_events(1)
    again.settle(ROTATE_WAIT + QUIET + 0.1)
    assert again.raws() == [raw("b", 3)]


def test_f26_truncated_and_refilled_past_the_old_size(lab: Lab, logs: pytest.LogCaptureFixture) -> None:
    copy = lab.logs / "error.log.1"
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    old_size = lab.log.stat().st_size
    w.entries("a", [4])
    shutil.copy(lab.log, copy)
    os.truncate(lab.log, 0)
    w.entries("b", range(1, 11))  # the follower looks only now: the file is larger than before
    assert lab.log.stat().st_size > old_size + len(entry("a", 4))
    run.until_events(14)
    run.until("the copy closed", lambda: len(run.follower.tails) == 1)
    run.settle(QUIET + 0.1)
    assert run.raws() == raws("a", range(1, 5)) + raws("b", range(1, 11))
    assert [e.offset for t, e in run.events if e.raw == raw("b", 1)] == [0]
    assert records(logs, logging.WARNING) == []


def test_f27_delete_and_recreate_with_the_old_fd_open(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    os.unlink(lab.log)
    w.entries("a", [3])  # into the deleted file
    run.step()
    w2 = lab.writer()  # a new file under the name
    w2.entries("b", range(1, 3))
    w.entries("a", [4])  # still into the deleted file
    w.write(entry("a", 5).rstrip(b"\n"))  # and a last line without its newline (the writer died)
    run.until_events(6)
    w.close()
    run.until("the deleted generation closed", lambda: len(run.follower.tails) == 1)
    w2.entries("b", [3])
    run.until_events(8)
    run.settle(QUIET + 0.1)
    assert run.raws_of("a") == raws("a", range(1, 6))  # the partial line is handed out when its file is closed
    assert run.raws_of("b") == raws("b", range(1, 4))
    assert len(run.events) == 8


def test_f29_two_rotations_between_two_reconciles_lose_nothing(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", [1])
    run = lab.run()
    run.until_events(1)
    w.entries("a", [2])
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("b", range(1, 3))  # a generation that lives less than a reconcile period
    os.rename(lab.logs / "error.log.1", lab.logs / "error.log.2")
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("c", [1])
    run.until_events(3)
    run.settle(ROTATE_WAIT + QUIET + 0.2)
    assert run.raws_of("a") == raws("a", range(1, 3))
    assert run.raws_of("c") == raws("c", [1])
    assert run.raws_of("b") == raws("b", range(1, 3)), "the generation between the two rotations was never read"


# -- rotation while stopped


def test_f28_one_rotation_while_stopped(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    run.close()  # stopped (its last commit stands)

    w.entries("a", range(4, 6))
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("b", range(1, 4))

    again = lab.run()
    again.until_events(5)
    again.until("the old generation closed", lambda: len(again.follower.tails) == 1)
    w.entries("b", [4])
    again.until_events(6)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("a", range(4, 6)) + raws("b", range(1, 5))
    assert (again.lines_of("a"), again.lines_of("b")) == ([4, 5], [1, 2, 3, 4])


def test_f28_a_position_saved_without_its_line_number_has_the_line_counted(lab: Lab) -> None:
    """A version that kept no line numbers moved the position last (`line_at` is not `offset`): the lines of the
    file before it are counted."""
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    run.close()
    lab.store.db.execute("UPDATE generation SET line = 99, line_at = -1")  # as the older version leaves it
    w.entries("a", range(4, 6))
    again = lab.run()
    again.until_events(2)
    assert again.lines_of("a") == [4, 5]


def test_f28_three_rotations_while_stopped(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    run.close()

    def rotate() -> None:  # error.log → .1 → .2 → .3, then USR1
        for n in (2, 1):
            older = lab.logs / f"error.log.{n}"
            if older.exists():
                os.rename(older, lab.logs / f"error.log.{n + 1}")
        os.rename(lab.log, lab.logs / "error.log.1")
        w.reopen()

    w.entries("a", range(3, 5))
    later_than(lab.log)
    rotate()
    w.entries("b", range(1, 3))
    later_than(lab.log)
    rotate()
    w.entries("c", range(1, 3))
    later_than(lab.log)
    rotate()
    w.entries("d", range(1, 3))
    assert (lab.logs / "error.log.3").read_bytes().startswith(entry("a", 1))

    again = lab.run()
    again.until_events(8)
    again.until("the rotated generations closed", lambda: len(again.follower.tails) == 1)
    again.settle(QUIET + 0.1)
    expected = raws("a", range(3, 5)) + raws("b", range(1, 3)) + raws("c", range(1, 3)) + raws("d", range(1, 3))
    assert again.raws() == expected


def test_f24_a_new_file_starting_with_all_of_an_old_one_is_read_from_its_start(lab: Lab) -> None:
    """A generation read to its end and closed, still beside the path; the path then names a new file that
    starts with the same bytes (the same line logged in the same second). The old one is its own file (its
    inode): the new one is new, and read from its start."""
    w = lab.writer()
    w.entries("a", [1])
    run = lab.run()
    run.until_events(1)
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    run.until("the first file closed", lambda: len(run.follower.tails) == 1 and run.follower.done == [])
    os.rename(lab.logs / "error.log.1", lab.logs / "error.log.2")
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("a", [1])  # the same bytes as the first file, whole
    w.entries("b", [1])
    run.until_events(3)
    run.settle(QUIET + 0.1)
    assert run.raws() == raws("a", [1]) + raws("a", [1]) + raws("b", [1])
    assert len({e.raw for _, e in run.events}) == 2 and run.lines_of("a") == [1, 1]


def test_f28_rotated_twice_while_stopped_with_the_clock_ahead_then_put_right(lab: Lab) -> None:
    """The last save was made by a clock an hour ahead (its `updated_at`); the files rotated while stopped are
    still read: which files are new is told by their bytes, not by comparing their times with ours."""
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    run.close()
    lab.store.db.execute("UPDATE generation SET updated_at = updated_at + 3600")
    w.entries("a", [3])
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("b", [1])
    os.rename(lab.logs / "error.log.1", lab.logs / "error.log.2")
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("c", [1])

    again = lab.run()
    again.until_events(3)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("a", [3]) + raws("b", [1]) + raws("c", [1])


def test_f28_rotated_files_there_at_the_first_start_are_never_read(lab: Lab) -> None:
    """At a source's first start its rotated files predate kong-tailer: they are recorded by their bytes, so
    that no later start takes them for files rotated while it was stopped, whatever their times say."""
    (lab.logs / "error.log.2").write_bytes(entry("old", 1))
    (lab.logs / "error.log.1").write_bytes(entry("old", 2))
    w = lab.writer()
    w.entries("a", [1])
    run = lab.run(fresh=True)
    run.until_events(1)
    run.close()
    for name in ("error.log.1", "error.log.2"):  # touched since (a backup tool, a chmod): newer than the save
        os.utime(lab.logs / name)
    again = lab.run()
    w.entries("a", [2])
    again.until_events(1)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("a", [2])


def test_f28_a_state_saved_without_file_identities_reads_only_the_files_written_since(lab: Lab) -> None:
    """A state saved by a version that kept no (device, inode) and recorded no rotated files: the files written
    since its last save are read, the older ones are not (by their times, the only thing there is), once."""
    old = lab.logs / "error.log.2"
    old.write_bytes(entry("old", 1))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    w = lab.writer()
    w.entries("a", [1])
    run = lab.run()
    run.until_events(1)
    run.close()
    lab.store.db.execute("DELETE FROM generation WHERE finished")  # (the old version recorded none)
    lab.store.db.execute("UPDATE generation SET dev = NULL, ino = NULL")
    later_than(lab.log)
    w.entries("a", [2])
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("b", [1])
    again = lab.run()
    again.until_events(2)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("a", [2]) + raws("b", [1])
    again.close()
    w.entries("b", [2])
    third = lab.run()  # and once only: the rotated files are known by their bytes from then on
    third.until_events(1)
    third.settle(QUIET + 0.1)
    assert third.raws() == raws("b", [2])


def test_f25_copytruncate_while_stopped_into_a_file_that_starts_alike_loses_nothing_and_says_so(
    lab: Lab, logs: pytest.LogCaptureFixture
) -> None:
    """copytruncate while stopped, and the emptied file refilled with the same first lines as far as the saved
    position: the copy and the file are both the generation read, as far as bytes can tell. One is resumed,
    the other read from its start, with a warning: some lines may come twice, none is lost."""
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    run.close()
    w.entries("a", [3])  # after the last save, before the copy
    shutil.copy(lab.log, lab.logs / "error.log.1")
    os.truncate(lab.log, 0)
    w.entries("a", range(1, 3))  # the same bytes again, as far as the saved position
    w.entries("new", [1])
    again = lab.run()
    again.until_events(4)
    again.settle(QUIET + 0.1)
    assert sorted(again.raws_of("a")) == sorted(raws("a", range(1, 4)))  # a 1-2 again, from the file read whole
    assert again.raws_of("new") == raws("new", [1])
    assert any("start with the same bytes" in m for m in records(logs, logging.WARNING))


def test_f28_generation_gone_while_stopped_is_reported(lab: Lab, logs: pytest.LogCaptureFixture) -> None:
    w = lab.writer()
    w.entries("a", range(1, 3))
    run = lab.run()
    run.until_events(2)
    run.close()

    w.entries("a", [3])  # never read: its file is compressed away below
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("b", range(1, 3))
    later_than(lab.log)
    os.rename(lab.logs / "error.log.1", lab.logs / "error.log.2.gz")  # compressed: not followed
    os.rename(lab.log, lab.logs / "error.log.1")
    w.reopen()
    w.entries("c", range(1, 3))

    again = lab.run()
    again.until_events(4)
    again.settle(ROTATE_WAIT + QUIET + 0.1)
    assert again.raws() == raws("b", range(1, 3)) + raws("c", range(1, 3))
    warnings = records(logs, logging.WARNING)
    assert any(str(lab.log) in m for m in warnings), f"no WARNING names the lost generation: {warnings}"


def test_f28_rotation_while_stopped_when_the_active_file_was_still_empty(lab: Lab) -> None:
    lab.log.touch()  # kong's prepare_prefix, or logrotate's `create`: an empty error.log
    run = lab.run(fresh=True, start_at_end=True)
    run.settle(0.05)
    assert run.events == []
    run.close()

    w = lab.writer()
    w.entries("b", range(1, 3))  # while stopped: the empty file gets its first lines...
    later_than(lab.log)
    os.rename(lab.log, lab.logs / "error.log.1")  # ...and is rotated
    w.reopen()
    w.entries("c", range(1, 3))

    again = lab.run()
    again.until_events(2)
    again.settle(ROTATE_WAIT + QUIET + 0.1)
    assert again.raws_of("c") == raws("c", range(1, 3))
    assert again.raws_of("b") == raws("b", range(1, 3)), "lines of a generation rotated while stopped were lost"


# -- replaced content while stopped


def test_f30_deleted_and_recreated_while_stopped(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    [old] = lab.store.positions(str(lab.log))
    run.close()
    w.close()

    os.unlink(lab.log)
    w2 = lab.writer()  # ext4 hands the freed inode out again at once
    w2.entries("c", range(1, 6))

    again = lab.run()
    again.until_events(5)
    again.settle(QUIET + 0.1)
    assert again.raws() == raws("c", range(1, 6))
    assert again.events[0][1].offset == 0
    assert lab.store.finished(str(lab.log), old.key)


@pytest.mark.parametrize("first_line", ["other", "same"])
def test_f30_truncated_and_rewritten_longer_while_stopped(
    lab: Lab, logs: pytest.LogCaptureFixture, first_line: str
) -> None:
    w = lab.writer()
    w.entries("a", range(1, 4))
    run = lab.run()
    run.until_events(3)
    [old] = lab.store.positions(str(lab.log))
    run.close()

    os.truncate(lab.log, 0)
    if first_line == "same":  # only the continuity marker (the bytes before the saved offset) can tell
        w.entries("a", [1])
        w.entries("rewritten", range(2, 10))
        expected = raws("a", [1]) + raws("rewritten", range(2, 10))
    else:
        w.entries("rewritten", range(1, 10))
        expected = raws("rewritten", range(1, 10))
    assert lab.log.stat().st_size > old.offset

    again = lab.run()
    again.until_events(len(expected))
    again.settle(QUIET + 0.1)
    assert again.raws() == expected
    assert again.events[0][1].offset == 0
    if first_line == "same":
        assert any("rewritten" in m for m in records(logs, logging.WARNING))
    else:
        assert lab.store.finished(str(lab.log), old.key)


# -- content


def test_f33_partial_last_line_across_a_crash(lab: Lab) -> None:
    w = lab.writer()
    w.entries("a", [1])
    w.write(b"2025/01/15 10:00:02 [error] 1234#0: *2 abc")
    run = lab.run()
    run.until_events(1)
    run.settle(QUIET + 0.1)  # a quiet spell does not hand out a line without its newline
    assert run.raws() == raws("a", [1])
    [saved] = lab.store.positions(str(lab.log))
    assert saved.offset == saved.emitted == len(entry("a", 1))
    run.close()  # kill -9: nothing more is saved

    again = lab.run()
    w.write(b"def\n")
    again.until_events(1)
    again.settle(QUIET + 0.1)
    assert [e.raw for _, e in again.events] == ["2025/01/15 10:00:02 [error] 1234#0: *2 abcdef"]
    assert again.events[0][1].offset == len(entry("a", 1))


@pytest.mark.parametrize("pieces", [1, 7])
def test_f34_line_longer_than_max_line(lab: Lab, pieces: int) -> None:
    long_line = b"2025/01/15 10:00:02 [error] 1234#0: *2 " + b"x" * 100_000 + b"\n"
    w = lab.writer()
    w.entries("a", [1])
    run = lab.run(max_line=4096, limit=16 * 1024)
    run.until_events(1)
    step = len(long_line) // pieces + 1
    for i in range(0, len(long_line), step):  # the line arrives as written, in pieces
        w.write(long_line[i : i + step])
        run.step()
    w.entries("a", range(3, 5))
    run.until_events(4)
    run.settle(QUIET + 0.1)
    assert [e.kind for _, e in run.events] == ["error", "parse_error", "error", "error"]
    cut = run.events[1][1]
    assert isinstance(cut, ParseError)
    assert cut.offset == len(entry("a", 1))
    assert f"line of {len(long_line)} bytes is longer than the cap" in cut.reason
    assert cut.raw.startswith("2025/01/15 10:00:02 [error] 1234#0: *2 xxx") and len(cut.raw) <= 4096
    assert [e.raw for _, e in run.events[2:]] == raws("a", range(3, 5))
    [saved] = lab.store.positions(str(lab.log))
    assert saved.offset == lab.log.stat().st_size > len(entry("a", 1)) + len(long_line)


def test_f35_invalid_utf8_nul_runs_and_crlf(lab: Lab) -> None:
    bad = b"2025/01/15 10:00:01 [error] 1234#0: *1 bad \xff\xfe\xc3( bytes, client: 10.0.0.1, server: kong\n"
    w = lab.writer()
    w.write(entry("a", 0))
    w.write(bad)
    w.write(b"\0" * 64 + entry("a", 2))
    w.write(entry("a", 3).replace(b"\n", b"\r\n"))
    w.write(b"\0" * 700 + entry("a", 4).replace(b"\n", b"\r\n"))
    w.entries("a", [5])
    run = lab.run()
    run.until_events(6)
    run.settle(QUIET + 0.1)
    events = [e for _, e in run.events]
    assert [e.kind for e in events] == ["error"] * 6
    assert events[1].raw == bad.decode("utf-8", "replace").rstrip("\n")
    assert "\ufffd" in events[1].raw
    assert [e.raw for e in events[2:]] == raws("a", range(2, 6))
    assert all("\r" not in e.raw and "\0" not in e.raw for e in events)
    assert [getattr(e, "server", None) for e in events] == ["kong"] * 6
    nul_start = len(entry("a", 0)) + len(bad)
    assert events[2].offset == nul_start + 64


def test_f35_nul_hole_longer_than_max_line_is_reported_with_its_line(lab: Lab) -> None:
    """copytruncate under a writer without O_APPEND (not nginx: it appends) leaves a hole of NULs as long as
    the old file before the next line. A hole within the line cap is skipped (F35 above); a longer one makes
    that line an over-long line: reported with its length, memory bounded, and the lines after it read."""
    w = lab.writer()
    w.entries("a", [1])
    w.write(b"\0" * 20_000)
    w.entries("a", range(2, 4))
    run = lab.run(max_line=4096)
    run.until_events(3)
    run.settle(QUIET + 0.1)
    kinds = [e.kind for _, e in run.events]
    assert kinds == ["error", "parse_error", "error"], [e.raw[:60] for _, e in run.events]
    assert "line of 20" in run.events[1][1].to_dict()["reason"]
    assert [run.raws()[0], run.raws()[2]] == [raws("a", [1])[0], raws("a", [3])[0]]


def test_f36_multiline_record_cut_by_a_crash(lab: Lab) -> None:
    box = BOX.splitlines(keepends=True)
    assert len(box) == 13 and box[0].endswith(b"+\n") and box[-1].split(b": ", 1)[1].startswith(b"+---")
    other = b"2025/03/04 14:22:07 [error] 1234#0: *7 between the rows, client: 10.0.0.1, server: kong\n"
    w = lab.writer()
    w.entries("a", [1])
    w.write(b"".join(box[:5]))
    w.write(other)  # another worker's entry, complete (and emitted) while the box is open
    run = lab.run(quiet=5.0)  # the box must not be flushed (as cut short) by a quiet spell here
    run.until_events(2)
    run.step()
    assert run.raws() == [raw("a", 1), other.decode().rstrip("\n")]
    box_start = len(entry("a", 1))
    [saved] = lab.store.positions(str(lab.log))
    assert (saved.offset, saved.open, saved.emitted) == (box_start, (box_start,), lab.log.stat().st_size)
    run.close()  # kill -9

    again = lab.run(quiet=5.0)
    again.step()
    w.write(b"".join(box[5:]))
    w.entries("a", [2])
    again.until_events(2)
    again.settle(0.2)
    kinds = [e.kind for _, e in again.events]
    assert kinds == ["event_hook", "error"]
    hook = again.events[0][1]
    assert hook.offset == box_start
    assert hook.raw == BOX.decode().rstrip("\n")
    assert again.events[1][1].raw == raw("a", 2)


# -- globs


def test_glob_source_gains_a_file_while_running(lab: Lab) -> None:
    first = lab.writer(lab.logs / "a.log")
    first.entries("a", range(1, 3))
    run = lab.run([str(lab.logs / "*.log")])
    run.until_events(2)
    (lab.logs / "b.log.1").write_bytes(entry("z", 1))  # not matched by the glob
    second = lab.writer(lab.logs / "b.log")
    second.entries("b", range(1, 4))
    run.until_events(5)
    first.entries("a", [3])
    run.until_events(6)
    run.settle(QUIET + 0.1)
    assert run.raws_of("a") == raws("a", range(1, 4))
    assert run.raws_of("b") == raws("b", range(1, 4))
    assert len(run.events) == 6
    assert [e.offset for _, e in run.events if e.raw == raw("b", 1)] == [0]
    assert {e.file for _, e in run.events} == {str(lab.logs / "a.log"), str(lab.logs / "b.log")}


def test_glob_first_start_at_end_begins_at_a_line_start(lab: Lab) -> None:
    a = lab.writer(lab.logs / "a.log")
    a.entries("a", range(1, 3))
    half = entry("a", 3)
    a.write(half[:30])  # a line being written when kong-tailer first starts
    b = lab.writer(lab.logs / "b.log")
    b.entries("b", range(1, 3))
    run = lab.run([str(lab.logs / "*.log")], fresh=True, start_at_end=True)
    run.settle(QUIET + 0.1)
    assert run.events == []
    a.write(half[30:])
    a.entries("a", [4])
    b.entries("b", [3])
    run.until_events(3)
    c = lab.writer(lab.logs / "c.log")  # new while running: from its start
    c.entries("c", range(1, 3))
    run.until_events(5)
    run.settle(QUIET + 0.1)
    assert run.raws_of("a") == raws("a", range(3, 5))
    assert run.raws_of("b") == raws("b", [3])
    assert run.raws_of("c") == raws("c", range(1, 3))
    assert len(run.events) == 5
    assert (run.lines_of("a"), run.lines_of("b"), run.lines_of("c")) == ([3, 4], [3], [1, 2])


def test_glob_matched_file_deleted_is_drained_and_closed(lab: Lab) -> None:
    path = lab.logs / "a.log"
    w = lab.writer(path)
    w.entries("a", range(1, 3))
    run = lab.run([str(lab.logs / "*.log")])
    run.until_events(2)
    origin = run.follower.tails[0].origin
    assert origin is not None
    os.unlink(path)
    w.entries("a", [3])  # a late write into the deleted file
    w.close()
    run.until_events(3)
    run.settle(ROTATE_WAIT + QUIET + 0.2)
    assert run.raws() == raws("a", range(1, 4))
    assert run.follower.tails == [], "the deleted file is still held open"
    assert lab.store.finished(str(path), origin)


# -- files that cannot be followed


def refuse(monkeypatch: pytest.MonkeyPatch, path: Path, also_builtin_open: bool) -> None:
    """Make `path` unreadable as `chmod 000` would for a non-root user (the tests run as root)."""
    target = str(path)
    real_os_open = os.open
    real_open = builtins.open

    def os_open(file: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if os.fspath(file) == target and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", target)
        return real_os_open(file, flags, mode, dir_fd=dir_fd)

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | Path) and os.fspath(file) == target and "r" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", target)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    if also_builtin_open:
        monkeypatch.setattr(builtins, "open", open_)


@pytest.mark.parametrize("also_builtin_open", [False, True], ids=["os.open", "os.open+open"])
def test_unreadable_file_is_reported_once_and_read_when_fixed(
    lab: Lab, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, also_builtin_open: bool
) -> None:
    w = lab.writer()
    w.entries("a", range(1, 4))
    refuse(monkeypatch, lab.log, also_builtin_open)
    run = lab.run()
    for _ in range(10):
        run.step()
        time.sleep(0.01)
    assert run.events == []
    errors = records(logs, logging.ERROR)
    assert len(errors) == 1, errors
    assert str(lab.log) in errors[0] and "EACCES" in errors[0]

    monkeypatch.undo()
    run.until_events(3)
    w.entries("a", [4])
    run.until_events(4)
    run.settle(QUIET + 0.1)
    assert run.raws() == raws("a", range(1, 5))
    assert len(records(logs, logging.ERROR)) == 1


def test_fifo_source_is_a_clear_error(lab: Lab, logs: pytest.LogCaptureFixture) -> None:
    os.mkfifo(lab.log)
    runs: list[Run] = []

    def start() -> None:
        run = Run([str(lab.log)], lab.store)
        runs.append(run)
        for _ in range(5):
            run.step()

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(0.5)
    blocked = thread.is_alive()
    deadline = time.monotonic() + DEADLINE
    while thread.is_alive() and time.monotonic() < deadline:  # free an open() waiting for a writer
        try:
            os.close(os.open(lab.log, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        thread.join(0.05)
    lab.runs.extend(runs)
    assert not blocked, "following a FIFO blocked (open() of a FIFO waits for a writer)"
    assert not thread.is_alive()
    errors = records(logs, logging.ERROR)
    assert len(errors) == 1, errors
    assert "not a regular file" in errors[0] and str(lab.log) in errors[0]
    assert runs[0].events == []


# -- self-checks (tailer.selfcheck): what the follower says about each file


def test_a_quiet_file_rotated_to_an_empty_one_is_not_stalled(tmp_path: Path) -> None:
    """Kong quiet for longer than stall_after, then logrotate makes a new empty file (a newer mtime than
    our last read): read to its end, it is not stalled (once a false self-alert)."""
    from tailer.selfcheck import stalled

    log = tmp_path / "error.log"
    log.write_bytes(entry("a", 1))
    run = Run([str(log)], Store(str(tmp_path / "state")))
    run.until_events(1)
    source = str(log)
    os.rename(log, tmp_path / "error.log.1")
    log.touch()
    now = time.monotonic()
    assert run.follower.unread_for(now) == {source: 0.0}  # changed since our last read, from now on
    assert stalled(run.follower.unread_for(now + 600), 300) != []  # unlooked at for 10 minutes: it would say so
    run.step()  # the follower looks: the new file, read to its end
    assert stalled(run.follower.unread_for(now + 600), 300) == []
    run.close()


def test_a_file_written_and_not_read_is_stalled(tmp_path: Path) -> None:
    """The path names a file the follower cannot open: what Kong writes there is not read, and it says so."""
    from tailer.selfcheck import stalled

    log = tmp_path / "error.log"
    log.write_bytes(entry("a", 1))
    run = Run([str(log)], Store(str(tmp_path / "state")))
    run.until_events(1)
    source = str(log)
    os.rename(log, tmp_path / "error.log.1")
    os.mkfifo(log)  # not a regular file: refused without blocking, like a file we may not read
    run.settle(0.2)
    os.utime(log, ns=(0, os.stat(log).st_mtime_ns + 1_000_000))  # Kong writes (the FIFO's mtime moves)
    now = time.monotonic()
    assert stalled(run.follower.unread_for(now), 300) == []
    problems = stalled(run.follower.unread_for(now + 301), 300)  # and nothing is read for 5 minutes
    assert [p.subject for p in problems] == [source]
    assert run.follower.unread_for(now + 600)[source] == 600  # counted from when it was first seen changed
    run.close()


def test_a_stalled_file_is_told_by_its_own_times_not_the_wall_clock(tmp_path: Path) -> None:
    """Written with nothing read: told by the file's times against themselves, and counted on the monotonic
    clock; a file time far ahead of or behind the wall clock (a clock that stepped) changes nothing."""
    from tailer.selfcheck import stalled

    log = tmp_path / "error.log"
    log.write_bytes(entry("a", 1))
    run = Run([str(log)], Store(str(tmp_path / "state")))
    run.until_events(1)
    source = str(log)
    for shift in (-3600, 3600):  # touched with a time an hour off: not written, nothing is unread
        st = os.stat(log)
        os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns + shift * 10**9))
        run.step()  # looked at: read to its end
        assert run.follower.unread_for(time.monotonic() + 10) == {source: 0.0}
        assert stalled(run.follower.unread_for(time.monotonic() + 10), 5) == []
    run.close()
