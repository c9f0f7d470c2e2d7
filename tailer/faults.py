"""Crash points for the fault-injection tests: with KONG_TAILER_FAULT=<point> in its environment, the daemon
kills itself with SIGKILL when it reaches that point (once per process). Without the variable, nothing
happens. The points are where a crash is most dangerous:

    after_read               lines read and turned into messages, nothing committed yet
    after_commit             messages and positions committed, the sender not yet woken
    after_post_before_mark   Slack answered, the row not yet marked sent
    hang_in_reconcile        (hangs forever instead: the systemd watchdog must notice)
    hang_in_send             (the sender hangs before a POST: the systemd watchdog must notice)
    stop_observer            (stops the file watcher once after start: it must be restarted)
    watcher_dies             (the file watcher stops each time it is started: the watchdog must notice)

KONG_TAILER_FAULT=raise:<text> makes every rule raise on an event whose raw text holds <text> (`install`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

_POINT = os.environ.get("KONG_TAILER_FAULT", "")
_AFTER = int(os.environ.get("KONG_TAILER_FAULT_AFTER", "0") or 0)  # pass the point this many times first
_seen = 0


def point(name: str) -> None:
    """Die here (or hang, for a `hang_` point) if told to."""
    global _seen
    if name == _POINT:
        _seen += 1
        if _seen > _AFTER:
            if name.startswith("hang_"):
                threading.Event().wait()
            os.kill(os.getpid(), signal.SIGKILL)


def active(name: str) -> bool:
    return name == _POINT


def install(pipeline: Any) -> None:
    """With KONG_TAILER_FAULT=raise:<text>, make each rule of `pipeline` raise on events holding <text>."""
    if not _POINT.startswith("raise:"):
        return
    text = _POINT.removeprefix("raise:")

    def wrap(rule: str, feed: Callable[..., None]) -> Callable[..., None]:
        def failing(event: Any, t: float, out: list[Any]) -> None:
            if text in event.raw:
                raise RuntimeError("fault injected for this entry")
            feed(event, t, out)

        return failing

    pipeline.wrap_rules(wrap)
