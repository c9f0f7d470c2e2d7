"""tailer.notify.console (readable lines, inert to terminal escapes) and tailer.notify.payload (alerts as JSON for
the `command` notifier, `replay --json` and Kong's `webhook` body)."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any

import pytest

from tailer.fields import MISSING
from tailer.notify.console import MAX_LINES, format_message
from tailer.notify.payload import alert_json, json_safe, kong_webhook_body
from tests.test_slack_render import KEY, T, alert, error_event, hook_event, http_event, message, rule

UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # all C0 and C1 but tab, and line separators

RL_TEXT = "Rate limit exceeded by username '{{ consumer.username }}' on service '{{ service.name }}'"


# --- console ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "suffix"),
    [(1, ""), (3, " (×3)")],
)
def test_one_line_per_alert(count: int, suffix: str) -> None:
    out = format_message(message(alert(rule(RL_TEXT, name="rate-limit-exceeded"), count=count)))
    expected = "2026-11-22T10:00:01+00:00 host-1 [rate-limit-exceeded] Rate limit exceeded by username 'alice' on "
    assert out == expected + "service 'orders'" + suffix


def test_values_are_not_mrkdwn_escaped() -> None:
    out = format_message(message(alert(event=hook_event({"consumer": {"username": "<!channel> & `x`"}}))))
    assert out.endswith("[r1] <!channel> & `x`")


@pytest.mark.parametrize(
    "value",
    [
        "\x1b[31mred\x1b[0m",
        "\x1b]0;title\x07",
        "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
        "\x9b2J\x9d0;t\x9c",  # C1 CSI / OSC / ST
        "fake\n2026-11-22T10:00:02+00:00 host-1 [other] forged line",
        "cr\roverwrite",
        "\x00\x08\x7f\x85\u2028",
    ],
)
def test_terminal_escapes_are_inert_and_the_line_single(value: str) -> None:
    event = hook_event({"consumer": {"username": value}, "service": {"name": value}}, host=value)
    for out in (
        format_message(message(alert(rule(RL_TEXT, name=value), event))),
        format_message(message(alert(rule(RL_TEXT, name=value), event), alert(event=event))),
    ):
        lines = out.split("\n")
        assert all(not UNSAFE.search(line) for line in lines), out
    single = format_message(message(alert(rule(RL_TEXT), event)))
    assert "\n" not in single


def test_newlines_become_visible() -> None:
    r = rule("first\nsecond {{ consumer.username }}")
    out = format_message(message(alert(r, hook_event({"consumer": {"username": "a\r\nb"}}))))
    assert out.endswith("[r1] first⏎second a⏎b")


def test_tab_is_kept() -> None:
    assert format_message(message(alert(event=hook_event({"consumer": {"username": "a\tb"}})))).endswith("a\tb")


def test_grouped_members_are_counted() -> None:
    members = [alert(count=c) for c in (1, 2, 4)]
    out = format_message(message(alert(count=7, members=members)))
    assert out.endswith("alice (×7, 3 alerts grouped)")


@pytest.mark.parametrize("n", [2, MAX_LINES, MAX_LINES + 1, 45])
def test_digest_lines(n: int) -> None:
    alerts = [alert(rule(name=f"rule-{i}"), count=i + 1) for i in range(n)]
    lines = format_message(message(*alerts)).split("\n")
    assert lines[0] == f"2026-11-22T10:00:01+00:00 digest for slack: {n} alerts, {n * (n + 1) // 2} events held back"
    shown = min(n, MAX_LINES)
    assert len(lines) == 1 + shown + (n > MAX_LINES)
    assert lines[1].startswith("  2026-11-22T10:00:01+00:00 host-1 [rule-0] alice")
    assert lines[shown].endswith(f"[rule-{shown - 1}] alice (×{shown})")
    if n > MAX_LINES:
        assert lines[-1] == f"  +{n - MAX_LINES} more"


# --- payload ----------------------------------------------------------------------------------------------------


def roundtrip(data: dict[str, Any]) -> Any:
    """`data` through strict JSON: no NaN, no `default` needed."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    decoded = json.loads(text)
    assert decoded == data
    return decoded


def test_alert_json() -> None:
    r = rule("<!here> {{ consumer.username }} limited", title="RL {{ service.name }}", name="rl")
    fields = {"ratio": 0.5, "within": 60.0, "since": T, "bad": math.nan, "gone": MISSING, "ids": ("a", 1)}
    member = alert(r, count=2)
    a = alert(r, hook_event({"consumer": {"username": "<!channel> & x"}, 1: math.inf}), count=5, members=[member])
    a.group = ("alice", None)
    a.fields = fields
    data = roundtrip(alert_json(message(a)))
    assert list(data) == ["key", "notifier", "time", "count", "alerts"]
    assert (data["key"], data["notifier"], data["time"], data["count"]) == (KEY, "slack", T.isoformat(), 5)
    (out,) = data["alerts"]
    assert out["rule"] == "rl" and out["key"] == KEY
    assert out["text"] == "<!here> <!channel> & x limited"  # unescaped: JSON is the escaping
    assert out["title"] == "RL -"
    assert (out["count"], out["first"], out["last"]) == (5, T.isoformat(), (T + timedelta(seconds=59)).isoformat())
    assert out["group"] == ["alice", None]
    assert out["fields"] == {"ratio": 0.5, "within": 60.0, "since": T.isoformat(), "bad": "nan", "gone": None,
                             "ids": ["a", 1]}  # fmt: skip
    assert out["event"]["kind"] == "event_hook" and out["event"]["data"]["1"] == "inf"
    assert out["event"]["raw"] == "raw"
    assert [m["count"] for m in out["members"]] == [2]


def test_alert_json_of_a_digest() -> None:
    m = message(alert(count=2), alert(rule(), http_event(), count=3, key="k2"))
    data = roundtrip(alert_json(m))
    assert data["key"] == m.key and data["count"] == 5
    assert [a["title"] for a in data["alerts"]] == [None, None]
    assert [a["event"]["kind"] for a in data["alerts"]] == ["event_hook", "http"]


def test_kong_webhook_body_of_an_event_hook() -> None:
    data = {"consumer": {"username": "alice"}, "ip": "10.0.0.1", 2: "two"}
    body = roundtrip(kong_webhook_body(alert(rule("{{ consumer.username }} hit"), hook_event(data), count=4)))
    assert body == {
        "consumer": {"username": "alice"},
        "ip": "10.0.0.1",
        "2": "two",
        "event": "rate-limit-exceeded",
        "source": "rate-limiting-advanced",
        "kong_tailer": {
            "rule": "r1",
            "key": KEY,
            "text": "alice hit",
            "count": 4,
            "first": T.isoformat(),
            "last": (T + timedelta(seconds=59)).isoformat(),
        },
    }


@pytest.mark.parametrize("event", [http_event(), error_event(upstream="http://u")])
def test_kong_webhook_body_of_another_event(event: Any) -> None:
    body = roundtrip(kong_webhook_body(alert(rule("{{ status }}", name="bad-gateway"), event)))
    expected = {k: v for k, v in json_safe(event.to_dict()).items() if k != "raw"}
    assert {k: v for k, v in body.items() if k not in ("event", "source", "kong_tailer")} == expected
    assert (body["event"], body["source"]) == ("bad-gateway", "kong-tailer")
    assert body["kong_tailer"]["text"] == str(event.status)
    assert "raw" not in body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": (1, 2.5)}, {"a": [1, 2.5]}),
        ({1: "x", "b": True}, {"1": "x", "b": True}),
        ({True: "y"}, {"true": "y"}),
        ({2.5: "x", None: 1}, {"2.5": "x", "null": 1}),
        ([math.nan, -math.inf, math.inf], ["nan", "-inf", "inf"]),
        ({"t": T}, {"t": T.isoformat()}),
        (MISSING, None),
        ({"f": frozenset({1})}, {"f": [1]}),
        (object, str(object)),
    ],
)
def test_json_safe(value: Any, expected: Any) -> None:
    assert json_safe(value) == expected
    json.dumps(json_safe(value), allow_nan=False)
