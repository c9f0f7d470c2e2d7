"""Event Hooks `log` boxes, as Kong writes them (tests/kongsim.py), read back by the error-log parser.

Generated payloads are printed in each layout by 1–4 workers whose lines interleave (a worker's own lines keep
their order), mixed with other processes' entries, and parsed whole and in random pieces: every box must come
back as one `event_hook` event, in its worker's order, with nothing reported as unreadable.

Strings hold no ASCII space: a wrap that falls on a space inside a string looks like row padding (reference
§2.5, "residual ambiguity"), which no reader can undo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tailer.events import Error, Event, EventHook, ParseError
from tailer.parse.luavalues import decode_values
from tests import kongsim
from tests.conftest import parse_bytes, random_pieces, typed

TIME = "2025/03/04 14:22:07"
WIDTH = 120
MAX_ENTRY = 4096  # nginx writes one entry with one write() of at most this many bytes


@dataclass(frozen=True)
class Layout:
    level: str
    conn: int | None
    suffix: str
    header: str


LAYOUTS = {
    "1.0.1": Layout(
        "notice", 55102, ", context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001", "[kong] event_hooks.lua:?:452"
    ),
    "2.7": Layout("debug", 4021, "", "[kong] event_hooks.lua:?:537 [core]"),
    "3.9": Layout("notice", None, "", "[kong] event_hooks.lua:?:616 [core]"),
    "0.14": Layout(
        "notice",
        118,
        ', client: 192.0.2.10, server: kong, request: "GET /v1/items HTTP/1.1", host: "api.example.test"',
        "[kong] event_hooks.lua:?:452",
    ),
}

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# --------------------------------------------------------------------------- payloads

_CHARS = st.one_of(
    st.sampled_from("\"'\\\x00\x01\x07\n\t\r\x1b\x7f0123456789=,{}[]<>|+-:éß✓😀中"),
    st.characters(codec="utf-8", exclude_characters=" "),
)
_MULTIBYTE = "éß✓😀中ж"
short_text = st.text(_CHARS, max_size=12)
# Long enough to wrap: a short random pattern repeated (drawing 200 characters one by one is slow).
long_text = st.builds(
    lambda pattern, n: (pattern * n)[:n],
    st.text(st.sampled_from("abcxyz0123456789-_.:/|+{}\"'\\\x01" + _MULTIBYTE), min_size=1, max_size=6),
    st.integers(110, 260),
)
names = st.text(_CHARS, min_size=1, max_size=20)
keys = st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True), short_text)
leaves = st.one_of(
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.integers(-(10**6), 10**6).map(lambda n: n / 8),
    short_text,
    long_text,
)


def _tables(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, st.one_of(st.none(), children), max_size=4),
    )


data_values = st.recursive(leaves, _tables, max_leaves=5)
hook_data = st.dictionaries(keys, st.one_of(st.none(), data_values), max_size=5)


@dataclass
class Payload:
    event: str
    source: str
    data: dict[Any, Any]
    pid: int


@st.composite
def payloads(draw: st.DrawFn) -> Payload:
    event, source, data = draw(names), draw(names), draw(hook_data)
    pid = draw(st.integers(1, 99999))
    exact = draw(st.sampled_from([None, None, WIDTH, 2 * WIDTH]))
    if exact is not None:
        # A data line of exactly `exact` bytes: Kong adds an all-blank row after it.
        data = dict(data)
        data["pad"] = ""
        lines = kongsim.event_hook_message(event, source, data, pid).split("\n")
        [line] = [x for x in lines if x.startswith('    pad = ""')]
        need = exact - len(line.encode())
        if need > 0:
            wide = draw(st.text(st.sampled_from(_MULTIBYTE), max_size=need // 4))
            data["pad"] = wide + "x" * (need - len(wide.encode()))
            check = [x for x in kongsim.event_hook_message(event, source, data, pid).split("\n") if "    pad = " in x]
            assert len(check[0].encode()) == exact
        else:
            del data["pad"]
    return Payload(event, source, data, pid)


# --------------------------------------------------------------------------- logs

NOISE = {
    "debug": "[lua] balancer.lua:123: fetching upstream, host: {}",
    "info": "*{} client closed connection while waiting for request, client: 10.0.0.1, server: 0.0.0.0:8000",
    "notice": "signal process started",
    "warn": "*{} [lua] init.lua:88: warning text, client: 10.0.0.1, server: 0.0.0.0:8000",
    "error": "*{} connect() failed (111: Connection refused) while connecting to upstream, client: 192.0.2.1, "
    'server: kong, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9/", host: "x"',
}


@dataclass
class Box:
    worker: int
    payload: Payload
    units: list[bytes]  # what one write() put in the log: a line, or a whole multi-line 0.14 entry
    offset: int = -1  # of its first byte in the generated log


def make_box(layout: str, worker: int, p: Payload) -> Box:
    lay = LAYOUTS[layout]
    message = kongsim.event_hook_message(p.event, p.source, p.data, p.pid)
    lines = kongsim.box_lines(TIME, lay.level, worker, lay.header, message, layout, conn=lay.conn, suffix=lay.suffix)
    return Box(worker, p, [line.encode("utf-8", "surrogateescape") + b"\n" for line in lines])


@dataclass
class Log:
    data: bytes
    boxes: list[Box]
    errors: int  # warn/error entries among the noise


@st.composite
def logs(draw: st.DrawFn, layout: str, min_boxes: int = 1) -> Log:
    workers = draw(st.lists(st.integers(100, 65535), min_size=1, max_size=4, unique=True))
    spec = draw(st.lists(st.tuples(st.sampled_from(workers), payloads()), min_size=min_boxes, max_size=4))
    boxes = [make_box(layout, w, p) for w, p in spec]
    if layout == "0.14":
        assume(all(len(b.units[0]) <= MAX_ENTRY for b in boxes))
    noise = draw(st.lists(st.tuples(st.sampled_from(sorted(NOISE)), st.integers(0, 3)), max_size=6))
    # Each worker's writes in order; each noise entry on its own (other processes: any order).
    queues: list[list[tuple[bytes, Box | None]]] = []
    for w in workers:
        queues.append([(u, b if i == 0 else None) for b in boxes if b.worker == w for i, u in enumerate(b.units)])
    for level, n in noise:
        msg = NOISE[level].format(n + 1)
        queues.append([(kongsim.error_line(TIME, level, 70000 + n, msg).encode() + b"\n", None)])
    rng = draw(st.randoms(use_true_random=False))
    out = bytearray()
    queues = [q for q in queues if q]
    while queues:
        q = rng.choice(queues)
        unit, first_of = q.pop(0)
        if first_of is not None:
            first_of.offset = len(out)
        out += unit
        if not q:
            queues.remove(q)
    return Log(bytes(out), boxes, sum(level in ("warn", "error") for level, _ in noise))


# --------------------------------------------------------------------------- checks


def expected_hooks(boxes: list[Box]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for b in boxes:
        p = b.payload
        [data] = decode_values(kongsim.inspect(p.data))
        out.setdefault(b.worker, []).append((p.source, p.event, typed(data), p.pid, b.offset))
    return out


def actual_hooks(events: list[Event]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for e in events:
        if isinstance(e, EventHook):
            assert e.worker is not None
            out.setdefault(e.worker, []).append((e.source, e.event, typed(e.data), e.pid, e.offset))
    return out


def parse_both_ways(data: bytes, seed: int) -> list[list[Event]]:
    return [parse_bytes(data, fmt="error"), parse_bytes(random_pieces(data, seed), fmt="error")]


def check_log(log: Log, seed: int) -> None:
    want = expected_hooks(log.boxes)
    for events in parse_both_ways(log.data, seed):
        problems = [e for e in events if isinstance(e, ParseError)]
        assert problems == [], problems[0].reason + "\n" + problems[0].raw
        assert [e.kind for e in events if e.kind not in ("event_hook", "error")] == []
        assert actual_hooks(events) == want
        assert sum(isinstance(e, Error) for e in events) == log.errors


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(st.data(), st.integers(0, 2**32))
def test_layout_1_0_1(data: st.DataObject, seed: int) -> None:
    check_log(data.draw(logs("1.0.1")), seed)


@SETTINGS
@given(st.data(), st.integers(0, 2**32))
def test_layout_2_7(data: st.DataObject, seed: int) -> None:
    check_log(data.draw(logs("2.7")), seed)


@SETTINGS
@given(st.data(), st.integers(0, 2**32))
def test_layout_3_9(data: st.DataObject, seed: int) -> None:
    check_log(data.draw(logs("3.9")), seed)


@SETTINGS
@given(st.data(), st.integers(0, 2**32))
def test_layout_0_14(data: st.DataObject, seed: int) -> None:
    check_log(data.draw(logs("0.14")), seed)


def test_edge_cases_are_generated_as_kong_prints_them() -> None:
    """A wrap splitting "é", the blank row after a 120-byte line, and an unboxed 1.0.1 line, read back."""
    p = Payload("consumers", "crud", {"a": "é" * 70, "pad": "x" * (WIDTH - len('    pad = ""'))}, 7)
    box = make_box("3.9", 1, p)
    rows = [u[u.index(b"|") :] for u in box.units if b"|" in u]
    assert b"|" + b" " * WIDTH + b"|\n" in rows
    assert any(r.startswith(b"|\xa9") for r in rows)
    box.offset = 0
    check_log(Log(b"".join(box.units), [box], 0), 1)
    short = make_box("1.0.1", 1, Payload("e", "s", {}, 7))
    assert len(short.units) == 1 and b"|" not in short.units[0]
    short.offset = 0
    check_log(Log(short.units[0], [short], 0), 3)


# --------------------------------------------------------------------------- broken boxes


def _drop_footer(log: Log, box: Box) -> Log:
    """`log` without the footer of `box` (its last line); offsets after it move back."""
    start = box.offset
    for unit in box.units[1:]:  # in order: the 1.0.1 footer is the same bytes as the opening border
        start = log.data.index(unit, start + 1)
    footer = box.units[-1]
    data = log.data[:start] + log.data[start + len(footer) :]
    kept = [b for b in log.boxes if b is not box]
    for b in kept:
        if b.offset > start:
            b.offset -= len(footer)
    return Log(data, kept, log.errors)


def check_missing_footer(log: Log, broken: Box, seed: int) -> None:
    cut = _drop_footer(log, broken)
    want = expected_hooks(cut.boxes)
    for events in parse_both_ways(cut.data, seed):
        problems = [e for e in events if isinstance(e, ParseError)]
        assert [(e.offset, e.raw.split("\n", 1)[0]) for e in problems] == [
            (broken.offset, broken.units[0].decode("utf-8", "replace").rstrip("\n"))
        ]
        assert actual_hooks(events) == want
        assert sum(isinstance(e, Error) for e in events) == cut.errors


@SETTINGS
@given(st.data(), st.sampled_from(["2.7", "3.9"]), st.integers(0, 2**32))
def test_missing_footer_is_one_parse_error(data: st.DataObject, layout: str, seed: int) -> None:
    """At the worker's next header, or at the end of the input; the following boxes still decode."""
    log = data.draw(logs(layout, min_boxes=2))
    broken = data.draw(st.sampled_from(log.boxes))
    check_missing_footer(log, broken, seed)


@SETTINGS
@given(st.data(), st.integers(0, 2**32))
def test_missing_footer_at_end_of_input_1_0_1(data: st.DataObject, seed: int) -> None:
    """1.0.1 – 2.6 boxes have no header: a missing footer shows at the end of the input (or at another line
    of the worker); at the worker's next box its opening border would close the box instead."""
    log = data.draw(logs("1.0.1", min_boxes=1))
    last = {b.worker: b for b in log.boxes}
    candidates = [b for b in last.values() if len(b.units) > 1]
    assume(candidates)
    broken = data.draw(st.sampled_from(candidates))
    check_missing_footer(log, broken, seed)


def test_missing_footer_then_next_box_of_same_worker() -> None:
    rng = random.Random(5)
    payloads_ = [Payload(f"ev{i}", "src", {"n": i, "s": "q" * rng.randint(100, 300)}, 40 + i) for i in range(3)]
    for layout in ("2.7", "3.9"):
        boxes = [make_box(layout, 11, p) for p in payloads_]
        data = bytearray()
        for b in boxes:
            b.offset = len(data)
            data += b"".join(b.units)
        log = Log(bytes(data), boxes, 0)
        check_missing_footer(log, boxes[0], 9)
