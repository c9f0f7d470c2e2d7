"""Where lines come from for one-shot reading: plain files, gzip files (by their magic bytes, so a rotated
`error.log.2.gz` or a compressed file without the suffix both work) and standard input; and the events
read from them (`FileEvents`), for `parse` and `replay`."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from tailer.config import host_name, resolve_zone
from tailer.errors import InputError
from tailer.events import Event
from tailer.lines import DEFAULT_MAX_LINE, Chunk, LineBuffer, origin
from tailer.parse import ParseContext, detect_format, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat, compile_log_format

READ_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
DETECT_SAMPLE = 64 * 1024  # bytes of complete lines that decide the format of a file


def open_log(path: str) -> BinaryIO:
    """Open `path` ("-" for standard input) for reading bytes, decompressing gzip transparently."""
    try:
        raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (returned)
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    try:
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def read_chunks(
    stream: BinaryIO, path: str, max_line: int = DEFAULT_MAX_LINE, read_size: int = READ_SIZE
) -> Iterator[Chunk]:
    """The whole stream as chunks of complete lines; the last line may lack its newline."""
    lines = LineBuffer(max_line=max_line)
    while True:
        try:
            data = stream.read(read_size)
        except (OSError, EOFError, zlib.error) as exc:  # EOFError: a gzip file cut short
            raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
        if not data:
            break
        yield from lines.push(data)
    yield from lines.finish()


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


class FileEvents:
    """The events of one log file, in batches (one per chunk of lines), parsed with its detected format.
    After iteration `fmt` and `stats` say what was read; `position()` says how far, in file bytes; `origin`
    which file it is (`lines.origin`), once its first line is read."""

    def __init__(self, path: str, opts: ReadOptions) -> None:
        self.path = path
        self.opts = opts
        self.fmt = opts.fmt
        self.stats: Counter[str] = Counter()
        self.origin: str | None = None
        self._raw: BinaryIO | None = None
        self._read = 0

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for a .gz)."""
        if self._raw is not None:
            with contextlib.suppress(OSError, ValueError):  # closed (or a pipe): the last position stands
                self._read = self._raw.tell()
        return self._read

    def __iter__(self) -> Iterator[list[Event]]:
        ctx = replace(self.opts.ctx, file=self.path)
        with open_log(self.path) as stream:
            self._raw = getattr(stream, "fileobj", None) or stream
            chunks = read_chunks(stream, self.path, self.opts.max_line)
            head: list[Chunk] = []
            if self.fmt == "auto":  # judge from the first complete lines; a cut line says nothing
                for chunk in chunks:
                    head.append(chunk)
                    if sum(len(c.data) for c in head if not c.cut) >= DETECT_SAMPLE:
                        break
                sample = b"".join(c.data for c in head if not c.cut)[:DETECT_SAMPLE]
                self.fmt = detect_format(sample, self.opts.log_formats)
            parser = make_parser(self.fmt, ctx, self.opts.log_formats)
            self.stats = parser.stats
            for chunk in itertools.chain(head, chunks):
                if chunk.offset == 0:
                    self.origin = origin(chunk.data)
                yield parser.feed(chunk)
            yield parser.finish()
            self.position()  # the end, before the file closes
