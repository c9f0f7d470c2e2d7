# ruff: noqa: E501  (verbatim access-log lines below)
"""Hostile access-log lines (issue 12, point 8): a client controls several logged values (User-Agent, Referer,
the request line, Basic-auth user) and nginx accepts 8 KiB headers, so one request must not stall the parser.

Every case below is parsed at 4 and 8 KiB of its hostile part and must complete with the right result: an
`http` event with the values the format's documented matching rule gives (module docstring of
tailer.parse.accesslog), or a parse error. Timings are not asserted here (they vary too much on shared
machines): `python -m benchmarks.hostile` prints them, with the ratio per doubling of the hostile part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

import pytest

from tailer.events import Event, Http, ParseError
from tailer.lines import LineBuffer
from tailer.parse import ParseContext, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat, compile_log_format
from tests.conftest import HOST

# The issue's formats: escape=none with three client-controlled quoted fields in a row, and a typo that
# runs a variable name into the text after it (`$remote_addratus`: not $remote_addr, an unknown variable).
ISSUE_NONE = compile_log_format(
    """log_format x escape=none '$remote_addr "$http_user_agent" "$http_referer" "$request" $status';"""
)
ISSUE_TYPO = compile_log_format("log_format main '$time_iso8601 client=$remote_addratus=$status rt=$request_time';")
# The custom formats of tests/fixtures/access (unquoted free text with spaces: $upstream_addr; escape=json).
FIXTURE_MAIN = compile_log_format(
    'log_format main \'$time_iso8601 client=$remote_addr "$request" status=$status bytes=$body_bytes_sent '
    'rt=$request_time upstream=$upstream_addr ua="$http_user_agent" id=$kong_request_id\';'
)
FIXTURE_JSON = compile_log_format(
    'log_format jsonlog escape=json \'{"ts":"$msec","client":"$remote_addr","req":"$request","status":"$status","ua":"$http_user_agent"}\';'
)
# Free text directly against free text, and digits directly against digits.
ADJACENT = compile_log_format('$remote_addr $remote_user$http_x_forwarded_for [$time_local] "$request" $status')

KIB = 1024
TIME = b"[15/Jan/2025:10:00:02 +0000]"
RID = b"8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"


def hostile(unit: bytes, size: int) -> bytes:
    """`unit` repeated to about `size` bytes (whole units: an escape is not cut in two)."""
    return unit * max(1, size // len(unit))


Check = Callable[[list[Event], bytes], None]


@dataclass(frozen=True)
class Case:
    """A line with `@@` where the hostile part goes, the formats it is read with, and what must come out."""

    name: str
    formats: tuple[LogFormat, ...]
    template: bytes
    unit: bytes
    check: Check

    def line(self, size: int) -> tuple[bytes, bytes]:
        h = hostile(self.unit, size)
        return self.template.replace(b"@@", h), h


def http(events: list[Event]) -> Http:
    assert len(events) == 1, events
    (event,) = events
    assert isinstance(event, Http), event
    return event


def parse_error(events: list[Event], h: bytes) -> None:
    assert [type(e) for e in events] == [ParseError], events


def user_agent_is(expected: Callable[[bytes], str | None], status: int = 404) -> Check:
    def check(events: list[Event], h: bytes) -> None:
        event = http(events)
        assert event.status == status
        assert event.user_agent == expected(h)

    return check


def remote_user_is_it(events: list[Event], h: bytes) -> None:
    event = http(events)
    assert (event.status, event.path, event.extra["remote_user"]) == (404, "/orders", h.decode())


def no_bytes(events: list[Event], h: bytes) -> None:
    event = http(events)
    assert (event.status, event.bytes, event.user_agent) == (429, None, "curl/8.5.0")


def issue_none_split(events: list[Event], h: bytes) -> None:
    """escape=none, a User-Agent of `" "`s: its field ends at the first `" "` (the rule of the module
    docstring), so the User-Agent and the Referer are empty and the rest of the hostile text goes to the
    request, which is read up to the `" ` before the three digits that end the line: the status is right."""
    event = http(events)
    assert (event.status, event.client, event.user_agent, event.referer) == (404, "10.0.0.5", None, None)
    assert (event.method, event.path) == (None, None)
    assert event.extra["request"] == h[6:].decode() + '" "-" "GET /orders HTTP/1.1'


def issue_none_whole(events: list[Event], h: bytes) -> None:
    """escape=none, `" x`s in the request: it ends at the `" ` before the status at the end of the line."""
    event = http(events)
    assert (event.status, event.user_agent, event.referer) == (502, "curl/8.5.0", None)
    assert event.extra["request"] == "GET " + h.decode() + " HTTP/1.1"


def typo_client(events: list[Event], h: bytes) -> None:
    """The typo format's `client=` value runs to the first `=` followed by a status (and ` rt=`)."""
    event = http(events)
    assert (event.status, event.client, event.extra) == (
        500,
        None,
        {"remote_addratus": h.decode(), "request_time": "0.004"},
    )


def main_upstream(events: list[Event], h: bytes) -> None:
    event = http(events)
    assert (event.status, event.user_agent, event.extra["upstream_addr"]) == (502, "curl/8.5.0", h.decode())


def json_user_agent(events: list[Event], h: bytes) -> None:
    event = http(events)
    assert (event.status, event.user_agent) == (500, json.loads(b'"' + h + b'"'))


def field_is(get: Callable[[Http], object], status: int) -> Check:
    """The line is a request of `status` whose field (`get`) holds the hostile text."""

    def check(events: list[Event], h: bytes) -> None:
        event = http(events)
        assert (event.status, get(event)) == (status, h.decode())

    return check


def nothing(events: list[Event], h: bytes) -> None:
    assert events == []


def adjacent(events: list[Event], h: bytes) -> None:
    """Two free-text variables with nothing between: the first is empty, the second takes the text."""
    event = http(events)
    assert (event.status, event.extra) == (502, {"remote_user": None, "http_x_forwarded_for": h.decode()})


KONG_LINE = b"10.0.0.5 - - " + TIME + b' "GET /orders HTTP/1.1" 404 92 "-" "@@" kong_request_id: "' + RID + b'"'
USER_LINE = b"10.0.0.5 - @@ " + TIME + b' "GET /orders HTTP/1.1" 404 92 "-" "curl/8.5.0"'
NONE_LINE = b'10.0.0.5 "@@" "-" "GET /orders HTTP/1.1" 404'
MAIN_LINE = (
    b'2025-01-15T10:00:01+00:00 client=10.0.0.5 "GET /orders HTTP/1.1" status=502 bytes=126 rt=0.004 upstream=@@ ua="curl/8.5.0" id='
    + RID
)
JSON_LINE = b'{"ts":"1736935202.123","client":"10.0.0.5","req":"GET / HTTP/1.1","status":"500","ua":"@@"}'

CASES = [
    # The built-in formats (escape=default: a raw `"` is never in a value, so a line with one is no request).
    Case("kong ua quote-space", BUILTIN, KONG_LINE, b'" "', parse_error),
    Case(
        "kong ua escaped quote-space",
        BUILTIN,
        KONG_LINE,
        b"\\x22 \\x22",
        user_agent_is(lambda h: h.decode().replace("\\x22", '"')),
    ),
    Case("kong ua spaces", BUILTIN, KONG_LINE, b" ", user_agent_is(lambda h: h.decode())),
    Case("kong ua quotes", BUILTIN, KONG_LINE, b'"', parse_error),
    Case("kong ua brackets", BUILTIN, KONG_LINE, b"[", user_agent_is(lambda h: h.decode())),
    Case("kong remote_user spaces", BUILTIN, USER_LINE, b" ", remote_user_is_it),
    Case("kong remote_user space-bracket", BUILTIN, USER_LINE, b" [", remote_user_is_it),
    Case("kong remote_user almost a time", BUILTIN, USER_LINE, b" [15/Jan/2025:10:00:02 +0000", remote_user_is_it),
    Case("kong remote_user quotes", BUILTIN, USER_LINE, b'" "', remote_user_is_it),  # unquoted: taken as is
    Case(
        "kong bytes digits",
        BUILTIN,
        b"10.0.0.5 - - " + TIME + b' "GET /orders HTTP/1.1" 429 @@ "-" "curl/8.5.0"',
        b"9",
        no_bytes,
    ),
    Case(
        "kong status digits",
        BUILTIN,
        b"10.0.0.5 - - " + TIME + b' "GET /orders HTTP/1.1" @@ 92 "-" "curl/8.5.0"',
        b"5",
        parse_error,
    ),
    Case(
        "stream session_time",
        BUILTIN,
        b"192.0.2.21 " + TIME + b" TCP 502 0 380 @@",
        b"1.",
        field_is(lambda e: e.extra["session_time"], 502),
    ),
    Case(
        "stream protocol",
        BUILTIN,
        b"192.0.2.21 " + TIME + b" @@ 502 0 380 0.004",
        b"T",
        field_is(lambda e: e.protocol, 502),
    ),
    Case("no structure: spaces", BUILTIN, b"@@", b" ", nothing),  # a blank line
    Case("no structure: quotes", BUILTIN, b"@@", b'"', parse_error),
    Case("no structure: brackets", BUILTIN, b"@@", b"[", parse_error),
    Case("no structure: digits", BUILTIN, b"@@", b"4", parse_error),
    # The issue's escape=none format: the line as nginx writes it, one cut short, and a request with `" "`s.
    Case("none ua quote-space", (ISSUE_NONE,), NONE_LINE, b'" "', issue_none_split),
    Case("none ua quote-space, cut", (ISSUE_NONE,), NONE_LINE[:-1], b'" "', parse_error),
    Case("none ua quotes", (ISSUE_NONE,), NONE_LINE, b'"', user_agent_is(lambda h: h.decode())),
    Case(
        "none ua quote-space-quote, no status",
        (ISSUE_NONE,),
        b'10.0.0.5 "@@" "-" "GET / HTTP/1.1" x',
        b'" "',
        parse_error,
    ),
    Case(
        "none request quote-spaces",
        (ISSUE_NONE,),
        b'10.0.0.5 "curl/8.5.0" "-" "GET @@ HTTP/1.1" 502',
        b'" x',
        issue_none_whole,
    ),
    # The issue's typo format (it raised AttributeError out of _http_event).
    Case("typo client equals", (ISSUE_TYPO,), b"2025-01-15T10:00:00+00:00 client=@@=500 rt=0.004", b"=", typo_client),
    Case(
        "typo client equals-digits",
        (ISSUE_TYPO,),
        b"2025-01-15T10:00:00+00:00 client=@@=500 rt=0.004",
        b"=50",
        typo_client,
    ),
    Case(
        "typo rt digits",
        (ISSUE_TYPO,),
        b"2025-01-15T10:00:00+00:00 client=10.0.0.5=500 rt=@@",
        b"1.",
        field_is(lambda e: e.extra["request_time"], 500),
    ),
    # The fixtures' custom formats.
    Case("main upstream commas", (FIXTURE_MAIN,), MAIN_LINE, b"10.0.0.12:8080, ", main_upstream),
    # Not a line nginx writes (escape=default writes `"` as \x22): $upstream_addr ends at the first ` ua="`.
    Case("main upstream almost ua", (FIXTURE_MAIN,), MAIN_LINE, b' ua="x', parse_error),
    Case("json ua escaped quotes", (FIXTURE_JSON,), JSON_LINE, b'\\" ', json_user_agent),
    Case("json ua raw quotes", (FIXTURE_JSON,), JSON_LINE, b'" ', parse_error),
    Case("json ua backslashes", (FIXTURE_JSON,), JSON_LINE, b"\\", json_user_agent),  # 4 and 8 KiB: even counts
    Case("json ua escaped backslash, quote", (FIXTURE_JSON,), JSON_LINE, b'\\\\"', parse_error),
    # Free text against free text.
    Case("adjacent text", (ADJACENT,), b"10.0.0.5 @@ " + TIME + b' "GET / HTTP/1.1" 502', b"- ", adjacent),
]


def run(line: bytes, formats: tuple[LogFormat, ...]) -> list[Event]:
    parser = make_parser("access", ParseContext("access.log", HOST, UTC), formats)
    buf = LineBuffer()
    events: list[Event] = []
    for chunk in [*buf.push(line + b"\n"), *buf.finish()]:
        events.extend(parser.feed(chunk))
    events.extend(parser.finish())
    return events


@pytest.mark.parametrize("size", [4 * KIB, 8 * KIB], ids=["4KiB", "8KiB"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_line_completes_with_the_right_result(case: Case, size: int) -> None:
    line, h = case.line(size)
    case.check(run(line, case.formats), h)
