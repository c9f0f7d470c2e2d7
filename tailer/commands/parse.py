"""`kong-tailer parse`: print the events read from log files as JSON lines; a summary per file on stderr."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from tailer.errors import InputError
from tailer.events import Tally
from tailer.reader import ReadOptions
from tailer.sources import FileEvents


def run_parse(paths: Sequence[str], opts: ReadOptions, out: TextIO, err: TextIO) -> int:
    """Parse each file in turn; 0, or 2 if a file could not be opened or read (the others are still read)."""
    status = 0
    for path in paths:
        try:
            summary = _parse_one(path, opts, out)
        except InputError as exc:
            err.write(f"kong-tailer: error: {exc}\n")
            status = 2
            continue
        err.write(f"kong-tailer: {summary}\n")
    return status


def _parse_one(path: str, opts: ReadOptions, out: TextIO) -> str:
    kinds: Counter[str] = Counter()
    events = FileEvents(path, opts)
    for batch in events:
        for event in batch:
            if type(event) is Tally:  # counts of requests not emitted: in the summary already
                continue
            kinds[event.kind] += 1
            out.write(event.to_json())
            out.write("\n")
    return f"{path}: {events.fmt} log, " + file_summary(events.stats, kinds)


def file_summary(stats: Counter[str], kinds: Counter[str]) -> str:
    """`63 lines; events: error 3, http 5; 0 parse errors; not emitted (use --all): ...`"""
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k not in ("parse_error", "tally")) or "none"
    skipped = [
        f"{n} {what}"
        for what, n in (
            ("requests below 400", stats["http_below_400"]),
            ("error-log entries below warn", stats["entries_below_warn"]),
        )
        if n
    ]
    return (
        f"{stats['lines']} lines; events: {by_kind}; {kinds['parse_error']} parse errors"
        + untimed(stats)
        + (f"; not emitted (use --all): {', '.join(skipped)}" if skipped else "")
    )


def untimed(stats: Counter[str]) -> str:
    """`; 3 error-log entries without a time (timestamp cut or missing)`, or nothing."""
    n = stats["entries_without_time"]
    return f"; {n} error-log entries without a time (timestamp cut or missing)" if n else ""
