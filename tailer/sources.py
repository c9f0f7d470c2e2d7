"""Where lines come from for one-shot reading: plain files, gzip files (by their magic bytes, so a rotated
`error.log.2.gz` or a compressed file without the suffix both work) and standard input."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from tailer.errors import InputError
from tailer.lines import DEFAULT_MAX_LINE, Chunk, LineBuffer

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
