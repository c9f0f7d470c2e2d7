"""systemd's notify protocol against a real datagram socket given in NOTIFY_SOCKET: READY, STATUS, pings
only while healthy (a hung reader stops them), a file watcher that died is restarted, STOPPING."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailer.systemd import notify, watchdog_interval
from tests.daemon import Daemon, delivered, entry, wait_until
from tests.receiver import Receiver


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: every datagram, with the monotonic time it was read."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.got: list[tuple[float, str]] = []

    def poll(self) -> list[tuple[float, str]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return self.got
            self.got.append((time.monotonic(), data.decode()))

    def saw(self, text: str) -> bool:
        return any(text in m for _, m in self.poll())

    def pings_after(self, t: float) -> int:
        return sum(1 for at, m in self.poll() if at > t and "WATCHDOG=1" in m)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[FakeSystemd, dict[str, str]]]:
    path = str(tmp_path / "notify.sock")
    fake = FakeSystemd(path)
    yield fake, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}  # a ping every 0.5 s
    fake.close()


def test_ready_status_pings_and_stopping(tmp_path: Path, systemd: tuple[FakeSystemd, dict[str, str]]) -> None:
    fake, env = systemd
    with Receiver() as rx:
        d = Daemon(tmp_path, rx.url, env=env)
        try:
            d.write("")  # the file exists, empty
            d.start()
            wait_until(lambda: fake.saw("READY=1"), what="READY=1")
            ready = next(m for _, m in fake.poll() if "READY=1" in m)
            assert "STATUS=following 1 file(s)" in ready
            since = time.monotonic()
            wait_until(lambda: fake.pings_after(since) >= 3, what="three pings")
            d.write(entry(1))
            wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
            assert d.stop() == 0
            assert fake.poll()[-1][1] == "STOPPING=1"
        finally:
            d.close()


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("hang_in_reconcile", "the reader has not gone round"),
        ("hang_in_send", "the sender of slack has been stuck"),
        ("watcher_dies", "the file watcher has stopped"),
    ],
)
def test_pings_stop_while_a_stage_hangs(
    tmp_path: Path, systemd: tuple[FakeSystemd, dict[str, str]], fault: str, said: str
) -> None:
    fake, env = systemd
    with Receiver() as rx:
        d = Daemon(tmp_path, rx.url, env={**env, "KONG_TAILER_FAULT": fault})
        try:
            d.write(entry(1))  # something to send: the sender's POST is where it hangs
            d.start(wait=False)
            wait_until(lambda: fake.saw("READY=1"), what="READY=1")
            d.wait_for_log(f"not telling systemd all is well: {said}")
            fake.poll()  # the pings sent before it was noticed
            stopped = time.monotonic()
            # Two ping intervals (0.5 s each) with no ping: the watchdog would now fire.
            deadline = stopped + 1.0
            while time.monotonic() < deadline:
                assert fake.pings_after(stopped) == 0
            assert d.proc is not None and d.proc.poll() is None  # hung, not dead: systemd is the one to act
        finally:
            d.close()


def test_a_file_watcher_that_stopped_is_started_again(
    tmp_path: Path, systemd: tuple[FakeSystemd, dict[str, str]]
) -> None:
    fake, env = systemd
    with Receiver() as rx:
        d = Daemon(tmp_path, rx.url, env={**env, "KONG_TAILER_FAULT": "stop_observer"})
        try:
            d.start()
            d.wait_for_log("the file watcher stopped; starting it again")
            d.write(entry(1))
            wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
            since = time.monotonic()
            wait_until(lambda: fake.pings_after(since) >= 2, what="pings after the restart")
            assert d.stop() == 0
        finally:
            d.close()


def test_abstract_socket_and_no_socket() -> None:
    name = f"kong-tailer-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        assert notify("STATUS=hello", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"STATUS=hello"
    finally:
        sock.close()
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "@" + name})  # nobody listening: no exception


def test_the_watchdog_is_for_this_process_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
