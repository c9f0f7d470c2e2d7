"""Our own log lines (not Kong's): to stderr, one line each, secrets redacted.

Under systemd (`$JOURNAL_STREAM` set) each line starts with a syslog priority (`<4>`), which journald reads
as the entry's level; in a terminal it reads `kong-tailer: warning: ...`.
"""

from __future__ import annotations

import logging
import os
import sys

from tailer.secrets import RedactingFilter

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (tests and click swap it)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _Format(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", "\n  ")  # one entry, even with a traceback
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return f"kong-tailer: {record.levelname.lower()}: {text}"


def setup_logging(level: int = logging.INFO) -> None:
    """Send the `tailer` loggers to stderr through the redacting filter (once)."""
    root = logging.getLogger("tailer")
    if any(isinstance(h, _Stderr) for h in root.handlers):
        return
    handler = _Stderr()
    handler.setFormatter(_Format(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    watchdog = logging.getLogger("watchdog")  # its warnings (a lost inotify event queue) in our format
    watchdog.addHandler(handler)
    watchdog.setLevel(logging.WARNING)
    watchdog.propagate = False
