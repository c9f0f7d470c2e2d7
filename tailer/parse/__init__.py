"""The parsing stage: lines of a Kong log → events.

    errorlog.py   nginx/Kong error log: `error` events, and boxes (boxes.py, luavalues.py) → `inspect`/`event_hook`
    accesslog.py  access logs in any nginx log_format → `http`
    filelog.py    file-log / http-log JSON → `http`
    MixedParser   a stream that interleaves them (`docker logs`, a terminal paste)

`make_parser(fmt, ctx)` builds one; `detect_format(sample)` picks the format from the first lines of a file.
Error-log lines are read alike by "error" and "mixed": an error-log parser can read a file's first lines before
the format is decided (`error_lines`), then be carried on (`go_on`).
"""

from __future__ import annotations

from collections import Counter

from tailer.errors import ConfigError
from tailer.events import Event
from tailer.parse.accesslog import BUILTIN, AccessLogParser, LogFormat
from tailer.parse.base import LineParser, ParseContext, container_prefix
from tailer.parse.errorlog import ErrorLogParser, entry_start
from tailer.parse.filelog import FileLogParser

FORMATS = ("auto", "error", "access", "json", "mixed")
SAMPLE_LINES = 200  # the lines of a sample that detect_format looks at


class MixedParser(LineParser):
    """Error-log, access-log and JSON lines in one stream; a line that is none of them continues the
    latest error-log entry, or is junk."""

    def __init__(
        self, ctx: ParseContext, formats: tuple[LogFormat, ...] = BUILTIN, error: ErrorLogParser | None = None
    ) -> None:
        """`error`: an error-log parser that read the stream's first lines, all error-log lines: go on from it."""
        super().__init__(ctx)
        self.error = error if error is not None else ErrorLogParser(ctx)
        if error is not None:
            self.stats = error.stats
        self.access = AccessLogParser(ctx, formats)
        self.json = FileLogParser(ctx)
        self.error.stats = self.access.stats = self.json.stats = self.stats
        self.access.tallies = self.json.tallies = self.tallies  # flushed with the mixed stream's chunks

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        if entry_start(line):
            self.error.line(line, offset, out)
            return
        if _looks_json(line) and self.json.read(line, offset, out):
            return
        if not self.access.read(line, offset, out):
            self.error.line(line, offset, out)  # a continuation of the latest error entry, or junk

    def interrupt(self, out: list[Event]) -> None:
        self.error.interrupt(out)

    def finish(self) -> list[Event]:
        return self.error.finish()

    def pending(self) -> list[int]:
        return self.error.pending()


def detect_format(sample: bytes, formats: tuple[LogFormat, ...] = BUILTIN) -> str:
    """The format of a file ("error", "access", "json" or "mixed"), judged from the first lines of `sample`:
    "mixed" when they hold lines of more than one kind, wherever those are among them (a pasted excerpt may
    start with a few error-log entries and go on with access lines)."""
    seen: Counter[str] = Counter()
    for line in sample.split(b"\n")[:SAMPLE_LINES]:
        line = line.rstrip(b"\r")
        if entry_start(line):
            seen["error"] += 1
        elif _looks_json(line) and b'"response"' in line:
            seen["json"] += 1
        else:
            # as AccessLogParser reads it: the line, else the line after a container prefix (a format of
            # one's own may start with what looks like one: Docker Desktop's `YYYY-MM-DD HH:MM:SS `)
            prefix = container_prefix(line)
            body = line[prefix:] if prefix else None
            if any(f.regex.match(line) or (body is not None and f.regex.match(body)) for f in formats):
                seen["access"] += 1
    if len(seen) > 1:
        return "mixed"
    return next(iter(seen), "error")


def error_lines(data: bytes) -> bool:
    """`data` (whole lines) holds lines, all of which `detect_format` counts as error-log lines."""
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()
    return bool(lines) and all(entry_start(line.rstrip(b"\r")) for line in lines)


def go_on(fmt: str, first: ErrorLogParser, formats: tuple[LogFormat, ...] = BUILTIN) -> LineParser:
    """The parser for `fmt` that goes on from `first`, an error-log parser that read only `error_lines`:
    `first` itself for "error", a MixedParser around it for "mixed" (which reads such lines alike)."""
    if fmt == "error":
        return first
    if fmt == "mixed":
        return MixedParser(first.ctx, formats, first)
    raise ValueError(f"an error-log parser cannot go on as a {fmt!r} parser")


def _looks_json(line: bytes) -> bool:
    return line[container_prefix(line) :].lstrip()[:1] in (b"{", b"[")


def make_parser(fmt: str, ctx: ParseContext, formats: tuple[LogFormat, ...] = BUILTIN) -> LineParser:
    """A parser for `fmt` (not "auto": detect first)."""
    if fmt == "error":
        return ErrorLogParser(ctx)
    if fmt == "access":
        return AccessLogParser(ctx, formats)
    if fmt == "json":
        return FileLogParser(ctx)
    if fmt == "mixed":
        return MixedParser(ctx, formats)
    raise ConfigError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")


__all__ = [
    "FORMATS",
    "SAMPLE_LINES",
    "ErrorLogParser",
    "LineParser",
    "MixedParser",
    "ParseContext",
    "detect_format",
    "error_lines",
    "go_on",
    "make_parser",
]
