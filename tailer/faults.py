"""Crash points for the fault-injection tests: with KONG_TAILER_FAULT=<point> in its environment, the daemon
kills itself with SIGKILL when it reaches that point (once per process). Without the variable, nothing
happens. The points are where a crash is most dangerous:

    after_read               lines read and turned into messages, nothing committed yet
    after_commit             messages and positions committed, the sender not yet woken
    after_post_before_mark   Slack answered, the row not yet marked sent
"""

from __future__ import annotations

import os
import signal

_POINT = os.environ.get("KONG_TAILER_FAULT", "")
_AFTER = int(os.environ.get("KONG_TAILER_FAULT_AFTER", "0") or 0)  # pass the point this many times first
_seen = 0


def point(name: str) -> None:
    """Die here if told to."""
    global _seen
    if name == _POINT:
        _seen += 1
        if _seen > _AFTER:
            os.kill(os.getpid(), signal.SIGKILL)
