"""What every parser shares: where its lines come from, and the loop that walks a chunk's lines.

A parser is fed `Chunk`s of complete lines (see tailer.lines) and returns the events they complete; `finish()`
says the input ended (or went quiet) and returns whatever was still open. Parsers never raise on log content:
anything unreadable becomes a `ParseError` event.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, tzinfo

from tailer.events import Event, ParseError, Tally
from tailer.lines import Chunk


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Where lines come from and how to read them."""

    file: str  # as the user named it; copied into every event
    host: str  # this machine's name; copied into every event
    zone: tzinfo  # the error log's time zone (it writes local time without one)
    emit_all: bool = False  # also emit 2xx/3xx requests and error-log entries below warn
    statuses: frozenset[int] | None = None  # the request statuses to make events of (None: 400 and above)
    tallies: bool = False  # count the other requests in `Tally` events (rules over every request need them)


# Per-line prefixes added by container tooling: `docker compose logs` (`kong-1  | `), `kubectl logs --prefix`
# (`[pod/kong-7d9/proxy] `) and Docker Desktop's log view (`2025-03-12 15:33:34 `, the host's local time: the
# time of an entry is its own, never this one). Each is of a fixed shape, or one run of one character class
# between literals: matched at the start of a line, in time linear in its length.
CONTAINER_PREFIX = rb"(?:[\w.-]+ *\| |\[pod/[^\]\n]*\] |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )"
_CONTAINER_PREFIX = re.compile(CONTAINER_PREFIX)


def container_prefix(line: bytes) -> int:
    """The length of a container tooling prefix at the start of `line` (0 if none)."""
    m = _CONTAINER_PREFIX.match(line)
    return m.end() if m else 0


def text(raw: bytes) -> str:
    """Log bytes as text: invalid UTF-8 becomes U+FFFD, never an exception."""
    return raw.decode("utf-8", "replace")


class Tallies:
    """Requests counted but not made into events (1xx-3xx, or statuses no rule wants), per second of log time:
    rules such as "the 5xx share of all requests" need them. The count in hand goes out as a `Tally` when the
    second changes, before an event of another second (`before`) and at the end of each chunk (`flush`). Rules
    count per second too, so how a second's count is split between tallies changes no decision."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.pending: Tally | None = None
        self.stamp: bytes | None = None  # the pending count's time as logged, when the parser knows it

    def count(self, time: datetime | None, n: int, offset: int, out: list[Event]) -> None:
        pending = self.pending
        if pending is not None:
            if pending.time == time:
                pending.count += n
                return
            out.append(pending)
        self.pending = Tally(time, self.ctx.host, self.ctx.file, offset, "", n)
        self.stamp = None

    def before(self, time: datetime | None, out: list[Event]) -> None:
        """An event logged at `time` is about to go out: the count of an earlier second goes first."""
        pending = self.pending
        if pending is not None and pending.time is not time and pending.time != time:
            self.flush(out)

    def flush(self, out: list[Event]) -> None:
        if self.pending is not None:
            out.append(self.pending)
            self.pending = None
            self.stamp = None


class LineParser:
    """Walks the lines of each chunk and hands them to `line()`; subclasses read one format.

    Most lines of a busy log need no reading (debug entries, 2xx requests). A subclass may return from
    `scanner()` a regex that matches b"\\n" + a line that does need reading and nothing else; `feed` then
    lets `finditer` skip the others in C, hands each match to `scanned()` and the number of lines skipped
    between matches to `skipped()`. Per line of Python costs more than the regex does.
    """

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.stats: Counter[str] = Counter()
        self.tallies = Tallies(ctx)  # used when ctx.tallies

    def scanner(self) -> re.Pattern[bytes] | None:
        """The regex that finds the lines worth reading, or None to read every line."""
        return None

    def feed(self, chunk: Chunk) -> list[Event]:
        """Read the complete lines of `chunk`; return the events they complete (and the requests counted)."""
        out = self._read(chunk)
        self.tallies.flush(out)
        return out

    def _read(self, chunk: Chunk) -> list[Event]:
        out: list[Event] = []
        if chunk.cut:
            self.stats["lines"] += 1
            self.interrupt(out)
            out.append(
                self.parse_error(
                    chunk.data.rstrip(b"\n"),
                    chunk.offset,
                    None,
                    f"line of {chunk.cut} bytes is longer than the cap; only its start is kept",
                )
            )
            return out
        data = chunk.data
        clean = b"\r" not in data and b"\0" not in data
        scan = self.scanner() if clean else None
        if scan is not None:
            self._feed_scanned(scan, data, chunk.offset, out)
            return out
        lines = data.split(b"\n")
        if not lines[-1]:
            lines.pop()
        self.stats["lines"] += len(lines)
        line_fn = self.line
        off = chunk.offset
        if not clean:
            for raw in lines:
                length = len(raw) + 1
                start = off
                if raw.startswith(b"\0"):  # a hole left by copytruncate under a writer without O_APPEND
                    stripped = raw.lstrip(b"\0")
                    start += len(raw) - len(stripped)
                    raw = stripped
                line_fn(raw.rstrip(b"\r"), start, out)
                off += length
        else:
            for raw in lines:
                line_fn(raw, off, out)
                off += len(raw) + 1
        return out

    def _feed_scanned(self, scan: re.Pattern[bytes], data: bytes, offset: int, out: list[Event]) -> None:
        # b"\n" before the first line lets the regex start every line with a literal (a fast search); the
        # newline after the last is dropped so that no empty line is matched there. The match's start is then
        # the offset of its line in `data`.
        buf = b"\n" + (data[:-1] if data[-1:] == b"\n" else data)
        self.stats["lines"] += buf.count(b"\n")
        expected = 0  # where the next match starts if no line was skipped
        scanned = self.scanned
        for m in scan.finditer(buf):
            start = m.start()
            if start != expected:
                self.skipped(buf, expected, start, offset, out)
            expected = m.end()
            scanned(m, offset + start, out)
        if expected != len(buf):
            self.skipped(buf, expected, len(buf), offset, out)

    def scanned(self, m: re.Match[bytes], offset: int, out: list[Event]) -> None:
        """Read a line that `scanner()` matched (the match starts with the newline before it)."""
        self.line(m.group()[1:], offset, out)

    def skipped(self, buf: bytes, start: int, end: int, offset: int, out: list[Event]) -> None:
        """The lines `buf[start:end]` (each preceded by its b"\\n") were passed over by `scanner()`;
        the line whose newline is at `buf[i]` starts at byte `offset + i` of the file."""

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        """Read one line (without its newline) that starts at byte `offset`."""
        raise NotImplementedError

    def interrupt(self, out: list[Event]) -> None:
        """A line could not be delivered (it was cut): close whatever it might have continued."""

    def finish(self) -> list[Event]:
        """End of input, or a quiet spell: return what is still open."""
        return []

    def pending(self) -> list[int]:
        """Where the records still open (read, but not yet events) start: a reader that stops now must
        start again at the first of them to lose nothing."""
        return []

    def parse_error(self, raw: bytes, offset: int, time: datetime | None, reason: str) -> ParseError:
        self.stats["parse_errors"] += 1
        return ParseError(time, self.ctx.host, self.ctx.file, offset, text(raw), reason)
