"""Where lines come from for one-shot reading: plain files, gzip files (by their magic bytes, so a rotated
`error.log.2.gz` or a compressed file without the suffix both work) and standard input; and the events
read from them (`FileEvents`: its chunks through a `tailer.reader.Reader`), for `parse` and `replay`."""

from __future__ import annotations

import contextlib
import gzip
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from tailer.errors import InputError
from tailer.events import Event
from tailer.lines import DEFAULT_MAX_LINE, Chunk, LineBuffer, origin
from tailer.reader import Reader, ReadOptions

READ_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def open_log(path: str) -> BinaryIO:
    """Open `path` ("-" for standard input) for reading bytes, decompressing gzip transparently."""
    try:
        raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (returned)
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    try:
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    except OSError as exc:
        _close_file(raw)
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head == _GZIP_MAGIC:
        return _GzipFile(raw)  # type: ignore[return-value]
    return raw


class _GzipFile(gzip.GzipFile):
    """A gzip stream that closes the file it reads (GzipFile leaves a `fileobj` it was given open)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._under = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            _close_file(self._under)


def _close_file(raw: BinaryIO) -> None:
    if raw is not sys.stdin.buffer:
        raw.close()


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


class FileEvents:
    """The events of one log file, in batches (one per chunk of lines read; none while its format is undecided).
    After iteration `fmt` and `stats` say what was read; `position()` says how far, in file bytes; `origin`
    which file it is (`lines.origin`), once its first line is read."""

    def __init__(self, path: str, opts: ReadOptions) -> None:
        self.path = path
        self.opts = opts
        self.reader = Reader(opts, path)
        self.origin: str | None = None
        self._raw: BinaryIO | None = None
        self._read = 0

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for a .gz)."""
        if self._raw is not None:
            with contextlib.suppress(OSError, ValueError):  # closed (or a pipe): the last position stands
                self._read = self._raw.tell()
        return self._read

    @property
    def fmt(self) -> str:
        """The format, once decided ("auto" until then)."""
        return self.reader.fmt or self.opts.fmt

    @property
    def stats(self) -> Counter[str]:
        return self.reader.stats

    def __iter__(self) -> Iterator[list[Event]]:
        reader = self.reader
        with open_log(self.path) as stream:
            self._raw = getattr(stream, "fileobj", None) or stream
            for chunk in read_chunks(stream, self.path, self.opts.max_line):
                if chunk.offset == 0:
                    self.origin = origin(chunk.data)
                yield reader.feed(chunk)
            yield reader.finish()
            self.position()  # the end, before the file closes
