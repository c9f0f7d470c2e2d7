"""tailer.reader.Reader: one function of a file's lines, however they come in chunks; what replay and the daemon
decide for the same file; what a restart skips."""

from __future__ import annotations

import gc
import gzip
import random
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailer.events import Event
from tailer.follow import Follower, Settings
from tailer.lines import Chunk, LineBuffer
from tailer.parse import SAMPLE_LINES, ParseContext, detect_format
from tailer.reader import DETECT_SAMPLE, Reader, ReadOptions
from tailer.sources import FileEvents, open_log
from tailer.state import Position

FIXTURES = Path(__file__).parent / "fixtures"
MAX_LINE = 2048
LONG = b"x" * (MAX_LINE + 500) + b"\n"  # cut: its head is parsed, never sampled
POOL = sorted(
    {
        line if line.endswith(b"\n") else line + b"\n"
        for kind in ("error", "access", "json", "mixed")
        for path in sorted((FIXTURES / kind).glob("*.log"))
        for line in path.read_bytes().splitlines(keepends=True)
    }
    | {LONG}
)
BOX = (FIXTURES / "follow" / "event-hook-box.log").read_bytes()
ACCESS = b'10.0.0.5 - - [15/Jan/2023:10:00:01 +0000] "GET /orders HTTP/1.1" 502 45 "-" "curl/7.88.1"\n'


def opts(fmt: str = "auto") -> ReadOptions:
    return ReadOptions(fmt, ParseContext("", "gw", UTC), max_line=MAX_LINE)


def entry(n: int, closed: bool = True) -> bytes:
    """An error-log entry; `closed`: its context suffix ends it at once (else the next line might continue it)."""
    suffix = ", client: 10.0.0.1, server: kong" if closed else ""
    return f"2025/01/15 10:00:{n % 60:02d} [error] 1234#0: *{n} line {n}{suffix}\n".encode()


def chunks(data: bytes, sizes: Iterable[int], start: int = 0) -> Iterator[Chunk]:
    """`data` (the file from byte `start`) as a LineBuffer makes chunks of it from reads of `sizes` bytes."""
    lines = LineBuffer(start, MAX_LINE)
    pos = 0
    for n in sizes:
        if pos >= len(data):
            break
        yield from lines.push(data[pos : pos + n])
        pos += n
    yield from lines.push(data[pos:])
    yield from lines.finish()


def read(reader: Reader, given: Iterable[Chunk]) -> list[str]:
    """Every event of `given`, the input ending after it, as JSON."""
    out: list[Event] = []
    for chunk in given:
        out.extend(reader.feed(chunk))
    out.extend(reader.finish())
    return [e.to_json() for e in out]


def as_replay_decides(data: bytes) -> str:
    """The format from the first DETECT_SAMPLE bytes of the file's lines, cut lines left out."""
    sample = b"".join(c.data for c in chunks(data, [len(data)]) if not c.cut)
    return detect_format(sample[:DETECT_SAMPLE])


# -- any chunking decides the same


ERROR_LINES = [line for line in POOL if detect_format(line) == "error" and b"[" in line[:40]]
_lines = st.lists(st.sampled_from(POOL), max_size=2 * SAMPLE_LINES)
_errors_first = st.tuples(st.lists(st.sampled_from(ERROR_LINES), max_size=SAMPLE_LINES + 10), _lines)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(_lines, _errors_first.map(lambda t: t[0] + t[1])), st.integers(0, 2**32))
def test_the_same_lines_in_any_chunks_decide_the_same(lines: list[bytes], seed: int) -> None:
    data = b"".join(lines)
    rng = random.Random(seed)
    whole, by_line, split = Reader(opts(), "f.log"), Reader(opts(), "f.log"), Reader(opts(), "f.log")
    events = read(whole, chunks(data, [len(data)]))
    assert read(by_line, chunks(data, map(len, lines))) == events
    assert read(split, chunks(data, (rng.choice((1, 7, 64, 500, 4096, 70_000)) for _ in data))) == events
    assert whole.fmt == by_line.fmt == split.fmt == as_replay_decides(data)


def test_the_format_waits_for_a_sample_of_200_lines() -> None:
    data = ACCESS + b"".join(entry(n) for n in range(1, SAMPLE_LINES + 20))
    reader = Reader(opts(), "f.log")
    got: list[Event] = []
    for n, chunk in enumerate(chunks(data, [len(ACCESS)] + [len(entry(1))] * (SAMPLE_LINES + 20)), 1):
        got.extend(reader.feed(chunk))
        if n < SAMPLE_LINES:
            assert (reader.fmt, got, reader.emitted(), reader.pending()) == (None, [], 0, ())
    assert reader.fmt == "mixed" and detect_format(ACCESS) == "access"
    assert len(got) + len(reader.finish()) == SAMPLE_LINES + 20


def test_a_quiet_spell_decides_from_what_there_is() -> None:
    reader = Reader(opts(), "f.log")
    assert reader.flush() == [] and reader.fmt is None  # nothing held: nothing to decide from yet
    assert [reader.feed(c) for c in chunks(ACCESS * 2, [len(ACCESS)])] == [[], []]
    assert len(reader.flush()) == 2 and reader.fmt == "access"
    assert reader.lines_parsed() == 2 and reader.lines_parsed() == 0


def test_error_log_lines_come_out_at_once() -> None:
    """While every line is an error-log line, "error" and "mixed" would make the same events of them."""
    head = entry(1) + entry(2, closed=False) + entry(3, closed=False)
    data = head + ACCESS
    reader = Reader(opts(), "f.log")
    first = list(chunks(head, [len(entry(1))] * 2))
    got = [[e.to_json() for e in reader.feed(c)] for c in first]
    assert [len(events) for events in got] == [1, 0, 1] and reader.fmt is None
    assert reader.pending() == (len(head) - len(entry(3, closed=False)),) and reader.lines_parsed() == 3
    assert reader.feed(Chunk(len(head), ACCESS)) == []  # not an error-log line: held from here on
    assert reader.emitted() == len(head)
    rest = [e.to_json() for e in reader.finish()]
    assert reader.fmt == "mixed" == as_replay_decides(data)
    assert [*got[0], *got[2], *rest] == read(Reader(opts(), "f.log"), chunks(data, [len(data)]))


def test_lines_before_the_start_count_towards_the_format() -> None:
    head = ACCESS + entry(1)
    reader = Reader(opts(), "f.log", start=len(head))
    reader.sample(chunks(head, [len(head)]))
    assert reader.fmt is None
    rest = b"".join(entry(n) for n in range(2, SAMPLE_LINES + 1))
    events = read(reader, chunks(rest, [len(rest)], start=len(head)))
    assert reader.fmt == as_replay_decides(head + rest) == "mixed"
    assert len(events) == SAMPLE_LINES - 1


# -- replay and the daemon decide the same


class NoHistory:
    def __init__(self, positions: list[Position] | None = None) -> None:
        self.stored = positions or []

    def generations(self, source: str) -> list[Position]:
        return self.stored

    def known(self, source: str) -> set[str]:
        return {p.key for p in self.stored}

    def last_seen(self, source: str) -> float | None:
        return None


def follow(path: Path, lines: list[bytes], positions: list[Position] | None = None) -> tuple[Follower, list[str]]:
    """A follower of `path` (from its start, or from `positions`), the lines appended one at a time, each read
    at once; its events as JSON once every line is written and it has been quiet."""
    follower = Follower([str(path)], opts(), NoHistory(positions), Settings(start_at_end=False, quiet=3600))
    follower.attach(str(path), fresh=True)
    got: list[Event] = []
    for line in lines:
        with path.open("ab") as f:
            f.write(line)
        for _, events in follower.reconcile(1 << 20):
            got.extend(events)
    follower.settings.quiet = 0.0
    for _, events in follower.reconcile(1 << 20):
        got.extend(events)
    return follower, [e.to_json() for e in got]


def replayed(path: Path) -> tuple[str, list[str]]:
    files = FileEvents(str(path), opts())
    events = [e.to_json() for batch in files for e in batch]
    return files.fmt, events


def test_a_file_is_decided_alike_by_replay_and_by_the_daemon(tmp_path: Path) -> None:
    lines = [ACCESS] + [entry(n) for n in range(1, SAMPLE_LINES + 50)]
    assert detect_format(lines[0]) == "access"  # what its first line alone, or its first read, would say
    path = tmp_path / "kong.log"
    path.touch()
    follower, live = follow(path, lines)
    fmt, replay = replayed(path)
    assert fmt == "mixed" and follower.tails[0].reader.fmt == fmt
    assert live == replay and len(live) == len(lines)
    follower.close()


def test_a_short_file_has_its_events_after_a_quiet_spell(tmp_path: Path) -> None:
    path = tmp_path / "kong.log"
    path.write_bytes(ACCESS + entry(1) + entry(2))
    follower = Follower([str(path)], opts(), NoHistory(), Settings(start_at_end=False, quiet=0.05))
    follower.attach(str(path), fresh=True)
    assert follower.reconcile(1 << 20) == [(follower.tails[0], [])]  # read, and held
    assert not follower.reads_requests() and follower.lines_read[str(path)] == 0
    time.sleep(0.1)
    [(_, events)] = follower.reconcile(1 << 20)
    assert [e.to_json() for e in events] == replayed(path)[1] and len(events) == 3
    assert follower.reads_requests() and follower.lines_read[str(path)] == 3
    follower.close()


def test_a_resumed_file_is_decided_from_its_first_lines(tmp_path: Path) -> None:
    """After a restart, the lines read from where it stopped are all error-log lines; the file is mixed."""
    lines = [ACCESS] + [entry(n) for n in range(1, SAMPLE_LINES + 50)]
    path = tmp_path / "kong.log"
    path.touch()
    before, _ = follow(path, lines[: SAMPLE_LINES + 10])
    [position] = before.positions_now()
    before.close()
    after, live = follow(path, lines[SAMPLE_LINES + 10 :], [position])
    assert after.tails[0].reader.fmt == "mixed"
    assert live == replayed(path)[1][SAMPLE_LINES + 10 :]
    after.close()


# -- what a restart skips


def resume(reader: Reader) -> tuple[Reader, int]:
    """The reader a restart makes from where `reader` stands, as the follower saves and resumes it; and the
    offset it reads from (line numbers go on)."""
    (offset, line), emitted, starts = reader.resume(), reader.emitted(), reader.pending()
    return Reader(reader.opts, "f.log", offset, emitted, starts, line), offset


def test_a_restart_skips_what_went_out_but_the_records_open_then() -> None:
    """A restart after any line, and another after any line (even before the first restart re-read what had
    gone out: it may be stopped at once), give the events of one uninterrupted read."""
    box = BOX.splitlines(keepends=True)
    other = BOX.replace(b" 2291#0: ", b" 2300#0: ").splitlines(keepends=True)  # another worker's, inside
    lines = [entry(1), entry(2, closed=False), *box[:5], entry(3), *other, *box[5:], entry(4, closed=False), entry(5)]
    data = b"".join(lines)
    whole = read(Reader(opts("error"), "f.log"), chunks(data, [len(data)]))
    by_line = list(chunks(data, map(len, lines)))
    ends = [c.offset + len(c.data) for c in by_line]

    def feed(reader: Reader, start: int, end: int) -> list[str]:
        return [e.to_json() for c in by_line if start <= c.offset < end for e in reader.feed(c)]

    for first_end in ends:
        for second_end in [0, *ends]:
            first = Reader(opts("error"), "f.log")
            got = feed(first, 0, first_end)
            second, start = resume(first)
            got += feed(second, start, second_end)
            third, start = resume(second)
            got += feed(third, start, len(data)) + [e.to_json() for e in third.finish()]
            assert got == whole, (first_end, second_end)


def test_reading_a_gzip_file_leaves_no_file_open(tmp_path: Path) -> None:
    """GzipFile leaves the file it was handed open when it closes: open_log's stream closes that file too,
    rather than leave it to the garbage collector (a ResourceWarning, and an fd held until then)."""
    log = tmp_path / "error.log.2.gz"
    log.write_bytes(gzip.compress(b"2025/01/15 10:00:00 [error] 1#0: *1 boom\n"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        open_log(str(log)).close()
        events = [e for batch in FileEvents(str(log), opts()) for e in batch]
        gc.collect()
    assert len(events) == 1
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
