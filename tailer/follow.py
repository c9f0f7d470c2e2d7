"""Following log files while they are written, rotated, truncated and replaced; the daemon's source of lines.

A followed path (a *source*) is written by a series of files over time, its *generations*. A generation is
known by its first line (`lines.origin`), never by its name or inode: rotation renames files and ext4 reuses
inodes at once. Each generation is read by a `Tail`, from a position the state database kept, into chunks of
complete lines, which its `tailer.reader.Reader` turns into events (format, parser, what a restart skips).

`Follower.reconcile()` is the only way anything is noticed; file-system events merely make it run sooner:

    the path names another file       the old generation is drained (read until it has been quiet for
                                      `rotate_wait` s: nginx writes into a renamed file until it reopens),
                                      the new one is read from its start
    the path is gone                  the same; a file appearing there later is read from its start
    the file shrank, or now starts    copytruncate: the old generation's rest is read from the copy beside
    with another line                 it (the file whose first line is the same), then the new one from 0
    a line over `max_line` bytes      its head is kept, the rest skipped; a parse error says so

Only complete lines are read; a partial last line waits. A multi-line record (an inspect box, a traceback)
still open when a batch is committed is read again after a restart: the position keeps where the open
records start (`offset`) as well as how far events went out (`emitted`), and the reader drops events re-read
from before `emitted`, but for those open records. A generation read from after its start (resumed, or
followed from its end) has its first lines sampled too: its format is decided as if it were read whole.

At startup (`attach`) each source's unfinished generations are looked for among the path and its rotated
siblings (`error.log.1`, `error.log-20250115`, ...) by first line, and resumed where they stopped; siblings
written since are read from their start. A generation that cannot be found is reported with what was lost.

A followed path that names no file (`unmatched`: no such directory, no permission on one, a directory given
for a file) is said, with why (`why_unmatched`), and still followed: a file that appears there is read from
its start.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import logging
import os
import pwd
import stat
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

from tailer.events import Event
from tailer.lines import ORIGIN_BYTES, Chunk, LineBuffer, generation_key, origin, origin_of_key
from tailer.reader import Reader, ReadOptions
from tailer.state import Position

log = logging.getLogger("tailer.follow")

READ_SIZE = 256 * 1024
MARK_BYTES = 32
HEAD_BYTES = 64 * 1024  # the first bytes of a generation whose hash is saved with its position
MTIME_SLACK = 1.0  # seconds
COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4", ".z", ".zip")


class History(Protocol):
    """What was saved of the sources (the state database)."""

    def known(self, source: str) -> set[str]:
        """The origins of every generation of `source` ever read."""
        ...

    def generations(self, source: str) -> list[Position]:
        """Every generation of `source` saved, finished or not, oldest first."""
        ...

    def last_seen(self, source: str) -> float | None:
        """Wall-clock time of the last save that covered `source`; None if it never was."""
        ...


@dataclass
class Settings:
    start_at_end: bool = True  # on the very first start, skip what the files already hold
    rotate_wait: float = 60.0  # seconds a renamed or deleted generation must stay still before it is closed
    quiet: float = 2.0  # seconds without growth after which open multi-line records are flushed
    report_every: float = 60.0  # seconds between two reports of the same unreadable file


@dataclass
class Tail:
    """One generation being read."""

    source: str
    path: str  # where it was opened
    fd: int
    ino: tuple[int, int]
    pos: int  # next byte to read
    lines: LineBuffer
    reader: Reader  # fed `lines`' chunks
    origin: str | None = None
    key: str | None = None  # the generation's key (`lines.generation_key`), given once its origin is known
    rotated_at: float | None = None  # monotonic: when the path stopped naming it
    grew_at: float = field(default_factory=time.monotonic)
    flushed: bool = True  # nothing open since the last quiet flush
    finished: bool = False
    copy: bool = False  # reading the rest of a truncated generation from its copy
    mark: tuple[int, str] = (0, "")  # (emitted, marker) as last saved
    opened: float = field(default_factory=time.time)  # wall clock
    real: str = ""  # the file's own path when opened (symlinks resolved): where it is looked for at a restart
    # While the origin is not known: the bytes read (from 0, the start of a first line not yet complete).
    _head: bytes = b""
    # The bytes just before `_before_end`, as they were read (the marker is made from them, not from the
    # file as it is when saved: it may have been truncated since).
    _before: bytes | None = None
    _before_end: int = -1

    @property
    def emitted(self) -> int:
        """How far events went out (`Reader.emitted`)."""
        return self.reader.emitted()

    def read(self, limit: int) -> tuple[list[Event], int]:
        """Events from up to `limit` new bytes; and the number of bytes read."""
        out: list[Event] = []
        total = 0
        while total < limit:
            data = os.pread(self.fd, min(READ_SIZE, limit - total), self.pos)
            if not data:
                break
            self.pos += len(data)
            total += len(data)
            if self.origin is None:
                self._head = (self._head + data)[:ORIGIN_BYTES]
                self.origin = origin(os.pread(self.fd, ORIGIN_BYTES, 0))
            for chunk in self.lines.push(data):
                self._note(chunk)
                out.extend(self.reader.feed(chunk))
        if total:
            self.grew_at = time.monotonic()
            self.flushed = False
        return out, total

    @property
    def requests(self) -> bool:
        """It holds request lines: its format is decided, and is not the error log's."""
        return self.reader.fmt not in (None, "error")

    def starts_as(self, head: bytes) -> bool:
        """`head`, the file's first bytes now, are still those this generation started with: the same first
        line (or, while its first line is not read whole, the same bytes as read)."""
        if self.origin is not None:
            return origin(head) == self.origin
        return head.startswith(self._head)

    def _note(self, chunk: Chunk) -> None:
        """Keep the last MARK_BYTES bytes read before the end of `chunk`, when they are known exactly."""
        if chunk.cut:  # its data is a head, not the file's bytes
            self._before = None
            self._before_end = chunk.offset + chunk.cut
            return
        prev = self._before if self._before_end == chunk.offset else None
        if prev is not None or chunk.offset == 0 or len(chunk.data) >= MARK_BYTES:
            self._before = ((prev or b"") + chunk.data)[-MARK_BYTES:]
        else:
            self._before = None
        self._before_end = chunk.offset + len(chunk.data)

    def flush(self, partial: bool) -> list[Event]:
        """The records still open (after a quiet spell), and with `partial` the last line without its
        newline (the generation is being closed)."""
        if partial:
            out = [e for chunk in self.lines.finish() for e in self.reader.feed(chunk)]
            out.extend(self.reader.finish())
        else:
            out = self.reader.flush()
        self.flushed = True
        return out

    def position(self) -> Position:
        """Where to resume. A file without a first line yet has the origin "": nothing in it to resume, but
        its source was seen then (files rotated while we were stopped are those written since)."""
        emitted = self.emitted
        starts = self.reader.pending()
        offset, line = self.reader.resume()
        if self._before is not None and self._before_end == emitted:
            marker = _hash(self._before)
        elif emitted == self.mark[0]:
            marker = self.mark[1]
        else:  # not known from the reads (a cut line, a NUL hole skipped): the file as it is now
            marker = _marker(self.fd, emitted)
        self.mark = (emitted, marker)
        # Through a symlink, the file itself: the link may name another file when it is looked for again.
        path = self.real if self.real and self.real != os.path.abspath(self.path) else self.path
        head = _head(self.fd, emitted)
        key = self.key or ""
        return Position(self.source, key, path, offset, emitted, starts, marker, self.finished, line, self.ino, head)

    def rewritten(self) -> bool:
        """The bytes before the last saved position are no longer those that were read there."""
        emitted, marker = self.mark
        return emitted > 0 and _marker(self.fd, emitted) != marker

    def close(self) -> None:
        os.close(self.fd)

    def sample_head(self) -> None:
        """Reading starts after the file's start: its first lines still decide the format (when "auto"), as
        they would reading the file whole (`Reader.sample`)."""
        if self.reader.fmt is None and self.pos > 0:
            self.reader.sample(_chunks(self.fd, self.pos, self.lines.max_line))


class Follower:
    """Every followed source and the generations being read. Owned by one thread."""

    def __init__(
        self, patterns: list[str], opts: ReadOptions, history: History, settings: Settings | None = None
    ) -> None:
        self.patterns = patterns
        self.opts = opts
        self.history = history
        self.settings = settings or Settings()
        self.tails: list[Tail] = []
        self.done: list[Position] = []  # generations finished and not yet saved as such
        self.known_sources: set[str] = set()
        self._reported: dict[str, float] = {}
        self._looked: dict[str, float] = {}  # source → wall-clock time of its last look
        # per source, for metrics and self-checks: when bytes were last read (wall clock; the attach time
        # until then), and how many bytes and lines were read
        self.read_at: dict[str, float] = {}
        self.caught_up_at: dict[str, float] = {}  # when the file the path names was last read to its end
        # For the stall self-check, clock-free: the path's file as it was when something was last read from it
        # (or it was found read to its end), and since when (monotonic) it has differed with nothing read.
        self._read_as: dict[str, tuple[int, int, int, int] | None] = {}
        self._changed_at: dict[str, float] = {}
        self.started = time.time()
        self.bytes_read: Counter[str] = Counter()
        self.lines_read: Counter[str] = Counter()
        self.unmatched_since: dict[str, float] = {}  # pattern → since when (monotonic) it has named no file

    # -- which files

    def sources(self) -> list[str]:
        """The followed paths: each literal path (present or not; not a directory) and each current match of a
        glob."""
        out: list[str] = []
        for pattern in self.patterns:
            if glob.has_magic(pattern):
                out.extend(p for p in sorted(glob.glob(pattern)) if os.path.isfile(p))
            elif not os.path.isdir(pattern):  # a directory is no log: `unmatched` says so
                out.append(pattern)
        return list(dict.fromkeys(out))

    def unmatched(self, now: float) -> dict[str, tuple[str, float]]:
        """Per followed path (or glob) that names no file now: why (`why_unmatched`), and for how many seconds
        (`now`: time.monotonic()) it has named none, since it was first found so."""
        out = {}
        for pattern in dict.fromkeys(self.patterns):
            reason = why_unmatched(pattern)
            if reason is None:
                self.unmatched_since.pop(pattern, None)
            else:
                out[pattern] = (reason, now - self.unmatched_since.setdefault(pattern, now))
        return out

    def directories(self) -> set[str]:
        """The directories to watch for changes (a glob's or a path's, symlinks resolved)."""
        dirs = {os.path.dirname(os.path.abspath(p)) for p in self.patterns if not glob.has_magic(os.path.dirname(p))}
        dirs |= {os.path.dirname(os.path.realpath(p)) for p in self.sources() if os.path.exists(p)}
        return {d for d in dirs if os.path.isdir(d)}

    def active(self, source: str) -> Tail | None:
        for tail in self.tails:
            if tail.source == source and tail.rotated_at is None and not tail.finished:
                return tail
        return None

    # -- startup

    def attach(self, source: str, fresh: bool) -> None:
        """Start following `source`: resume its stored generations, read those written since, open the
        current one. `fresh`: the daemon's very first start (begin at the end, if so configured)."""
        rows = self.history.generations(source)
        try:
            paths = _candidates(source)
            known = {os.path.realpath(p) for p in paths}
            paths += [r.path for r in rows if not r.finished and os.path.realpath(r.path) not in known]  # symlinked
            files = [f for f in map(_look, dict.fromkeys(paths)) if f is not None]
        except _Unreadable as exc:  # resuming now could pass over a generation: retried
            self._report(exc.path, str(exc))
            return
        self.known_sources.add(source)
        self.read_at.setdefault(source, time.time())
        claims = _claim(rows, files)
        for row in rows:
            c = claims.get(row.key)
            if c is None:
                if not row.finished:
                    self._gone(row, files)
                continue
            if c.others:
                log.warning(
                    "%s: %s and %s start with the same bytes up to byte %d, where %s was read to: it cannot be "
                    "told which one it is now; resuming %s there, and reading %s from its start (some lines may "
                    "be alerted on twice, none is passed over)",
                    source,
                    c.path,
                    " and ".join(c.others),
                    row.emitted,
                    row.path,
                    c.path,
                    " and ".join(c.others),
                )
            if row.finished and c.path != source and c.size <= row.emitted:
                continue  # a rotated file read to its end (or passed over at the first start)
            self._adopt(self._resume(row, c.path), source)  # (a finished one written to since: the rest)
        claimed = {f.path for f in claims.values()}
        rest = [f for f in files[1:] if f.path not in claimed and f.origin is not None]
        seen = self.history.last_seen(source)
        if not rows or (seen is not None and all(r.ident is None for r in rows) and not fresh):
            # Never followed (or only by a version that did not keep file identities): its rotated files
            # predate kong-tailer, but, for the latter, those written since its last save (by their times).
            since = None if not rows else seen
            for f in rest:
                if since is not None and f.mtime >= since - MTIME_SLACK:
                    self._read_new(source, f, "while kong-tailer was stopped")
                else:
                    self.done.append(_passed_over(source, f, self._taken(source)))
        else:
            for f in sorted(rest, key=lambda f: f.mtime):  # rotated while we were stopped: read whole
                self._read_new(source, f, "while kong-tailer was stopped")
        if self.active(source) is None and os.path.exists(source):
            self._open_active(source, at_end=fresh and self.settings.start_at_end)
        self._looked[source] = time.time()

    def _gone(self, row: Position, files: list[_File]) -> None:
        """A stored generation found nowhere: said, with what was lost, and finished."""
        if row.key:
            rewritten = any(f.origin == origin_of_key(row.key) for f in files)
            what = "was rewritten" if rewritten else "is gone (or compressed)"
            log.warning(
                "%s: %s, read up to byte %d, %s: whatever was written to it after that was not read",
                row.source,
                row.path,
                row.emitted,
                what,
            )
        self.done.append(replace(row, finished=True))

    def _adopt(self, tail: Tail | None, source: str) -> None:
        """Follow a resumed generation: the active one if the path names its file, else a rotated one."""
        if tail is None:
            return
        if tail.path != source:
            tail.rotated_at = time.monotonic()
        self.tails.append(tail)

    def _read_new(self, source: str, f: _File, when: str) -> None:
        """Read a rotated file no generation known is in, from its start."""
        tail = self._open(source, f.path, 0)
        if tail is not None:
            tail.rotated_at = time.monotonic()
            log.info("%s: reading %s, rotated %s", source, f.path, when)
            self.tails.append(tail)
            self._keyed(tail)

    def _read_unknown(self, source: str, when: str) -> None:
        """Read from their start the rotated files of `source` that are no generation known (read, being
        read, or passed over at its first start): they were rotated since the last look."""
        held = {t.ino for t in self.tails}
        reading = {t.key for t in self.tails if t.source == source}  # in the files held: never in another
        rows = self.history.generations(source) + [p for p in self.done if p.source == source]
        rows = [r for r in rows if r.key not in reading]
        files = [f for f in map(_look_quietly, _candidates(source)[1:]) if f is not None and f.origin is not None]
        files = [f for f in files if f.ident not in held]
        claimed = {f.path for f in _claim(rows, files).values()}
        for f in sorted((f for f in files if f.path not in claimed), key=lambda f: f.mtime):
            self._read_new(source, f, when)

    def _taken(self, source: str) -> set[str]:
        """The keys of the generations of `source` known (saved, being read, finished and not yet saved)."""
        keys = self.history.known(source)
        keys.update(t.key for t in self.tails if t.source == source and t.key)
        keys.update(p.key for p in self.done if p.source == source)
        return keys

    def _keyed(self, tail: Tail) -> None:
        """Give a new generation its key once its first line is known."""
        if tail.key is None and tail.origin is not None:
            tail.key = generation_key(tail.origin, self._taken(tail.source))

    def _resume(self, p: Position, path: str) -> Tail | None:
        tail = self._open(p.source, path, p.offset)
        if tail is None:
            return None
        size = os.fstat(tail.fd).st_size
        changed = _marker(tail.fd, p.emitted) != p.marker or (p.head and _head(tail.fd, p.emitted) != p.head)
        if size < p.emitted or changed:  # changed since it was looked at
            tail.close()
            return None
        tail.origin, tail.key = origin_of_key(p.key), p.key
        tail.finished = False
        tail.mark = (p.emitted, p.marker)
        line = p.line or _line_at(tail.fd, p.offset)  # (saved by a version that kept no line numbers)
        tail.reader = Reader(self.opts, p.source, p.offset, p.emitted, p.open, line)
        tail.sample_head()
        if path != p.path:
            log.info("%s: resuming %s (was %s) at byte %d", p.source, path, p.path, p.offset)
        return tail

    def _open(self, source: str, path: str, pos: int) -> Tail | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            self._report(path, f"cannot read {path} ({errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror})")
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            self._report(
                path, f"{path} is not a regular file (a FIFO or /dev/stdout cannot be followed): log to a file"
            )
            return None
        self._reported.pop(path, None)
        return self._tail(source, path, fd, (st.st_dev, st.st_ino), pos)

    def _tail(self, source: str, path: str, fd: int, ino: tuple[int, int], pos: int) -> Tail:
        """A generation read from byte `pos` (a line's start; the reader of one read from after its start is
        replaced by the caller, who knows the line there)."""
        reader = Reader(self.opts, source, pos, start_line=1 if pos == 0 else 0)
        tail = Tail(source, path, fd, ino, pos, LineBuffer(pos, self.opts.max_line), reader)
        tail.real = os.path.realpath(path)
        return tail

    def _open_active(self, source: str, at_end: bool) -> None:
        tail = self._open(source, source, 0)
        if tail is None:
            return
        tail.origin = origin(os.pread(tail.fd, ORIGIN_BYTES, 0))
        self._keyed(tail)
        if at_end:  # from the end, but from the start of a last line not yet complete
            start = _last_line_start(tail.fd, os.fstat(tail.fd).st_size)
            tail.pos, tail.lines = start, LineBuffer(start, self.opts.max_line)
            line = _line_at(tail.fd, start)
            tail.reader = Reader(self.opts, source, start, start_line=line)
            tail.sample_head()
            log.info('%s: first start: following from line %d, byte %d (start_at = "end")', source, line, start)
        self.tails.append(tail)

    # -- while running

    def reconcile(self, limit: int, look: bool = True) -> list[tuple[Tail, list[Event]]]:
        """Notice what changed and read up to `limit` bytes per generation: events per tail. Without `look`
        the paths are not looked at (no glob, no stat: renames, new and deleted files wait for the next
        look); a file truncated or rewritten under its name is noticed either way."""
        now = time.monotonic()
        for tail in [t for t in self.tails if not t.copy]:  # first: a truncated file must not be read on
            self._check_content(tail)
        if look:
            current = self.sources()
            for source in current:
                if source not in self.known_sources:
                    self.attach(source, fresh=False)  # a file matched while running: read from its start
            # and the sources a glob no longer matches (deleted or renamed) while their file is still open
            held = {t.source for t in self.tails if t.rotated_at is None and not t.finished}
            for source in dict.fromkeys([*current, *held]):
                if source in self.known_sources:
                    self._check_path(source, now)
        out: list[tuple[Tail, list[Event]]] = []
        for tail in list(self.tails):
            try:
                events, n = tail.read(limit)
            except OSError as exc:
                self._report(tail.path, f"cannot read {tail.path}: {exc.strerror or exc}")
                continue
            if n < limit and tail.rotated_at is None:  # read to the end of what the path names
                self.caught_up_at[tail.source] = time.time()
                self._read_as[tail.source] = _stat_key(tail.source)
                self._changed_at.pop(tail.source, None)
            if n:
                self.read_at[tail.source] = time.time()
                self._read_as[tail.source] = _stat_key(tail.source)
                self._changed_at.pop(tail.source, None)
                self.bytes_read[tail.source] += n
            else:
                if tail.rotated_at is not None and self._drained(tail, now):
                    events = tail.flush(partial=True)
                    self._finish(tail)
                elif not tail.flushed and now - tail.grew_at >= self.settings.quiet:
                    events = tail.flush(partial=False)
            if n:
                self._keyed(tail)
            if events or n:
                self.lines_read[tail.source] += tail.reader.lines_parsed()
                out.append((tail, events))
        return out

    def _check_path(self, source: str, now: float) -> None:
        """What the path names now: still our file, another one (rotated), or nothing (deleted)."""
        looked, self._looked[source] = self._looked.get(source), time.time()
        tail = self.active(source)
        try:
            st = os.stat(source)
        except FileNotFoundError:
            if tail is not None:
                log.info("%s is gone: reading what is left of it", source)
                tail.rotated_at = now
                self._rotated_meanwhile(source, looked)
            return
        except OSError as exc:
            self._report(source, f"cannot stat {source}: {exc.strerror}")
            return
        if tail is None:
            self._open_next(source, st)
            return
        if tail.origin is None and looked is not None:  # copytruncate before its first line was read
            self._read_unknown(source, "before its first line was read")
        if (st.st_dev, st.st_ino) != tail.ino:
            log.info("%s names another file: reading the rest of the old one, and the new one", source)
            tail.rotated_at = now
            self._rotated_meanwhile(source, looked)
            self._open_next(source, st)

    def _open_next(self, source: str, st: os.stat_result) -> None:
        """The path names a file no generation being read is active in: a generation known already (a symlink
        pointed back; a rotation undone) goes on where it was, any other file is read from its start."""
        ident = (st.st_dev, st.st_ino)
        held = next((t for t in self.tails if t.source == source and t.ino == ident and not t.finished), None)
        if held is not None:  # still being drained: active again
            log.info("%s names %s again: reading on in it", source, held.path)
            held.rotated_at = None
            return
        f = _look_quietly(source)
        reading = {t.key for t in self.tails if t.source == source}  # (their saved rows: not to be read twice)
        rows = self.history.generations(source) + [p for p in self.done if p.source == source]
        rows = [r for r in rows if r.key not in reading]
        if f is None or f.origin is None:
            self._open_active(source, at_end=False)
            return
        # The other files a known generation may be in compete for them: a generation whose own file (its saved
        # inode) is still beside the path is that file, not a new one starting with the same bytes.
        others = dict.fromkeys(p for p in [*_candidates(source)[1:], *(r.path for r in rows)] if p != source)
        files = [f, *(o for o in map(_look_quietly, others) if o is not None and o.ident != f.ident)]
        claim = {k: c for k, c in _claim(rows, files).items() if c.path == source}
        for key in claim:
            row = next(r for r in rows if r.key == key)
            tail = self._resume(row, source)
            if tail is not None:
                log.info("%s names a file read before (%s): going on from byte %d", source, row.path, row.emitted)
                self.done = [p for p in self.done if p.key != key or p.source != source]
                self.tails.append(tail)
                return
        self._open_active(source, at_end=False)

    def _check_content(self, tail: Tail) -> None:
        """copytruncate, or a rewrite in place: the file is shorter than what was read, starts with another
        line (or, its first line not read whole yet, with other bytes than those read), or differs before the
        last saved position. Through the open fd: the path is not opened (that would be a file event of our
        own)."""
        try:
            size = os.fstat(tail.fd).st_size
            head = os.pread(tail.fd, ORIGIN_BYTES, 0) if tail.origin is not None or tail.pos else b""
        except OSError:
            return
        if size < tail.pos or not tail.starts_as(head) or (size >= tail.mark[0] and tail.rewritten()):
            self._truncated(tail)

    def _rotated_meanwhile(self, source: str, looked: float | None) -> None:
        """Rotated more than once since the last look: the files made and rotated in between are read too."""
        if looked is not None:
            self._read_unknown(source, "since the last look")

    def _truncated(self, tail: Tail) -> None:
        """copytruncate (or a rewrite in place): the old generation is finished from its copy, if one is
        beside it; the file itself, wherever it is now, is read again from 0 as a new generation."""
        fresh = self._tail(tail.source, tail.path, os.dup(tail.fd), tail.ino, 0)
        fresh.rotated_at = tail.rotated_at
        copy = None
        if tail.origin is not None:
            held = {t.ino for t in self.tails}
            copies = (_look_quietly(p) for p in _candidates(tail.source)[1:])
            copy = next((f.path for f in copies if f is not None and _is_copy(f, tail, held)), None)
        if tail.origin is None:  # only the start of its first line was read: the bytes read are dropped
            self._read_unknown(tail.source, "before its first line was read")
            tail.close()
            self.tails.remove(tail)
        elif copy is not None:
            log.info("%s was truncated: reading its last lines from the copy %s", tail.source, copy)
            fd = os.open(copy, os.O_RDONLY | os.O_CLOEXEC)
            os.close(tail.fd)
            tail.fd, tail.path, tail.copy = fd, copy, True
            st = os.fstat(fd)
            tail.ino = (st.st_dev, st.st_ino)
            tail.rotated_at = time.monotonic() - self.settings.rotate_wait  # a copy does not grow
        else:
            log.warning(
                "%s was truncated and no copy of it was found beside it: lines written after byte %d and before "
                "the truncation are lost (logrotate's copytruncate has this gap: prefer `create` + kill -USR1)",
                tail.source,
                tail.pos,
            )
            self._finish(tail)
        self.tails.append(fresh)

    def _drained(self, tail: Tail, now: float) -> bool:
        assert tail.rotated_at is not None
        try:
            size = os.fstat(tail.fd).st_size
        except OSError:
            return True
        quiet_since = max(tail.rotated_at, tail.grew_at)
        return size <= tail.pos and now - quiet_since >= self.settings.rotate_wait

    def _finish(self, tail: Tail) -> None:
        self._keyed(tail)
        tail.finished = True
        self.done.append(tail.position())
        tail.close()
        self.tails.remove(tail)

    def positions_now(self) -> list[Position]:
        """Where every generation stands, and those finished (`done`: cleared by the caller once saved)."""
        for tail in self.tails:
            self._keyed(tail)
        return [*self.done, *(tail.position() for tail in self.tails)]

    def reads_requests(self) -> bool:
        """Some file being read is an access log (or holds request lines)."""
        return any(t.requests for t in self.tails)

    def carry(self, old: Follower) -> None:
        """Go on with the counts and read times of the follower this one replaces (a reload)."""
        self.read_at.update(old.read_at)
        self.caught_up_at.update(old.caught_up_at)
        self._read_as.update(old.unread_state()[0])
        self._changed_at.update(old.unread_state()[1])
        self.bytes_read.update(old.bytes_read)
        self.lines_read.update(old.lines_read)
        self.unmatched_since.update(old.unmatched_since)
        self.started = old.started

    def unread_state(self) -> tuple[dict[str, tuple[int, int, int, int] | None], dict[str, float]]:
        """What `unread_for` goes by (for `carry`)."""
        return dict(self._read_as), dict(self._changed_at)

    def behind(self) -> int:
        """Bytes written but not yet read, over every generation."""
        return sum(self.behind_by_source().values())

    def behind_by_source(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for tail in self.tails:
            with contextlib.suppress(OSError):
                out[tail.source] += max(0, os.fstat(tail.fd).st_size - tail.pos)
        return out

    def unread_for(self, now: float) -> dict[str, float]:
        """Per source whose file exists: for how many seconds (`now`: time.monotonic()) the file the path names
        has been written to (another size, time or file than when something was last read from it, or it was
        found read to its end) with nothing read. File times are only compared with themselves: a wall clock
        that steps changes nothing."""
        out = {}
        for source in sorted(self.known_sources | set(self.sources())):
            now_as = _stat_key(source)
            if now_as is None:
                continue
            if self._read_as.setdefault(source, now_as) == now_as:
                self._changed_at.pop(source, None)
                out[source] = 0.0
            else:
                out[source] = now - self._changed_at.setdefault(source, now)
        return out

    def close(self) -> None:
        for tail in self.tails:
            tail.close()
        self.tails.clear()

    def _report(self, key: str, message: str) -> None:
        """An error about a file, at most once per `report_every` s (it is retried on every reconcile)."""
        now = time.monotonic()
        last = self._reported.get(key)
        if last is None or now - last >= self.settings.report_every:
            self._reported[key] = now
            log.error("%s; retrying", message)


def why_unmatched(pattern: str) -> str | None:
    """Why a followed path (or glob) names no regular file now, in words; None when it names one (or a FIFO or
    a device, which opening it reports)."""
    if glob.has_magic(pattern):
        if any(os.path.isfile(p) for p in glob.glob(pattern)):
            return None
        head = os.path.abspath(pattern).split(os.sep)
        fixed = os.sep.join(head[: next(i for i, part in enumerate(head) if glob.has_magic(part))]) or os.sep
        return _kept_from(fixed, listing=True) or f"no file in {fixed} matches it"
    if os.path.isfile(pattern):
        return None
    if os.path.isdir(pattern):
        return f"it is a directory: did you mean {os.path.join(pattern, '*.log')}?"
    if os.path.islink(pattern):  # a link that names nothing (or what it cannot reach)
        with contextlib.suppress(OSError):  # (gone meanwhile: said at the next look)
            target = os.path.join(os.path.dirname(pattern), os.readlink(pattern))
            return f"it is a symbolic link to {target}, which names no file"
    if os.path.lexists(pattern):
        return None
    directory = os.path.dirname(os.path.abspath(pattern))
    return _kept_from(directory, listing=False) or f"no such file in {directory}"


def _kept_from(directory: str, listing: bool) -> str | None:
    """What keeps this user from the files of `directory`: the first directory on its way that is missing, or
    not a directory, or that it may not enter (or, `listing`, `directory` itself that it may not list)."""
    parts = os.path.abspath(directory).split(os.sep)
    for i in range(1, len(parts) + 1):
        d = os.sep.join(parts[:i]) or os.sep
        if not os.path.isdir(d):
            return f"{d} is not a directory" if os.path.lexists(d) else f"no such directory: {d}"
        if not os.access(d, os.X_OK):
            return f"no permission on {d} (user {_user()} may not enter it)"
    if listing and not os.access(directory, os.R_OK):
        return f"no permission on {directory} (user {_user()} may not list it)"
    return None


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _candidates(source: str) -> list[str]:
    """`source` and the uncompressed files rotation made of it (`error.log.1`, `error.log-20250115`)."""
    directory, name = os.path.split(os.path.abspath(source))
    out = [source]
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return out
    for entry in entries:
        rotated = entry != name and entry[: len(name)] == name and entry[len(name) : len(name) + 1] in (".", "-", "_")
        if rotated and not entry.lower().endswith(COMPRESSED):
            path = os.path.join(os.path.dirname(source), entry)
            if os.path.isfile(path):
                out.append(path)
    return out


@dataclass(frozen=True)
class _File:
    """A file as looked at: its first line (None if it has none yet), identity and size, its time."""

    path: str
    origin: str | None
    ident: tuple[int, int]
    size: int
    mtime: float


class _Unreadable(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _look(path: str) -> _File | None:
    """`path` as it is now; None if it is gone or is no regular file (a FIFO is never opened for reading: that
    would wait for a writer); _Unreadable if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Unreadable(
            path, f"cannot read {path} ({errno.errorcode.get(exc.errno or 0, '?')}: {exc.strerror})"
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return _File(path, origin(os.pread(fd, ORIGIN_BYTES, 0)), (st.st_dev, st.st_ino), st.st_size, st.st_mtime)
    finally:
        os.close(fd)


def _look_quietly(path: str) -> _File | None:
    """As `_look`, None if it cannot be read (looked at again later)."""
    try:
        return _look(path)
    except _Unreadable:
        return None


@dataclass(frozen=True)
class _Claim:
    """The file a stored generation is in now; `others`: files it could be in as well (the same bytes up to
    where it was read), left to be read from their start."""

    path: str
    size: int
    others: tuple[str, ...] = ()


def _claim(rows: list[Position], files: list[_File]) -> dict[str, _Claim]:
    """Which file each stored generation (by key) is in now, one generation per file at most.

    A file can be a generation only if it starts with the generation's first line, holds at least what was read
    of it, and has the bytes saved before that point (the marker). Several files can pass, when generations
    start alike and one was read only into their common part; the saved (device, inode) then decides, or the
    saved path; the others are no generation known, and are read from their start (nothing is passed over).
    Unfinished generations choose first, then those read furthest."""
    fits = {row.key: [f for f in files if _is_in(row, f)] for row in rows if row.key}
    order = sorted((r for r in rows if r.key), key=lambda r: (r.finished, -r.emitted))
    chosen: dict[str, _File] = {}
    taken: set[str] = set()
    for row in order:  # first the file with the generation's own (device, inode), as saved
        f = next((f for f in fits[row.key] if row.ident is not None and f.ident == row.ident), None)
        if f is not None and f.path not in taken:
            chosen[row.key] = f
            taken.add(f.path)
    for row in order:
        free = [f for f in fits[row.key] if f.path not in taken]
        if row.key in chosen or not free:
            continue
        f = next((f for f in free if os.path.realpath(f.path) == os.path.realpath(row.path)), free[0])
        chosen[row.key] = f
        taken.add(f.path)
    return {
        key: _Claim(f.path, f.size, tuple(o.path for o in fits[key] if o.path not in taken))
        for key, f in chosen.items()
    }


def _is_in(row: Position, f: _File) -> bool:
    """`f` may be the generation `row`: the same first line, at least as long, the same bytes before the
    point read to."""
    if f.origin is None or f.origin != origin_of_key(row.key) or f.size < row.emitted:
        return False
    try:
        fd = os.open(f.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return _marker(fd, row.emitted) == row.marker and (not row.head or _head(fd, row.emitted) == row.head)
    finally:
        os.close(fd)


def _is_copy(f: _File, tail: Tail, held: set[tuple[int, int]]) -> bool:
    """`f` is the copy copytruncate made of `tail`'s file: not a file being read, the same first line, and the
    same bytes before the point last saved."""
    emitted, marker = tail.mark
    return (
        f.ident not in held
        and f.origin == tail.origin
        and f.size >= emitted
        and _is_in(Position(tail.source, tail.origin or "", f.path, emitted, emitted, (), marker), f)
    )


def _passed_over(source: str, f: _File, taken: set[str]) -> Position:
    """A rotated file found at a source's first start, recorded as read to its end: it predates kong-tailer.
    Known by its bytes from now on, it is never mistaken for a file rotated later."""
    assert f.origin is not None
    fd = os.open(f.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        end = _last_line_start(fd, f.size)
        marker, head = _marker(fd, end), _head(fd, end)
    finally:
        os.close(fd)
    return Position(source, generation_key(f.origin, taken), f.path, end, end, (), marker, True, 0, f.ident, head)


def _last_line_start(fd: int, size: int) -> int:
    """Where the line that ends the file starts (`size` if the file ends with a newline)."""
    back = os.pread(fd, min(size, 64 * 1024), max(0, size - 64 * 1024))
    return size - len(back) + back.rfind(b"\n") + 1 if b"\n" in back else size - len(back)


def _stat_key(path: str) -> tuple[int, int, int, int] | None:
    """(device, inode, size, modification time in ns) of the file at `path`; None if there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _chunks(fd: int, end: int, max_line: int) -> Iterator[Chunk]:
    """The lines of the file `fd` before byte `end` (a line's start), read as they are asked for."""
    lines = LineBuffer(0, max_line)
    at = 0
    while at < end:
        data = os.pread(fd, min(READ_SIZE, end - at), at)
        if not data:
            return
        at += len(data)
        yield from lines.push(data)


def _line_at(fd: int, offset: int) -> int:
    """The number of the line that starts at byte `offset` of the file `fd`: the file's lines before it are
    counted (in C, at several GB/s), once per generation read from after its start without a saved number."""
    newlines = at = 0
    while at < offset:
        data = os.pread(fd, min(4 * READ_SIZE, offset - at), at)
        if not data:
            break
        newlines += data.count(b"\n")
        at += len(data)
    return newlines + 1


def _marker(fd: int, end: int) -> str:
    """A hash of the bytes just before `end`: resuming there is safe only if they are still the same."""
    if end <= 0:
        return ""
    start = max(0, end - MARK_BYTES)
    return _hash(os.pread(fd, end - start, start))


def _head(fd: int, end: int) -> str:
    """A hash of the file's first min(`end`, HEAD_BYTES) bytes: with the marker, what tells apart two files that
    start alike (log lines end alike, so the bytes just before a point may match in another file)."""
    if end <= 0:
        return ""
    try:
        return _hash(os.pread(fd, min(end, HEAD_BYTES), 0))
    except OSError:
        return ""


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16] if data else ""
