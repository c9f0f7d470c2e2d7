"""Chunks of complete lines → events, for one file generation: the one reader behind `parse`, `replay` and the
daemon (`tailer.sources.FileEvents` and `tailer.follow.Tail` only hand it the `Chunk`s they read).

A `Reader` is fed the chunks of a file in order (`feed`), and says when the input went quiet (`flush`) or ended
(`finish`). It owns:

    the format         with "auto", decided by `detect_format(sample[:DETECT_SAMPLE])`, where the sample is the
                       lines read so far (cut heads of over-long lines left out); the chunks are held, and no
                       event comes out, until the sample holds DETECT_SAMPLE bytes or SAMPLE_LINES lines (all
                       that detect_format looks at), or the input goes quiet or ends: the decision is one
                       function of the file's lines, however reads cut them into chunks. Lines before where
                       reading starts (a file resumed, or followed from its end) are given with `sample()`, so
                       that the daemon decides from a file's first lines as `replay` does. One exception, as
                       it changes no event: while every line so far is an error-log line, the chunks are read
                       at once by an error-log parser, which the decision ("error" or "mixed": nothing else
                       is possible then) carries on (`tailer.parse.go_on`).
    the parser         `make_parser(fmt)`; its line count (`lines_parsed`) and open records (`pending`)
    the restart skip   events starting before `skip_before` went out before a restart, but for the records
                       open then (`skip_open`): they are dropped
    line numbers       every event gets `lineno`, the number of the line it starts on, counted from the line
                       `start` starts (`start_line`) by the parser's line count; `resume()` says where a restart
                       reads again and that line's number
    container envelopes  (issue 15) a runtime's wrapping of each line (Docker's json-file, CRI) is to be taken
                       off in `feed`, before the chunk is sampled or parsed, keeping the chunk's file offsets

The daemon thus gets no event from a new file written by an "auto" source, from its first line that is not an
error-log line on, until 200 lines or 64 KiB of it were read, or until it has been quiet for `Settings.quiet`
(2 s): an access log (or a mixed one) that starts slowly has its first lines out at the latest after its quiet
flush (then decided from those lines, as they are all there is). A plain error log has its events at once.

A new log format is a `LineParser` in tailer/parse/, known to `make_parser`, `FORMATS` and `detect_format`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from tailer.config import host_name, resolve_zone
from tailer.events import Event
from tailer.lines import DEFAULT_MAX_LINE, Chunk
from tailer.parse import (
    SAMPLE_LINES,
    ErrorLogParser,
    LineParser,
    ParseContext,
    detect_format,
    error_lines,
    go_on,
    make_parser,
)
from tailer.parse.accesslog import BUILTIN, LogFormat, compile_log_format

DETECT_SAMPLE = 64 * 1024  # bytes of complete lines that decide the format of a file


@dataclass(frozen=True)
class ReadOptions:
    """How to read log files: the format ("auto" detects it per file), where events say they come from,
    the access-log formats to try, the line cap."""

    fmt: str
    ctx: ParseContext  # `file` is filled in per file
    log_formats: tuple[LogFormat, ...] = BUILTIN
    max_line: int = DEFAULT_MAX_LINE


def read_options(
    fmt: str, zone: str | None, host: str | None, log_formats: tuple[str, ...], max_line: int, emit_all: bool = False
) -> ReadOptions:
    """ReadOptions from the reading settings as given (ConfigError for a bad zone or log_format)."""
    ctx = ParseContext("", host or host_name(), resolve_zone(zone), emit_all)
    formats = tuple(compile_log_format(f, f"--log-format #{i}") for i, f in enumerate(log_formats, 1))
    return ReadOptions(fmt, ctx, formats + BUILTIN, max_line)


class Reader:
    """One file generation's chunks → events. `start`: the offset of the first chunk it will be fed, and
    `start_line` the number of the line there (0: not known, and every event's `lineno` is 0); `skip_before`,
    `skip_open`: what a restart resumed from (`Position.emitted`, `Position.open`)."""

    def __init__(
        self,
        opts: ReadOptions,
        file: str,
        start: int = 0,
        skip_before: int = 0,
        skip_open: Iterable[int] = (),
        start_line: int = 1,
    ) -> None:
        self.opts = opts
        self.ctx = replace(opts.ctx, file=file)
        self.fmt: str | None = None  # once decided
        self.parser: LineParser | None = None  # once decided, or reading the first error-log lines
        self._first: ErrorLogParser | None = None  # the parser of the first error-log lines, while undecided
        self._at = start  # where the next chunk to parse starts
        self._skip_before = skip_before  # 0 once nothing more is skipped
        self._skip_open = frozenset(skip_open)
        self._held: list[Chunk] = []  # fed while the format is undecided
        self._sample: list[bytes] = []
        self._sampled = 0  # bytes in _sample
        self._newlines = 0  # lines in _sample
        self._errors = True  # every line in _sample is an error-log line
        self._counted = 0  # lines the parser had counted at the last lines_parsed()
        self._line = start_line  # the number of the line at `_at` (0: not known)
        self._open_lines: dict[int, int] = {}  # where each record still open starts → its line number
        if opts.fmt != "auto":
            self._decide(opts.fmt)

    @property
    def stats(self) -> Counter[str]:
        """The parser's counts (lines, parse errors, requests not emitted); empty while undecided."""
        return self.parser.stats if self.parser is not None else Counter()

    def feed(self, chunk: Chunk) -> list[Event]:
        """The events `chunk` completes (none while the format is undecided and the chunk is held)."""
        # issue 15: container envelopes are to be unwrapped here, before the chunk is sampled or parsed.
        if self.fmt is None:
            return self._undecided(chunk)
        return self._parse(chunk)

    def sample(self, chunks: Iterable[Chunk]) -> None:
        """The file's lines before `start`: they count towards the format (as they would reading the file from
        its start) and are not parsed. Consumed only until the format is decided."""
        for chunk in chunks:
            if self.fmt is not None:
                return
            self._add(chunk)
            if self._enough():
                self._release()

    def flush(self) -> list[Event]:
        """The input went quiet: the records still open; held chunks decide the format from what there is."""
        out = self._release() if self._held else []
        if self.parser is not None:
            closed = self.parser.finish()
            for e in closed:
                e.lineno = self._open_lines.get(e.offset, 0)
            self._open_lines = {}
            out.extend(self._skip(closed, -1) if self._skip_before else closed)
        return out

    def finish(self) -> list[Event]:
        """The input ended: as `flush`, and the format is decided even from no line at all."""
        out = self._release() if self.fmt is None else []
        out.extend(self.flush())
        return out

    def pending(self) -> tuple[int, ...]:
        """Where the records still open start: a restart reads again from the first (see `emitted`)."""
        starts = self.parser.pending() if self.parser is not None else []
        before = self._skip_before
        if before:  # still re-reading what went out: the records open then, and only those, are still open
            keep = self._skip_open
            starts = [s for s in starts if s >= before or s in keep] + [s for s in keep if s >= self._at]
        return tuple(sorted(starts))

    def resume(self) -> tuple[int, int]:
        """Where a restart reads again (the start of the first record still open, or the end of the chunks
        parsed; before that when re-reading after a restart) and the number of the line there (0: not known)."""
        at = min((*self.pending(), self._at))
        return at, self._line if at == self._at else self._open_lines.get(at, 0)

    def emitted(self) -> int:
        """How far events went out: the end of the chunks parsed (held ones are not), or of what went out
        before a restart."""
        return max(self._at, self._skip_before)

    def lines_parsed(self) -> int:
        """Lines parsed since the last call."""
        counted = self.parser.stats["lines"] if self.parser is not None else 0
        new, self._counted = counted - self._counted, counted
        return new

    def _parse(self, chunk: Chunk) -> list[Event]:
        assert self.parser is not None
        self._at = chunk.offset + (chunk.cut or len(chunk.data))
        counted = self.parser.stats["lines"]
        events = self.parser.feed(chunk)
        if self._line:
            self._number(events, chunk)
            self._line += self.parser.stats["lines"] - counted
        if self._skip_before:
            events = self._skip(events, chunk.offset)
        return events

    def _number(self, events: list[Event], chunk: Chunk) -> None:
        """Set the `lineno` of `events` (made of `chunk`, which starts at line `_line`); note the lines of the
        records `chunk` left open: their events come out of a later chunk."""
        base, count, before = chunk.offset, chunk.data.count, self._open_lines
        # Offsets in `chunk` whose line is known, ascending: events mostly come in order, and each is counted
        # from the one before; one out of order (a request count) from the nearest known offset before it.
        offsets, lines = [base], [self._line]

        def line_of(offset: int) -> int:
            if offset >= offsets[-1]:
                line = lines[-1] + count(b"\n", offsets[-1] - base, offset - base)
                offsets.append(offset)
                lines.append(line)
                return line
            if offset >= base:
                i = bisect_right(offsets, offset) - 1
                return lines[i] + count(b"\n", offsets[i] - base, offset - base)
            return before.get(offset, 0)  # a record opened in an earlier chunk

        for e in events:
            e.lineno = line_of(e.offset)
        self._open_lines = {s: line_of(s) for s in (self.parser.pending() if self.parser is not None else ())}

    def _undecided(self, chunk: Chunk) -> list[Event]:
        """Sample `chunk`; hold it, or read it at once if it is still all error-log lines; decide when enough."""
        self._add(chunk)
        if self._enough():
            self._held.append(chunk)
            return self._release()
        if not self._held and self._errors and self._newlines:  # read alike by "error" and "mixed"
            if self._first is None:
                self._first = ErrorLogParser(self.ctx)
                self.parser = self._first
            return self._parse(chunk)
        self._held.append(chunk)
        return []

    def _decide(self, fmt: str) -> None:
        self.fmt = fmt
        if self._first is not None:
            self.parser = go_on(fmt, self._first, self.opts.log_formats)
        else:
            self.parser = make_parser(fmt, self.ctx, self.opts.log_formats)
        self._sample = []

    def _add(self, chunk: Chunk) -> None:
        if not chunk.cut:  # the head of an over-long line says nothing about the format
            self._sample.append(chunk.data)
            self._sampled += len(chunk.data)
            self._newlines += chunk.data.count(b"\n")
            if self._errors and not self._enough():  # (the lines of a sample that is enough are not looked at)
                self._errors = error_lines(chunk.data)

    def _enough(self) -> bool:
        """The sample holds all that `detect_format(sample[:DETECT_SAMPLE])` would look at in a longer one."""
        return self._sampled >= DETECT_SAMPLE or self._newlines >= SAMPLE_LINES

    def _release(self) -> list[Event]:
        """Decide the format from the sample; the events of the chunks held."""
        self._decide(detect_format(b"".join(self._sample)[:DETECT_SAMPLE], self.opts.log_formats))
        held, self._held = self._held, []
        out: list[Event] = []
        for chunk in held:
            out.extend(self.feed(chunk))
        return out

    def _skip(self, events: list[Event], offset: int) -> list[Event]:
        """Drop the events that went out before the restart; stop skipping once past them (`offset`: where the
        chunk that made `events` starts, -1 for no chunk)."""
        before, keep = self._skip_before, self._skip_open
        events = [e for e in events if e.offset >= before or e.offset in keep]
        if offset >= before and self.parser is not None and not any(s < before for s in self.parser.pending()):
            self._skip_before = 0
        return events
