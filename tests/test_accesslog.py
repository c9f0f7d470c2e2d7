# ruff: noqa: E501  (verbatim nginx access-log lines and file-log records below)
"""Access logs (tailer.parse.accesslog) and file-log / http-log JSON (tailer.parse.filelog) → `http` events.

Line shapes follow shared/reference/kong-log-formats.md sections 5.1 – 5.3 (copied here: tests read nothing
under /work/shared).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.errors import ConfigError
from tailer.events import Event, Http, ParseError, Tally
from tailer.lines import LineBuffer
from tailer.parse import ParseContext, detect_format, make_parser
from tailer.parse.accesslog import BUILTIN, COMBINED, LogFormat, compile_log_format
from tests.conftest import HOST, parse_bytes

KONG_FMT, COMBINED_FMT, STREAM_FMT = BUILTIN

# Kong >= 3.5, <= 3.4 (nginx combined) and stream `basic` lines, as in section 5.2 of the reference.
KONG_429 = b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1" 429 92 "-" "curl/8.5.0" kong_request_id: "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"'
KONG_504 = b'10.0.0.5 - - [15/Jan/2025:10:00:04 +0000] "GET /orders HTTP/1.1" 504 102 "-" "curl/8.5.0" kong_request_id: "0a3d6f9c2e5b8a1d4f7c0e3b6a9d2f5c"'
KONG_502 = b'10.0.0.5 - - [15/Jan/2025:10:00:06 +0000] "GET /orders HTTP/1.1" 502 126 "-" "curl/8.5.0" kong_request_id: "d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7"'
KONG_499 = b'10.0.0.5 - - [15/Jan/2025:10:00:08 +0000] "GET /slow HTTP/2.0" 499 0 "-" "curl/8.5.0" kong_request_id: "0123456789abcdef0123456789abcdef"'
KONG_200 = b'10.0.0.5 - - [15/Jan/2025:10:00:09 +0000] "GET /fine HTTP/1.1" 200 15 "-" "curl/8.5.0" kong_request_id: "1123456789abcdef0123456789abcdef"'
COMBINED_401 = b'10.0.0.5 - - [15/Jan/2023:10:00:01 +0000] "GET /orders HTTP/1.1" 401 45 "-" "curl/7.88.1"'
COMBINED_503 = b'10.0.0.5 - - [15/Jan/2020:10:00:03 +0000] "GET /orders HTTP/1.1" 503 36 "-" "curl/7.68.0"'
COMBINED_301 = b'10.0.0.5 - - [15/Jan/2023:10:00:02 +0000] "GET /old HTTP/1.1" 301 0 "-" "curl/7.88.1"'
STREAM_200 = b"192.0.2.20 [15/Jan/2025:10:00:05 +0000] TCP 200 1520 380 2.013"
STREAM_502 = b"192.0.2.21 [15/Jan/2025:10:00:07 +0000] TCP 502 0 380 0.004"


def run(
    data: bytes,
    formats: tuple[LogFormat, ...] = BUILTIN,
    *,
    fmt: str = "access",
    emit_all: bool = False,
    zone: tzinfo = UTC,
    tallies: bool = False,
) -> tuple[list[Event], Counter[str]]:
    """Events and parser stats for `data`, fed the way the drivers feed it (`Tally` events only if asked)."""
    parser = make_parser(fmt, ParseContext("access.log", HOST, zone, emit_all, tallies=tallies), formats)
    lines = LineBuffer()
    events: list[Event] = []
    for chunk in lines.push(data):
        events.extend(parser.feed(chunk))
    for chunk in lines.finish():
        events.extend(parser.feed(chunk))
    events.extend(parser.finish())
    return (events if tallies else [e for e in events if not isinstance(e, Tally)]), parser.stats


def only_http(events: list[Event]) -> Http:
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, Http), event
    return event


# =========================================================================== compile_log_format


def test_plain_format_string() -> None:
    fmt = compile_log_format('$remote_addr "$request" $status $request_time')
    assert (fmt.name, fmt.escape, fmt.source) == ("custom", "default", '$remote_addr "$request" $status $request_time')
    m = fmt.regex.match(b'10.0.0.1 "GET /a HTTP/1.1" 404 0.012')
    assert m is not None
    assert m.groupdict() == {
        "remote_addr": b"10.0.0.1",
        "request": b"GET /a HTTP/1.1",
        "status": b"404",
        "request_time": b"0.012",
    }
    assert fmt.regex.match(b'10.0.0.1 "GET /a HTTP/1.1" 404 0.012 trailing') is None


def test_braced_variable_syntax() -> None:
    fmt = compile_log_format("${remote_addr}-${status}:${request_time}s ${uri}")
    m = fmt.regex.match(b"10.0.0.1-404:0.500s /orders")
    assert m is not None
    assert m.groupdict() == {"remote_addr": b"10.0.0.1", "status": b"404", "request_time": b"0.500", "uri": b"/orders"}


JSON_DIRECTIVE = """log_format main escape=json '{"time":"$time_iso8601","status":$status,'
                                 '"request":"$request","ua":"$http_user_agent",'
                                 '"rt":$request_time,"up":"$upstream_addr","rid":"$request_id"}';"""


def test_whole_directive_with_several_quoted_pieces() -> None:
    fmt = compile_log_format(JSON_DIRECTIVE, "ignored")
    assert fmt.name == "main"
    assert fmt.escape == "json"
    assert fmt.source == (
        '{"time":"$time_iso8601","status":$status,"request":"$request","ua":"$http_user_agent",'
        '"rt":$request_time,"up":"$upstream_addr","rid":"$request_id"}'
    )


def test_directive_quoted_pieces_are_unescaped_as_nginx_does() -> None:
    """nginx undoes `\\"` inside a double-quoted config string (and `\\'` inside a single-quoted one)."""
    fmt = compile_log_format('log_format dq escape=json "{\\"status\\":$status,\\"uri\\":\\"$uri\\"}";')
    assert fmt.source == '{"status":$status,"uri":"$uri"}'
    event = only_http(parse_bytes(b'{"status":503,"uri":"/a"}\n', "access", formats=(fmt,)))
    assert (event.status, event.path) == (503, "/a")


def test_directive_pieces_are_concatenated_in_order() -> None:
    fmt = compile_log_format(
        "log_format  main\n  '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
        "  '$status $body_bytes_sent \"$http_referer\" '\n  '\"$http_user_agent\"';\n"
    )
    assert fmt.name == "main"
    assert fmt.escape == "default"
    assert fmt.source == COMBINED
    assert fmt.regex.match(COMBINED_401) is not None


def test_directive_without_escape_and_with_double_quotes() -> None:
    fmt = compile_log_format('log_format short "$remote_addr $status";')
    assert (fmt.name, fmt.escape, fmt.source) == ("short", "default", "$remote_addr $status")


def test_escape_json_values_are_unescaped() -> None:
    fmt = compile_log_format(
        'log_format j escape=json \'{"status":$status,"request":"$request","ua":"$http_user_agent","ref":"$http_referer"}\';'
    )
    line = (
        b'{"status":500,"request":"GET /a HTTP/1.1","ua":"Mozilla \\"quoted\\" back\\\\slash\\ttab \\u0001 \xc3\xa9",'
        b'"ref":"-"}'
    )
    event = only_http(parse_bytes(line, "access", formats=(fmt,)))
    assert event.user_agent == 'Mozilla "quoted" back\\slash\ttab \x01 é'
    assert event.referer is None
    assert (event.method, event.path, event.protocol, event.status) == ("GET", "/a", "HTTP/1.1", 500)


def test_escape_default_hex_escapes_are_unescaped() -> None:
    line = (
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /caf\\xE2\\x9C\\x93?q=\\x22x\\x22 HTTP/1.1" 404 9 '
        b'"-" "agent \\x5Cx41" kong_request_id: "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"'
    )
    event = only_http(parse_bytes(line, "access"))
    assert event.path == '/caf✓?q="x"'
    assert event.user_agent == "agent \\x41"  # `\x5C` is an escaped backslash: the rest stays literal
    assert event.method == "GET"
    assert event.request_id == "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"


def test_dash_is_none() -> None:
    fmt = compile_log_format('$remote_addr "$request" $status "$http_referer" "$http_user_agent" $upstream_addr')
    event = only_http(parse_bytes(b'- "GET / HTTP/1.1" 502 "-" "-" -', "access", formats=(fmt,)))
    assert event.client is None
    assert event.referer is None
    assert event.user_agent is None
    assert event.extra == {"upstream_addr": None}


def test_format_without_status_is_refused_with_a_helpful_message() -> None:
    with pytest.raises(ConfigError) as info:
        compile_log_format('$remote_addr "$request" $body_bytes_sent', "mine")
    message = str(info.value)
    assert "mine" in message
    assert "$status" in message


def test_directive_without_status_names_the_directive() -> None:
    with pytest.raises(ConfigError, match=r"log_format nostatus: .*\$status"):
        compile_log_format("log_format nostatus '$remote_addr $request';")


def test_bad_escape_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        compile_log_format("log_format x escape=yaml '$status $request';")
    message = str(info.value)
    assert "escape=yaml" in message
    assert "json" in message and "default" in message


def test_directive_without_a_quoted_string_is_refused() -> None:
    with pytest.raises(ConfigError, match="no quoted format string"):
        compile_log_format("log_format x $status;")


def test_escape_none_is_accepted() -> None:
    fmt = compile_log_format("log_format raw escape=none '\"$request\" $status';")
    assert fmt.escape == "none"
    event = only_http(parse_bytes(b'"GET /a"b HTTP/1.1" 404', "access", formats=(fmt,)))
    assert event.status == 404
    assert event.path == '/a"b'


# =========================================================================== custom formats end to end

CUSTOM = compile_log_format(
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" rt=$request_time uct="$upstream_connect_time" ua="$upstream_addr" us="$upstream_status" '
    "rid=$request_id"
)
CUSTOM_LINE = (
    b'10.1.2.3 - - [15/Jan/2025:10:00:04 +0100] "POST /api/v1/items?x=1 HTTP/2.0" 504 102 "https://ref.example/" '
    b'"curl/8.5.0" rt=60.001 uct="0.001" ua="10.0.0.7:8080, 10.0.0.8:8080" us="504, 504" '
    b"rid=0a3d6f9c2e5b8a1d4f7c0e3b6a9d2f5c"
)


def test_custom_format_end_to_end() -> None:
    events = parse_bytes(CUSTOM_LINE + b"\n", "access", formats=(CUSTOM,))
    assert events == [
        Http(
            datetime(2025, 1, 15, 10, 0, 4, tzinfo=timezone(timedelta(hours=1))),
            HOST,
            "test.log",
            0,
            CUSTOM_LINE.decode(),
            status=504,
            method="POST",
            path="/api/v1/items?x=1",
            protocol="HTTP/2.0",
            client="10.1.2.3",
            bytes=102,
            user_agent="curl/8.5.0",
            referer="https://ref.example/",
            request_id="0a3d6f9c2e5b8a1d4f7c0e3b6a9d2f5c",
            extra={
                "remote_user": None,
                "request_time": "60.001",
                "upstream_connect_time": "0.001",
                "upstream_addr": "10.0.0.7:8080, 10.0.0.8:8080",
                "upstream_status": "504, 504",
            },
        )
    ]
    assert events[0].time is not None and events[0].time.utcoffset() == timedelta(hours=1)


def test_custom_format_is_tried_before_the_builtin_ones_and_they_still_work() -> None:
    data = b"\n".join([CUSTOM_LINE, KONG_429, COMBINED_401, STREAM_502]) + b"\n"
    events = parse_bytes(data, "access", formats=(CUSTOM, *BUILTIN))
    assert [(e.kind, getattr(e, "status", None)) for e in events] == [
        ("http", 504),
        ("http", 429),
        ("http", 401),
        ("http", 502),
    ]
    assert [e.offset for e in events] == [
        data.index(line) for line in (CUSTOM_LINE, KONG_429, COMBINED_401, STREAM_502)
    ]


def test_json_directive_with_time_iso8601() -> None:
    fmt = compile_log_format(JSON_DIRECTIVE)
    line = (
        b'{"time":"2025-01-15T10:00:04+01:00","status":502,"request":"GET /orders HTTP/1.1",'
        b'"ua":"curl/8.5.0","rt":0.004,"up":"10.0.0.7:8080","rid":"d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7"}'
    )
    event = only_http(parse_bytes(line + b"\n", "access", formats=(fmt,)))
    assert event.time == datetime(2025, 1, 15, 9, 0, 4, tzinfo=UTC)
    assert event.time is not None and event.time.utcoffset() == timedelta(hours=1)
    assert (event.status, event.method, event.path, event.user_agent) == (502, "GET", "/orders", "curl/8.5.0")
    assert event.request_id == "d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7"
    assert event.extra == {"request_time": "0.004", "upstream_addr": "10.0.0.7:8080"}


def test_msec_gives_an_aware_time_in_the_configured_zone() -> None:
    fmt = compile_log_format('$msec $status "$request" $request_length')
    line = b'1736935204.123 502 "GET /x HTTP/1.1" 87\n'
    (utc,) = parse_bytes(line, "access", formats=(fmt,))
    (paris,) = parse_bytes(line, "access", formats=(fmt,), zone=ZoneInfo("Europe/Paris"))
    expected = datetime(2025, 1, 15, 10, 0, 4, 123000, tzinfo=UTC)
    assert utc.time == expected and utc.time is not None and utc.time.utcoffset() == timedelta(0)
    assert paris.time == expected and paris.time is not None and paris.time.utcoffset() == timedelta(hours=1)
    assert isinstance(utc, Http) and utc.extra == {"request_length": "87"}


def test_format_without_time_gives_no_time() -> None:
    fmt = compile_log_format('$remote_addr "$request" $status')
    event = only_http(parse_bytes(b'10.0.0.1 "GET / HTTP/1.1" 500\n', "access", formats=(fmt,)))
    assert event.time is None


# =========================================================================== the built-in formats


def test_kong_format_with_request_id() -> None:
    event = only_http(parse_bytes(KONG_429 + b"\n", "access"))
    assert event == Http(
        datetime(2025, 1, 15, 10, 0, 2, tzinfo=UTC),
        HOST,
        "test.log",
        0,
        KONG_429.decode(),
        status=429,
        method="GET",
        path="/orders",
        protocol="HTTP/1.1",
        client="10.0.0.5",
        bytes=92,
        user_agent="curl/8.5.0",
        referer=None,
        request_id="8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b",
        extra={"remote_user": None},
    )


def test_combined_format_has_no_request_id() -> None:
    event = only_http(parse_bytes(COMBINED_401 + b"\n", "access"))
    assert (event.status, event.method, event.path, event.protocol) == (401, "GET", "/orders", "HTTP/1.1")
    assert (event.client, event.bytes, event.user_agent, event.request_id) == ("10.0.0.5", 45, "curl/7.88.1", None)
    assert event.time == datetime(2023, 1, 15, 10, 0, 1, tzinfo=UTC)


def test_stream_basic_line() -> None:
    event = only_http(parse_bytes(STREAM_502 + b"\n", "access"))
    assert (event.status, event.protocol, event.client, event.bytes) == (502, "TCP", "192.0.2.21", 0)
    assert (event.method, event.path, event.request_id) == (None, None, None)
    assert event.extra == {"bytes_received": "380", "session_time": "0.004"}
    assert event.time == datetime(2025, 1, 15, 10, 0, 7, tzinfo=UTC)


def test_file_mixing_the_builtin_formats() -> None:
    lines = [KONG_429, COMBINED_401, STREAM_200, KONG_200, STREAM_502, COMBINED_503, KONG_504, COMBINED_301, KONG_499]
    data = b"\n".join(lines) + b"\n"
    assert detect_format(data) == "access"
    for pieces_data in (data, data.replace(b"\n", b"\r\n")):  # scanner path, and the per-line path
        events, stats = run(pieces_data, tallies=True)
        assert [(e.status, e.request_id is not None) for e in events if isinstance(e, Http)] == [
            (429, True),
            (401, False),
            (502, False),
            (503, False),
            (504, True),
            (499, True),
        ]
        # The 2xx/3xx lines are counted, each in the second it was logged, in file order among the events.
        tallies = [(e.offset, e.time, e.count) for e in events if isinstance(e, Tally)]
        assert [e.kind for e in events].count("tally") + 6 == len(events)
        assert tallies == [
            (pieces_data.index(STREAM_200), datetime(2025, 1, 15, 10, 0, 5, tzinfo=UTC), 1),
            (pieces_data.index(KONG_200), datetime(2025, 1, 15, 10, 0, 9, tzinfo=UTC), 1),
            (pieces_data.index(COMBINED_301), datetime(2023, 1, 15, 10, 0, 2, tzinfo=UTC), 1),
        ]
        assert stats["http_below_400"] == 3
        assert stats["lines"] == len(lines)
        offsets = [e.offset for e in events if isinstance(e, Http)]
        starts = [pieces_data.index(line) for line in (KONG_429, COMBINED_401, STREAM_502, COMBINED_503, KONG_504)]
        assert offsets[:5] == starts


def test_empty_request() -> None:
    line = b'10.0.0.9 - - [15/Jan/2025:10:00:09 +0000] "" 400 0 "-" "-"'
    event = only_http(parse_bytes(line + b"\n", "access"))
    assert event.status == 400
    assert (event.method, event.path, event.protocol, event.user_agent) == (None, None, None, None)
    assert event.bytes == 0


def test_request_with_binary_garbage() -> None:
    line = (
        b'10.0.0.9 - - [15/Jan/2025:10:00:09 +0000] "\\x16\\x03\\x01\\x00\\xF7\\x01\\x00\\x00\\xF3\\x03\\x03" 400 157 "-" "-"'
        b' kong_request_id: "0123456789abcdef0123456789abcdef"'
    )
    event = only_http(parse_bytes(line + b"\n", "access"))
    assert event.status == 400
    assert (event.method, event.path, event.protocol) == (None, None, None)
    assert event.extra["request"] == "\x16\x03\x01\x00\ufffd\x01\x00\x00\ufffd\x03\x03"
    assert event.request_id == "0123456789abcdef0123456789abcdef"


def test_remote_user_with_a_space() -> None:
    line = b'10.0.0.5 - john doe [15/Jan/2025:10:00:02 +0000] "GET /a HTTP/1.1" 403 10 "-" "curl/8.5.0"'
    event = only_http(parse_bytes(line + b"\n", "access"))
    assert event.extra == {"remote_user": "john doe"}
    assert (event.client, event.status, event.path) == ("10.0.0.5", 403, "/a")


def test_docker_compose_prefix_is_tolerated() -> None:
    event = only_http(parse_bytes(b"kong-1  | " + KONG_502 + b"\n", "access"))
    assert (event.status, event.request_id) == (502, "d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7")


def test_junk_line_is_a_parse_error() -> None:
    events, stats = run(b"this is not an access log line\n" + KONG_502 + b"\n")
    assert [e.kind for e in events] == ["parse_error", "http"]
    assert isinstance(events[0], ParseError) and "kong" in events[0].reason
    assert stats["parse_errors"] == 1


# --------------------------------------------------------------------------- 2xx/3xx: counted, not emitted


@pytest.mark.parametrize("crlf", [False, True], ids=["scanner", "per-line"])
@pytest.mark.parametrize("lines", [[KONG_200, KONG_429, COMBINED_301, KONG_502], [STREAM_200, STREAM_502, STREAM_200]])
def test_below_400_counted_not_emitted(lines: list[bytes], crlf: bool) -> None:
    data = b"\n".join(lines) + b"\n"
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    events, stats = run(data)
    high = [line for line in lines if line not in (KONG_200, COMBINED_301, STREAM_200)]
    assert [e.raw.encode() for e in events] == high
    assert stats["http_below_400"] == len(lines) - len(high)

    everything, stats_all = run(data, emit_all=True)
    assert [e.raw.encode() for e in everything] == lines
    assert stats_all["http_below_400"] == 0


def test_below_400_counted_when_fed_in_many_chunks() -> None:
    data = b"\n".join([KONG_200, COMBINED_301, KONG_502, KONG_200]) + b"\n"
    parser = make_parser("access", ParseContext("a", HOST, UTC, tallies=True), BUILTIN)
    buf = LineBuffer()
    events: list[Event] = []
    for i in range(0, len(data), 7):
        for chunk in buf.push(data[i : i + 7]):
            events.extend(parser.feed(chunk))
    assert [e.status for e in events if isinstance(e, Http)] == [502]
    assert parser.stats["http_below_400"] == 3
    per_second: Counter[datetime | None] = Counter()
    for e in events:
        if isinstance(e, Tally):
            per_second[e.time] += e.count
    whole, _ = run(data, tallies=True)
    expected: Counter[datetime | None] = Counter()
    for e in whole:
        if isinstance(e, Tally):
            expected[e.time] += e.count
    assert per_second == expected and sum(expected.values()) == 3


# =========================================================================== LogFormat.status_at

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_SAFE = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=10,
)
_ESCAPED = st.integers(0, 255).map(lambda b: f"\\x{b:02X}")
VALUE = st.lists(st.one_of(_SAFE, _ESCAPED), max_size=4).map("".join)  # any value as escape=default writes it
REQUEST = st.one_of(
    st.builds(
        "{} {} {}".format,
        st.sampled_from(["GET", "POST", "DELETE"]),
        st.builds("/{}".format, VALUE),
        st.sampled_from(["HTTP/1.1", "HTTP/2.0"]),
    ),
    VALUE,
)
NUMBER = st.integers(0, 10**9).map(str)
VALUES: dict[str, st.SearchStrategy[str]] = {
    "status": st.integers(100, 599).map(str),
    "time_local": st.sampled_from(["15/Jan/2025:10:00:06 +0000", "01/Feb/2024:23:59:59 -0530"]),
    "remote_addr": st.sampled_from(["10.0.0.5", "2001:db8::1", "unix:"]),
    "request": REQUEST,
    "body_bytes_sent": NUMBER,
    "bytes_sent": NUMBER,
    "request_length": NUMBER,
    "request_time": st.integers(0, 10**6).map(lambda n: f"{n / 1000:.3f}"),
}

QUICK_FORMATS = [
    KONG_FMT,
    COMBINED_FMT,
    compile_log_format('$remote_addr "$request" $status $request_time "$http_x_forwarded_for" $upstream_addr'),
    compile_log_format('[$time_local] "$request" "$status" $body_bytes_sent "$http_user_agent"'),
    compile_log_format('"$request" $status'),  # status at the very end
]


@st.composite
def access_line(draw: st.DrawFn, fmt: LogFormat) -> tuple[bytes, str]:
    """A line `fmt` would write, and the status it carries."""
    values: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        var = m.group(1) or m.group(2)
        if var not in values:
            values[var] = draw(VALUES.get(var, VALUE))
        return values[var]

    line = _VAR.sub(sub, fmt.source)
    return line.encode(), values["status"]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(QUICK_FORMATS))
def test_status_at_agrees_with_the_regex(data: st.DataObject, fmt: LogFormat) -> None:
    line, status = data.draw(access_line(fmt))
    assert fmt.quotes_before_status > 0
    m = fmt.regex.match(line)
    assert m is not None, line
    assert m["status"] == status.encode()
    assert fmt.status_at(line) == int(status)
    assert fmt.scan is not None
    assert (fmt.scan.match(b"\n" + line) is not None) == (int(status) >= 400)


_GARBAGE = st.text(alphabet="0123456789x-.+/", max_size=6).filter(lambda t: re.fullmatch(r"\d{3}", t) is None)


def expected_outcome(line: bytes, formats: tuple[LogFormat, ...]) -> tuple[str, int | None]:
    for fmt in formats:
        m = fmt.regex.match(line)
        if m is not None:
            return "http", int(m["status"])
    return "parse_error", None


@settings(max_examples=200, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(QUICK_FORMATS[:3]), garbage=_GARBAGE, crlf=st.booleans())
def test_garbage_status_falls_back_to_the_regex(data: st.DataObject, fmt: LogFormat, garbage: str, crlf: bool) -> None:
    """A line whose status is not three digits is never counted as a 2xx/3xx: it is read by the regex, and
    reported as a parse error if no format reads it. (Formats with a quoted `"$status"`, whose regex takes any
    text there, are covered by test_parsers_never_raise_on_log_content.)"""
    line, status = data.draw(access_line(fmt))
    # Put the garbage where the status is: after the quotes that precede it, as status_at looks for it.
    parts = line.split(b'"', fmt.quotes_before_status)
    rest = parts[-1]
    start = len(fmt.before_status)
    assert rest[start : start + 3] == status.encode()
    parts[-1] = rest[:start] + garbage.encode() + rest[start + 3 :]
    bad = b'"'.join(parts)

    q = fmt.status_at(bad)
    m = fmt.regex.match(bad)
    assert q is None or (m is not None and int(m["status"]) == q)

    formats = (fmt, *BUILTIN)
    kind, expected_status = expected_outcome(bad, formats)
    events, stats = run(bad + (b"\r\n" if crlf else b"\n"), formats)
    if kind == "parse_error":
        assert [e.kind for e in events] == ["parse_error"]
        assert stats["http_below_400"] == 0
    else:
        assert expected_status is not None
        if expected_status >= 400:
            assert [getattr(e, "status", None) for e in events] == [expected_status]
        else:
            assert events == [] and stats["http_below_400"] == 1


@pytest.mark.parametrize("crlf", [False, True], ids=["scanner", "per-line"])
@pytest.mark.parametrize("garbage", [b"2004", b"200x", b"3021"])
def test_status_at_end_of_format_does_not_swallow_garbage(garbage: bytes, crlf: bool) -> None:
    """`"$request" $status`: nothing follows the status, so a longer number there is not a 3-digit status."""
    fmt = compile_log_format('"$request" $status')
    line = b'"GET / HTTP/1.1" ' + garbage
    assert fmt.regex.match(line) is None
    events, stats = run(line + (b"\r\n" if crlf else b"\n"), (fmt,))
    assert ([e.kind for e in events], stats["http_below_400"]) == (["parse_error"], 0)
    assert fmt.status_at(line) is None


@pytest.mark.parametrize(
    "line",
    [
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1" 20 92 "-" "curl/8.5.0"',
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1" abc 92 "-" "curl/8.5.0"',
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1"  200 92 "-" "curl/8.5.0"',
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1" 2000 92 "-" "curl/8.5.0"',
        b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1"',
    ],
)
def test_garbage_status_region_is_a_parse_error(line: bytes) -> None:
    for data in (line + b"\n", line + b"\r\n"):
        events, stats = run(data)
        assert [e.kind for e in events] == ["parse_error"]
        assert stats["http_below_400"] == 0


# --------------------------------------------------------------------------- junk that matches a custom format's shape


@pytest.mark.parametrize(
    ("fmt_text", "line"),
    [
        ('log_format j escape=json \'{"status":"$status","uri":"$uri"}\';', b'{"status":"-","uri":"/"}'),
        ('log_format j escape=json \'{"status":"$status","uri":"$uri"}\';', b'{"status":"","uri":"/"}'),
        ('"$request" "$status" $body_bytes_sent', b'"GET / HTTP/1.1" "abc" 1'),
        ('log_format j escape=json \'{"status":$status,"t":"$msec"}\';', b'{"status":500,"t":"soon"}'),
        ('$msec $status "$request"', b'99999999999999999999 404 "GET / HTTP/1.1"'),
    ],
    ids=[
        "quoted-status-dash",
        "quoted-status-empty",
        "quoted-status-letters",
        "quoted-msec-letters",
        "msec-out-of-range",
    ],
)
def test_parsers_never_raise_on_log_content(fmt_text: str, line: bytes) -> None:
    """A line that fits a custom format's shape but carries nonsense values is reported (one event), neither
    raised nor silently counted as a 2xx."""
    fmt = compile_log_format(fmt_text)
    events, _ = run(line + b"\n", (fmt,))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ParseError) or (isinstance(event, Http) and event.status >= 400), event


# =========================================================================== file-log / http-log JSON

RECORD_429: dict[str, Any] = {
    "request": {
        "id": "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b",
        "method": "GET",
        "uri": "/orders",
        "url": "http://api.example.test:8000/orders",
        "querystring": {},
        "headers": {"host": "api.example.test", "user-agent": "curl/8.5.0"},
        "size": 98,
    },
    "upstream_uri": "/orders",
    "upstream_status": "",
    "response": {"status": 429, "size": 342, "headers": {"retry-after": "17"}},
    "latencies": {"kong": 1, "proxy": -1, "request": 1, "receive": 0},
    "client_ip": "10.0.0.5",
    "started_at": 1736935202000,
    "source": "kong",
    "route": {"name": "orders-route"},
    "service": {"name": "orders"},
    "consumer": {"username": "mobile-app"},
    "workspace_name": "default",
}
# Verbatim from the reference (lua-cjson writes `/` as `\/`).
LINE_429 = b'{"request":{"id":"8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b","method":"GET","uri":"\\/orders","url":"http:\\/\\/api.example.test:8000\\/orders","querystring":{},"headers":{"host":"api.example.test","user-agent":"curl\\/8.5.0"},"size":98},"upstream_uri":"\\/orders","upstream_status":"","response":{"status":429,"size":342,"headers":{"retry-after":"17"}},"latencies":{"kong":1,"proxy":-1,"request":1,"receive":0},"client_ip":"10.0.0.5","started_at":1736935202000,"source":"kong","route":{"name":"orders-route"},"service":{"name":"orders"},"consumer":{"username":"mobile-app"},"workspace_name":"default"}'


def record(status: int, **changes: Any) -> dict[str, Any]:
    r = json.loads(json.dumps(RECORD_429))
    r["response"]["status"] = status
    r.update(changes)
    return r


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def test_file_log_record_429() -> None:
    assert json.loads(LINE_429) == RECORD_429
    assert detect_format(LINE_429 + b"\n") == "json"
    for fmt in ("json", "auto"):
        events = parse_bytes(LINE_429 + b"\n", fmt)
        assert events == [
            Http(
                datetime(2025, 1, 15, 10, 0, 2, tzinfo=UTC),
                HOST,
                "test.log",
                0,
                LINE_429.decode(),
                status=429,
                method="GET",
                path="/orders",
                protocol=None,
                client="10.0.0.5",
                bytes=342,
                user_agent="curl/8.5.0",
                referer=None,
                request_id="8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b",
                extra={
                    "service": {"name": "orders"},
                    "route": {"name": "orders-route"},
                    "consumer": {"username": "mobile-app"},
                    "upstream_uri": "/orders",
                    "upstream_status": "",
                    "latencies": {"kong": 1, "proxy": -1, "request": 1, "receive": 0},
                    "source": "kong",
                    "workspace_name": "default",
                },
            )
        ]


def test_file_log_tries_are_counted() -> None:
    line = dumps(record(502, tries=[{"ip": "10.0.0.7", "port": 80, "state": "failed"}, {"ip": "10.0.0.8", "port": 80}]))
    event = only_http(parse_bytes(line + b"\n", "json"))
    assert event.extra["tries"] == 2


def test_http_log_batch_gives_one_event_per_failed_record() -> None:
    batch = [record(200), record(502, client_ip="10.0.0.6"), record(404, client_ip="10.0.0.7"), record(301)]
    line = dumps(batch)
    data = LINE_429 + b"\n" + line + b"\n"
    events, stats = run(data, fmt="json")
    assert [(e.status, e.client, e.offset) for e in events if isinstance(e, Http)] == [
        (429, "10.0.0.5", 0),
        (502, "10.0.0.6", len(LINE_429) + 1),
        (404, "10.0.0.7", len(LINE_429) + 1),
    ]
    assert stats["http_below_400"] == 2


def test_file_log_200_is_skipped_and_counted() -> None:
    data = dumps(record(200)) + b"\n" + dumps(record(304)) + b"\n"
    events, stats = run(data, fmt="json")
    assert events == []
    assert stats["http_below_400"] == 2
    everything, _ = run(data, fmt="json", emit_all=True)
    assert [e.status for e in everything if isinstance(e, Http)] == [200, 304]


@pytest.mark.parametrize(
    "line",
    [b'{"request":{"method":"GET"', b"[1, 2", b'{"no":"response"}', b"[]", b'[{"response":{"status":500}}, 3]'],
)
def test_file_log_junk_is_a_parse_error(line: bytes) -> None:
    events, stats = run(line + b"\n", fmt="json")
    assert [e.kind for e in events] == ["parse_error"]
    assert stats["parse_errors"] == 1


def test_status_in_header_strings_does_not_fool_the_skip() -> None:
    quiet = record(200)
    quiet["request"]["headers"]["status"] = "503"
    quiet["request"]["querystring"] = {"status": "500"}
    loud = record(502)
    loud["request"]["headers"]["status"] = "200"
    loud["response"]["headers"]["x-status"] = "200"
    nested = record(200, custom={"status": 404})  # a number elsewhere: decoded, still a 200
    data = b"\n".join(dumps(r) for r in (quiet, loud, nested)) + b"\n"
    events, stats = run(data, fmt="json")
    assert [(e.kind, getattr(e, "status", None)) for e in events] == [("http", 502)]
    assert stats["http_below_400"] == 2
    assert isinstance(events[0], Http) and events[0].offset == len(dumps(quiet)) + 1


@pytest.mark.parametrize("started_at", [b"1e300", b"-1e20", b"99999999999999999999"])
def test_file_log_start_time_out_of_range_gives_an_event_without_time(started_at: bytes) -> None:
    line = b'{"request":{"method":"GET","uri":"/x"},"response":{"status":500},"started_at":' + started_at + b"}"
    (event,) = parse_bytes(line + b"\n", "json")
    assert isinstance(event, Http) and event.status == 500 and event.time is None


def test_msec_out_of_range_gives_an_event_without_time() -> None:
    fmt = compile_log_format('$msec "$request" $status')
    (event,) = parse_bytes(b'99999999999999999999 "GET / HTTP/1.1" 502\n', "access", formats=(fmt,))
    assert isinstance(event, Http) and event.status == 502 and event.time is None
