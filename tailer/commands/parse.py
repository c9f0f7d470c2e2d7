"""`kong-tailer parse`: print the events read from log files as JSON lines; a summary per file on stderr."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from tailer.errors import InputError
from tailer.events import Event
from tailer.lines import DEFAULT_MAX_LINE, Chunk
from tailer.parse import ParseContext, detect_format, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat
from tailer.sources import open_log, read_chunks

DETECT_SAMPLE = 64 * 1024  # bytes of complete lines that decide the format of a file


@dataclass(frozen=True)
class ParseOptions:
    fmt: str  # "auto" or one of tailer.parse.FORMATS
    ctx: ParseContext  # `file` is filled in per file
    log_formats: tuple[LogFormat, ...] = BUILTIN
    max_line: int = DEFAULT_MAX_LINE


def run_parse(paths: Sequence[str], opts: ParseOptions, out: TextIO, err: TextIO) -> int:
    """Parse each file in turn; 0, or 2 if a file could not be opened or read (the others are still read)."""
    status = 0
    for path in paths:
        try:
            summary = _parse_one(path, opts, out)
        except InputError as exc:
            err.write(f"kong-tailer: error: {exc}\n")
            status = 2
            continue
        err.write(f"kong-tailer: {summary}\n")
    return status


def _parse_one(path: str, opts: ParseOptions, out: TextIO) -> str:
    ctx = replace(opts.ctx, file=path)
    kinds: Counter[str] = Counter()
    with open_log(path) as stream:
        chunks = read_chunks(stream, path, opts.max_line)
        fmt = opts.fmt
        head: list[Chunk] = []
        if fmt == "auto":  # judge from the first complete lines; a cut line says nothing
            for chunk in chunks:
                head.append(chunk)
                if sum(len(c.data) for c in head if not c.cut) >= DETECT_SAMPLE:
                    break
            fmt = detect_format(b"".join(c.data for c in head if not c.cut)[:DETECT_SAMPLE], opts.log_formats)
        parser = make_parser(fmt, ctx, opts.log_formats)

        def emit(events: list[Event]) -> None:
            for event in events:
                kinds[event.kind] += 1
                out.write(event.to_json())
                out.write("\n")

        for chunk in itertools.chain(head, chunks):
            emit(parser.feed(chunk))
        emit(parser.finish())
    stats = parser.stats
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k != "parse_error") or "none"
    skipped = [
        f"{n} {what}"
        for what, n in (
            ("requests below 400", stats["http_below_400"]),
            ("error-log entries below warn", stats["entries_below_warn"]),
        )
        if n
    ]
    return f"{path}: {fmt} log, {stats['lines']} lines; events: {by_kind}; {kinds['parse_error']} parse errors" + (
        f"; not emitted (use --all): {', '.join(skipped)}" if skipped else ""
    )
