"""nginx/Kong error log → `error` events (warn and above, and the client's own failures nginx writes below warn:
`client prematurely closed connection` (499), `client sent ...` (400)), `inspect` / `event_hook` events
from boxes.

An entry is `YYYY/MM/DD HH:MM:SS [level] PID#TID: [*CONN ]message[, context suffix]`, possibly spanning several
physical lines (Lua tracebacks, DNS "Tried" lists, 0.14 inspect text): a line without the prefix continues the
latest entry, and the suffix ends the last one. nginx writes one entry with one write() of at most 4096
bytes, so an entry is complete when the next one starts, when its line ends in a context suffix, or at the
end of input; and a "continuation" that would make it longer than 4096 bytes is junk. A container prefix such
as `kong-1  | ` is found by searching for the timestamp, then expected at the same column.

Excerpts pasted into tickets start an entry without its whole timestamp: cut at the start (`021/09/14 15:09:31
[error] ...`, `9/14 15:09:31 [warn] ...`), missing (`[error] 31#0: *96468 ...`), or nginx's own stderr form before
its log is open (`nginx: [emerg] invalid parameter ...`). A line that starts so (after a container prefix, if
any) with a level name starts an entry like any other, whose `time` is None: what is left of a cut timestamp
is not a time (a cut year could be any century). Such entries are counted in the stats as `entries_without_time`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from tailer.events import Error, Event
from tailer.parse.base import CONTAINER_PREFIX, LineParser, ParseContext, text
from tailer.parse.boxes import BoxAssembler, border_width, inspect_event, read_legacy_text
from tailer.parse.causes import classify
from tailer.parse.timestamps import ErrorLogTimes

_TS = rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"
_PREFIX = re.compile(rb"(" + _TS + rb") \[([a-z]*)\] (?:(\d+)#\d+: )?(?:\*(\d+) )?")
PREFIX_ANYWHERE = re.compile(_TS + rb" \[[a-z]*\] ")
# An entry whose timestamp is cut or missing, or nginx's stderr form, at the start of a line or after a container
# prefix (group 1 ends it): what is left of the timestamp (any proper tail of `YYYY/MM/DD HH:MM:SS`, followed
# by a space) or `nginx: `, then a level by name (not `[]`, nor a word that is no level: those lines continue an
# entry), pid and connection as in _PREFIX. Every part is a bounded or single-class run, anchored: linear time.
_TAIL = (
    rb"(?:\d{0,3}/\d\d/\d\d \d\d:\d\d:\d\d|\d{0,2}/\d\d \d\d:\d\d:\d\d|\d{0,2} \d\d:\d\d:\d\d|\d{0,2}:\d\d:\d\d"
    rb"|\d{0,2}:\d\d|\d{1,2}) "
)
_DESKTOP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")  # Docker Desktop's prefix (see CONTAINER_PREFIX)
_CUT = re.compile(
    rb"(" + CONTAINER_PREFIX + rb"?)(?:nginx: |" + _TAIL + rb")?"
    rb"\[(emerg|alert|crit|error|warn|notice|info|debug|verbose)\] (?:(\d+)#\d+: )?(?:\*(\d+) )?"
)
# The lines worth reading (see LineParser.scanner). A debug/info/notice entry is read only if it may belong to
# a box: a row or border (its pid in group 1 or 3, the message in 2 or 4), a box header, or at notice level
# any `[kong] ` line (0.14 – 2.6 inspect). Plain entries, the bulk of a debug log, are passed over in C.
# Below warn, nginx writes the failures that are the client's own (kong-log-formats §6): they are events too,
# as their cause is what explains a 499 or a 400. (tailer.parse.causes names them; this finds them in bytes.)
# Each is known by how its message starts (nginx 1.22, ngx_http_request.c and ngx_http_upstream.c), so that the
# scanner tests a few bytes per debug line, not the whole line.
_CLIENT_FAILURE = rb"client (?:sent |prematurely closed connection)|\w+\(\) reported that client prematurely closed "
_CLIENT_FAILURE_RE = re.compile(_CLIENT_FAILURE)
_SCAN = re.compile(
    rb"\n(?:" + _TS + rb" \[(?:"
    rb"(?:debug|info)\] (\d+)#\d+: (?:\*\d+ )?+(?:([|+][^\n]*)|\[kong\] [^\n]*\+(?=\n|\Z)|(?:"
    + _CLIENT_FAILURE
    + rb")[^\n]*)"
    rb"|notice\] (\d+)#\d+: (?:\*\d+ )?+(?:([|+][^\n]*)|\[kong\] [^\n]*|(?:" + _CLIENT_FAILURE + rb")[^\n]*)"
    rb"|(?!debug\]|info\]|notice\])[^\n]*)"
    rb"|(?!" + _TS + rb" \[)[^\n]*)"
)  # `?+` (possessive): backing out of "*conn " must not let `[^\n]*` take the line anyway
# Lower is more severe. "" is ngx.STDERR; "verbose" comes from the Kong CLI.
_LEVELS = {
    b"": 0,
    b"emerg": 1,
    b"alert": 2,
    b"crit": 3,
    b"error": 4,
    b"warn": 5,
    b"notice": 6,
    b"info": 7,
    b"debug": 8,
    b"verbose": 8,
}
_WARN, _NOTICE, _INFO = 5, 6, 7
MAX_ENTRY = 4096  # OpenResty's NGX_MAX_ERROR_STR: a longer entry is cut to 4095 bytes + "\n"

# The context suffix, read from where it starts (see split_suffix) to the end of the entry.
_SUFFIX = re.compile(
    r"(?:, context: (?P<context>ngx\.timer|[a-z_]+_by_lua\*))?"
    r"(?:, client: (?P<client>[^,\s]*), server: (?P<server>[^,\"]*)"
    r'(?:, request: "(?P<request>.*?)")?(?:, subrequest: "(?P<subrequest>.*?)")?'
    r'(?:, upstream: "(?P<upstream>.*?)")?(?:, host: "(?P<host>.*?)")?'
    r'(?:, referrer: "(?P<referrer>.*?)")?)?'
    r'(?:, request_id: "(?P<request_id>[0-9a-f]{32})")?\Z',
    re.S,
)
# The same fields when nginx cut the entry: any of them may be missing or end early.
_SUFFIX_CUT = re.compile(
    r"(?:, context: (?P<context>ngx\.timer|[a-z_]+_by_lua\*))?"
    r"(?:, client: (?P<client>[^,\s]*)(?:, server: (?P<server>[^,\"]*))?"
    r'(?:, request: "(?P<request>[^"]*)"?)?(?:, subrequest: "[^"]*"?)?'
    r'(?:, upstream: "(?P<upstream>[^"]*)"?)?(?:, host: "(?P<host>[^"]*)"?)?'
    r'(?:, referrer: "[^"]*"?)?)?'
    r'(?:, request_id: "(?P<request_id>[0-9a-f]*)"?)?',
    re.S,
)
_SUFFIX_MARK = re.compile(r", (?:context|client|request_id): ")
_ENDS_WITH_SUFFIX = re.compile(
    rb', (?:server: [^,"]*|(?:request|subrequest|upstream|host|referrer): ".*"|request_id: "[0-9a-f]{32}"'
    rb"|context: (?:ngx\.timer|[a-z_]+_by_lua\*))\Z"
)
_ACTION = re.compile(r" while ([A-Za-z][A-Za-z ]*)\Z")
_LEVEL_NAMES = {b"": "stderr"}


@dataclass(slots=True)
class _Entry:
    """An entry being read: its first line and any continuation lines."""

    offset: int
    time: datetime | None  # None: the timestamp was cut or missing
    level: bytes
    pid: bytes | None
    conn: bytes | None
    parts: list[bytes]  # the message part of the first line, then the continuation lines
    lines: list[bytes] = field(default_factory=list)  # whole lines, for `raw`
    size: int = 0  # bytes nginx wrote for it, from the timestamp through the last newline
    inspect: bool = False  # looks like 0.14 – 2.6 unboxed inspect output: `[kong] file:func:line ...`


_SKIP = _Entry(0, datetime.min, b"", None, None, [])  # an entry we do not emit: swallow its continuations


class ErrorLogParser(LineParser):
    """Reads an nginx/Kong error log."""

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._times = ErrorLogTimes(ctx.zone)
        self._boxes = BoxAssembler(self)
        self._entry: _Entry | None = None  # the latest entry, open to continuation lines
        self._junk: list[tuple[int, bytes]] = []  # consecutive lines that are not log entries
        self._at = 0  # column where the timestamp starts (after a container prefix)

    def scanner(self) -> re.Pattern[bytes] | None:
        # Not with --all (every line is read), nor behind a container prefix (the scan expects column 0).
        return None if self.ctx.emit_all or self._at else _SCAN

    def scanned(self, m: re.Match[bytes], offset: int, out: list[Event]) -> None:
        # The fast path for rows and closing borders of open boxes; everything else through line(),
        # which must decide every line exactly as this path and the scanner do.
        pid, msg, notice_pid, notice_msg = m.groups()
        if msg is None:
            pid, msg = notice_pid, notice_msg
        if msg is not None:
            box = self._boxes.open.get(pid)
            if box is not None and box.takes_rows:
                line = m.group()[1:]
                if msg[:1] == b"|":
                    self.interrupt(out)
                    box.rows.append(msg)
                    box.lines.append(line)
                    return
                if border_width(msg) == box.width:
                    self.interrupt(out)
                    self._boxes.close(pid, box, line, offset, out)
                    return
        self.line(m.group()[1:], offset, out)

    def skipped(self, buf: bytes, start: int, end: int, offset: int, out: list[Event]) -> None:
        # Plain entries below warn: they end the entry before them and swallow continuation lines.
        self.interrupt(out)
        self._entry = _SKIP
        self.stats["entries_below_warn"] += buf.count(b"\n", start, end)

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        m = _PREFIX.match(line, self._at)
        cut = False
        if m is None:
            m = _CUT.match(line)  # before the search: a timestamp further on would be message text
            if m is not None:
                cut = True
                self._at = m.end(1)
            else:
                found = PREFIX_ANYWHERE.search(line)
                if found is None:
                    self._continuation(line, offset, out)
                    return
                self._at = found.start()
                m = _PREFIX.match(line, self._at)
                assert m is not None
        stamp, level, pid, conn = m.groups()
        self.interrupt(out)
        rank = _LEVELS.get(level)
        if rank is None:  # `[word]` that is no level: not an entry
            self._junk.append((offset, line))
            return
        # None for an impossible date (Feb 30): fine where no time is kept; and for a cut or missing timestamp
        time = None if cut else self._times.get(stamp)
        ms = m.end()
        boxes = self._boxes
        if pid is not None and rank > _WARN:
            c = line[ms : ms + 1]
            if (c == b"|" or c == b"+" or (c == b"[" and line[-1:] == b"+")) and boxes.feed(
                pid, line[ms:], line, offset, time, out
            ):
                return
        inspect = rank == _NOTICE and line.startswith(b"[kong] ", ms)
        if (
            rank > _WARN
            and not inspect
            and not self.ctx.emit_all
            and not (rank <= _INFO and _CLIENT_FAILURE_RE.match(line, ms))
        ):
            # what the scanner passes over
            self.stats["entries_below_warn"] += 1
            self._entry = _SKIP
            return
        if pid is not None and pid in boxes.open:
            boxes.other(pid, out)
        if time is None and not cut:
            self._junk.append((offset, line))
            return
        entry = _Entry(offset, time, level, pid, conn, [line[ms:]], [line], len(line) - self._at + 1, inspect)
        self._entry = entry
        if _ENDS_WITH_SUFFIX.search(line):
            self._close_entry(out)

    def _continuation(self, line: bytes, offset: int, out: list[Event]) -> None:
        entry = self._entry
        if entry is _SKIP:
            return
        if entry is not None:
            at = self._at
            part = line[at:] if at and _same_prefix(line[:at], entry.lines[0][:at]) else line
            if entry.size + len(part) + 1 <= MAX_ENTRY:
                entry.parts.append(part)
                entry.lines.append(line)
                entry.size += len(part) + 1
                if _ENDS_WITH_SUFFIX.search(line):
                    self._close_entry(out)
                return
            self._close_entry(out)
        if line or self._junk:
            self._junk.append((offset, line))

    def interrupt(self, out: list[Event]) -> None:
        """A line that continues nothing: close the entry and the junk before it."""
        if self._entry is not None:
            self._close_entry(out)
        if self._junk:
            self._close_junk(out)

    def finish(self) -> list[Event]:
        out: list[Event] = []
        self.interrupt(out)
        self._boxes.finish(out)
        return out

    def pending(self) -> list[int]:
        starts = self._boxes.pending()
        if self._entry is not None and self._entry is not _SKIP:
            starts.append(self._entry.offset)
        if self._junk:
            starts.append(self._junk[0][0])
        return starts

    def _close_junk(self, out: list[Event]) -> None:
        lines = self._junk
        while lines and not lines[-1][1]:
            lines.pop()  # trailing blank lines are not worth a report
        if lines:
            what = (
                "line is not an nginx error-log entry"
                if len(lines) == 1
                else (f"{len(lines)} lines are not nginx error-log entries")
            )
            out.append(
                self.parse_error(
                    b"\n".join(raw for _, raw in lines),
                    lines[0][0],
                    None,
                    f"{what} (no valid 'YYYY/MM/DD HH:MM:SS [level]' prefix, and no entry to continue)",
                )
            )
        self._junk = []

    def _close_entry(self, out: list[Event]) -> None:
        entry = self._entry
        self._entry = None
        if entry is None or entry is _SKIP:
            return
        message = text(b"\n".join(entry.parts))
        raw = text(b"\n".join(entry.lines))
        if entry.inspect:
            event: Event | None = self._inspect_entry(entry, message, raw)
            if event is None and not self.ctx.emit_all:
                self.stats["entries_below_warn"] += 1
                return
        else:
            event = None
        out.append(event if event is not None else self._error(entry, message, raw))
        if entry.time is None:
            self.stats["entries_without_time"] += 1  # its prefix was cut or missing

    def _inspect_entry(self, entry: _Entry, message: str, raw: str) -> Event | None:
        """A 0.14 – 2.6 unboxed `[kong] file:func:line <values>` entry, or None if it is a plain notice."""
        read = read_legacy_text(split_suffix(message, False)[0])
        if isinstance(read, str):
            return None
        loc, values = read
        return inspect_event(loc, values, self.ctx, entry.time, entry.offset, raw, _int(entry.pid))

    def _error(self, entry: _Entry, message: str, raw: str) -> Error:
        truncated = entry.size >= MAX_ENTRY
        message, fields = split_suffix(message, truncated)
        action = None
        a = _ACTION.search(message, max(0, len(message) - 80))
        if a is not None:
            action = a.group(1)
            message = message[: a.start()]
        cause = classify(message, action)
        ctx = self.ctx
        return Error(
            entry.time,
            ctx.host,
            ctx.file,
            entry.offset,
            raw,
            level=_LEVEL_NAMES.get(entry.level) or entry.level.decode(),
            pid=_int(entry.pid),
            conn=_int(entry.conn),
            message=message,
            cause=cause.name,
            status=cause.status,
            action=action,
            context=fields.get("context"),
            client=fields.get("client"),
            server=fields.get("server"),
            request=fields.get("request"),
            upstream=fields.get("upstream"),
            http_host=fields.get("host"),
            request_id=fields.get("request_id") or None,
            truncated=truncated,
        )


def _same_prefix(a: bytes, b: bytes) -> bool:
    """The container prefixes of a continuation line and of its entry's first line are one stream's: the same,
    or both Docker Desktop's (whose time may tick between the lines of one entry)."""
    return a == b or (_DESKTOP.fullmatch(a) is not None and _DESKTOP.fullmatch(b) is not None)


def entry_start(line: bytes) -> bool:
    """`line` starts an error-log entry: a whole prefix anywhere in it (a container prefix before), or a cut or
    missing timestamp, or nginx's stderr form, at its start. (`detect_format` and MixedParser route by this.)"""
    return PREFIX_ANYWHERE.search(line) is not None or _CUT.match(line) is not None


def split_suffix(message: str, truncated: bool) -> tuple[str, dict[str, str | None]]:
    """(message, suffix fields). The leftmost suffix that reads to the end wins: the message is Kong's,
    while the request line, Host and Referer after it are the client's and may hold a fake `, client: `."""
    for mark in _SUFFIX_MARK.finditer(message):
        m = _SUFFIX.match(message, mark.start())
        if m is None and truncated:
            m = _SUFFIX_CUT.match(message, mark.start())
        if m is not None:
            return message[: mark.start()], m.groupdict()
    return message, {}


def _int(b: bytes | None) -> int | None:
    return int(b) if b is not None else None
