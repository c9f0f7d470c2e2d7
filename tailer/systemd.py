"""systemd's notify protocol, spoken with the socket module: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

One datagram of newline-separated KEY=VALUE pairs to the AF_UNIX socket named in $NOTIFY_SOCKET (a leading
`@` is Linux's abstract namespace). Without the variable every call does nothing. "This protocol is
guaranteed to be stable" (systemd's notify-selfcontained-example.py).

The `Pinger` thread sends WATCHDOG=1 every half of $WATCHDOG_USEC, but only while `healthy()` says every stage
is going round: a hung stage stops the pings, and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("tailer.systemd")


def notify(message: str, environ: Mapping[str, str] = os.environ, wait: float = 0.0) -> bool:
    """Send `message` ("READY=1", "STATUS=...") to systemd; False when not run by it (or it is gone).

    The socket never blocks the caller: when systemd's queue is full (it is busy), the message is tried
    again for up to `wait` seconds, then dropped. STATUS= and WATCHDOG=1 are sent again soon anyway; give
    READY=1, RELOADING=1 and STOPPING=1 a `wait`."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    deadline = time.monotonic() + wait
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as s:
            s.connect(address)
            while True:
                try:
                    s.send(message.encode())
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.01)
    except OSError as exc:
        log.debug("cannot notify systemd at %s: %s", address, exc)
        return False


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between two pings (half of systemd's WatchdogSec), if the watchdog is on for this process."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.01, int(usec) / 2e6)
    except ValueError:
        return None


class Pinger(threading.Thread):
    def __init__(self, interval: float, healthy: Callable[[], str | None], environ: Mapping[str, str] = os.environ):
        super().__init__(name="watchdog", daemon=True)
        self.interval = interval
        self.healthy = healthy  # None when healthy, else what is wrong
        self.environ = environ
        self.stopping = threading.Event()
        self._said: str | None = None

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            problem = self.healthy()
            if problem is None:
                notify("WATCHDOG=1", self.environ)
            elif problem != self._said:
                log.error("not telling systemd all is well: %s", problem)
            self._said = problem

    def stop(self) -> None:
        self.stopping.set()
