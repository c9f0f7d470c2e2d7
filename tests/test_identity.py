"""Telling files apart when they start alike, and a symlink pointed back: the daemon as a real process, killed
with SIGKILL, on real files renamed and relinked under it; every alert must arrive exactly once.

Files are known by their first line, and many logs start alike (a health check logged first, Kong's start-up
lines). A generation is therefore saved under a key of its own (`lines.generation_key`) with its file's
(device, inode) as a hint, and a file is resumed only where its bytes are those read (tailer/follow.py).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import RULES, Daemon, delivered, entry, wait_until
from tests.receiver import Receiver

FIRST = entry(0, "health check ok", level="notice")  # the first line of every file here: not an alert


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def saved(d: Daemon) -> list[tuple[str, str, int, int]]:
    """The generations saved in the daemon's state database: (key, path, emitted, finished)."""
    db = sqlite3.connect(f"file:{d.state / 'state.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT origin, path, emitted, finished FROM generation ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # not made yet
        return []
    finally:
        db.close()


def exactly_once(rx: Receiver, marks: list[int]) -> bool:
    return delivered(rx) == {str(n): 1 for n in marks}


def test_a_file_rotated_while_still_written_and_its_successor_starting_alike_survive_a_kill(
    tmp_path: Path, rx: Receiver
) -> None:
    """The old file, renamed, is still written to (nginx before USR1); the new one starts with the same
    line. Both are saved apart, and a SIGKILL loses neither one's lines."""
    d = Daemon(tmp_path, rx.url)
    old = d.logs / "error.log"
    old.write_text(FIRST)
    d.start()
    writer = os.open(old, os.O_WRONLY | os.O_APPEND)  # nginx's fd: it writes on after the rename
    try:
        os.write(writer, "".join(entry(n) for n in (1, 2, 3)).encode())
        wait_until(lambda: exactly_once(rx, [1, 2, 3]), what="alerts 1-3")
        os.rename(old, d.logs / "error.log.1")
        d.write(FIRST + entry(11))
        os.write(writer, entry(4).encode())
        wait_until(lambda: exactly_once(rx, [1, 2, 3, 4, 11]), what="alerts 4 and 11")  # (queued: saved)
        assert len({key for key, *_ in saved(d)}) == 2  # two generations, saved apart
        d.kill()
        os.write(writer, entry(5).encode())  # to the old file, while the daemon is down
        d.write(entry(12))
        d.start()
        wait_until(lambda: exactly_once(rx, [1, 2, 3, 4, 5, 11, 12]), what="alerts 5 and 12, once each")
        assert d.stop() == 0
    finally:
        os.close(writer)
        d.close()


def test_a_position_inside_the_part_two_files_share_resumes_in_the_right_one(tmp_path: Path, rx: Receiver) -> None:
    """Killed while the position was inside the bytes both files start with; the old file grows and is rotated
    while the daemon is down, and the new one starts with the same bytes: the old file's new lines and the new
    file's lines all arrive."""
    d = Daemon(tmp_path, rx.url)
    shared = FIRST + entry(1, "upstream is fine", level="notice")
    d.write(shared)
    try:
        d.start()
        wait_until(lambda: [e for _, _, e, _ in saved(d)] == [len(shared)], what="the position saved at the end")
        d.kill()
        d.write(entry(2))  # the old file grows while the daemon is down
        os.rename(d.logs / "error.log", d.logs / "error.log.1")
        d.write(shared + entry(21))  # and the new one starts with the same bytes
        d.start()
        wait_until(lambda: exactly_once(rx, [2, 21]), what="alerts 2 (old file) and 21 (new file)")
        assert d.stop() == 0
    finally:
        d.close()


def test_a_symlink_pointed_back_at_a_file_read_before_reads_on_where_it_was(tmp_path: Path, rx: Receiver) -> None:
    """`error.log` is a symlink, retargeted to a new file and then back (a deploy tool's switch): the file read
    before is not read again, not even inside a digest (the notifier here folds what its rate cannot take)."""
    rules = RULES.replace("rate = 1000\nburst = 1000", "rate = 0.5\nburst = 1")
    d = Daemon(tmp_path, rx.url, rules=rules)
    first, second, link = d.logs / "a1.log", d.logs / "a2.log", d.logs / "error.log"
    first.write_text(FIRST + "".join(entry(n) for n in (1, 2, 3)))
    second.write_text(entry(10))

    def point(target: Path) -> None:
        tmp = d.logs / "error.log.new-link"
        os.symlink(target.name, tmp)
        os.replace(tmp, link)

    point(first)
    d.start()
    try:
        wait_until(lambda: exactly_once(rx, [1, 2, 3]), timeout=30, what="alerts 1-3")
        point(second)
        with open(second, "a") as f:
            f.write(entry(11))
        wait_until(lambda: exactly_once(rx, [1, 2, 3, 10, 11]), timeout=30, what=f"alerts 10 and 11 {delivered(rx)}")
        point(first)
        with open(first, "a") as f:
            f.write(entry(4) + entry(100))  # 100: log time far on, so that anything held back falls due
        wait_until(lambda: delivered(rx)["100"] == 1, timeout=30, what="alerts 4 and 100")
        assert d.stop() == 0
        assert delivered(rx) == {str(n): 1 for n in (1, 2, 3, 4, 10, 11, 100)}
        assert "names a file read before" in d.log_text()
    finally:
        d.close()
