"""The fault matrix (reference: tailing-and-delivery.md §7.1) against `kong-tailer run` as a real process:
kill -9 at random instants, SIGTERM during a POST, power-loss copies of the state, a damaged or locked state,
Slack failing in each way it can, a full state disk, rotation in each way, hostile content, a burst.

Each test names its scenario (F3, F4, ...). Every wait is a poll with a deadline (`wait_until`); the few
`time.sleep` calls pace a writer or pick a random instant for a fault, none waits for the daemon.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.daemon import ROOT, RULES, Daemon, Writer, delivered, entry, marks, wait_until
from tests.receiver import Received, Receiver, Reply

MAY_HAVE_BEEN_SENT = re.compile(r"message (\w{12}) for \w+ may have been sent before a crash")
KEYS = re.compile(r"\bkeys? ((?:[0-9a-f]{12}(?: |(?=\W)|$))+)")  # a message's key, a backlog's keys (context)


# -- helpers


def counted(requests: list[Received]) -> Counter[str]:
    """How many of `requests` held each `ALERT <n>` (the answered ones, when a test passes only those)."""
    seen: Counter[str] = Counter()
    for request in requests:
        seen.update(dict.fromkeys(marks(request.json()), 1))
    return seen


def by_key(requests: list[Received], state: Path) -> Counter[str]:
    """How many of `requests` held each `ALERT <n>`, known by the message keys they list. A backlog message
    lists every key but only as much of the texts as fits Slack's 3000 characters: with large backlogs the marks
    in a request's text are not all there, its keys are (the outbox of `state` says which key is which mark)."""
    mark_of = {key[:12]: ms[0] for key, _, ms in outbox_rows(state) if ms}
    seen: Counter[str] = Counter()
    for request in requests:
        keys = {k for match in KEYS.findall(request.body.decode()) for k in match.split()}
        seen.update(mark_of.get(k, f"key {k}") for k in keys)
    return seen


def first_seen(requests: list[Received]) -> list[str]:
    """The marks in the order they first appear over `requests` (and within a folded message)."""
    order: dict[str, None] = {}
    for request in requests:
        order.update(dict.fromkeys(marks(request.json())))
    return list(order)


def expected(*ns: int) -> Counter[str]:
    return Counter({str(n): 1 for n in ns})


def all_logs(d: Daemon) -> str:
    """The daemon's stderr over every run."""
    return "".join(p.read_text(errors="replace") for p in sorted(d.root.glob("stderr.*")))


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1)) / 1024


def tailer(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tailer ARGS` (the CLI beside the daemon)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tailer", *args], capture_output=True, text=True, env=env, timeout=60)


def outbox_rows(state: Path, *, read_only: bool = True) -> list[tuple[str, str, list[str]]]:
    """(key, state, marks) of every outbox row, in queue order."""
    uri = f"file:{state / 'state.db'}" + ("?mode=ro" if read_only else "")
    db = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        rows = db.execute("SELECT key, state, payload FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()
    return [(key, st, list(dict.fromkeys(re.findall(r"ALERT (\d+)", payload)))) for key, st, payload in rows]


def offsets(state: Path) -> list[tuple[str, int]]:
    db = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT origin, offset FROM generation ORDER BY id").fetchall()
    finally:
        db.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_fds(pid: int) -> list[str]:
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            out.append(os.readlink(fd))
    return out


def watched_inodes(pid: int) -> set[int]:
    """The inodes the process's inotify descriptors watch (/proc/PID/fdinfo)."""
    out: set[int] = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        with contextlib.suppress(OSError):
            out |= {int(i, 16) for i in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", info.read_text(), re.M)}
    return out


# -- process and crash


def test_f3_kill_9_at_random_instants_loses_nothing(tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    kills = 10
    with Receiver(default=Reply(delay=0.02)) as rx:  # a little time in flight: more kills land mid-POST
        d = Daemon(tmp_path, rx.url)
        writer = Writer(d, pace=0.02)
        try:
            writer.start()
            for i in range(kills):
                if i % 3:  # most kills once it runs; some during startup (recovery, first commit)
                    d.start()
                    time.sleep(rng.uniform(0.0, 0.6))  # the random instant of the kill
                else:
                    d.start(wait=False)
                    time.sleep(rng.uniform(0.2, 1.2))
                d.kill()
                assert d.proc is not None and d.proc.returncode == -signal.SIGKILL, (seed, d.log_text())
                assert "not a usable" not in d.log_text() and "Traceback" not in d.log_text(), (seed, d.log_text())
            d.start()  # the state opens after every kill
            written = writer.stop()
            want = {str(n) for n in written}
            wait_until(lambda: by_key(rx.requests, d.state).keys() == want, 60, f"every ALERT (seed {seed})")
            assert d.stop() == 0
        finally:
            writer.halt.set()
            d.close()
        logs = all_logs(d)
        assert "not a usable" not in logs and "Traceback" not in logs, seed
        logged = Counter(MAY_HAVE_BEEN_SENT.findall(logs))
        key_of = {m: key for key, _, ms in outbox_rows(d.state) for m in ms}
        seen = by_key(rx.requests, d.state)
        assert seen.keys() == want, seed
        twice = {m: n - 1 for m, n in seen.items() if n > 1}
        for m, extra in twice.items():  # a duplicate only for a message said to be in flight at a crash
            assert logged[key_of[m][:12]] >= extra, (seed, m, extra, twice, logged)
        assert sum(twice.values()) <= sum(logged.values()), (seed, twice, logged)


@pytest.mark.parametrize("during", ["post", "batch"])
def test_f4_sigterm_during_a_post_or_a_batch_exits_0_and_loses_nothing(tmp_path: Path, during: str) -> None:
    with Receiver([Reply(delay=1.5)]) as rx:  # the first POST is answered 1.5 s late (timeout: 2 s)
        d = Daemon(tmp_path, rx.url)
        try:
            d.start()
            if during == "post":
                d.write(entry(1))
                rx.wait_for(1, timeout=20)
                stopped = time.monotonic()
                assert d.stop() == 0
                assert time.monotonic() - stopped < 15  # the attempt in hand finished, well within TimeoutStopSec
                alerts = [1]
            else:
                d.write(entry(1))
                rx.wait_for(1, timeout=20)
                text = "".join(entry(n) if n % 10 == 0 else entry(n, f"noise {n}") for n in range(2, 3000))
                d.write(text)  # a batch being read when SIGTERM comes
                assert d.stop() == 0
                alerts = [1, *range(10, 3000, 10)]
            assert "may have been sent" not in d.log_text()
            d.start()
            d.write(entry(5000))
            want = {str(n) for n in [*alerts, 5000]}
            wait_until(lambda: by_key(rx.requests, d.state).keys() == want, 30, "every ALERT")
            assert d.stop() == 0
        finally:
            d.close()
        assert by_key(rx.requests, d.state) == expected(*alerts, 5000)  # nothing twice: the stop waited for the answer
        assert "may have been sent" not in all_logs(d)


def test_f5_power_loss_copies_of_the_state_open_and_resume(tmp_path: Path) -> None:
    """Copies of state.db (+ its WAL) taken under load. Copying files that SQLite is writing can tear them in
    ways no power cut can (a checkpoint between copying the WAL and the database), so the daemon is frozen
    (SIGSTOP) while its files are copied: the copy is the files as the kernel held them at one instant, a state
    a power cut can leave (WAL mode, synchronous=FULL: what is not in it was not acknowledged). The -shm index
    is not copied: it is rebuilt from the WAL."""
    rng = random.Random()
    live = tmp_path / "live"
    live.mkdir()
    copies: list[Path] = []
    with Receiver(default=Reply(delay=0.01)) as rx:
        d = Daemon(live, rx.url)
        writer = Writer(d, pace=0.005)
        try:
            d.start()
            writer.start()
            assert d.proc is not None
            for i in range(4):
                time.sleep(rng.uniform(0.1, 0.5))  # a random instant under load
                copy = tmp_path / f"copy{i}"
                (copy / "state").mkdir(parents=True)
                os.kill(d.proc.pid, signal.SIGSTOP)
                try:
                    for name in ("state.db-wal", "state.db"):
                        if (d.state / name).exists():
                            shutil.copy2(d.state / name, copy / "state" / name)
                finally:
                    os.kill(d.proc.pid, signal.SIGCONT)
                copies.append(copy)
            written = writer.stop()
            want = {str(n) for n in written}
            wait_until(lambda: by_key(rx.requests, d.state).keys() == want, 30, "the live daemon's alerts")
            assert d.stop() == 0
        finally:
            writer.halt.set()
            d.close()
    everything = {str(n) for n in written}
    sent_counts = [resume_from_copy(copy, d.logs, everything) for copy in copies]
    assert any(sent_counts), sent_counts  # the copies caught the daemon at work, not before it


def resume_from_copy(copy: Path, logs: Path, everything: set[str]) -> int:
    """Run a daemon on the state copied to `copy`/state, following the same files: it must open, and send
    every alert but those the copy has as sent, once each. The number of alerts sent in the copy."""
    inspect = copy / "inspect"  # looked at through a copy of the copy: the daemon gets it untouched
    shutil.copytree(copy / "state", inspect)
    sent = {m for _, st, ms in outbox_rows(inspect, read_only=False) if st == "sent" for m in ms}
    rest = everything - sent
    with Receiver() as rx:
        d = Daemon(copy, rx.url)
        d.logs = logs  # the same files, by the same paths
        try:
            d.start()
            wait_until(lambda: by_key(rx.requests, d.state).keys() == rest, 30, f"the rest, from {copy.name}")
            assert d.stop() == 0
        finally:
            d.close()
        assert by_key(rx.requests, d.state) == Counter(dict.fromkeys(rest, 1)), copy.name
    assert "not a usable" not in all_logs(d)
    return len(sent)


@pytest.mark.parametrize("content", ["random", "empty"])
def test_f6_a_damaged_state_database_is_refused_and_left_alone(daemon: Daemon, rx: Receiver, content: str) -> None:
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    assert daemon.stop() == 0
    db = daemon.state / "state.db"
    data = random.Random(6).randbytes(16384) if content == "random" else b""
    db.write_bytes(data)
    before = sorted(p.name for p in daemon.state.iterdir())
    daemon.start(wait=False)
    assert daemon.wait_exit() == 3
    assert str(db) in daemon.log_text()
    assert "kong-tailer: error:" in daemon.log_text()
    assert db.read_bytes() == data  # no silent reset
    assert sorted(p.name for p in daemon.state.iterdir()) == before


def test_f7_a_second_instance_on_the_same_state_dir_is_refused(tmp_path: Path, daemon: Daemon) -> None:
    daemon.start()
    (tmp_path / "second").mkdir()
    second = Daemon(tmp_path / "second", daemon.url)
    second.state, second.logs = daemon.state, daemon.logs
    try:
        second.start(wait=False)
        assert second.wait_exit() == 3
    finally:
        second.close()
    assert daemon.proc is not None
    assert f"pid {daemon.proc.pid}" in second.log_text()
    assert daemon.proc.poll() is None  # the first one goes on
    assert daemon.stop() == 0


# -- Slack and network


def test_f11_slack_5xx_for_a_while_backs_off_then_delivers_all_once_in_order(tmp_path: Path) -> None:
    failures = [Reply(500, "internal_error")] * 3 + [Reply(503, "service_unavailable")] * 3
    with Receiver(failures) as rx:
        d = Daemon(tmp_path, rx.url)
        try:
            d.start()
            d.write(entry(1))
            rx.wait_for(2, timeout=20)
            d.write("".join(entry(n) for n in range(2, 9)))  # written during the outage: read, queued
            wait_until(lambda: len(outbox_rows(d.state)) == 8, 20, "ALERT 2 to 8 queued")
            assert len(rx.requests) <= len(failures)  # the reader did not wait for the outage to end
            wait_until(lambda: counted(rx.requests[len(failures) :]).keys() == set(map(str, range(1, 9))), 30)
            d.write(entry(9))
            wait_until(lambda: "9" in counted(rx.requests[len(failures) :]), 20, "ALERT 9")
            assert d.stop() == 0
        finally:
            d.close()
    requests = rx.requests
    answered = requests[len(failures) :]
    assert counted(answered) == expected(*range(1, 10))
    assert first_seen(answered) == [str(n) for n in range(1, 10)]
    assert all(first_seen([r])[0] == "1" for r in requests[: len(failures)])  # the oldest first, every time
    gaps = [b.time - a.time for a, b in zip(requests[: len(failures)], requests[1 : len(failures) + 1], strict=True)]
    least = [0.5 * min(1.0, 0.2 * 2**i) for i in range(len(gaps))]  # backoff: 0.2 s doubling to 1 s, x U(0.5, 1)
    assert all(g >= 0.95 * low for g, low in zip(gaps, least, strict=True)), gaps
    assert len(set(round(g, 2) for g in gaps[3:])) > 1 or len(gaps) < 5, gaps  # at the cap, jitter
    assert d.log_text().count("retry in") == len(failures)


def test_f12_429_with_retry_after_pauses_the_destination(daemon: Daemon) -> None:
    with Receiver([Reply(429, "rate_limited", {"Retry-After": "2"})]) as rx:
        daemon.url = rx.url
        daemon.start()
        daemon.write(entry(1))
        (first,) = rx.wait_for(1, timeout=20)
        daemon.write(entry(2))  # due at once, but the destination is paused
        wait_until(lambda: delivered(rx).keys() == {"1", "2"}, 20, "ALERT 1 and 2")
        assert daemon.stop() == 0
    requests = rx.requests
    assert len(requests) == 3
    assert requests[1].time - first.time >= 2.0, requests[1].time - first.time
    assert counted(requests[1:]) == expected(1, 2)
    assert first_seen(requests[1:]) == ["1", "2"]


def test_f13_slack_never_answers_the_post_times_out_and_is_retried(daemon: Daemon) -> None:
    with Receiver([Reply(delay=6)]) as rx:  # longer than the notifier's 2 s timeout
        daemon.url = rx.url
        daemon.start()
        daemon.write(entry(1))
        (first,) = rx.wait_for(1, timeout=20)
        daemon.write(entry(2))
        # the reader goes on while the POST hangs: ALERT 2 is queued before the timeout
        wait_until(lambda: any(ms == ["2"] for _, _, ms in outbox_rows(daemon.state)), 20, "ALERT 2 queued")
        assert len(rx.requests) == 1  # ...while the first POST still hangs
        wait_until(lambda: counted(rx.requests[1:]) == expected(1, 2), 30, "ALERT 1 again, then 2")
        assert daemon.stop() == 0
    requests = rx.requests
    assert requests[1].time - first.time >= 1.9, requests[1].time - first.time  # after the timeout
    assert first_seen(requests) == ["1", "2"]
    assert len(requests) == 3
    assert re.search(r"retry in [0-9.]+ s: .*Timeout", daemon.log_text()), daemon.log_text()


@pytest.mark.parametrize(
    ("status", "body"), [(400, "invalid_payload"), (404, "no_service"), (410, "channel_is_archived")]
)
def test_f14_a_permanent_error_makes_a_dead_letter_that_outbox_retry_sends(
    daemon: Daemon, status: int, body: str
) -> None:
    with Receiver([Reply(status, body)]) as rx:
        daemon.url = rx.url
        daemon.start()
        daemon.write(entry(1))
        rx.wait_for(1, timeout=20)
        daemon.write(entry(2))
        wait_until(lambda: "2" in delivered(rx), 20, "ALERT 2, after the dead letter")
        assert delivered(rx) == expected(1, 2)  # one attempt for ALERT 1: no retry of a permanent error
        listing = tailer("outbox", "list", "--state-dir", str(daemon.state))
        assert listing.returncode == 0, listing.stderr
        dead = re.search(rf"^dead (\w{{12}}) slack .*1 attempt\(s\): {status} {body}$", listing.stdout, re.M)
        assert dead, listing.stdout
        key = dead.group(1)
        errors = [line for line in daemon.log_text().splitlines() if line.startswith("kong-tailer: error:")]
        assert any(f"message {key}" in line and f"{status} {body}" in line for line in errors), errors
        assert "slack: 0 pending, 0 sending, 1 sent, 1 dead" in listing.stdout, listing.stdout
        retried = tailer("outbox", "retry", "--state-dir", str(daemon.state))
        assert retried.returncode == 0 and "1 dead letter(s) queued again" in retried.stdout, retried
        wait_until(lambda: delivered(rx)["1"] == 2, 20, "the dead letter sent again")
        wait_until(lambda: "0 dead" in tailer("outbox", "list", "--state-dir", str(daemon.state)).stdout, 20)
        assert daemon.stop() == 0
    assert counted(rx.requests[1:]) == expected(1, 2)
    assert first_seen(rx.requests[-1:]) == ["1"]


@pytest.mark.parametrize("failure", ["refused", "dns"])
def test_f15_no_connection_then_the_backlog_arrives_folded_once(tmp_path: Path, rx: Receiver, failure: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}" if failure == "refused" else "http://kong-tailer.invalid"
    d = Daemon(tmp_path, url)
    try:
        d.start()
        d.write("".join(entry(n) for n in range(1, 7)))
        d.wait_for_log("retry in")
        wait_until(lambda: len(outbox_rows(d.state)) == 6, 20, "6 messages queued")
        assert "ConnectError" in d.log_text()
        assert d.stop() == 0
        d.url = rx.url  # the URL is read from the environment at start
        d.start()
        wait_until(lambda: delivered(rx).keys() == set(map(str, range(1, 7))), 30, "the backlog")
        d.write(entry(7))
        wait_until(lambda: "7" in delivered(rx), 20, "ALERT 7")
        assert d.stop() == 0
    finally:
        d.close()
    assert delivered(rx) == expected(*range(1, 8))
    backlog = rx.requests[0].json()
    assert "6 messages held back" in backlog["text"], backlog
    assert first_seen(rx.requests[:1]) == [str(n) for n in range(1, 7)]  # each one listed, in order
    assert first_seen(rx.requests) == [str(n) for n in range(1, 8)]


def test_f16_an_unreadable_url_file_stops_the_start_naming_the_file(tmp_path: Path, rx: Receiver) -> None:
    rules = RULES.replace('url_env = "TEST_WEBHOOK_URL"', 'url_env = "TEST_WEBHOOK_URL"\nurl_file = "/nonexistent"')
    d = Daemon(tmp_path, rx.url, rules=rules)
    try:
        d.start(wait=False)
        assert d.wait_exit() != 0
    finally:
        d.close()
    text = d.log_text()
    assert "/nonexistent" in text, text
    assert "127.0.0.1" not in text and "secret" not in text and "http" not in text, text
    assert rx.requests == []


# -- disk and state


def limit_file_size(pid: int, limit: int | None) -> None:
    """RLIMIT_FSIZE of a running process (prlimit(2); the soft limit only, so that it can be raised again
    without privileges). A write at or past the limit fails with EFBIG (Python ignores SIGXFSZ)."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY if limit is None else limit, hard))


def wal_end(state: Path) -> int:
    """Where SQLite appends next to the WAL (it only grows during these short tests: no checkpoint restarts it)."""
    size = os.path.getsize(state / "state.db-wal")
    assert size > 8192, size  # well past the daemon's stderr file, which the limit also applies to
    return size


def test_f18_a_full_state_disk_pauses_reading_then_it_catches_up(daemon: Daemon, rx: Receiver) -> None:
    daemon.start()
    daemon.write(entry(1))
    wait_until(lambda: [st for _, st, _ in outbox_rows(daemon.state)] == ["sent"], 20, "ALERT 1 sent and marked")
    assert daemon.proc is not None
    limit_file_size(daemon.proc.pid, wal_end(daemon.state))  # the state disk is full
    rows, where = len(outbox_rows(daemon.state)), offsets(daemon.state)
    daemon.write("".join(entry(n) for n in range(2, 40)))
    daemon.wait_for_log("cannot save")
    assert "kong-tailer: error:" in daemon.log_text() and "reading is paused" in daemon.log_text()
    deadline = time.monotonic() + 1.5  # a while: nothing moves, nothing is sent, it stays up
    while time.monotonic() < deadline:
        assert daemon.proc.poll() is None, daemon.log_text()
        assert len(outbox_rows(daemon.state)) == rows and offsets(daemon.state) == where
        assert delivered(rx) == {"1": 1}
        time.sleep(0.1)
    assert daemon.log_text().count("cannot save") == 1  # once a minute at most
    limit_file_size(daemon.proc.pid, None)  # space again
    wait_until(lambda: delivered(rx).keys() == set(map(str, range(1, 40))), 30, "the catch-up")
    daemon.wait_for_log("saving works again")
    daemon.write(entry(40))
    wait_until(lambda: "40" in delivered(rx), 20, "ALERT 40")
    assert daemon.stop() == 0
    assert delivered(rx) == expected(*range(1, 41))
    assert "Traceback" not in daemon.log_text()


def test_f18_a_full_state_disk_when_a_sent_message_is_marked(tmp_path: Path) -> None:
    """The disk fills while a POST is in flight: Slack has the message, the sender cannot record it as sent.
    When space returns the message must not go out again (or, at worst, be logged as a possible duplicate,
    as after a crash)."""
    with Receiver([Reply(delay=1.0)]) as rx:
        d = Daemon(tmp_path, rx.url)
        try:
            d.start()
            d.write(entry(1))
            rx.wait_for(1, timeout=20)  # in flight: its row is committed `sending`
            assert d.proc is not None
            limit_file_size(d.proc.pid, wal_end(d.state))
            wait_until(lambda: "disk I/O error" in d.log_text(), 20, "the mark failing")
            assert d.proc.poll() is None
            limit_file_size(d.proc.pid, None)
            d.write(entry(2))
            wait_until(lambda: "2" in delivered(rx), 20, "ALERT 2")
            assert d.stop() == 0
        finally:
            d.close()
    seen = delivered(rx)
    assert seen["2"] == 1
    assert seen["1"] == 1 or "may have been sent" in d.log_text(), (seen, d.log_text())


# -- log files and rotation


def test_f22_a_log_created_after_the_start_is_read_from_its_start(daemon: Daemon, rx: Receiver) -> None:
    daemon.start()
    assert not (daemon.logs / "error.log").exists()
    daemon.write(entry(1) + entry(2))
    wait_until(lambda: delivered(rx).keys() == {"1", "2"}, 20, "ALERT 1 and 2")
    daemon.write(entry(3))
    wait_until(lambda: "3" in delivered(rx), 20, "ALERT 3")
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 2, 3)


@pytest.mark.parametrize("when", ["at_once", "after_noticed"])
def test_f23_the_log_directory_removed_and_made_again(daemon: Daemon, rx: Receiver, when: str) -> None:
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    assert daemon.proc is not None
    pid = daemon.proc.pid
    shutil.rmtree(daemon.logs)
    if when == "after_noticed":  # the daemon has looked while the directory was gone
        daemon.wait_for_log("is gone")
    daemon.logs.mkdir()
    daemon.write(entry(2))
    wait_until(lambda: "2" in delivered(rx), 20, "ALERT 2, from the new directory")
    new = os.stat(daemon.logs).st_ino
    wait_until(lambda: new in watched_inodes(pid), 20, "an inotify watch on the new directory")
    daemon.write(entry(3))
    wait_until(lambda: "3" in delivered(rx), 20, "ALERT 3")
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 2, 3)
    if when == "after_noticed":  # reference §7.1 F23: a WARNING (the directory was removed)
        warnings = [line for line in daemon.log_text().splitlines() if line.startswith("kong-tailer: warning:")]
        assert any(str(daemon.logs) in line for line in warnings), daemon.log_text()


def test_f24_rename_and_create_with_late_writes_on_the_old_fd(daemon: Daemon, rx: Receiver) -> None:
    log = daemon.logs / "error.log"
    old = open(log, "a", buffering=1)  # noqa: SIM115 (nginx's long-lived descriptor)
    try:
        old.write(entry(1))
        daemon.start()
        wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
        os.rename(log, daemon.logs / "error.log.1")
        daemon.write(entry(2))  # the new file
        for n in range(3, 8):  # nginx writes into the renamed file until it reopens (pace < rotate_wait)
            old.write(entry(n))
            daemon.write(entry(100 + n))
            time.sleep(0.2)
    finally:
        old.close()  # reopen
    daemon.write(entry(200))
    want = {"1", "2", "200", *(str(n) for n in range(3, 8)), *(str(100 + n) for n in range(3, 8))}
    wait_until(lambda: delivered(rx).keys() == want, 20, "both files' alerts")
    assert daemon.proc is not None
    pid = daemon.proc.pid
    wait_until(lambda: not any(p.endswith("error.log.1") for p in open_fds(pid)), 20, "the old file closed")
    assert daemon.stop() == 0
    assert delivered(rx) == Counter(dict.fromkeys(want, 1))


def test_f25_copytruncate_recovers_the_rest_from_the_copy(daemon: Daemon, rx: Receiver) -> None:
    log = daemon.logs / "error.log"
    fd = open(log, "a", buffering=1)  # noqa: SIM115 (the writer's descriptor, kept through the truncation)
    try:
        fd.write(entry(1))
        daemon.start()
        wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
        assert daemon.proc is not None
        os.kill(daemon.proc.pid, signal.SIGSTOP)  # ALERT 2 is in the copy only, when the daemon looks again
        try:
            fd.write(entry(2))
            shutil.copyfile(log, daemon.logs / "error.log.1")
            os.truncate(log, 0)
            fd.write(entry(3))
        finally:
            os.kill(daemon.proc.pid, signal.SIGCONT)
        wait_until(lambda: delivered(rx).keys() == {"1", "2", "3"}, 20, "ALERT 2 (from the copy) and 3")
        assert "reading its last lines from the copy" in daemon.log_text()
        fd.write(entry(4))
        wait_until(lambda: "4" in delivered(rx), 20, "ALERT 4")
    finally:
        fd.close()
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 2, 3, 4)


def test_f27_delete_and_recreate_drains_the_old_descriptor(daemon: Daemon, rx: Receiver) -> None:
    log = daemon.logs / "error.log"
    old = open(log, "a", buffering=1)  # noqa: SIM115
    try:
        old.write(entry(1))
        daemon.start()
        wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
        os.unlink(log)
        old.write(entry(2))  # into the deleted file
    finally:
        old.close()
    daemon.write(entry(3))  # a new file by that name
    wait_until(lambda: delivered(rx).keys() == {"1", "2", "3"}, 20, "ALERT 2 and 3")
    daemon.write(entry(4))
    wait_until(lambda: "4" in delivered(rx), 20, "ALERT 4")
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 2, 3, 4)


# -- content


def test_f34_a_10_mb_line_is_cut_not_an_alert_and_memory_stays_bounded(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    assert daemon.proc is not None
    before = peak_rss_mb(daemon.proc.pid)
    huge = entry(2).rstrip("\n") + " " + "x" * (10 << 20)  # looks like an alert, but 10 MB long
    with open(daemon.logs / "error.log", "a") as f:
        for i in range(0, len(huge), 1 << 20):  # no newline yet: the daemon reads it as it comes
            f.write(huge[i : i + (1 << 20)])
            f.flush()
    daemon.write("\n" + entry(3) + entry(4))
    wait_until(lambda: delivered(rx).keys() == {"1", "3", "4"}, 30, "the alerts after the long line")
    peak = peak_rss_mb(daemon.proc.pid)
    assert peak < 150 and peak - before < 8, (before, peak)  # the line was never held whole (10 MB)
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 3, 4)  # the cut line (ALERT 2) is a parse error, not an alert


def test_f35_invalid_utf8_nul_runs_and_crlf_do_not_stop_the_daemon(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    data = (
        entry(2, "ALERT 2 bad \xff\xfe bytes").encode("latin-1")  # invalid UTF-8
        + b"\0" * 5000
        + b"\n"  # a NUL run on a line of its own
        + b"\0" * 300
        + entry(3).encode()  # a hole left by copytruncate, then a line
        + entry(4).replace("\n", "\r\n").encode()  # CRLF
        + b"\r\n\n\xc3\n"
        + entry(5).encode()
    )
    with open(daemon.logs / "error.log", "ab") as f:
        f.write(data)
    wait_until(lambda: delivered(rx).keys() == {"1", "2", "3", "4", "5"}, 20, "ALERT 2 to 5")
    daemon.write(entry(6))
    wait_until(lambda: "6" in delivered(rx), 20, "ALERT 6")
    assert daemon.stop() == 0
    assert delivered(rx) == expected(1, 2, 3, 4, 5, 6)
    texts = {m: r.json()["text"] for r in rx.requests for m in marks(r.json())}
    assert "\ufffd" in texts["2"], texts["2"]
    assert "\r" not in texts["4"] and "\0" not in texts["3"], texts
    assert "Traceback" not in daemon.log_text()


def test_f37_a_burst_of_debug_lines_with_alerts_between(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(0, "warming up", level="warn"))
    daemon.start()
    assert daemon.proc is not None
    before = peak_rss_mb(daemon.proc.pid)
    alerts = list(range(5000, 55000, 2500))
    with open(daemon.logs / "error.log", "a") as f:
        for start in range(1, 50001, 1000):  # as fast as it goes, 1000 lines per write
            f.write(
                "".join(
                    entry(n) if n in alerts else entry(n, f"debug chatter {n}", level="debug")
                    for n in range(start, start + 1000)
                )
            )
            f.flush()
    want = {str(n) for n in alerts if n <= 50000}
    wait_until(lambda: by_key(rx.requests, daemon.state).keys() == want, 60, "every ALERT")
    peak = peak_rss_mb(daemon.proc.pid)
    assert peak < 150 and peak - before < 30, (before, peak)
    assert daemon.stop() == 0
    assert by_key(rx.requests, daemon.state) == expected(*(n for n in alerts if n <= 50000))


STORM_RULES = RULES.replace("rate = 1000\nburst = 1000", "rate = 1\nburst = 1")  # Slack's own budget
HELD_BACK = re.compile(r"^([\d,]+) alerts?, [\d,]+ events? held back")


def alerts_in(payload: str) -> int:
    """Alerts a queued message stands for: one, or a budget digest's count (its title says)."""
    title = json.loads(payload)["blocks"][0]["text"]["text"]
    match = HELD_BACK.match(title)
    return int(match.group(1).replace(",", "")) if match else 1


def test_f17_a_long_outage_during_an_error_flood_is_queued_as_a_few_digests(tmp_path: Path, rx: Receiver) -> None:
    assert STORM_RULES != RULES
    rx.default = Reply(503, "service_unavailable")
    d = Daemon(tmp_path, rx.url, rules=STORM_RULES)
    try:
        d.write(entry(0, "before the flood", level="warn"))
        d.start()
        # 3,000 alerting entries within 10 s of log time, written at once
        d.write("".join(entry(n // 300, f"ALERT {n} upstream went away") for n in range(1, 3001)))
        wait_until(lambda: sum(alerts_in(p) for p in payloads(d.state)) == 3000, 60, "3000 alerts queued")
        rows = payloads(d.state)
        assert len(rows) <= 20, f"{len(rows)} messages for one flood: the budget should fold it"
        assert d.proc is not None and peak_rss_mb(d.proc.pid) < 100
        switched = time.monotonic()
        rx.default = Reply()
        wait_until(lambda: all(st == "sent" for _, st, _ in outbox_rows(d.state)), 60, "the backlog sent")
        answered = [r for r in rx.requests if r.time >= switched]
        keys = {k for r in answered for m in KEYS.findall(r.body.decode()) for k in m.split()}
        assert {key[:12] for key, _, _ in outbox_rows(d.state)} <= keys  # every message arrived
        assert d.stop() == 0
    finally:
        d.close()


def payloads(state: Path) -> list[str]:
    db = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True, timeout=30)
    try:
        return [p for (p,) in db.execute("SELECT payload FROM outbox ORDER BY id")]
    finally:
        db.close()


def test_f19_a_state_directory_that_cannot_be_made_stops_the_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    d = Daemon(tmp_path, None)
    d.state = blocker / "state"
    d.write(entry(1))
    try:
        d.start(wait=False)
        assert d.wait_exit() == 3
        assert f"{blocker / 'state'}: cannot use the state directory" in d.log_text()
    finally:
        d.close()


def test_f21_a_directory_inotify_cannot_watch_is_said_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As root `chmod 0711` stops nothing: os.access is made to say what it would say to the daemon's user."""
    from tailer.watch import Watcher

    wake = threading.Event()
    watcher = Watcher(wake)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    try:
        with caplog.at_level(logging.WARNING, logger="tailer"):
            watcher.update({str(tmp_path)})
            watcher.update({str(tmp_path)})
        warnings = [r.getMessage() for r in caplog.records if "is not readable" in r.getMessage()]
        assert len(warnings) == 1 and "read on the periodic check only" in warnings[0]
        assert watcher.watches == {}
    finally:
        watcher.stop()


def test_f29_rapid_rotation_under_load_loses_and_repeats_nothing(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(0, "start", level="warn"))
    daemon.start()
    writer = Writer(daemon, pace=0.01)
    writer.start()
    try:
        for i in range(1, 31):  # every 100 ms for 3 s: rename + create, as logrotate with `create` does
            os.rename(daemon.logs / "error.log", daemon.logs / f"error.log.{i}")
            (daemon.logs / "error.log").touch()
            time.sleep(0.1)  # the pace of the rotations (nothing is waited for here)
    finally:
        written = writer.stop()
    wait_until(lambda: delivered(rx).keys() == {str(n) for n in written}, 60, "every ALERT")
    assert daemon.proc is not None and len(open_fds(daemon.proc.pid)) < 40
    assert daemon.stop() == 0
    assert delivered(rx) == expected(*written)


def test_a_burst_slack_can_take_is_sent_message_by_message(tmp_path: Path, rx: Receiver) -> None:
    """12 alerts at once to a notifier whose rate (1000/s, burst 1000) takes them: 12 messages, each with its
    text, as `replay --send` sends them; folding is for a backlog (test_f15, test_f17)."""
    d = Daemon(tmp_path, rx.url)
    try:
        d.start()
        d.write("".join(entry(n) for n in range(1, 13)))
        wait_until(lambda: delivered(rx).keys() == set(map(str, range(1, 13))), 30, "the 12 alerts")
        assert d.stop() == 0
    finally:
        d.close()
    bodies = [r.json() for r in rx.requests]
    assert len(bodies) == 12 and not any("held back" in json.dumps(b) for b in bodies)
    assert [set(marks(b)) for b in bodies] == [{str(n)} for n in range(1, 13)]
