"""Imported by the daemon under test when it runs under libfaketime (tests/daemon.py, `FakeClock`), before
anything else: `time.sleep` sleeps on select() instead.

Debian's libfaketime 0.9.10, with the monotonic clock left alone (FAKETIME_DONT_FAKE_MONOTONIC=1, as a real
step of the wall clock leaves it), makes Python 3.11's `time.sleep` fail with EINVAL: it passes a wrong time
to clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) (https://github.com/wolfcw/libfaketime/issues/426).
kong-tailer's own waits use threading and select, which it leaves alone, but watchdog sleeps after a rename.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
