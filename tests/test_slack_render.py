"""tailer.notify.slack (rendering): escaping of log values, Slack's size limits, groups and digests.

The builders at the top (`rule`, `alert`, the `*_event` makers) are shared with tests/test_console.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.alerts import Alert, Message
from tailer.events import Error, Event, EventHook, Http, Inspect, ParseError
from tailer.notify.slack import (
    MARKER,
    MAX_BLOCKS,
    MAX_FIELD,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_MEMBERS,
    MAX_PER_RULE,
    MAX_RULES,
    MAX_TEXT,
    escape,
    render,
    render_text,
    truncate,
)
from tailer.notify.summary import context_fields, what
from tailer.rules.model import Rule
from tailer.template import compile_template

T = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef"


# --- builders -------------------------------------------------------------------------------------------------


def rule(text: str = "{{ consumer.username }}", title: str | None = None, name: str = "r1") -> Rule:
    return Rule(
        name,
        "rules/test.toml",
        1,
        compile_template(text),
        ("slack",),
        title=None if title is None else compile_template(title),
    )


def hook_event(
    data: dict[Any, Any] | None = None, host: str = "host-1", source: str = "rate-limiting-advanced"
) -> Event:
    data = {"consumer": {"username": "alice"}, "service": {"name": "orders"}} if data is None else data
    return EventHook(T, host, "error.log", 4096, "raw", source, "rate-limit-exceeded", data, 42, 2120, lineno=57)


def http_event(path: str = "/orders", extra: dict[str, Any] | None = None, user_agent: str = "curl") -> Http:
    extra = {"service": {"name": "orders"}, "route": {"name": "orders-route"}} if extra is None else extra
    return Http(T, "host-1", "access.log", 77, "raw", 502, "GET", path, "HTTP/1.1", "10.0.0.1", 12, user_agent, None,
                "req-1", extra)  # fmt: skip


def error_event(message: str = "upstream timed out (110: Connection timed out)", upstream: str | None = None) -> Error:
    return Error(T, "host-1", "error.log", 9, "raw", "error", 1, 2, message, "upstream_timeout", 504,
                 "reading response header from upstream", None, "10.0.0.1", "kong", "GET / HTTP/1.1", upstream,
                 "example.com", None, False)  # fmt: skip


def alert(
    r: Rule | None = None,
    event: Event | None = None,
    count: int = 1,
    key: str = KEY,
    members: list[Alert] | None = None,
    last: datetime | None = None,
) -> Alert:
    return Alert(
        r or rule(),
        key,
        event or hook_event(),
        T,
        T,
        last or T + timedelta(seconds=59),
        count,
        members=members or [],
    )


def message(*alerts: Alert) -> Message:
    return Message("slack", list(alerts), T)


# --- payload walkers and checks --------------------------------------------------------------------------------


def text_objects(payload: Any) -> Iterator[tuple[str, str]]:
    """(type, text) of every text object in the payload, and ("mrkdwn", fallback) for the top-level `text`."""
    if isinstance(payload, dict):
        if payload.get("type") in ("mrkdwn", "plain_text"):
            yield payload["type"], payload["text"]
        elif "blocks" in payload:
            yield "mrkdwn", payload["text"]
        for value in payload.values():
            yield from text_objects(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from text_objects(value)


def assert_limits(payload: dict[str, Any]) -> None:
    """Every Slack limit holds, and no text object is empty."""
    json.dumps(payload, allow_nan=False)
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= MAX_BLOCKS
    assert len(payload["text"]) <= MAX_TEXT
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= MAX_HEADER
        elif block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= MAX_TEXT
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= MAX_FIELDS
                assert all(len(f["text"]) <= MAX_FIELD for f in block["fields"])
        else:
            assert block["type"] == "context"
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(e["text"]) <= MAX_TEXT for e in block["elements"])
    for _, text in text_objects(payload):
        assert text.strip(), "Slack refuses an empty text"


def assert_entities_whole(text: str) -> None:
    """Every `&` starts one of the three entities Slack decodes."""
    assert "&" not in re.sub(r"&(?:amp|lt|gt);", "", text), text


def assert_no_live_markup(text: str, trusted: tuple[str, ...] = ()) -> None:
    """No `<...>` sequence but the trusted ones, no backtick, no control character, entities whole."""
    for markup in trusted:
        text = text.replace(markup, "")
    assert "<" not in text and ">" not in text, text
    assert "`" not in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    assert_entities_whole(text)


# --- escape -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ("<!channel> & <@U024BE7LH>", "&lt;!channel&gt; &amp; &lt;@U024BE7LH&gt;"),
        ("<http://evil|click>", "&lt;http://evil|click&gt;"),
        ("&amp;", "&amp;amp;"),
        ('We\'ve "quoted" /path', 'We\'ve "quoted" /path'),  # nothing else is entity-encoded
        ("`code` ```block```", "ˋcodeˋ ˋˋˋblockˋˋˋ"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\x1b[31mred\x1b[0m\x07\x00", "␛[31mred␛[0m␇␀"),
        ("del\x7f c1\x9b", "del␡ c1\ufffd"),
        ("crlf\r\nlone\r", "crlf\nlone␍"),
        ("*bold* _it_ ~s~ @here #general", "*bold* _it_ ~s~ @here #general"),  # verbatim: no auto-mention
    ],
)
def test_escape(value: str, expected: str) -> None:
    assert escape(value) == expected


# --- truncate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("x" * 20, 20, "x" * 20),
        ("x" * 21, 20, "x" * 7 + MARKER),
        ("abcdef&amp;" + "z" * 20, 20, "abcdef" + MARKER),  # would end in `&`: moved back
        ("abc&amp;" + "z" * 20, 20, "abc" + MARKER),  # `&amp` without its `;`: the whole entity goes
        ("ab&amp;" + "z" * 20, 20, "ab&amp;" + MARKER),  # whole: kept
        ("abcd&lt;xyzxyzxyzxyz", 19, "abcd" + MARKER),
        ("abc <!here> tail tail tail", 19, "abc " + MARKER),  # `<!` would dangle
        ("ab<!here> tail tail tail", 22, "ab<!here>" + MARKER),
        ("anything", 5, MARKER[:5]),  # no room even for the marker
        ("anything", 0, ""),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


def test_truncate_plain_text_keeps_a_lone_angle_bracket() -> None:
    assert truncate("a < b and more text", 16, markup=False) == "a <" + MARKER


@pytest.mark.parametrize("value", ["&" * 5000, "<>" * 2000, "a&b<c>d`" * 700, "&amp;" * 1000])
def test_truncate_never_splits_an_entity_at_any_limit(value: str) -> None:
    escaped = escape(value)
    for limit in range(len(MARKER) + 1, 80):
        out = truncate(escaped, limit)
        assert len(out) <= limit and out.endswith(MARKER)
        assert escaped.startswith(out.removesuffix(MARKER))
        assert_entities_whole(out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab &<>`|!@\n\x1bé😀"), max_size=400), st.integers(0, 450))
def test_truncate_property(value: str, limit: int) -> None:
    escaped = escape(value)
    out = truncate(escaped, limit)
    assert len(out) <= limit
    if len(escaped) <= limit:
        assert out == escaped
    elif limit > len(MARKER):
        assert out.endswith(MARKER) and escaped.startswith(out.removesuffix(MARKER))
        assert_entities_whole(out)


# --- injection --------------------------------------------------------------------------------------------------

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C123|general>",
    "<!subteam^S123>",
    "<http://evil|click>",
    "Tom & Jerry",
    "&amp; &lt;!here&gt;",
    "`a` ```b```",
    ">>> quote",
    "\x1b]8;;http://evil\x07link\x1b]8;;\x07",
]

TEMPLATE = "<!here> user {{ consumer.username }} path {{ path }} agent {{ user_agent }} h {{ headers.x-evil }}"


def injected_events(value: str) -> list[Event]:
    """The value in every field a message can show: template fields, host, service, route, upstream, what."""
    named = {"name": value}
    extra = {"consumer": {"username": value}, "headers": {"x-evil": value}, "service": named, "route": named}
    return [
        hook_event({"consumer": {"username": value}, "service": named, "route": named, "upstream_id": value}, value),
        hook_event({"consumer": {"username": value}, "hostname": value}, source=value),
        http_event(value, extra, user_agent=value),
        error_event(value, upstream=value),
    ]


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_are_escaped_in_every_text_object(value: str) -> None:
    r = rule(TEMPLATE, title="Alert for {{ consumer.username }}", name="rate-limit")
    for event in injected_events(value):
        member = alert(r, event, count=2)
        payload = render(message(alert(r, event, count=5, members=[member])))
        assert_limits(payload)
        for kind, text in text_objects(payload):
            if kind == "mrkdwn":
                assert_no_live_markup(text, trusted=("<!here>",))
            else:  # plain_text (the header): Slack parses no markup there; control characters are still inert
                assert not re.search(r"[\x00-\x1f\x7f-\x9f]", text)


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_are_escaped_in_a_digest(value: str) -> None:
    r = rule(TEMPLATE, name="rate-limit")
    alerts = [alert(r, e, count=i + 1) for i, e in enumerate(injected_events(value))]
    payload = render(message(*alerts, alert(rule(name=value), hook_event({"consumer": {"username": value}}))))
    assert_limits(payload)
    for _, text in text_objects(payload):
        assert_no_live_markup(text, trusted=("<!here>",))


def test_escaped_value_reads_as_the_value() -> None:
    payload = render(
        message(alert(rule("hi {{ consumer.username }}"), hook_event({"consumer": {"username": "<!channel> & <@U1>"}})))
    )
    assert payload["text"] == "hi &lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert payload["blocks"][1]["text"]["text"] == "hi &lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_template_literal_markup_stays_live() -> None:
    r = rule("<!here> see <https://runbook.example/rl|runbook> for {{ consumer.username }}")
    payload = render(message(alert(r)))
    expected = "<!here> see <https://runbook.example/rl|runbook> for alice"
    assert payload["text"] == expected
    assert payload["blocks"][1]["text"] == {"type": "mrkdwn", "text": expected, "verbatim": True}
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False


# --- layout of one alert ----------------------------------------------------------------------------------------


def test_single_alert_payload() -> None:
    r = rule("Rate limit exceeded by '{{ consumer.username }}'", title="Rate limit: {{ service.name }}", name="rl")
    payload = render(message(alert(r, count=42, last=T + timedelta(seconds=59))))
    assert payload["text"] == "Rate limit exceeded by 'alice' (×42 between 10:00:01 and 10:01:00)"
    header, section, fields, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Rate limit: orders"}}
    assert section["text"]["text"] == "Rate limit exceeded by 'alice'"
    assert [f["text"] for f in fields["fields"]] == [
        "*Host*\nhost-1",
        "*What*\nrate-limiting-advanced / rate-limit-exceeded",
        "*Service*\norders",
        "*Count*\n42",
        "*First*\n2026-11-22T10:00:01+00:00",
        "*Last*\n2026-11-22T10:01:00+00:00",
    ]
    assert context["elements"][0]["text"] == "rule rl · error.log:57 · key 0123456789ab"


@pytest.mark.parametrize(
    ("count", "last", "suffix"),
    [
        (1, T, ""),
        (2, T + timedelta(seconds=5), " (×2 between 10:00:01 and 10:00:06)"),
        (7, T + timedelta(days=1), " (×7 between 2026-11-22T10:00:01+00:00 and 2026-11-23T10:00:01+00:00)"),
    ],
)
def test_count_suffix(count: int, last: datetime, suffix: str) -> None:
    assert render(message(alert(count=count, last=last)))["text"] == "alice" + suffix


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (None, "r1"),  # no title: the rule's name
        ("", "r1"),
        ("Limit for {{ consumer.username }}", "Limit for a & <b>"),  # plain_text: not escaped
        ("two\nlines {{ consumer.username }}", "two lines a & <b>"),
    ],
)
def test_header(title: str | None, expected: str) -> None:
    payload = render(message(alert(rule(title=title), hook_event({"consumer": {"username": "a & <b>"}}))))
    assert payload["blocks"][0]["text"]["text"] == expected


def test_header_controls_are_inert() -> None:
    payload = render(
        message(alert(rule(title="{{ consumer.username }}"), hook_event({"consumer": {"username": "a\x1b[2J\nb"}})))
    )
    assert payload["blocks"][0]["text"]["text"] == "a␛[2J b"


def test_empty_text_gets_a_placeholder() -> None:
    payload = render(message(alert(rule(""))))
    assert payload["text"] == "-"
    assert payload["blocks"][1]["text"]["text"] == "-"


@pytest.mark.parametrize(
    ("event", "summary"),
    [
        (http_event(), "502 GET /orders"),
        (Http(T, "h", "a.log", 0, "raw", 400, None, None, None, None, None, None, None, None), "400"),
        (error_event(), "upstream_timeout: upstream timed out (110: Connection timed out)"),
        (error_event("first line\nsecond line"), "upstream_timeout: first line"),
        (error_event("x" * 500), "upstream_timeout: " + "x" * 159 + "…"),
        (hook_event(), "rate-limiting-advanced / rate-limit-exceeded"),
        (Inspect(T, "h", "e.log", 0, "raw", "handler.lua", "access", 3, "ns", [1], 7), "inspect"),
        (ParseError(T, "h", "e.log", 0, "raw", "line is not JSON"), "parse_error: line is not JSON"),
    ],
)
def test_what(event: Event, summary: str) -> None:
    assert what(event) == summary


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (http_event(), [("Service", "orders"), ("Route", "orders-route")]),
        (http_event(extra={"service": {"id": "svc-1"}, "route": "r"}), [("Service", "svc-1"), ("Route", "r")]),
        (http_event(extra={"hostname": "kong-node-1"}), []),  # $hostname: the Kong node, not an upstream
        (http_event(extra={"service": {}}), []),
        (error_event(upstream="http://10.0.0.2:8080/x"), [("Upstream", "http://10.0.0.2:8080/x")]),
        (error_event(), []),
        (hook_event({"upstream_id": "u-1", "hostname": "api.internal"}, source="balancer"), [("Upstream", "u-1")]),
        (hook_event({"hostname": "api.internal", "port": 80}, source="balancer"), [("Upstream", "api.internal")]),
    ],
)
def test_context_fields(event: Event, expected: list[tuple[str, str]]) -> None:
    assert context_fields(event) == expected


# --- grouped members --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, MAX_MEMBERS, MAX_MEMBERS + 1, 37])
def test_group_members_are_listed_then_counted(n: int) -> None:
    r = rule("{{ consumer.username }} was limited")
    members = [alert(r, hook_event({"consumer": {"username": f"user-{i}"}}), count=i + 1) for i in range(n)]
    events = n * (n + 1) // 2
    payload = render(message(alert(r, members[0].event, count=events, members=members)))  # as the engine folds
    assert_limits(payload)
    listed = payload["blocks"][2]["text"]["text"].split("\n")
    assert listed[0] == f"*Grouped: {n} alerts, {events} events*"
    shown = min(n, MAX_MEMBERS)
    assert listed[1 : 1 + shown] == [f"• user-{i} was limited{f' (×{i + 1})' if i else ''}" for i in range(shown)]
    assert listed[1 + shown :] == ([f"+{n - MAX_MEMBERS} more"] if n > MAX_MEMBERS else [])
    assert payload["text"] == f"user-0 was limited (×{events} between 10:00:01 and 10:01:00, {n} alerts grouped)"


# --- digests ----------------------------------------------------------------------------------------------------


def test_digest_counts_are_exact() -> None:
    a, b = rule("A {{ consumer.username }}", name="rule-a"), rule("B {{ consumer.username }}", name="rule-b")
    alerts = [alert(a, count=c) for c in (1, 2, 3, 4, 5)] + [alert(b, count=10)]
    m = message(*alerts)
    assert m.count == 25
    payload = render(m)
    assert_limits(payload)
    header, sa, sb, context = payload["blocks"]
    assert header["text"]["text"] == "6 alerts, 25 events held back"
    assert payload["text"] == "6 alerts, 25 events held back: rule-a: 5 alerts, 15 events; rule-b: 1 alert, 10 events"
    assert sa["text"]["text"].split("\n") == [
        "*rule-a*: 5 alerts, 15 events",
        "• A alice",
        *(f"• A alice (×{c})" for c in (2, 3)),
        f"+{5 - MAX_PER_RULE} more",
    ]
    assert sb["text"]["text"] == "*rule-b*: 1 alert, 10 events\n• B alice (×10)"
    # which host, and when, with the date: a digest shows no other time
    assert context["elements"][0]["text"].startswith(
        "digest · 6 alerts, 25 events · host-1 · 2026-11-22 between 10:00:01 and 10:01:00"
    )
    assert context["elements"][0]["text"].endswith(f"key {m.key[:12]}")


def test_digest_with_many_rules_stays_within_50_blocks() -> None:
    n_rules = MAX_RULES + 12
    alerts = [alert(rule(name=f"rule-{i}"), count=i + 1) for i in range(n_rules) for _ in range(2)]
    m = message(*alerts)
    payload = render(m)
    assert_limits(payload)
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert len(texts) == MAX_RULES + 1
    rest = range(MAX_RULES, n_rules)
    assert texts[-1] == f"*+12 more rules*: 24 alerts, {sum(2 * (i + 1) for i in rest)} events"
    assert payload["blocks"][0]["text"]["text"] == f"{len(alerts)} alerts, {m.count} events held back"
    assert payload["text"].startswith(f"{len(alerts)} alerts, {m.count} events held back")


# --- limits -----------------------------------------------------------------------------------------------------


def long_message(value: str, n_members: int = 15) -> Message:
    r = rule(
        "<!here> {{ consumer.username }} {{ consumer.username }}", title="{{ consumer.username }}", name=value[:300]
    )
    event = hook_event({"consumer": {"username": value}, "service": {"name": value}, "upstream_id": value}, value)
    members = [alert(r, event, count=2) for _ in range(n_members)]
    return message(alert(r, event, count=9, key=value or KEY, members=members))


@pytest.mark.parametrize("value", ["&" * 5000, "<" * 5000, "x" * 50_000, "`" * 3001, "é😀" * 4000])
def test_long_values_respect_every_limit(value: str) -> None:
    single = long_message(value)
    fallback = render(single)["text"]
    assert MARKER in fallback and fallback.endswith(" (×9 between 10:00:01 and 10:01:00, 15 alerts grouped)")
    assert len(render_text(single)) < MAX_HEADER + 3 * MAX_TEXT + MAX_FIELDS * (MAX_FIELD + 20)
    for m in (single, message(*single.alerts * 3)):
        payload = render(m)
        assert_limits(payload)
        assert MARKER in payload["blocks"][1]["text"]["text"]
        for kind, text in text_objects(payload):
            if kind == "mrkdwn":
                assert_no_live_markup(text.replace(MARKER, ""), trusted=("<!here>",))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=6000), st.integers(1, 40))
def test_random_values_respect_every_limit(value: str, n_members: int) -> None:
    m = long_message(value, n_members)
    for payload in (render(m), render(message(*m.alerts, *m.alerts[0].members))):
        assert_limits(payload)
        for kind, text in text_objects(payload):
            if kind == "mrkdwn":
                assert_no_live_markup(text, trusted=("<!here>",))


# --- dry-run text -----------------------------------------------------------------------------------------------


def test_render_text() -> None:
    r = rule("<!here> {{ consumer.username }} limited", title="Rate limit", name="rl")
    text = render_text(message(alert(r, hook_event({"consumer": {"username": "<@U1>"}}), count=2)))
    assert text.split("\n") == [
        "Rate limit",
        "",
        "<!here> &lt;@U1&gt; limited",
        "",
        "Host: host-1",
        "What: rate-limiting-advanced / rate-limit-exceeded",
        "Count: 2",
        "First: 2026-11-22T10:00:01+00:00",
        "Last: 2026-11-22T10:01:00+00:00",
        "rule rl · error.log:57 · key 0123456789ab",
    ]


def test_render_text_of_a_digest() -> None:
    text = render_text(message(alert(count=2), alert(rule(name="r2"), count=3)))
    assert text.startswith("2 alerts, 5 events held back\n")
    assert "*r1*: 1 alert, 2 events\n• alice (×2)" in text and "*r2*: 1 alert, 3 events" in text


def test_a_count_the_text_says_is_not_said_again_nor_a_message_it_shows() -> None:
    """`{{ count }} × ...` in a digest line or a console line gets no `(×5)`; an error whose text is its message
    says under What only its cause and what nginx was doing."""
    from tailer.notify.console import format_alert

    counted = rule("{{ count }} × {{ consumer.username }}", name="c")
    line = render(message(alert(counted, count=5), alert(counted, count=2)))["blocks"][1]["text"]["text"]
    assert line.split("\n")[1:] == ["• 5 × alice", "• 2 × alice"]
    assert format_alert(alert(counted, count=5)).endswith("[c] 5 × alice")
    assert format_alert(alert(rule("{{ consumer.username }}"), count=5)).endswith("alice (×5)")
    shown = render(message(alert(rule("{{ message }}", name="lua"), error_event("boom\nstack traceback: ..."))))
    [what] = [f["text"] for f in shown["blocks"][2]["fields"] if f["text"].startswith("*What*")]
    assert what == "*What*\nupstream_timeout while reading response header from upstream"
    plain = render(message(alert(rule("oops", name="x"), error_event())))
    [what] = [f["text"] for f in plain["blocks"][2]["fields"] if f["text"].startswith("*What*")]
    assert what == "*What*\nupstream_timeout: upstream timed out (110: Connection timed out)"


def test_a_request_the_error_log_explains_shows_its_cause() -> None:
    joined = http_event(extra={"service": {"name": "orders"}, "cause": "upstream_timeout"})
    fields = render(message(alert(rule("{{ status }}"), joined)))["blocks"][2]["fields"]
    assert "*Cause*\nupstream_timeout" in [f["text"] for f in fields]
    alone = render(message(alert(rule("{{ status }}"), http_event())))["blocks"][2]["fields"]
    assert not any(f["text"].startswith("*Cause*") for f in alone)


def test_a_folded_backlog_keeps_every_messages_line() -> None:
    """100 queued messages (the sender's most) folded into one: each keeps its line, in sections within
    Slack's 3000 characters, and every key is listed."""
    from tailer.notify.slack import MAX_TEXT, fold

    payloads = [json.dumps({"text": f"alert {n}: " + "x" * 150}) for n in range(100)]
    keys = [f"{n:012d}" for n in range(100)]
    folded = fold(payloads, keys, "queued 2026-12-04 10:00:00 – 10:05:00 UTC")
    sections = [b["text"]["text"] for b in folded["blocks"] if b["type"] == "section"]
    assert len(sections) > 1 and all(len(s) <= MAX_TEXT for s in sections)
    lines = "\n".join(sections).split("\n")
    assert [line.split(":")[0] for line in lines] == [f"• alert {n}" for n in range(100)]
    assert all(k in folded["blocks"][-1]["elements"][0]["text"] for k in keys)
    assert len(folded["blocks"]) <= 50
