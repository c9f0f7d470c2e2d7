"""Bytes → chunks of complete lines, for both drivers.

A `LineBuffer` is pushed whatever a read returned and hands back `Chunk`s that hold only complete lines, each with
the byte offset of its first byte. A partial last line waits for its newline. A line longer than `max_line` bytes
is not buffered whole: its first `KEEP_OF_CUT_LINE` bytes are kept and the rest skipped up to the next newline,
then it comes out alone as a chunk with `cut` set to its full length, so memory stays bounded on a 10 MB line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_MAX_LINE = 256 * 1024
KEEP_OF_CUT_LINE = 1024
ORIGIN_BYTES = 1024


def origin(head: bytes) -> str | None:
    """Which file (generation of a log) starts with `head`, its first bytes: a hash of its first line, or of
    its first ORIGIN_BYTES bytes if that line is longer; None while neither is complete. A log only grows,
    so this never changes; a file rotated, truncated and refilled, or replaced, starts with another line."""
    head = head[:ORIGIN_BYTES]
    nl = head.find(b"\n")
    if nl >= 0:
        head = head[: nl + 1]
    elif len(head) < ORIGIN_BYTES:
        return None
    return hashlib.sha256(head).hexdigest()[:16]


def generation_key(origin: str, taken: set[str]) -> str:
    """The key of a new generation whose first line is `origin`: the origin itself, or `<origin>.<n>` when
    generations of the same source that start alike (a health-check line, Kong's start-up lines) are already
    known by the keys `taken`. A generation keeps its key for good: alert keys are made of it."""
    key, n = origin, 1
    while key in taken:
        n += 1
        key = f"{origin}.{n}"
    return key


def origin_of_key(key: str) -> str:
    """The origin (first-line hash) in a generation key."""
    return key.partition(".")[0]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Complete lines read from one stream, starting at byte `offset` of it."""

    offset: int
    data: bytes  # whole lines, each ending in b"\n"; only a chunk from finish() may lack the last one
    cut: int = 0  # > 0: `data` is the head of a single line of `cut` bytes that was longer than the cap


class LineBuffer:
    """Splits a byte stream into chunks of complete lines and caps line length."""

    def __init__(self, offset: int = 0, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 2:
            raise ValueError("max_line must be at least 2 bytes")
        self.max_line = max_line
        self._offset = offset  # stream offset of self._tail[0] (or of the cut line being skipped)
        self._tail = b""
        self._cut_head: bytes | None = None  # set while skipping the rest of an over-long line
        self._cut_len = 0

    @property
    def pending(self) -> int:
        """Bytes received but not yet handed out (a partial line, or an over-long one being skipped)."""
        return self._cut_len if self._cut_head is not None else len(self._tail)

    def push(self, data: bytes) -> list[Chunk]:
        """Take the next bytes of the stream; return the chunks of lines they complete."""
        out: list[Chunk] = []
        if self._cut_head is not None:
            nl = data.find(b"\n")
            room = KEEP_OF_CUT_LINE - len(self._cut_head)
            if room > 0:  # the kept head is the line's first bytes, however the reads cut them
                self._cut_head += data[: min(room, len(data) if nl < 0 else nl)]
            if nl < 0:
                self._cut_len += len(data)
                return out
            self._cut_len += nl + 1
            out.append(Chunk(self._offset, self._cut_head + b"\n", self._cut_len))
            self._offset += self._cut_len
            self._cut_head = None
            data = data[nl + 1 :]
        buf = self._tail + data if self._tail else data
        last_nl = buf.rfind(b"\n")
        complete, self._tail = buf[: last_nl + 1], buf[last_nl + 1 :]
        if complete:
            self._split_long(complete, out)
        if len(self._tail) > self.max_line:
            self._cut_head, self._cut_len = self._tail[:KEEP_OF_CUT_LINE], len(self._tail)
            self._tail = b""
        return out

    def finish(self) -> list[Chunk]:
        """End of input: hand out the last line even without its newline."""
        out: list[Chunk] = []
        if self._cut_head is not None:
            out.append(Chunk(self._offset, self._cut_head, self._cut_len))
            self._offset += self._cut_len
            self._cut_head, self._cut_len = None, 0
        elif self._tail:
            out.append(Chunk(self._offset, self._tail))
            self._offset += len(self._tail)
            self._tail = b""
        return out

    def _split_long(self, buf: bytes, out: list[Chunk]) -> None:
        """Append `buf` (complete lines) to `out`, with every line over the cap in a chunk of its own."""
        # Cheap test first: if every aligned window of half the cap holds a newline, no gap between
        # newlines can reach the cap, and the whole buffer goes out as one chunk.
        half = self.max_line // 2
        start = 0
        pos = 0
        while pos < len(buf):
            if buf.find(b"\n", pos, pos + half) >= 0:
                pos += half
                continue
            line_start = buf.rfind(b"\n", 0, pos) + 1
            line_end = buf.find(b"\n", pos) + 1  # buf ends in a newline, so this is found
            length = line_end - line_start
            if length > self.max_line:
                if line_start > start:
                    out.append(Chunk(self._offset + start, buf[start:line_start]))
                head = buf[line_start : min(line_start + KEEP_OF_CUT_LINE, line_end - 1)] + b"\n"
                out.append(Chunk(self._offset + line_start, head, length))
                start = line_end
            pos = line_end
        if start < len(buf):
            out.append(Chunk(self._offset + start, buf[start:]))
        self._offset += len(buf)
