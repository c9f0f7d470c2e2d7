"""Pasted excerpts (issue 12, point 7): error-log entries whose timestamp is cut or missing, nginx's stderr form,
Docker Desktop's per-line prefix, and files that hold both error and access lines whatever their first line.

An entry without its whole timestamp is an `error` event like any other, with `time` None (a cut year could be
any century), counted in the parser's stats as `entries_without_time`. (The fixtures tests/fixtures/error/pasted-*
and tests/fixtures/mixed/{docker-desktop,pasted}-* show whole excerpts.)
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.cli import main
from tailer.events import Error, Event, Http, ParseError
from tailer.lines import LineBuffer
from tailer.parse import ParseContext, detect_format, error_lines, make_parser
from tailer.parse.accesslog import BUILTIN, compile_log_format
from tailer.parse.base import container_prefix
from tailer.parse.errorlog import ErrorLogParser, entry_start
from tailer.reader import Reader, ReadOptions
from tailer.rules.engine import Engine
from tailer.rules.load import load_texts
from tests.conftest import HOST, parse_bytes, random_pieces
from tests.test_scan_paths import LINES, LineByLine

SUFFIX = b', client: 10.0.0.5, server: kong, request: "GET /orders HTTP/1.1", host: "api.example.test"'
ACCESS = b'10.0.0.5 - - [14/Sep/2021:15:09:31 +0000] "GET /orders HTTP/1.1" 502 150 "-" "curl/8.5.0"'
ACCESS_200 = b'10.0.0.5 - - [14/Sep/2021:15:09:31 +0000] "GET /health HTTP/1.1" 200 2 "-" "curl/8.5.0"'
DESKTOP = b"2025-03-12 15:33:34 "

# line → (level, pid, conn, message)
FORMS = {
    b"021/09/14 15:09:31 [error] 31#0: *96468 connect() failed (111: Connection refused) while connecting to upstream"
    + SUFFIX: ("error", 31, 96468, "connect() failed (111: Connection refused)"),
    b"1/09/14 15:09:31 [error] 31#0: *96468 msg": ("error", 31, 96468, "msg"),
    b"/09/14 15:09:31 [error] 31#0: *96468 msg": ("error", 31, 96468, "msg"),
    b"09/14 15:09:31 [error] 31#0: msg": ("error", 31, None, "msg"),
    b"9/14 15:09:31 [warn] 31#0: *7 a client request body is buffered": (
        "warn",
        31,
        7,
        "a client request body is buffered",
    ),
    b"/14 15:09:31 [crit] 31#0: *7 msg": ("crit", 31, 7, "msg"),
    b"14 15:09:31 [error] msg": ("error", None, None, "msg"),
    b" 15:09:31 [error] msg": ("error", None, None, "msg"),
    b"15:09:31 [error] msg": ("error", None, None, "msg"),
    b"5:09:31 [error] msg": ("error", None, None, "msg"),
    b":09:31 [error] msg": ("error", None, None, "msg"),
    b"09:31 [error] msg": ("error", None, None, "msg"),
    b":31 [error] msg": ("error", None, None, "msg"),
    b"31 [error] msg": ("error", None, None, "msg"),
    b"1 [error] msg": ("error", None, None, "msg"),
    b"[error] 31#0: *96468 upstream timed out (110: Connection timed out)" + SUFFIX: (
        "error",
        31,
        96468,
        "upstream timed out (110: Connection timed out)",
    ),
    b"[error] msg": ("error", None, None, "msg"),
    b"[alert] 1#0: worker process 31 exited on signal 9": ("alert", 1, None, "worker process 31 exited on signal 9"),
    b'nginx: [emerg] invalid parameter "x" in /etc/nginx/nginx.conf:12': (
        "emerg",
        None,
        None,
        'invalid parameter "x" in /etc/nginx/nginx.conf:12',
    ),
    b'nginx: [alert] could not open error log file: open() "/usr/local/kong/logs/error.log" failed (13: Permission '
    b"denied)": (
        "alert",
        None,
        None,
        'could not open error log file: open() "/usr/local/kong/logs/error.log" failed (13: Permission denied)',
    ),
    b"kong-1  | nginx: [emerg] bind() to 0.0.0.0:8000 failed (98: Address already in use)": (
        "emerg",
        None,
        None,
        "bind() to 0.0.0.0:8000 failed (98: Address already in use)",
    ),
    DESKTOP + b"nginx: [warn] load balancing method redefined": ("warn", None, None, "load balancing method redefined"),
    b"[pod/kong-7d9/proxy] [error] 31#0: *5 msg": ("error", 31, 5, "msg"),
}


def _errors(events: list[Event]) -> list[Error]:
    assert not [e for e in events if not isinstance(e, Error)], events
    return [e for e in events if isinstance(e, Error)]


@pytest.mark.parametrize("fmt", ["auto", "error", "mixed"])
@pytest.mark.parametrize("line", sorted(FORMS), ids=lambda b: b.decode()[:40])
def test_an_entry_without_its_whole_timestamp_is_an_error_event_of_unknown_time(line: bytes, fmt: str) -> None:
    level, pid, conn, message = FORMS[line]
    assert entry_start(line)
    assert detect_format(line + b"\n") == "error"
    (event,) = _errors(parse_bytes(line + b"\n", fmt))
    assert (event.time, event.level, event.pid, event.conn, event.message) == (None, level, pid, conn, message)
    assert event.raw == line.decode()


def test_the_suffix_and_cause_are_read_as_usual() -> None:
    (line,) = [line for line in FORMS if line.startswith(b"021/09/14")]
    (event,) = _errors(parse_bytes(line + b"\n"))
    assert event.time is None
    assert (event.cause, event.status, event.action) == ("upstream_refused", 502, "connecting to upstream")
    assert (event.client, event.server, event.request, event.http_host) == (
        "10.0.0.5",
        "kong",
        "GET /orders HTTP/1.1",
        "api.example.test",
    )


def test_a_cut_year_is_not_guessed() -> None:
    """`021/09/14` could be 2021 or 1021 or 3021; `21/09/14` and `1/09/14` likewise: no time at all."""
    for stamp in (b"021/09/14 15:09:31", b"21/09/14 15:09:31", b"1/09/14 15:09:31", b"9/14 15:09:31"):
        (event,) = _errors(parse_bytes(stamp + b" [error] 31#0: *1 msg\n", "error"))
        assert event.time is None


def test_continuation_lines_attach_to_an_entry_without_time() -> None:
    data = (
        b"[error] 31#0: *96468 lua entry thread aborted: runtime error: handler.lua:42: attempt to index local "
        b"'conf' (a nil value)\nstack traceback:\ncoroutine 0:\n\taccess_by_lua(nginx-kong.conf:121):2: in main chunk"
        + SUFFIX
        + b"\n"
        b"2021/09/14 15:09:32 [error] 31#0: *96469 next\n"
    )
    for fmt in ("error", "mixed", "auto"):
        first, second = _errors(parse_bytes(data, fmt))
        assert first.time is None and first.cause == "lua_error" and first.status == 500
        assert first.message.endswith(
            "stack traceback:\ncoroutine 0:\n\taccess_by_lua(nginx-kong.conf:121):2: in main chunk"
        )
        assert first.request == "GET /orders HTTP/1.1"
        assert second.time == datetime(2021, 9, 14, 15, 9, 32, tzinfo=UTC)


def test_stderr_lines_after_an_emerg_continue_it() -> None:
    data = b'nginx: [emerg] unknown directive "x" in /etc/nginx/nginx.conf:3\nnginx: configuration file test failed\n'
    (event,) = _errors(parse_bytes(data))
    assert event.message == 'unknown directive "x" in /etc/nginx/nginx.conf:3\nnginx: configuration file test failed'


def test_below_warn_without_time_is_passed_over_as_usual() -> None:
    data = b"9/14 15:09:31 [debug] 31#0: *1 plain\ncontinued\n[notice] 1#0: signal process started\nnginx: [info] x\n"
    assert parse_bytes(data, "error") == []
    events = parse_bytes(data, "error", emit_all=True)
    assert [(e.level, e.time) for e in _errors(events)] == [("debug", None), ("notice", None), ("info", None)]
    (client,) = _errors(parse_bytes(b"[info] 31#0: *5 client prematurely closed connection" + SUFFIX + b"\n"))
    assert (client.cause, client.status, client.time) == ("client_closed", 499, None)


@pytest.mark.parametrize(
    "line",
    [
        b"[lua] handler.lua:1: not a level",
        b"[kong] init.lua:1 not a level",
        b"[] 1#0: the empty level needs a whole timestamp",
        b"nginx: configuration file /etc/nginx/nginx.conf test failed",
        b"123 [error] three digits are no tail of HH:MM:SS",
        b"021/9/14 15:09:31 [error] a tail must be the timestamp's own shape",
        b"[Error] levels are lower case",
        b"[error]no space",
    ],
)
def test_what_is_still_no_entry(line: bytes) -> None:
    events = parse_bytes(line + b"\n", "error")
    assert [type(e) for e in events] == [ParseError]
    # and after an entry, it continues it
    (entry,) = _errors(parse_bytes(b"[error] 1#0: first\n" + line + b"\n", "error"))
    assert entry.message == "first\n" + line.decode()


def test_an_impossible_date_is_still_no_time_and_no_entry() -> None:
    """A whole timestamp that is no date is junk, as before: only a cut or missing one makes an entry."""
    events = parse_bytes(b"[error] 1#0: first\n2025/13/45 99:99:99 [error] 1#0: not a date\n", "error")
    assert [type(e) for e in events] == [Error, ParseError]


def test_a_whole_timestamp_later_in_a_cut_line_is_message_text() -> None:
    """The cut prefix at the start wins over a prefix a client may have put in the request line; lines after
    it are read at column 0 as before."""
    fake = b'[error] 31#0: *1 client sent invalid request line: "2021/09/14 15:09:31 [error] 9#0: *9 fake"'
    data = fake + b"\n2021/09/14 15:09:32 [error] 31#0: *2 real\nstack traceback:\n"
    first, second = _errors(parse_bytes(data, "error"))
    assert (first.pid, first.conn, first.time) == (31, 1, None)
    assert first.message == fake.decode().split("*1 ", 1)[1]
    assert (second.conn, second.message) == (2, "real\nstack traceback:")


def test_entries_without_time_are_counted() -> None:
    data = b"".join(line + b"\n" for line in FORMS) + b"2021/09/14 15:09:32 [error] 31#0: *2 timed\n"
    for fmt in ("error", "mixed"):
        buf = LineBuffer()
        parser = make_parser(fmt, ParseContext("t.log", HOST, UTC))
        events = [e for chunk in buf.push(data) + buf.finish() for e in parser.feed(chunk)] + parser.finish()
        assert len(_errors(events)) == len(FORMS) + 1
        assert parser.stats["entries_without_time"] == len(FORMS)
    parser = ErrorLogParser(ParseContext("t.log", HOST, UTC))
    buf = LineBuffer()
    for chunk in buf.push(b"[debug] 1#0: below warn\n[error] 1#0: x\n") + buf.finish():
        parser.feed(chunk)
    parser.finish()
    assert parser.stats["entries_without_time"] == 1 and parser.stats["entries_below_warn"] == 1


# --------------------------------------------------------------------------- Docker Desktop


def test_docker_desktop_prefix_is_a_container_prefix() -> None:
    assert container_prefix(DESKTOP + ACCESS) == len(DESKTOP)
    assert container_prefix(b"2025-03-12T15:33:34 x") == 0
    assert container_prefix(b"2025/03/12 15:33:34 [error] x") == 0


def test_docker_desktop_stream_is_mixed_and_both_kinds_are_read() -> None:
    data = (
        DESKTOP + ACCESS_200 + b"\n"
        + DESKTOP + b"2025/03/12 14:33:34 [error] 1311#0: *5140 lua entry thread aborted: runtime error: x\n"
        + b"2025-03-12 15:33:34 stack traceback:\n"
        + b"2025-03-12 15:33:35 coroutine 0:\n"  # the host's clock ticked within one entry
        + b"2025-03-12 15:33:35 \tin main chunk" + SUFFIX + b"\n"
        + DESKTOP + ACCESS + b"\n"
    )  # fmt: skip
    assert detect_format(data) == "mixed"
    events = parse_bytes(data)
    error, http = events
    assert isinstance(error, Error) and isinstance(http, Http)
    assert error.time == datetime(2025, 3, 12, 14, 33, 34, tzinfo=UTC)  # the entry's own time, not Docker's
    assert (
        error.message == "lua entry thread aborted: runtime error: x\nstack traceback:\ncoroutine 0:\n\tin main chunk"
    )
    assert (http.status, http.time) == (502, datetime(2021, 9, 14, 15, 9, 31, tzinfo=UTC))
    for seed in range(3):
        assert [e.to_json() for e in parse_bytes(random_pieces(data, seed))] == [e.to_json() for e in events]


def test_docker_desktop_access_only_and_error_only() -> None:
    access = DESKTOP + ACCESS + b"\n" + DESKTOP + ACCESS_200 + b"\n"
    assert detect_format(access) == "access"
    assert [e.status for e in parse_bytes(access) if isinstance(e, Http)] == [502]
    error = DESKTOP + b"2025/03/12 14:33:34 [error] 1#0: *1 x\n"
    assert detect_format(error) == "error"
    assert [e.message for e in _errors(parse_bytes(error))] == ["x"]


def test_a_log_format_that_starts_like_docker_desktop_is_still_detected() -> None:
    """A format of one's own whose lines start with `YYYY-MM-DD HH:MM:SS `: the whole line is tried first."""
    fmt = compile_log_format('$date_day $date_time $remote_addr "$request" $status', "dated")
    line = b'2025-03-12 15:33:34 10.0.0.5 "GET / HTTP/1.1" 503'
    assert detect_format(line + b"\n", (fmt, *BUILTIN)) == "access"
    (event,) = parse_bytes(line + b"\n", formats=(fmt, *BUILTIN))
    assert isinstance(event, Http) and event.status == 503


# --------------------------------------------------------------------------- a file holding both kinds


EXCERPTS = {
    "errors, then access": [b"[error] 31#0: *1 x", b"nginx: [alert] 1#0: y", ACCESS, ACCESS_200],
    "cut, then access": [b"021/09/14 15:09:31 [error] 31#0: *1 x", ACCESS],
    "prose first": [b"From the gateway:", b"2021/09/14 15:09:31 [error] 31#0: *1 x", b"access log:", ACCESS],
    "access first": [ACCESS, b"2021/09/14 15:09:31 [error] 31#0: *1 x"],
    "access after many errors": [b"2021/09/14 15:09:31 [error] 31#0: *1 x"] * 150 + [ACCESS],
    "json first": [b'{"response": {"status": 500}, "request": {"method": "GET"}}', b"[error] 1#0: x", ACCESS],
}


@pytest.mark.parametrize("name", sorted(EXCERPTS))
def test_a_file_with_both_kinds_is_mixed_whatever_its_first_line(name: str, tmp_path: Path) -> None:
    data = b"".join(line + b"\n" for line in EXCERPTS[name])
    assert detect_format(data) == "mixed"
    path = tmp_path / "paste.log"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["parse", "--tz", "UTC", "--host", "h", str(path)])
    assert result.exit_code == 0, result.output
    assert "mixed log" in result.stderr
    kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert "http" in kinds and "error" in kinds
    # the reader decides alike however the file comes in chunks (it reads error lines at once while all are)
    whole = _read(data, [len(data)])
    for sizes in ([1] * len(data), [7, 64, 3] * len(data)):
        assert _read(data, sizes) == whole
    assert [json.loads(j)["kind"] for j in whole] == kinds


def _read(data: bytes, sizes: list[int]) -> list[str]:
    reader = Reader(ReadOptions("auto", ParseContext("", "h", UTC)), "paste.log")
    buf = LineBuffer()
    out: list[Event] = []
    pos = 0
    for n in sizes:
        if pos >= len(data):
            break
        for chunk in buf.push(data[pos : pos + n]):
            out += reader.feed(chunk)
        pos += n
    for chunk in buf.finish():
        out += reader.feed(chunk)
    out += reader.finish()
    assert reader.fmt == "mixed"
    return [e.to_json() for e in out if e.kind != "tally"]


def test_error_lines_and_detect_format_agree() -> None:
    for line in FORMS:
        assert error_lines(line + b"\n")
    assert not error_lines(b"[error] x\n" + ACCESS + b"\n")


# --------------------------------------------------------------------------- the scan and line() alike


CUT_LINES = st.sampled_from(
    [
        [b"021/09/14 15:09:31 [error] 31#0: *96468 cut" + SUFFIX],
        [b"9/14 15:09:31 [debug] 7#0: *1 |a row without time?"],
        [b"[debug] 8#0: *4 +not a border"],
        [b"[notice] 7#0: [kong] init.lua:1 a notice without time"],
        [b"[info] 7#0: *5 client prematurely closed connection" + SUFFIX],
        [b"[error] 7#0: *3 lua entry thread aborted: runtime error: x", b"stack traceback:", b"\tcoroutine 0:"],
        [b'nginx: [emerg] invalid parameter "x" in /etc/nginx/nginx.conf:12'],
        [b"nginx: [notice] signal process started", b"continued"],
        [b"kong-1  | nginx: [emerg] x", b"kong-1  | more"],
        [DESKTOP + b"2024/02/29 10:00:09 [debug] 7#0: *1 behind Docker Desktop's prefix"],
        [DESKTOP + b"[error] 7#0: after Docker Desktop's prefix"],
        [b"[lua] no level"],
        [b'[error] 7#0: *1 sent "2024/02/29 10:00:01 [debug] 8#0: fake"'],
    ]
).map(lambda lines: [line.decode() for line in lines])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(LINES, CUT_LINES), max_size=14), st.booleans())
def test_the_scan_and_line_by_line_read_pasted_lines_alike(blocks: list[list[str]], emit_all: bool) -> None:
    data = "".join(line + "\n" for block in blocks for line in block).encode()
    ctx = ParseContext("t.log", HOST, UTC, emit_all)
    whole = _scan_events(ErrorLogParser(ctx), data)
    assert whole == _scan_events(LineByLine(ctx), data)
    assert whole == _scan_events(ErrorLogParser(ctx), data, 1)  # a line a chunk


def _scan_events(parser: ErrorLogParser, data: bytes, size: int = 0) -> list[str]:
    buf = LineBuffer()
    out: list[Event] = []
    reads = [data[i : i + size] for i in range(0, len(data), size)] if size else [data]
    for piece in reads:
        for chunk in buf.push(piece):
            out += parser.feed(chunk)
    for chunk in buf.finish():
        out += parser.feed(chunk)
    out += parser.finish()
    return [e.to_json() for e in out]


# --------------------------------------------------------------------------- linear time


HOSTILE = {
    "digits": b"1" * 200_000,
    "digits-space": b"1" * 200_000 + b" ",
    "slashes": b"9/" * 100_000,
    "word-no-bar": b"a" * 200_000 + b" x",
    "word-spaces": b"a" + b" " * 200_000 + b"x",
    "pod-unclosed": b"[pod/" + b"x" * 200_000,
    "desktop-repeated": DESKTOP * 10_000,
    "nginx-repeated": b"nginx: " * 30_000,
    "brackets": b"[error" * 30_000,
    "colons": b":09" * 70_000,
    "tails": b"9/14 15:09:31 " * 15_000 + b"[err",
    "cut-then-junk": b"[error] 1#0: *" + b"1" * 200_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_lines_are_read_in_linear_time(name: str) -> None:
    """200 KB of each: far under a second when linear (a quadratic regex would take minutes). Timings on a
    shared machine vary, hence the generous bound; `entry_start` is what every line of a mixed stream meets."""
    line = HOSTILE[name]
    start = time.perf_counter()
    entry_start(line)
    container_prefix(line)
    detect_format(line + b"\n")
    for fmt in ("error", "mixed"):
        events = parse_bytes(line + b"\n", fmt, max_line=len(line) + 10)
        assert all(isinstance(e, Event) for e in events)
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- rules


RULES = """
[[rule]]
name = "startup"
kind = "error"
when = 'level in ["emerg", "alert", "crit"]'
notify = ["slack"]
text = "{{ level }}: {{ message }}"

[[rule]]
name = "upstream"
kind = "error"
when = 'cause == "upstream_refused"'
threshold = { count = 2, within = "1m" }
notify = ["slack"]
text = "{{ count }} x {{ cause }}"
"""


def test_rules_take_events_without_time_at_the_latest_time_seen() -> None:
    data = (
        b"2021/09/14 15:09:30 [error] 31#0: *1 connect() failed (111: Connection refused) while connecting to "
        b"upstream" + SUFFIX + b"\n"
        b"[error] 31#0: *2 connect() failed (111: Connection refused) while connecting to upstream" + SUFFIX + b"\n"
        b'nginx: [emerg] invalid parameter "x" in /etc/nginx/nginx.conf:12\n'
    )
    events = parse_bytes(data, "error")
    engine = Engine(load_texts([("t.toml", RULES)]).rules)
    alerts = engine.feed(events) + engine.finish()
    assert sorted(a.rule.name for a in alerts) == ["startup", "upstream"]
    assert {a.time for a in alerts} == {datetime(2021, 9, 14, 15, 9, 30, tzinfo=UTC)}


def test_replay_of_a_paste(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(RULES)
    log = tmp_path / "paste.log"
    log.write_bytes(
        b'nginx: [emerg] invalid parameter "x" in /etc/nginx/nginx.conf:12\n[error] 31#0: *2 x\n' + ACCESS + b"\n"
    )
    result = CliRunner().invoke(main, ["replay", "--json", "--tz", "UTC", "--rules", str(rules), str(log)])
    assert result.exit_code == 0, result.output
    assert "mixed log, 3 lines" in result.stderr
    (message,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert message["rules"] == ["startup"]
    assert re.search(r"emerg: invalid parameter", json.dumps(message["payload"]))
