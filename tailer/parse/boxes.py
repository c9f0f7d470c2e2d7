"""`kong.log.inspect` boxes: rows written one nginx log call each, reassembled per worker.

This file owns the box state machine. Per worker pid at most one box is open; rows of other workers may
interleave. The layouts (see kong-log-formats §2.2):

    0.14 – 1.0.0   no box: one multi-line `[kong] file:func:line <text>` entry (read by errorlog.py)
    1.0.1 – 2.6    border row, rows (the first starts `[kong] file:func:line `), border; nginx's context suffix
                   after every row; boxed only when the text has a newline or is wider than a row
    2.7 – 3.8      header row `[kong] file:func:line [ns]---+`, rows, footer; debug level, no suffix
    3.9 –          as 2.7, at notice level, without `*conn`

    state (per pid)        line from that pid             → action
    none                   header                         open a headed box
    none                   border                         open a bordered box, waiting for its first row
    none                   row, right after a 1.0.1 box   the border that closed it opened this one (the
                           closed by a border, "|[kong] "   footer before was lost): reopen from that border
    none                   row                            start an orphan run (rows whose start we missed)
    headed / bordered      row                            add it (rows are measured when the box closes)
    headed                 footer                         close → event
    bordered (with rows)   border                         close → event
    bordered (no rows)     row starting "|[kong] "        add it
    any open               header, or an entry at warn+   close as ParseError ("cut short"), then read the line
    orphan                 footer / border                close as ParseError (with the border)
    any open               end of input                   close as ParseError

Plain debug/info/notice entries do not cut a box: the error log's scanner passes over them in C. Widths come
from the border or header, so docs-style narrow boxes read like real 122-byte ones. Everything is bytes: Kong
pads and wraps by bytes, and a wrap may split a UTF-8 sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from tailer.events import Event, EventHook, Inspect
from tailer.parse.base import LineParser, ParseContext, text
from tailer.parse.luavalues import LuaSyntaxError, decode_values

# Header text, parsed from the right: the file may hold ":" (`content_by_lua(nginx.conf:12)`).
HEADER_RE = re.compile(rb"\[kong\] (?P<file>.+):(?P<func>[^:]*):(?P<line>\d+|\?) \[(?P<ns>[^\]]*)\]-*\+\Z")
# The start of a 0.14 – 2.6 text: `[kong] file:func:line ` then the message.
LEGACY_HEAD_RE = re.compile(r"\[kong\] (?P<file>\S.*?):(?P<func>[^:\s]*):(?P<line>\d+|\?) ")

HEADED, BORDERED, ORPHAN = "headed", "bordered", "orphan"
# The Event Hooks `log` handler's label → the order of its table (before 2020-04 the label was "slack event data").
_HOOK_LAYOUTS = {
    "log callback: ": ("event", "source", "data", "pid"),
    "slack event data: ": ("data", "event", "source", "pid"),
}


@dataclass(slots=True)
class Box:
    """One box being read."""

    state: str
    offset: int  # of its first line
    time: datetime | None
    width: int | None  # content bytes per row, from the border or header; None until known
    header: bytes | None = None  # a headed box's header message, "[kong] file:func:line [ns]---+"
    rows: list[bytes] = field(default_factory=list)  # the message part of each row line: "|...|[suffix]"
    lines: list[bytes] = field(default_factory=list)  # the whole log lines, for `raw`
    takes_rows: bool = False  # a plain row of its worker belongs here (error log's fast path)


class BoxAssembler:
    """Open boxes by worker pid; fed the box-shaped lines of an error log by its parser."""

    def __init__(self, parser: LineParser) -> None:
        self.parser = parser  # for the context, counters and ParseError
        self.open: dict[bytes, Box] = {}
        # The border that just closed a 1.0.1 box, per pid: if a "|[kong] " row follows, that border opened
        # a new box and the footer of the one before was lost (its rows were complete, so it decoded).
        self._last_border: dict[bytes, Box] = {}

    def feed(self, pid: bytes, msg: bytes, line: bytes, offset: int, time: datetime | None, out: list[Event]) -> bool:
        """Take a line whose message `msg` may be part of a box; False if it is not (then call `other`)."""
        box = self.open.get(pid)
        last_border = self._last_border.pop(pid, None) if self._last_border else None
        c = msg[:1]
        if c == b"|":
            if box is None and last_border is not None and msg.startswith(b"|[kong] "):
                box = self.open[pid] = last_border
                box.time = time  # the row's: written in the same instant as its border
            if box is not None and box.state == BORDERED and not box.takes_rows:
                if msg.startswith(b"|[kong] "):
                    box.takes_rows = True
                else:
                    self._fail(pid, out, "border row not followed by a '[kong]' row")
                    box = None
            if box is None:
                box = self.open[pid] = Box(ORPHAN, offset, time, None)
            box.rows.append(msg)
            box.lines.append(line)
            return True
        if c == b"+":
            width = border_width(msg)
            if width is None:
                return False
            if box is None or (box.state == BORDERED and not box.rows):
                if box is not None:
                    self._fail(pid, out, "border row not followed by a '[kong]' row")
                self.open[pid] = Box(BORDERED, offset, time, width, lines=[line])
                return True
            if box.state == ORPHAN:
                box.lines.append(line)
                self._fail(pid, out, "")
            elif box.width is not None and width != box.width:
                box.lines.append(line)
                self._fail(pid, out, f"closing border is {width} wide, the box {box.width}")
            else:
                self.close(pid, box, line, offset, out)
            return True
        if c == b"[" and msg[-1:] == b"+":
            header = HEADER_RE.match(msg)
            if header is None:
                return False
            if box is not None:
                self._fail(pid, out, "box cut short by the next box of the same worker")
            dashes = len(msg) - header.start("ns") - len(header["ns"]) - 2
            self.open[pid] = Box(
                HEADED, offset, time, len(msg) - 2 if dashes else None, msg, lines=[line], takes_rows=True
            )
            return True
        return False

    def close(self, pid: bytes, box: Box, line: bytes, offset: int, out: list[Event]) -> None:
        """`line`, at `offset`, is the closing border or footer of the worker's open `box`: emit its event."""
        box.lines.append(line)
        del self.open[pid]
        out.append(self._event(pid, box))
        if box.state == BORDERED:
            self._last_border[pid] = Box(BORDERED, offset, None, box.width, lines=[line])

    def other(self, pid: bytes, out: list[Event]) -> None:
        """Worker `pid` logged something that is not part of its open box: the box was cut short."""
        self._last_border.pop(pid, None)
        if pid in self.open:
            self._fail(pid, out, "box cut short by another line of the same worker")

    def finish(self, out: list[Event]) -> None:
        """End of input: every box still open is incomplete."""
        for pid in list(self.open):
            self._fail(pid, out, "box not closed before the end of the input")

    def pending(self) -> list[int]:
        """Where the open boxes start (and a 1.0.1 border that may open the next box of its worker)."""
        return [box.offset for box in self.open.values()] + [box.offset for box in self._last_border.values()]

    def _fail(self, pid: bytes, out: list[Event], reason: str) -> None:
        box = self.open.pop(pid)
        if box.state == ORPHAN:
            reason = "rows without the start of their box (the input began mid-box?)"
        raw = b"\n".join(box.lines)
        out.append(self.parser.parse_error(raw, box.offset, box.time, f"inspect box of pid {pid.decode()}: {reason}"))

    def _event(self, pid: bytes, box: Box) -> Event:
        ctx = self.parser.ctx
        raw = b"\n".join(box.lines)
        read = box_values(box)
        if isinstance(read, str):
            return self.parser.parse_error(raw, box.offset, box.time, f"inspect box of pid {pid.decode()}: {read}")
        loc, values = read
        return inspect_event(loc, values, ctx, box.time, box.offset, text(raw), int(pid))


def border_width(msg: bytes) -> int | None:
    """`+-----+` (then maybe a suffix) → the number of dashes; None if `msg` is not a border."""
    end = msg.find(b"+", 1)
    if end < 2 or msg.count(b"-", 1, end) != end - 1:
        return None
    return end - 1


def row_content(msg: bytes, width: int | None) -> bytes | None:
    """`|<content>|` (then maybe nginx's suffix) → the content; None if `msg` is not a row.

    Kong's rows are exactly `width` bytes; a hand-edited box (Kong's docs) may have wider or narrower rows,
    whose end is then the `|` at the end of the line or just before nginx's context suffix."""
    if width is not None and msg[width + 1 : width + 2] == b"|":
        return msg[1 : width + 1]
    if msg[-1:] == b"|" and len(msg) > 1:
        return msg[1:-1]
    end = _ROW_END_BEFORE_SUFFIX.search(msg)
    return msg[1 : end.start()] if end else None


_ROW_END_BEFORE_SUFFIX = re.compile(rb"\|(?=, (?:context|client): | while )")


def row_contents(box: Box) -> list[bytes] | None:
    """The content of every row of a box, or None if a row has no closing `|`."""
    rows = box.rows
    if box.state == HEADED:  # 2.7+: rows are exactly "|...|", so the joins and splits can be done in C
        joined = b"\n".join(rows)
        contents = joined[1:-1].split(b"|\n|")
        if len(contents) == len(rows) and joined[:1] == b"|" and joined[-1:] == b"|":
            return contents
    contents = []
    for msg in rows:
        content = row_content(msg, box.width)
        if content is None:
            return None
        contents.append(content)
    return contents


def rebuild(rows: list[bytes], width: int) -> bytes:
    """Row contents → the text Kong boxed: unpad, join wrapped rows, drop the blank row after a full line.

    A row wider than `width` was not written by Kong's algorithm (hand-edited docs): it is a whole line."""
    stripped = list(map(bytes.rstrip, rows))
    if max(map(len, stripped)) < width:
        return b"\n".join(stripped)  # no row is full: nothing was wrapped (the usual case, done in C)
    lines: list[bytes] = []
    cur = b""
    i = 0
    n = len(rows)
    while i < n:
        row = rows[i].rstrip(b" ")
        if len(row) == width:  # a full row: wrapped, or a line of exactly `width` bytes
            cur += row
            if i + 1 < n and not rows[i + 1].strip(b" "):
                lines.append(cur)  # the spurious blank row ends that line
                cur = b""
                i += 2
            else:
                i += 1
            continue
        lines.append(cur + row)
        cur = b""
        i += 1
    if cur:
        lines.append(cur)
    return b"\n".join(lines)


@dataclass(frozen=True, slots=True)
class Located:
    """What the box says about where it was printed."""

    file: str
    function: str | None
    line: int | None
    namespace: str | None


def box_values(box: Box) -> tuple[Located, list[object]] | str:
    """The location and decoded arguments of a closed box, or the reason they cannot be read."""
    contents = row_contents(box)
    if contents is None:
        return "a row does not end with '|'"
    if not contents:
        return "box has no rows"
    body = rebuild(contents, box.width or len(contents[0])).decode("utf-8", "replace")
    if box.header is None:
        return read_legacy_text(body)
    try:
        return _header_location(box.header), decode_values(body)
    except LuaSyntaxError as exc:
        return f"box text is not inspect output: {exc}"


def read_legacy_text(text: str) -> tuple[Located, list[object]] | str:
    """0.14 – 2.6 inspect text, boxed or not: `[kong] file:func:line <values>` → location and values, or why not."""
    m = LEGACY_HEAD_RE.match(text)
    if m is None:
        return "text does not start with '[kong] file:function:line'"
    try:
        return Located(m["file"], _opt(m["func"]), _int(m["line"]), None), decode_values(text[m.end() :])
    except LuaSyntaxError as exc:
        return f"text is not inspect output: {exc}"


def inspect_event(
    loc: Located,
    values: list[object],
    ctx: ParseContext,
    time: datetime | None,
    offset: int,
    raw: str,
    worker: int | None,
) -> Event:
    """An `event_hook` when the values are the Event Hooks `log` handler's, else an `inspect` event."""
    if len(values) == 2 and isinstance(values[0], str) and values[0] in _HOOK_LAYOUTS:
        hook = values[1]
        if isinstance(hook, list) and len(hook) == 4:
            f = dict(zip(_HOOK_LAYOUTS[values[0]], hook, strict=True))
            event, source, data, pid = f["event"], f["source"], f["data"], f["pid"]
            if isinstance(event, str) and isinstance(source, str) and isinstance(data, dict):
                return EventHook(
                    time,
                    ctx.host,
                    ctx.file,
                    offset,
                    raw,
                    source,
                    event,
                    data,
                    pid if isinstance(pid, int) else None,
                    worker,
                )
    return Inspect(
        time, ctx.host, ctx.file, offset, raw, loc.file, loc.function, loc.line, loc.namespace, list(values), worker
    )


@lru_cache(maxsize=256)
def _header_location(header: bytes) -> Located:
    """A 2.7+ header row's location (the same few headers come back box after box)."""
    h = HEADER_RE.match(header)
    assert h is not None
    return Located(text(h["file"]), _opt(text(h["func"])), _int(text(h["line"])), text(h["ns"]))


def _opt(func: str) -> str | None:
    return None if func in ("?", "") else func


def _int(line: str) -> int | None:
    return int(line) if line.isdigit() else None
