"""Which requests the parser makes events of: only the statuses some rule may want; the others are counted.

Reading fewer requests in full must change no decision: the same logs through the same rules give the same
messages whether every 4xx/5xx is an event or only the wanted ones are.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from tailer.events import Http, Tally
from tailer.parse import ParseContext
from tailer.pipeline import Pipeline
from tailer.reader import ReadOptions
from tailer.rules.expr import compile_when, statuses
from tailer.rules.load import load_rules, load_texts
from tailer.sources import FileEvents
from tests.conftest import HOST, parse_bytes

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "tests" / "fixtures" / "replay" / "shipped-rules"


@pytest.mark.parametrize(
    ("condition", "codes"),
    [
        ("status >= 500", set(range(500, 600))),
        ("status in [401, 403]", {401, 403}),
        ("status == 429 or status > 597", {429, 598, 599}),
        ("status >= 500 and path =~ '^/orders'", set(range(500, 600))),  # the path can only narrow it
        ("(status >= 500 or status == 429) and exists(consumer)", {429} | set(range(500, 600))),
        ("status != 404 and status >= 400 and status < 410", set(range(400, 410)) - {404}),
        ("status == 404 or path == '/x'", None),  # a request of any status may have that path
        ("not status == 200", None),  # kept simple: `not` says nothing
        ('cause == "upstream_timeout"', None),
        ("status", set(range(100, 600))),  # a bare field: any status is truthy
    ],
)
def test_statuses_a_condition_can_hold_for(condition: str, codes: set[int] | None) -> None:
    found = statuses(compile_when(condition))
    assert (None if found is None else set(found)) == codes


def test_the_shipped_rules_want_401_403_and_5xx() -> None:
    wanted = Pipeline(load_rules(str(ROOT / "rules"))).http_statuses()
    assert wanted == frozenset({401, 403} | set(range(500, 600)))


def test_a_rule_on_every_request_wants_them_all() -> None:
    rules = '[[rule]]\nname = "all"\nkind = "http"\nnotify = ["console"]\ntext = "{{ status }}"\n'
    assert Pipeline(load_texts([("r.toml", rules)])).http_statuses() is None


LINES = [
    b'10.0.0.5 - - [15/Jan/2025:10:00:01 +0000] "GET /a HTTP/1.1" 200 1 "-" "curl"',
    b'10.0.0.5 - - [15/Jan/2025:10:00:01 +0000] "GET /b HTTP/1.1" 404 1 "-" "curl"',
    b'10.0.0.5 - - [15/Jan/2025:10:00:01 +0000] "GET /c HTTP/1.1" 401 1 "-" "curl"',
    b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /d HTTP/1.1" 429 1 "-" "curl"',
    b'10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /e HTTP/1.1" 502 1 "-" "curl"',
]


@pytest.mark.parametrize("crlf", [False, True], ids=["scanner", "per-line"])
def test_unwanted_statuses_are_counted_in_their_second(crlf: bool) -> None:
    from tailer.lines import LineBuffer
    from tailer.parse import make_parser

    data = b"\n".join(LINES) + b"\n"
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    ctx = ParseContext("access.log", HOST, UTC, statuses=frozenset({401, 502}), tallies=True)
    parser = make_parser("access", ctx)
    events = [e for chunk in LineBuffer().push(data) for e in parser.feed(chunk)] + parser.finish()
    assert [e.status for e in events if isinstance(e, Http)] == [401, 502]
    counted = [(e.time.second if e.time else None, e.count) for e in events if isinstance(e, Tally)]
    assert counted == [(1, 2), (2, 1)]  # 200 and 404 in second 1, 429 in second 2
    assert [e.status for e in parse_bytes(data, "access") if isinstance(e, Http)] == [404, 401, 429, 502]


def test_reading_only_wanted_requests_changes_no_message() -> None:
    ruleset = load_rules(str(SHIPPED / "rules"))
    logs = sorted(str(p) for p in SHIPPED.iterdir() if p.suffix == ".log")

    def messages(wanted: frozenset[int] | None) -> list[tuple[str, str, int]]:
        pipeline = Pipeline(ruleset)
        out = []
        for log in logs:
            ctx = ParseContext(log, HOST, UTC, statuses=wanted, tallies=True)
            for batch in FileEvents(log, ReadOptions("auto", ctx)):
                out += pipeline.feed(batch).messages
        out += pipeline.finish().messages
        return [(m.notifier, m.key, m.count) for m in out]

    wanted = Pipeline(ruleset).http_statuses()
    assert wanted is not None and 404 not in wanted
    everything = messages(None)
    assert everything and messages(wanted) == everything


def record(status: int, started_ms: int) -> bytes:
    return (
        b'{"request":{"method":"GET","uri":"/x"},"response":{"status":%d,"size":1},"client_ip":"10.0.0.5",'
        b'"started_at":%d}' % (status, started_ms)
    )


def test_file_log_records_below_400_are_counted_per_second() -> None:
    data = b"\n".join([record(200, 1736935200100), record(304, 1736935200900), record(502, 1736935201000),
                       record(200, 1736935201500)]) + b"\n"  # fmt: skip
    events = parse_bytes(data, "json", tallies=True)
    assert [(type(e).__name__, getattr(e, "count", None)) for e in events] == [
        ("Tally", 2),
        ("Http", None),
        ("Tally", 1),
    ]
    assert [e.time.timestamp() if e.time else None for e in events if isinstance(e, Tally)] == [
        1736935200.0,
        1736935201.0,
    ]
