"""`kong-tailer run` without inotify (a real process, real files, a real HTTP receiver for Slack): when the
kernel gives no inotify instance the daemon says so once, raises a self-alert, keeps reading on its timer
(through rotation), and watches again once an instance is free; `poll = true` (or `--poll`) never asks for one,
and a reload takes a changed `poll`.

How inotify is made to fail, for real and for this test alone: the limit fs.inotify.max_user_instances is
counted per user, so the daemon runs as a user id no account has and no process runs as (`setpriv`), and a
helper process running as that user first takes every instance the kernel will give it (inotify_init1 until
EMFILE) and holds them until the test lets it go. Global sysctls are left alone: other tests run beside this
one as root. The daemon keeps root's access to files (CAP_DAC_OVERRIDE, inherited through `setpriv`) so that it
can run the interpreter wherever it is installed and read and write what the other daemon tests do; only its
user id, and with it the account its inotify instances are charged to, differs. The test's files are in a
directory every user can search, so the watcher's own readability check (`os.access`, which uses the real user
id and no capability) passes.

Every wait is a poll with a deadline; the only `time.sleep` paces a writer.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailer import watch
from tailer.commands.run import load_config
from tailer.errors import ConfigError
from tests.daemon import Daemon, Writer, delivered, entry, wait_until
from tests.receiver import Receiver
from tests.users import as_user, searchable_dir, unused_uid

DEADLINE = 30.0  # seconds: generous, for a loaded machine
NO_INSTANCE = "no file is watched: inotify gives no instance ([Errno 24] inotify instance limit reached"
PROBLEM = "no file is watched: inotify gives no instance"  # the self-alert's text
RESOLVED = "Resolved: inotify unavailable"
BACK = "inotify works again: the files' directories are watched again"
POLLING = "poll = true: inotify is not used; the files are looked at every 1 s"

# Run as root, takes `uid`'s inotify instances until the kernel refuses one, says how many and why, and holds
# them until its stdin closes. The file limit is raised first (as root), so that it is not what stops it.
HOG = r"""
import ctypes, errno, os, resource, sys
uid, limit = int(sys.argv[1]), int(sys.argv[2])
need = limit + 64
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < need:
    keep = hard == resource.RLIM_INFINITY or hard >= need
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard if keep else need))
init = ctypes.CDLL(None, use_errno=True).inotify_init1
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
held = []
while True:
    fd = init(os.O_CLOEXEC)
    if fd < 0:
        break
    held.append(fd)
print(len(held), errno.errorcode.get(ctypes.get_errno(), "?"), flush=True)
sys.stdin.read()
"""


# -- helpers


def inotify_fds(pid: int) -> int:
    """How many inotify instances the process holds (its descriptors that are one)."""
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            n += os.readlink(fd) == "anon_inode:inotify"
    return n


def watched_inodes(pid: int) -> set[int]:
    """The inodes the process's inotify descriptors watch (/proc/PID/fdinfo)."""
    out: set[int] = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        with contextlib.suppress(OSError):
            out |= {int(i, 16) for i in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", info.read_text(), re.M)}
    return out


def said(rx: Receiver, text: str) -> int:
    """How many requests the receiver got whose body holds `text` (the self-alerts)."""
    return sum(text in r.body.decode() for r in rx.requests)


def pid_of(d: Daemon) -> int:
    assert d.proc is not None
    return d.proc.pid


class Hog:
    """A process, running as `uid`, that holds every inotify instance the kernel gives that user."""

    def __init__(self, uid: int) -> None:
        limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
        assert limit <= 1 << 20, f"fs.inotify.max_user_instances is {limit}: too many instances to take them all"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOG, str(uid), str(limit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        held, why = self.proc.stdout.readline().split()
        # every instance of an unused user: the per-user limit refused the next one (not a file limit)
        assert (int(held), why) == (limit, "EMFILE"), f"the helper took {held} instance(s) of {limit}, then {why}"

    def release(self) -> None:
        """Let the instances go (the helper exits)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def searchable() -> Iterator[Path]:
    """A directory every user can search (pytest's own temporary directories are root's only)."""
    root = searchable_dir("kong-tailer-no-inotify-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def ones(*ns: int) -> dict[str, int]:
    return {str(n): 1 for n in ns}


def rotate_with_late_writes(d: Daemon, first: int) -> list[int]:
    """logrotate's `create` as nginx lives it: the file renamed while its writer keeps writing into it, a new
    file made, then the writer reopens. The numbers written."""
    log = d.logs / "error.log"
    with open(log, "a", buffering=1) as old:
        old.write(entry(first))
        os.rename(log, d.logs / "error.log.1")
        d.write(entry(first + 1))  # the new file
        old.write(entry(first + 2))  # into the renamed one, before the writer reopens
    d.write(entry(first + 3))
    return [first, first + 1, first + 2, first + 3]


# -- no inotify instance


def test_without_an_inotify_instance_the_daemon_reads_on_its_timer_says_so_once_and_recovers(
    searchable: Path, rx: Receiver
) -> None:
    uid = unused_uid()
    hog = Hog(uid)
    d = Daemon(searchable, rx.url, prefix=as_user(uid))
    try:
        d.write(entry(1))
        d.start()
        pid = pid_of(d)
        d.wait_for_log(NO_INSTANCE)
        assert "nothing is lost; inotify is asked again every 10 s" in d.log_text()
        wait_until(lambda: delivered(rx) == ones(1), DEADLINE, "ALERT 1, read without inotify")
        assert inotify_fds(pid) == 0
        wait_until(lambda: said(rx, PROBLEM) == 1, DEADLINE, "the self-alert")
        assert "kong-tailer on gw: problem" in next(r.body.decode() for r in rx.requests if PROBLEM in r.body.decode())
        written = rotate_with_late_writes(d, 2)
        wait_until(lambda: delivered(rx).keys() == {"1", *map(str, written)}, DEADLINE, "the rotated alerts")
        # longer than a retry of inotify (10 s), alerts still coming: the warning and the self-alert stay single
        writer = Writer(d, pace=0.5, start=10)
        writer.start()
        started = time.monotonic()
        try:
            wait_until(lambda: time.monotonic() - started > watch.RETRY_EVERY + 2, DEADLINE, "a retry")
        finally:
            written += writer.stop()
        wait_until(lambda: delivered(rx).keys() == {"1", *map(str, written)}, DEADLINE, "the writer's alerts")
        assert d.log_text().count(f"warning: {NO_INSTANCE}") == 1 and said(rx, PROBLEM) == 1
        assert inotify_fds(pid) == 0 and d.proc is not None and d.proc.poll() is None

        hog.release()  # instances are free: the daemon gets one at its next try
        d.wait_for_log(BACK, DEADLINE)
        logs = os.stat(d.logs).st_ino
        wait_until(lambda: inotify_fds(pid) == 1 and logs in watched_inodes(pid), DEADLINE, "a watch on logs/")
        wait_until(lambda: said(rx, RESOLVED) == 1, DEADLINE, "the self-alert resolved")
        d.write(entry(100))
        wait_until(lambda: "100" in delivered(rx), DEADLINE, "ALERT 100, with inotify")
        assert d.stop() == 0
    finally:
        d.close()
        hog.close()
    assert delivered(rx) == ones(1, 100, *written)
    assert said(rx, PROBLEM) == 1 and said(rx, RESOLVED) == 1
    assert "Traceback" not in d.log_text()


# -- poll = true


@pytest.mark.parametrize("how", ["config", "flag"])
def test_poll_never_uses_inotify_and_follows_rotation(tmp_path: Path, rx: Receiver, how: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("poll = true\n")
    d = Daemon(tmp_path, rx.url, args=("--config", str(config)) if how == "config" else ("--poll",))
    try:
        d.write(entry(1))
        d.start()
        pid = pid_of(d)
        assert POLLING in d.log_text()
        wait_until(lambda: delivered(rx) == ones(1), DEADLINE, "ALERT 1")
        assert inotify_fds(pid) == 0
        written = rotate_with_late_writes(d, 2)
        wait_until(lambda: delivered(rx).keys() == {"1", *map(str, written)}, DEADLINE, "the rotated alerts")
        log = d.logs / "error.log"  # and copytruncate
        with open(log, "a", buffering=1) as fd:
            fd.write(entry(6))
            wait_until(lambda: "6" in delivered(rx), DEADLINE, "ALERT 6")
            shutil.copyfile(log, d.logs / "error.log.2")
            os.truncate(log, 0)
            fd.write(entry(7))
        wait_until(lambda: "7" in delivered(rx), DEADLINE, "ALERT 7, after the truncation")
        assert inotify_fds(pid) == 0
        assert d.stop() == 0
    finally:
        d.close()
    assert delivered(rx) == ones(1, 6, 7, *written)
    assert said(rx, "kong-tailer on gw: problem") == 0  # polling asked for is no problem
    assert not [line for line in d.log_text().splitlines() if "warning" in line and "inotify" in line]


def test_a_reload_takes_a_changed_poll_setting(tmp_path: Path, rx: Receiver) -> None:
    config = tmp_path / "config.toml"
    config.write_text("poll = false\n")
    d = Daemon(tmp_path, rx.url, args=("--config", str(config)))
    logs = os.stat(d.logs).st_ino
    try:
        d.write(entry(1))
        d.start()
        pid = pid_of(d)
        wait_until(lambda: inotify_fds(pid) == 1 and logs in watched_inodes(pid), DEADLINE, "a watch on logs/")
        wait_until(lambda: delivered(rx) == ones(1), DEADLINE, "ALERT 1, with inotify")
        config.write_text("poll = true\n")
        os.kill(pid, signal.SIGHUP)
        d.wait_for_log(POLLING, DEADLINE)
        wait_until(lambda: inotify_fds(pid) == 0, DEADLINE, "the inotify instance closed")
        d.wait_for_log("reloaded: ", DEADLINE)
        written = rotate_with_late_writes(d, 2)
        wait_until(lambda: delivered(rx).keys() == {"1", *map(str, written)}, DEADLINE, "the alerts, polled")
        assert inotify_fds(pid) == 0
        config.write_text("poll = false\n")
        os.kill(pid, signal.SIGHUP)
        d.wait_for_log("poll = false: the files' directories are watched again (inotify)", DEADLINE)
        wait_until(lambda: inotify_fds(pid) == 1 and logs in watched_inodes(pid), DEADLINE, "a watch on logs/ again")
        d.write(entry(10))
        wait_until(lambda: "10" in delivered(rx), DEADLINE, "ALERT 10")
        assert d.stop() == 0
    finally:
        d.close()
    assert delivered(rx) == ones(1, 10, *written)


# -- the setting, and a watchdog that asks for its instance when the observer is made


def test_poll_in_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("poll = true\n")
    assert load_config(str(path)) == {"poll": True}
    for wrong, kind in (('"yes"', "str"), ("1", "int")):
        path.write_text(f"poll = {wrong}\n")
        with pytest.raises(ConfigError, match=re.escape(f"{path}:1: poll has the wrong type ({kind})")):
            load_config(str(path))


def test_an_observer_the_kernel_refuses_is_said_once_and_made_again_later(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """watchdog 7.1 asks for its inotify instance at the first watch (the daemon tests above); a version that
    asks when the observer is made must be taken the same way: here the observer's constructor refuses."""
    real = watch.Observer

    def refused() -> None:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    monkeypatch.setattr(watch, "Observer", refused)
    monkeypatch.setattr(watch, "RETRY_EVERY", 0.0)  # every update tries again
    watcher = watch.Watcher(threading.Event())
    try:
        with caplog.at_level(logging.INFO, logger="tailer"):
            watcher.update({str(tmp_path)})
            watcher.update({str(tmp_path)})
            assert watcher.unavailable is not None and "inotify instance limit reached" in watcher.unavailable
            assert watcher.problem() is None  # not for the systemd watchdog: a restart would not help
            monkeypatch.setattr(watch, "Observer", real)
            watcher.update({str(tmp_path)})
        messages = [r.getMessage() for r in caplog.records]
        assert sum("no file is watched: inotify gives no instance" in m for m in messages) == 1
        assert BACK in messages
        assert watcher.unavailable is None and set(watcher.watches) == {str(tmp_path)}
    finally:
        watcher.stop()
