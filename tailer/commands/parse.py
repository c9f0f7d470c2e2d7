"""`kong-tailer parse`: print the events read from log files as JSON lines; a summary per file on stderr."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from tailer.errors import InputError
from tailer.lines import DEFAULT_MAX_LINE, Chunk
from tailer.parse import ParseContext, detect_format, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat
from tailer.sources import open_log, read_chunks


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
        first = next(chunks, None)
        fmt = opts.fmt
        if fmt == "auto":
            fmt = detect_format(first.data if first else b"", opts.log_formats)
        parser = make_parser(fmt, ctx, opts.log_formats)

        def emit(chunk: Chunk | None) -> None:
            events = parser.feed(chunk) if chunk is not None else parser.finish()
            for event in events:
                kinds[event.kind] += 1
                out.write(event.to_json())
                out.write("\n")

        if first is not None:
            emit(first)
        for chunk in chunks:
            emit(chunk)
        emit(None)
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
