"""Parsers never raise on log content, and do not care how the reads cut it; LineBuffer keeps lines whole.

Inputs are arbitrary bytes, mostly built from fragments of real Kong log lines so that they get past the
first regex of each parser.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailer.events import Event
from tailer.lines import KEEP_OF_CUT_LINE, Chunk, LineBuffer
from tests import kongsim
from tests.conftest import parse_bytes, pieces, random_pieces

FORMATS = ("error", "access", "json", "mixed")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- log-ish bytes

FRAGMENTS: list[bytes] = [
    b"2025/03/04 14:22:07 ",
    b"2022/11/21 04:27:36 ",
    b"2024/02/30 12:00:00 ",  # shaped like a timestamp, but no such day
    b"2025/03/04 14:22:0",
    b"[debug] ",
    b"[info] ",
    b"[notice] ",
    b"[warn] ",
    b"[error] ",
    b"[crit] ",
    b"[] ",
    b"[verbose] ",
    b"2291#0: ",
    b"2120#0: ",
    b"*1338 ",
    b"*4021 ",
    b"|",
    b"+",
    b"-",
    b"+" + b"-" * 120 + b"+",
    b"+----+",
    b"|" + b" " * 120 + b"|",
    b"[kong] f:?:1 [core]",
    b"[kong] event_hooks.lua:?:616 [core]" + b"-" * 86 + b"+",
    b"[kong] event_hooks.lua:?:452 ",
    b"[kong] handler.lua:access:27 ",
    b'|"log callback: " { "rate-limit-exceeded", "rate-limiting-advanced", {',
    b'|    ip = "203.0.113.45",',
    b"|  }, 2292 }",
    b'"log callback: " { "a", "b", {}, 1 }',
    b"{",
    b"}",
    b"{ ",
    b" }",
    b" = ",
    b"<1>{",
    b"<table 1>",
    b"<metatable> = ",
    b"nil",
    b"nan",
    b"5LL",
    b'"',
    b"'",
    b"\\",
    b"\\n",
    b"\r",
    b"\0",
    b"\n",
    b"\n",
    b"\n",
    b"\r\n",
    b" ",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x9c",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b", context: ngx.timer",
    b", client: 10.1.2.3, server: 0.0.0.0:8001",
    b', request: "GET /v1/items HTTP/1.1", host: "api.example.test"',
    b', request_id: "0123456789abcdef0123456789abcdef"',
    b" while connecting to upstream",
    b"connect() failed (111: Connection refused)",
    b"[lua] init.lua:88: ",
    b"stack traceback:",
    b"\tcoroutine 0:",
    b'10.0.0.1 - - [15/Jan/2025:10:00:06 +0000] "GET /x HTTP/1.1" 502 12 "-" "curl/8"',
    b' kong_request_id: "0123456789abcdef0123456789abcdef"',
    b"10.0.0.1 [15/Jan/2025:10:00:06 +0000] TCP 502 0 0 0.001",
    b'{"response": {"status": 500, "size": 10}, "request": {"method": "GET", "uri": "/x"}, "client_ip": "1.2.3.4"}',
    b'{"response": ',
    b"[",
    b"]",
    b"kong-1  | ",
    b"[pod/kong-abc/proxy] ",
    # whole lines
    b"2025/03/04 14:22:07 [warn] 1#0: *5 upstream timed out, client: 10.0.0.1, server: kong\n",
    b"2025/03/04 14:22:07 [error] 1#0: *5 [lua] handler.lua:10: boom\n",
    b"2025/03/04 14:22:07 [debug] 1#0: *5 [lua] balancer.lua:1: x\n",
    b"2024/02/30 12:00:00 [debug] 1#0: no such day\n",
    b"2024/02/30 12:00:00 [warn] 1#0: no such day\n",
    b"2025/03/04 14:22:07 [notice] 2291#0: [kong] event_hooks.lua:?:616 [core]---+\n",
    b"2025/03/04 14:22:07 [notice] 2291#0: |{}  |\n",
    b"2025/03/04 14:22:07 [notice] 2291#0: +----+\n",
    b"2025/03/04 14:22:07 [notice] 40#0: *118 [kong] handler.lua:access:27 { 1,\n",
]

_soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)), max_size=40).map(b"".join)
# Whole lines made of fragments, some ending in "\r\n" or holding a NUL, as a log would have them.
_line = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map(b"".join)
_ending = st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\0\n", b""])
_lines_of_fragments = st.lists(st.tuples(_line, _ending).map(b"".join), max_size=12).map(b"".join)
log_bytes = st.one_of(_soup, _lines_of_fragments)


def _nan_safe(v: Any) -> Any:
    """`v` with NaN replaced by a marker (NaN != NaN would make equal event lists unequal)."""
    if isinstance(v, float) and math.isnan(v):
        return "<nan>"
    if isinstance(v, dict):
        return {k: _nan_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nan_safe(x) for x in v]
    return v


def dicts(events: list[Event]) -> list[Any]:
    assert all(isinstance(e, Event) for e in events), [type(e) for e in events]
    return [_nan_safe(e.to_dict()) for e in events]


# --------------------------------------------------------------------------- parsers


@settings(SETTINGS, max_examples=300)
@given(log_bytes, st.sampled_from(FORMATS), st.booleans(), st.integers(0, 2**32))
def test_parsers_never_raise_and_ignore_read_boundaries(data: bytes, fmt: str, emit_all: bool, seed: int) -> None:
    whole = parse_bytes(data, fmt, emit_all=emit_all)
    cut = parse_bytes(random_pieces(data, seed), fmt, emit_all=emit_all)
    assert dicts(cut) == dicts(whole)
    for e in whole:
        e.to_json()  # every event can be written out


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(FORMATS), st.booleans(), st.integers(0, 2**32))
def test_random_bytes(data: bytes, fmt: str, emit_all: bool, seed: int) -> None:
    whole = parse_bytes(data, fmt, emit_all=emit_all)
    assert dicts(parse_bytes(random_pieces(data, seed), fmt, emit_all=emit_all)) == dicts(whole)


@SETTINGS
@given(log_bytes, st.sampled_from(FORMATS), st.booleans())
def test_one_byte_reads(data: bytes, fmt: str, emit_all: bool) -> None:
    whole = parse_bytes(data, fmt, emit_all=emit_all)
    assert dicts(parse_bytes(pieces(data, [1] * len(data)), fmt, emit_all=emit_all)) == dicts(whole)


def _box(message: str) -> bytes:
    lines = kongsim.box_lines("2025/03/04 14:22:07", "notice", 77, "[kong] f.lua:?:1 [core]", message, "3.9")
    return kongsim.join_lines(lines).encode()


def test_read_boundaries_do_not_matter_around_an_impossible_date() -> None:
    """A `[debug]` line with an impossible date, then a line with `\\r`: read whole, the chunk holds a `\\r` and
    every line goes through `line()`; read in two, the first chunk is clean and goes through the scanner."""
    data = b"2025/03/04 14:22:07 [warn] 1#0: first\n2024/02/30 12:00:00 [debug] 1#0: x\nline\r\n"
    whole = parse_bytes(data, "error")
    assert dicts(parse_bytes(pieces(data, [len(data) - 6]), "error")) == dicts(whole)


PATHOLOGICAL = {
    "long-int-notice": b"2025/03/04 14:22:07 [notice] 1#0: [kong] f.lua:fn:1 " + b"9" * 4301 + b"\n",
    "long-int-box": _box("9" * 4400),
    "deep-table-box": _box("{ " * 1500 + "1" + " }" * 1500),
    "deep-table-box-odd": _box('"" ' + "{ " * 1500 + "1" + " }" * 1500),
    "deep-table-1.0.1": kongsim.join_lines(
        kongsim.box_lines(
            "2021/10/05 16:40:12", "notice", 731, "[kong] f.lua:?:452", "{ " * 1500 + "1" + " }" * 1500, "1.0.1"
        )
    ).encode(),
}


@pytest.mark.parametrize("fmt", ["error", "mixed"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_inspect_text_does_not_raise(name: str, fmt: str) -> None:
    """Text that breaks the value decoder's assumptions is a parse error or a plain entry, not a crash."""
    for emit_all in (False, True):
        events = parse_bytes(PATHOLOGICAL[name], fmt, emit_all=emit_all)
        assert all(isinstance(e, Event) for e in events)


# --------------------------------------------------------------------------- LineBuffer


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, line with its newline) for every line of `data`; the last may lack the newline."""
    out, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        out.append((pos, data[pos:end]))
        pos = end
    return out


def _run(buf: LineBuffer, data: bytes, sizes: list[int]) -> list[Chunk]:
    chunks: list[Chunk] = []
    received = 0
    handed_out = 0
    for piece in pieces(data, sizes):
        new = buf.push(piece)
        received += len(piece)
        handed_out += sum(c.cut or len(c.data) for c in new)
        assert received == handed_out + buf.pending
        for c in new:
            assert c.data.endswith(b"\n"), "push() hands out complete lines only"
        chunks += new
    chunks += buf.finish()
    assert buf.pending == 0
    return chunks


line_data = st.lists(
    st.one_of(st.binary(max_size=40), st.sampled_from([b"\n", b"\n\n", b"\r\n", b"x" * 100, b"\n" + b"y" * 70])),
    max_size=30,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(line_data, st.lists(st.integers(1, 80), max_size=60), st.integers(2, 64), st.integers(0, 10**9))
def test_line_buffer_keeps_lines_whole(data: bytes, sizes: list[int], max_line: int, start: int) -> None:
    chunks = _run(LineBuffer(start, max_line), data, sizes)
    lines = _lines(data)
    # The chunks tile the stream: each starts where the previous ended.
    pos = start
    for c in chunks:
        assert c.offset == pos
        pos += c.cut or len(c.data)
    assert pos == start + len(data)
    # Every line longer than max_line is one cut chunk of its own, with `cut` = its length.
    long = [(off, line) for off, line in lines if len(line) > max_line]
    assert [(c.offset - start, c.cut) for c in chunks if c.cut] == [(off, len(line)) for off, line in long]
    # The other chunks hold exactly the other lines, in order, each at its own offset.
    assert b"".join(c.data for c in chunks if not c.cut) == b"".join(line for _, line in lines if len(line) <= max_line)
    for c in chunks:
        if not c.cut:
            assert data[c.offset - start : c.offset - start + len(c.data)] == c.data
            assert all(len(line) <= max_line for _, line in _lines(c.data))


def _check_cut_heads(data: bytes, sizes: list[int], max_line: int) -> None:
    chunks = _run(LineBuffer(0, max_line), data, sizes)
    for c in chunks:
        if c.cut:
            line = data[c.offset : c.offset + c.cut]
            newline = line.endswith(b"\n")
            head = (line[:-1] if newline else line)[:KEEP_OF_CUT_LINE] + (b"\n" if newline else b"")
            assert c.data == head, "a cut chunk holds the start of its own line and nothing else"


@settings(max_examples=150, deadline=None)
@given(line_data, st.lists(st.integers(1, 80), max_size=60), st.integers(64, 200))
def test_cut_chunk_holds_only_its_own_line(data: bytes, sizes: list[int], max_line: int) -> None:
    """`--max-line` accepts 64 and up: a cut line's chunk must not carry the lines after it."""
    _check_cut_heads(data, sizes, max_line)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=50), st.just(b"z" * 1500), st.just(b"\n")), max_size=12).map(b"".join),
    st.lists(st.sampled_from([1, 7, 500, 1100, 4096]), max_size=20),
    st.sampled_from([1024, 1025, 1300]),
)
def test_cut_chunk_keeps_the_first_bytes(data: bytes, sizes: list[int], max_line: int) -> None:
    _check_cut_heads(data, sizes, max_line)


def test_line_exactly_at_the_cap() -> None:
    """A line of max_line bytes with its newline passes; one byte more is cut, however the reads fall."""
    for sizes in ([100], [1] * 20, [5, 5, 1], [3, 8, 2]):
        chunks = _run(LineBuffer(0, 5), b"abcd\nabcde\nab", sizes)
        assert [(c.offset, c.data, c.cut) for c in chunks if c.cut] == [(5, b"abcde\n", 6)], sizes
        assert b"".join(c.data for c in chunks if not c.cut) == b"abcd\nab"
