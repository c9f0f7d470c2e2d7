"""The parsing stage: lines of a Kong log → events.

    errorlog.py   nginx/Kong error log: `error` events, and boxes (boxes.py, luavalues.py) → `inspect`/`event_hook`
    accesslog.py  access logs in any nginx log_format → `http`
    filelog.py    file-log / http-log JSON → `http`
    MixedParser   a stream that interleaves them (`docker logs`, a terminal paste)

`make_parser(fmt, ctx)` builds one; `detect_format(sample)` picks the format from the first lines of a file.
"""

from __future__ import annotations

from collections import Counter

from tailer.errors import ConfigError
from tailer.events import Event
from tailer.parse.accesslog import BUILTIN, AccessLogParser, LogFormat
from tailer.parse.base import LineParser, ParseContext, container_prefix
from tailer.parse.errorlog import PREFIX_ANYWHERE, ErrorLogParser
from tailer.parse.filelog import FileLogParser

FORMATS = ("auto", "error", "access", "json", "mixed")
_SAMPLE_LINES = 200


class MixedParser(LineParser):
    """Error-log, access-log and JSON lines in one stream; a line that is none of them continues the
    latest error-log entry, or is junk."""

    def __init__(self, ctx: ParseContext, formats: tuple[LogFormat, ...] = BUILTIN) -> None:
        super().__init__(ctx)
        self.error = ErrorLogParser(ctx)
        self.access = AccessLogParser(ctx, formats)
        self.json = FileLogParser(ctx)
        self.error.stats = self.access.stats = self.json.stats = self.stats
        self.access.tallies = self.json.tallies = self.tallies  # flushed with the mixed stream's chunks

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        if PREFIX_ANYWHERE.search(line):
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
    """The format of a file ("error", "access", "json" or "mixed"), judged from the first lines of `sample`."""
    seen: Counter[str] = Counter()
    for line in sample.split(b"\n")[:_SAMPLE_LINES]:
        line = line.rstrip(b"\r")
        if PREFIX_ANYWHERE.search(line):
            seen["error"] += 1
        elif _looks_json(line) and b'"response"' in line:
            seen["json"] += 1
        else:
            body = line[container_prefix(line) :]
            if any(f.regex.match(body) for f in formats):
                seen["access"] += 1
    if len(seen) > 1:
        return "mixed"
    return next(iter(seen), "error")


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


__all__ = ["FORMATS", "LineParser", "MixedParser", "ParseContext", "detect_format", "make_parser"]
