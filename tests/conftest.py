"""Shared test helpers: run bytes through a parser the way the drivers do; the daemon's fixtures (a receiver
standing in for Slack, the daemon as a process: tests/daemon.py)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import pytest

from tailer.events import Event, Tally
from tailer.lines import DEFAULT_MAX_LINE, LineBuffer
from tailer.parse import ParseContext, detect_format, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat
from tailer.reader import Reader, ReadOptions
from tests.daemon import Daemon
from tests.receiver import Receiver

HOST = "test-host"


def pieces(data: bytes, sizes: Iterable[int]) -> list[bytes]:
    """`data` cut into pieces of the given sizes (the last piece takes the rest)."""
    out, pos = [], 0
    for n in sizes:
        if pos >= len(data):
            break
        out.append(data[pos : pos + n])
        pos += n
    if pos < len(data):
        out.append(data[pos:])
    return out


def random_pieces(data: bytes, seed: int) -> list[bytes]:
    """`data` cut at random places, as reads of a file being written would return it."""
    rng = random.Random(seed)
    return pieces(data, (rng.choice((1, 2, 7, 64, 500, 4096)) for _ in range(len(data) + 1)))


def parse_bytes(
    data: bytes | list[bytes],
    fmt: str = "auto",
    *,
    emit_all: bool = False,
    zone: tzinfo = UTC,
    formats: tuple[LogFormat, ...] = BUILTIN,
    file: str = "test.log",
    max_line: int = DEFAULT_MAX_LINE,
    tallies: bool = False,
) -> list[Event]:
    """Every event of `data` (whole, or a list of pieces as reads returned them), as the parse stage makes
    them: lines buffered, parser fed chunk by chunk, finished at the end (no `lineno`: `read_bytes` numbers
    lines as the drivers do). `Tally` events (counts of requests not emitted) only with `tallies=True`."""
    reads = [data] if isinstance(data, bytes) else data
    if fmt == "auto":
        fmt = detect_format(b"".join(reads)[:65536], formats)
    parser = make_parser(fmt, ParseContext(file, HOST, zone, emit_all, tallies=tallies), formats)
    lines = LineBuffer(max_line=max_line)
    events: list[Event] = []
    for read in reads:
        for chunk in lines.push(read):
            events.extend(parser.feed(chunk))
    for chunk in lines.finish():
        events.extend(parser.feed(chunk))
    events.extend(parser.finish())
    return events if tallies else [e for e in events if type(e) is not Tally]


def read_bytes(
    data: bytes | list[bytes],
    fmt: str = "auto",
    *,
    emit_all: bool = False,
    formats: tuple[LogFormat, ...] = BUILTIN,
    file: str = "test.log",
) -> list[Event]:
    """Every event of `data` (whole, or pieces as reads returned them) as the drivers read a file: through a
    `Reader` (format detection, line numbers)."""
    reader = Reader(ReadOptions(fmt, ParseContext("", HOST, UTC, emit_all), formats), file)
    lines = LineBuffer()
    events: list[Event] = []
    for read in [data] if isinstance(data, bytes) else data:
        for chunk in lines.push(read):
            events.extend(reader.feed(chunk))
    for chunk in lines.finish():
        events.extend(reader.feed(chunk))
    events.extend(reader.finish())
    return events


def typed(v: Any) -> Any:
    """`v` with every scalar tagged by its type, so that == tells 1 from 1.0 and True from 1 (and nan is nan)."""
    if isinstance(v, list):
        return ("list", [typed(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {typed(k): typed(x) for k, x in v.items()})
    if isinstance(v, float) and math.isnan(v):
        return ("float", "nan")
    return (type(v).__name__, v)


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def daemon(tmp_path: Path, rx: Receiver) -> Iterator[Daemon]:
    d = Daemon(tmp_path, rx.url)
    yield d
    d.close()
