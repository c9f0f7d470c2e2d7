"""tailer.lines.LineBuffer: bytes as reads return them → chunks of complete lines, with offsets and a line cap."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.lines import KEEP_OF_CUT_LINE, Chunk, LineBuffer
from tests.conftest import pieces, random_pieces

Line = tuple[int, bytes, int]  # (offset, data, cut)


def feed(reads: Iterable[bytes], max_line: int, offset: int = 0) -> list[Chunk]:
    """Every chunk a LineBuffer hands out for `reads`, finish() included."""
    buf = LineBuffer(offset=offset, max_line=max_line)
    out: list[Chunk] = []
    for data in reads:
        out.extend(buf.push(data))
    out.extend(buf.finish())
    return out


def lines_of(chunks: Iterable[Chunk]) -> list[Line]:
    """Chunks taken apart into single lines, so that two ways of grouping the same lines compare equal."""
    out: list[Line] = []
    for chunk in chunks:
        if chunk.cut:
            out.append((chunk.offset, chunk.data, chunk.cut))
            continue
        off = chunk.offset
        for line in chunk.data.splitlines(keepends=True):
            out.append((off, line, 0))
            off += len(line)
    return out


def expected_lines(data: bytes, max_line: int, offset: int = 0) -> list[Line]:
    """The model: each line (with its newline, if any) longer than `max_line` becomes its head, cut to its length."""
    out: list[Line] = []
    off = offset
    for line in data.splitlines(keepends=True):
        if len(line) > max_line:
            head = line.rstrip(b"\n")[:KEEP_OF_CUT_LINE] + (b"\n" if line.endswith(b"\n") else b"")
            out.append((off, head, len(line)))
        else:
            out.append((off, line, 0))
        off += len(line)
    return out


def check_chunk_shapes(chunks: list[Chunk]) -> None:
    """Invariants of every chunk: complete lines only (except possibly the very last), contiguous offsets."""
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        assert chunk.data, "no empty chunks"
        if not last:
            assert chunk.data.endswith(b"\n")
        if chunk.cut:
            assert chunk.data.count(b"\n") <= 1, "a cut chunk holds one line only"
            assert len(chunk.data.rstrip(b"\n")) <= KEEP_OF_CUT_LINE
        if i:
            prev = chunks[i - 1]
            assert chunk.offset == prev.offset + (prev.cut or len(prev.data))


# --------------------------------------------------------------------------- offsets and partial lines


def test_chunks_carry_the_offset_of_their_first_byte() -> None:
    buf = LineBuffer()
    assert buf.push(b"one\ntwo\n") == [Chunk(0, b"one\ntwo\n")]
    assert buf.push(b"thr") == []
    assert buf.pending == 3
    assert buf.push(b"ee\nfo") == [Chunk(8, b"three\n")]
    assert buf.pending == 2
    assert buf.push(b"ur\nfive\n") == [Chunk(14, b"four\nfive\n")]
    assert buf.pending == 0
    assert buf.finish() == []


def test_starting_offset_is_honoured() -> None:
    buf = LineBuffer(offset=1000)
    assert buf.push(b"a\nbb\n") == [Chunk(1000, b"a\nbb\n")]
    assert buf.push(b"ccc\n") == [Chunk(1005, b"ccc\n")]


def test_partial_last_line_waits_for_its_newline() -> None:
    buf = LineBuffer()
    assert buf.push(b"abc") == []
    assert buf.push(b"def") == []
    assert buf.pending == 6
    assert buf.push(b"\n") == [Chunk(0, b"abcdef\n")]
    assert buf.pending == 0


def test_finish_hands_out_the_partial_last_line_once() -> None:
    buf = LineBuffer()
    assert buf.push(b"full\npart") == [Chunk(0, b"full\n")]
    assert buf.finish() == [Chunk(5, b"part")]
    assert buf.pending == 0
    assert buf.finish() == []


def test_empty_pushes_and_empty_lines() -> None:
    buf = LineBuffer()
    assert buf.push(b"") == []
    assert buf.push(b"\n\n") == [Chunk(0, b"\n\n")]
    assert buf.push(b"") == []
    assert buf.push(b"x\n") == [Chunk(2, b"x\n")]
    assert buf.finish() == []


def test_max_line_below_two_is_refused() -> None:
    with pytest.raises(ValueError):
        LineBuffer(max_line=1)


# --------------------------------------------------------------------------- over-long lines

MAX = 2048
LONG = bytes(range(32, 127)) * 60  # 5700 bytes, no newline, longer than MAX and than KEEP_OF_CUT_LINE
DATA = b"first\n" + LONG + b"\nafter-1\nafter-2\n"
EXPECTED = [
    (0, b"first\n", 0),
    (6, LONG[:KEEP_OF_CUT_LINE] + b"\n", len(LONG) + 1),
    (6 + len(LONG) + 1, b"after-1\n", 0),
    (6 + len(LONG) + 1 + 8, b"after-2\n", 0),
]


def test_long_line_in_one_push_comes_out_alone_and_cut() -> None:
    chunks = LineBuffer(max_line=MAX).push(DATA)
    assert chunks == [
        Chunk(0, b"first\n"),
        Chunk(6, LONG[:KEEP_OF_CUT_LINE] + b"\n", len(LONG) + 1),
        Chunk(6 + len(LONG) + 1, b"after-1\nafter-2\n"),
    ]


def test_long_line_byte_by_byte() -> None:
    chunks = feed((DATA[i : i + 1] for i in range(len(DATA))), MAX)
    assert lines_of(chunks) == EXPECTED
    check_chunk_shapes(chunks)


@pytest.mark.parametrize("seed", range(20))
def test_long_line_in_random_pieces(seed: int) -> None:
    chunks = feed(random_pieces(DATA, seed), MAX)
    assert lines_of(chunks) == EXPECTED
    check_chunk_shapes(chunks)


@pytest.mark.parametrize("size", [1, 100, MAX - 1, MAX, MAX + 1, 3000, len(LONG)])
def test_long_line_in_fixed_pieces(size: int) -> None:
    chunks = feed(pieces(DATA, [size] * len(DATA)), MAX)
    assert lines_of(chunks) == EXPECTED


def test_several_long_lines_back_to_back_in_one_push() -> None:
    a, b = b"a" * 3000, b"b" * 4000
    data = a + b"\n" + b + b"\nend\n"
    chunks = LineBuffer(max_line=MAX).push(data)
    assert chunks == [
        Chunk(0, a[:KEEP_OF_CUT_LINE] + b"\n", 3001),
        Chunk(3001, b[:KEEP_OF_CUT_LINE] + b"\n", 4001),
        Chunk(7002, b"end\n"),
    ]


def test_long_line_that_started_as_a_short_partial() -> None:
    buf = LineBuffer(max_line=MAX)
    assert buf.push(b"ok\nstart-") == [Chunk(0, b"ok\n")]
    assert buf.push(b"x" * 5000) == []
    out = buf.push(b"y\nnext\n")
    line_len = len(b"start-") + 5000 + 2
    assert out == [
        Chunk(3, (b"start-" + b"x" * 5000)[:KEEP_OF_CUT_LINE] + b"\n", line_len),
        Chunk(3 + line_len, b"next\n"),
    ]


def test_long_last_line_without_newline_is_cut_by_finish() -> None:
    buf = LineBuffer(max_line=MAX)
    assert buf.push(b"ok\n" + LONG) == [Chunk(0, b"ok\n")]
    assert buf.finish() == [Chunk(3, LONG[:KEEP_OF_CUT_LINE], len(LONG))]
    assert buf.finish() == []


def test_cut_head_of_a_line_shorter_than_keep_is_that_line_only() -> None:
    """With a cap below KEEP_OF_CUT_LINE (the CLI allows --max-line 64), the kept head of a cut line is still
    that line's own bytes plus one newline, never the lines after it."""
    line = b"L" * 100
    chunks = LineBuffer(max_line=64).push(b"a\n" + line + b"\nnext-1\nnext-2\n")
    assert chunks == [Chunk(0, b"a\n"), Chunk(2, line + b"\n", 101), Chunk(103, b"next-1\nnext-2\n")]


@pytest.mark.parametrize("max_line", [3, 64, 1025, 4096])
@pytest.mark.parametrize("delta", [-2, -1, 0, 1, 2])
def test_cap_boundary_is_the_same_however_the_bytes_arrive(max_line: int, delta: int) -> None:
    """A line of exactly `max_line` bytes (newline included) is kept; one byte more and it is cut."""
    length = max(1, max_line + delta)  # with its newline
    line = b"z" * (length - 1) + b"\n"
    data = b"a\n" + line + line + b"b\n"
    expected = expected_lines(data, max_line)
    assert (expected[1][2] > 0) == (length > max_line)
    assert lines_of(feed([data], max_line)) == expected
    assert lines_of(feed((data[i : i + 1] for i in range(len(data))), max_line)) == expected
    assert lines_of(feed(pieces(data, [max_line] * len(data)), max_line)) == expected


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=8),
    final_newline=st.booleans(),
    max_line=st.sampled_from([2, 5, 64, 1000, 1024, 1500, 2048]),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=30),
    start=st.integers(min_value=0, max_value=10**9),
)
def test_any_split_gives_the_model_lines(
    lengths: list[int], final_newline: bool, max_line: int, cuts: list[int], start: int
) -> None:
    body = b"\n".join(bytes([97 + i % 26]) * n for i, n in enumerate(lengths))
    data = body + b"\n" if final_newline else body
    if not data:
        return
    expected = expected_lines(data, max_line, start)
    whole = feed([data], max_line, start)
    split = feed(pieces(data, cuts), max_line, start)
    assert lines_of(whole) == expected
    assert lines_of(split) == expected
    check_chunk_shapes(whole)
    check_chunk_shapes(split)


# --------------------------------------------------------------------------- memory


def test_memory_stays_bounded_while_skipping_a_10_mb_line() -> None:
    """A 10 MB line pushed in 64 KiB pieces: nothing comes out until its newline, and what the buffer holds (and
    allocates) stays on the order of the cap, not of the line."""
    max_line = 256 * 1024
    piece = b"q" * 65536
    total = 10 * 1024 * 1024
    buf = LineBuffer(max_line=max_line)
    tracemalloc.start()
    try:
        pushed = 0
        while pushed < total:
            assert buf.push(piece) == []
            pushed += len(piece)
            held = len(buf._tail) + len(buf._cut_head or b"")  # what is kept in memory
            assert held <= max_line
        out = buf.push(b"q\nnext line\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * max_line, f"peak {peak} bytes while skipping a {total}-byte line"
    assert out == [
        Chunk(0, b"q" * KEEP_OF_CUT_LINE + b"\n", total + 2),
        Chunk(total + 2, b"next line\n"),
    ]
    assert buf.pending == 0
