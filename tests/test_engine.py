"""Rule semantics, table-driven: which events alert and why the others did not (per-rule stats).

Events are built by hand with explicit event times (BASE + seconds) and fed through the `Pipeline` (console
notifier, no budget, unless a test is about the Slack budget). Each table row names the rule (TOML), the events
(a number in the list means `pipeline.advance(BASE + that many seconds)`), the offsets of the events whose alerts
came out, and the stats of the rule.

Kong's Event Hooks semantics (event_hooks.lua), which the engine must follow:
- snooze alone: the first event passes, every later one is dropped for `snooze` s from that pass (a drop does
  not extend it; an event at exactly pass + snooze passes);
- on_change + snooze: the same per digest of the `unique` fields;
- on_change alone: passes when the digest differs from the last one that passed;
- neither: everything passes; `unique` only matters through the digest.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tailer.alerts import Alert, Message
from tailer.events import Error, Event, EventHook, Http, Tally
from tailer.notify import console
from tailer.pipeline import Pipeline
from tailer.rules.engine import Engine
from tailer.rules.load import load_texts
from tailer.template import no_escape

BASE = datetime(2025, 1, 15, 10, 0, 0, tzinfo=UTC)
HOST = "test-host"

Step = Event | float


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def hook(t: float, off: int, data: dict[str, Any], source: str = "acme", event: str = "quota") -> EventHook:
    return EventHook(
        at(t), HOST, "error.log", off, f"box {off}", source=source, event=event, data=data, pid=1, worker=1
    )


def quota(t: float, off: int, user: str, n: int = 1) -> EventHook:
    """A hook of a source without Kong-defined unique fields: its digest covers every field."""
    return hook(t, off, {"consumer": {"username": user}, "count": n})


def rl(
    t: float,
    off: int,
    user: str = "alice",
    ip: str = "203.0.113.45",
    rate: int = 101,
    source: str = "rate-limiting-advanced",
) -> EventHook:
    data = {
        "consumer": {"id": user[:4], "username": user},
        "ip": ip,
        "limit": 100,
        "rate": rate,
        "service": {"id": "c1f0e7d2", "name": "orders"},
        "window": "minute",
    }
    return hook(t, off, data, source=source, event="rate-limit-exceeded")


def http(
    t: float,
    off: int,
    status: int = 500,
    client: str = "10.0.0.5",
    path: str = "/orders",
    request_id: str | None = None,
    host: str = HOST,
) -> Http:
    raw = f'{client} - - "GET {path} HTTP/1.1" {status} #{off}'
    return Http(at(t), host, "access.log", off, raw, status, "GET", path, "HTTP/1.1", client, 0, None, None,
                request_id, {})  # fmt: skip


def error(
    t: float,
    off: int,
    upstream: str = "http://10.0.0.12:8080/orders",
    message: str = "connect() failed (111: Connection refused) while connecting to upstream",
    cause: str = "upstream_refused",
    request_id: str | None = None,
) -> Error:
    return Error(
        at(t), HOST, "error.log", off, f"error #{off}",
        level="error", pid=1312, conn=5104, message=message, cause=cause, status=502,
        action="connecting to upstream", context=None, client="10.0.0.5", server="kong",
        request="GET /orders HTTP/1.1", upstream=upstream, http_host="api.example.test",
        request_id=request_id, truncated=False,
    )  # fmt: skip


def tally(t: float, off: int, count: int, host: str = HOST) -> Tally:
    return Tally(at(t), host, "access.log", off, "", count)


def rule(body: str, notify: str = "console", text: str = "alert {{ count }}", name: str = "r") -> str:
    return f'[[rule]]\nname = "{name}"\nnotify = ["{notify}"]\ntext = "{text}"\n{body}'


def pipeline(toml: str) -> Pipeline:
    return Pipeline(load_texts([("t.toml", toml)]))


def run_steps(p: Pipeline, steps: Sequence[Step]) -> list[Message]:
    """Feed `steps`: consecutive events as one batch, a number as `advance(BASE + n)`; then finish."""
    out: list[Message] = []
    batch: list[Event] = []
    for step in steps:
        if isinstance(step, Event):
            batch.append(step)
            continue
        if batch:
            out += p.feed(batch).messages
            batch = []
        out += p.advance(at(step).timestamp()).messages
    if batch:
        out += p.feed(batch).messages
    out += p.finish().messages
    return out


def offsets(messages: list[Message]) -> list[int]:
    return [a.event.offset for m in messages for a in m.alerts]


def nonzero(stats: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in stats.items() if v}


def check(toml: str, steps: Sequence[Step], alerting: list[int], stats: dict[str, int]) -> list[Message]:
    p = pipeline(toml)
    messages = run_steps(p, steps)
    assert offsets(messages) == alerting
    assert nonzero(p.stats()["r"]) == stats
    return messages


# -- Kong's Event Hooks filters: snooze / on_change / unique

ACME = 'source = "acme"\nevent = "quota"\n'
BY_USER = 'unique = ["consumer.username"]\n'
# alice(1) alice(2) bob alice(1) ... around a 60 s snooze: just before (59), exactly at (60), after (61, 120)
KONG_EVENTS = [
    quota(0, 0, "alice", 1),
    quota(10, 1, "alice", 2),
    quota(20, 2, "bob", 1),
    quota(30, 3, "alice", 1),
    quota(59, 4, "alice", 1),
    quota(60, 5, "alice", 1),
    quota(61, 6, "bob", 1),
    quota(120, 7, "alice", 1),
]

KONG_CASES = [
    pytest.param(ACME, [0, 1, 2, 3, 4, 5, 6, 7], {"matched": 8, "alerts": 8}, id="neither"),
    pytest.param(ACME + BY_USER, [0, 1, 2, 3, 4, 5, 6, 7], {"matched": 8, "alerts": 8}, id="unique-alone"),
    # the whole rule sleeps from the pass at 0 to 60 (drops at 10..59 do not extend it), then from 60 to 120
    pytest.param(ACME + "snooze = 60\n", [0, 5, 7], {"matched": 8, "alerts": 3, "snooze": 5}, id="snooze"),
    pytest.param(ACME + 'snooze = "1m"\n', [0, 5, 7], {"matched": 8, "alerts": 3, "snooze": 5}, id="snooze-1m"),
    pytest.param(
        ACME + BY_USER + "snooze = 60\n", [0, 5, 7], {"matched": 8, "alerts": 3, "snooze": 5}, id="snooze+unique"
    ),
    pytest.param(
        ACME + BY_USER + "snooze = 60\non_change = false\n",
        [0, 5, 7],
        {"matched": 8, "alerts": 3, "snooze": 5},
        id="snooze+unique+on_change-false",
    ),
    # digests by user: A A B A A A B A → A, B, A, B, A pass
    pytest.param(
        ACME + BY_USER + "on_change = true\n",
        [0, 2, 3, 6, 7],
        {"matched": 8, "alerts": 5, "unique": 3},
        id="on_change+unique",
    ),
    # digests of every field: A1 A2 B A1 A1 A1 B A1
    pytest.param(
        ACME + "on_change = true\n", [0, 1, 2, 3, 6, 7], {"matched": 8, "alerts": 6, "unique": 2}, id="on_change"
    ),
    # per user: alice passes at 0 (until 60), bob at 20 (until 80), alice at exactly 60 (until 120), at 120
    pytest.param(
        ACME + BY_USER + "on_change = true\nsnooze = 60\n",
        [0, 2, 5, 7],
        {"matched": 8, "alerts": 4, "unique": 4},
        id="on_change+snooze+unique",
    ),
    # per digest of every field: alice(2) at 10 is a value of its own
    pytest.param(
        ACME + "on_change = true\nsnooze = 60\n",
        [0, 1, 2, 5, 7],
        {"matched": 8, "alerts": 5, "unique": 3},
        id="on_change+snooze",
    ),
]


@pytest.mark.parametrize(("body", "alerting", "stats"), KONG_CASES)
def test_kong_filters(body: str, alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(body), KONG_EVENTS, alerting, stats)


def test_snooze_boundaries_to_the_microsecond() -> None:
    """Just before pass + snooze drops, exactly at it passes; the next window runs from that pass."""
    events = [quota(0, 0, "a"), quota(59.999999, 1, "a"), quota(60, 2, "a"), quota(119.999999, 3, "a")]
    check(rule(ACME + "snooze = 60\n"), events, [0, 2], {"matched": 4, "alerts": 2, "snooze": 2})


RLA = 'source = "rate-limiting-advanced"\nevent = "rate-limit-exceeded"\n'
RL = 'source = "rate-limiting"\nevent = "rate-limit-exceeded"\n'

DEFAULT_UNIQUE_CASES = [
    # Kong's unique fields for rate-limiting-advanced: consumer, ip, service (not rate, limit, window)
    pytest.param(
        RLA + "on_change = true\n",
        [
            rl(0, 0),
            rl(1, 1, rate=150),
            rl(2, 2, user="bob"),
            rl(3, 3, ip="198.51.100.7"),
            rl(4, 4, ip="198.51.100.7", rate=200),
        ],
        [0, 2, 3],
        {"matched": 5, "alerts": 3, "unique": 2},
        id="rla-on_change",
    ),  # fmt: skip
    pytest.param(
        RLA + "on_change = true\nsnooze = 300\n",
        [rl(0, 0), rl(100, 1, rate=150), rl(200, 2, user="bob"), rl(299, 3, rate=300), rl(300, 4, rate=170)],
        [0, 2, 4],
        {"matched": 5, "alerts": 3, "unique": 2},
        id="rla-on_change+snooze",
    ),
    # a source without Kong-defined unique fields: the digest covers every field, so a new rate is a change
    pytest.param(
        RL + "on_change = true\n",
        [
            rl(0, 0, source="rate-limiting"),
            rl(1, 1, rate=150, source="rate-limiting"),
            rl(2, 2, rate=150, source="rate-limiting"),
        ],
        [0, 1],
        {"matched": 3, "alerts": 2, "unique": 1},
        id="other-source-every-field",
    ),  # fmt: skip
    # an explicit `unique` replaces Kong's: per consumer only, so a new ip is no change
    pytest.param(
        RLA + 'on_change = true\nunique = ["consumer.username"]\n',
        [rl(0, 0), rl(1, 1, ip="198.51.100.7"), rl(2, 2, user="bob")],
        [0, 2],
        {"matched": 3, "alerts": 2, "unique": 1},
        id="rla-explicit-unique",
    ),
]


@pytest.mark.parametrize(("body", "events", "alerting", "stats"), DEFAULT_UNIQUE_CASES)
def test_kong_default_unique(body: str, events: list[Event], alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(body), events, alerting, stats)


# -- threshold

TH = 'kind = "http"\nwhen = "status >= 500"\nthreshold = { count = 3, within = 60 }\n'
TH_CASES = [
    pytest.param(TH, [http(0, 0), http(30, 1)], [], {"matched": 2}, id="n-1"),
    pytest.param(TH, [http(0, 0), http(30, 1), http(59, 2)], [2], {"matched": 3, "alerts": 1}, id="n-within-t"),
    # a match exactly `within` after another is outside its window
    pytest.param(TH, [http(0, 0), http(30, 1), http(60, 2)], [], {"matched": 3}, id="n-spanning-exactly-t"),
    pytest.param(TH, [http(t, i) for i, t in enumerate(range(0, 300, 30))], [], {"matched": 10}, id="spread-wide"),
    pytest.param(
        TH, [http(0, 0, 404), http(1, 1), http(2, 2), http(3, 3, 404)], [], {"matched": 2}, id="non-matches-ignored"
    ),
    # firing: quiet while the window holds, again after the window emptied
    pytest.param(
        TH,
        [http(t, i) for i, t in enumerate([0, 1, 2, 3, 4, 100, 101, 102])],
        [2, 7],
        {"matched": 8, "alerts": 2, "realert": 2},
        id="firing-quiet-then-again",
    ),
    # at 60 and 61 the window still holds 3+ matches: quiet
    pytest.param(
        TH,
        [http(t, i) for i, t in enumerate([0, 1, 2, 3, 60, 61])],
        [2],
        {"matched": 6, "alerts": 1, "realert": 3},
        id="firing-while-window-holds",
    ),
    # at 61 the window falls to 2 (the key resolves), at 63 it holds 3 again: a new alert
    pytest.param(
        TH,
        [http(t, i) for i, t in enumerate([0, 1, 2, 61, 62, 63])],
        [2, 5],
        {"matched": 6, "alerts": 2},
        id="below-n-then-again",
    ),
    pytest.param(
        TH + 'group_by = ["client"]\n',
        [
            http(0, 0, client="a"),
            http(1, 1, client="a"),
            http(2, 2, client="b"),
            http(3, 3, client="b"),
            http(4, 4, client="a"),
            http(5, 5, client="b"),
        ],
        [4, 5],
        {"matched": 6, "alerts": 2},
        id="group_by-independent",
    ),  # fmt: skip
    pytest.param(
        TH,
        [
            http(0, 0, client="a"),
            http(1, 1, client="a"),
            http(2, 2, client="b"),
            http(3, 3, client="b"),
            http(4, 4, client="a"),
            http(5, 5, client="b"),
        ],
        [2],
        {"matched": 6, "alerts": 1, "realert": 3},
        id="without-group_by",
    ),  # fmt: skip
    # realert 10 s, doubling, at most 25 s: alerts at 1, 11 (+10), 31 (+20), 56 (+25), 81 (+25)
    pytest.param(
        'kind = "http"\nthreshold = { count = 2, within = 600 }\nrealert = 10\nrealert_max = 25\n',
        [http(t, t) for t in range(101)],
        [1, 11, 31, 56, 81],
        {"matched": 101, "alerts": 5, "realert": 95},
        id="realert-backoff",
    ),
]


@pytest.mark.parametrize(("body", "events", "alerting", "stats"), TH_CASES)
def test_threshold(body: str, events: list[Event], alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(body), events, alerting, stats)


def test_threshold_alert_says_count_first_last() -> None:
    toml = rule(TH, text="{{ count }} in {{ within }} s (threshold {{ threshold }})")
    [message] = check(toml, [http(0, 0), http(30, 1), http(59, 2)], [2], {"matched": 3, "alerts": 1})
    [alert] = message.alerts
    assert (alert.count, alert.first, alert.last, alert.time) == (3, at(0), at(59), at(59))
    assert alert.render("text", no_escape) == "3 in 60 s (threshold 3)"


# -- ratio

RATIO = 'kind = "http"\nratio = { when = "status >= 500", above = 0.05, within = 300, min_count = 100 }\n'
RATIO_CASES = [
    pytest.param([tally(0, 0, 94)] + [http(i, i) for i in range(1, 6)], [], {"matched": 5}, id="below-min_count"),
    pytest.param([tally(0, 0, 96)] + [http(i, i) for i in range(1, 5)], [], {"matched": 4}, id="share-below"),
    # 5 errors + 95 counted 2xx: exactly 5 %, which is `above`
    pytest.param(
        [tally(0, 0, 95)] + [http(i, i) for i in range(1, 6)], [5], {"matched": 5, "alerts": 1}, id="share-at"
    ),
    pytest.param(
        [tally(0, 0, 90)] + [http(i, i) for i in range(1, 11)], [10], {"matched": 10, "alerts": 1}, id="share-above"
    ),
    # 4xx requests are in the denominator, not in the share
    pytest.param(
        [tally(0, 0, 90)] + [http(i, i, 404) for i in range(1, 6)] + [http(i, i) for i in range(6, 11)],
        [10],
        {"matched": 10, "alerts": 1},
        id="4xx-in-denominator",
    ),
    pytest.param(
        [tally(0, 0, 90)] + [http(i, i, 404) for i in range(1, 7)] + [http(i, i) for i in range(7, 11)],
        [],
        {"matched": 10},
        id="4xx-do-not-count-as-hits",
    ),
    # the share is judged once the second is complete: requests tallied after the errors of the same second count
    pytest.param(
        [http(1, i) for i in range(1, 6)] + [tally(1, 0, 95)], [5], {"matched": 5, "alerts": 1}, id="tally-after-hits"
    ),
    # ... and as of that second: what comes (or does not come) long after it cannot take the alert back
    pytest.param(
        [tally(0, 0, 95)] + [http(1, i) for i in range(1, 6)] + [http(400, 6, 404)],
        [5],
        {"matched": 6, "alerts": 1},
        id="next-event-after-within",
    ),
    pytest.param(
        [tally(0, 0, 95)] + [http(1, i) for i in range(1, 6)] + [400],
        [5],
        {"matched": 5, "alerts": 1},
        id="advance-after-within",
    ),
    pytest.param(
        [tally(0, 0, 95)] + [http(250, i) for i in range(1, 6)] + [http(320, 6, 404)],
        [5],
        {"matched": 6, "alerts": 1},
        id="next-event-after-a-gap",
    ),
    # the counted requests of another host are not this host's
    pytest.param(
        [tally(0, 0, 95, host="other")] + [http(i, i) for i in range(1, 6)], [], {"matched": 5}, id="per-host"
    ),
]


@pytest.mark.parametrize(("events", "alerting", "stats"), RATIO_CASES)
def test_ratio(events: list[Event], alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(RATIO + 'group_by = ["host"]\n'), events, alerting, stats)


def test_ratio_alert_fields() -> None:
    toml = rule(RATIO, text="{{ percent }} of {{ total }} ({{ count }} 5xx)")
    [message] = check(toml, [tally(0, 0, 95)] + [http(i, i) for i in range(1, 6)], [5], {"matched": 5, "alerts": 1})
    [alert] = message.alerts
    assert alert.render("text", no_escape) == "5.0% of 100 (5 5xx)"
    assert alert.fields["ratio"] == pytest.approx(0.05)


# -- flatline

FLAT = 'kind = "error"\ngroup_by = ["upstream"]\nflatline = { count = 1, within = 60 }\n'
FLAT_CASES = [
    # u1 goes quiet after 0: noticed at the first tick past 60 (the event at 80); u2 at advance(200)
    pytest.param(
        [error(0, 0, "u1"), error(0, 1, "u2"), error(40, 2, "u2"), error(80, 3, "u2"), error(120, 4, "u2"), 200],
        [0, 4],
        {"matched": 5, "alerts": 2},
        id="quiet-key",
    ),
    pytest.param([1000], [], {}, id="nothing-at-startup"),
    pytest.param([error(0, 0, "u1"), 59], [], {"matched": 1}, id="not-before-within"),
    pytest.param([error(0, 0, "u1"), 59, 60], [0], {"matched": 1, "alerts": 1}, id="at-within"),
    pytest.param([error(0, 0, "u1"), error(30, 1, "u1"), 60, 89], [], {"matched": 2}, id="still-alive"),
    pytest.param([error(0, 0, "u1"), 60, 1000], [0], {"matched": 1, "alerts": 1}, id="alerts-once"),
    # back with two events (ticks see it alive), then quiet again: a second alert
    pytest.param(
        [error(0, 0, "u1"), 60, error(70, 1, "u1"), error(71, 2, "u1"), 200],
        [0, 2],
        {"matched": 3, "alerts": 2},
        id="back-then-quiet-again",
    ),
]


@pytest.mark.parametrize(("steps", "alerting", "stats"), FLAT_CASES)
def test_flatline(steps: list[Step], alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(FLAT), steps, alerting, stats)


def test_flatline_key_back_with_one_event_then_quiet_again() -> None:
    """A key that went quiet, came back (one event: `count = 1` is met) and went quiet again has gone quiet
    twice. Whether a tick happened to fall while it was back must not decide that."""
    check(rule(FLAT), [error(0, 0, "u1"), 60, error(70, 1, "u1"), 200], [0, 1], {"matched": 2, "alerts": 2})


# -- new_value

NEW_CASES = [
    pytest.param(
        [
            quota(0, 0, "alice"),
            quota(1, 1, "alice"),
            quota(2, 2, "bob"),
            hook(3, 3, {"count": 1}),
            hook(4, 4, {"consumer": {}}),
            quota(5, 5, "alice"),
            quota(6, 6, "carol"),
        ],
        [0, 2, 6],
        {"matched": 7, "alerts": 3},
        id="first-value-alerts",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("events", "alerting", "stats"), NEW_CASES)
def test_new_value(events: list[Event], alerting: list[int], stats: dict[str, int]) -> None:
    check(rule(ACME + 'new_value = ["consumer.username"]\n', text="new consumer {{ value }}"), events, alerting, stats)


# -- group_window

GROUPED = 'kind = "http"\nwhen = "status >= 500"\ngroup_window = 60\n'


def test_group_window_folds_alerts_within_the_window() -> None:
    p = pipeline(rule(GROUPED, text="{{ status }} {{ path }}"))
    messages = run_steps(p, [http(t, i) for i, t in enumerate([0, 10, 20, 30, 40, 100])])
    assert [len(m.alerts) for m in messages] == [1, 1]
    first, second = messages[0].alerts[0], messages[1].alerts[0]
    assert [a.event.offset for a in first.members] == [0, 1, 2, 3, 4]
    assert (first.count, first.first, first.last) == (5, at(0), at(40))
    assert messages[0].count == 5
    assert (second.members, second.event.offset, second.count) == ([], 5, 1)
    assert nonzero(p.stats()["r"]) == {"matched": 6, "alerts": 6, "grouped": 4}


def test_group_window_an_alert_at_the_window_end_opens_a_new_group() -> None:
    p = pipeline(rule(GROUPED))
    messages = run_steps(p, [http(0, 0), http(59, 1), http(60, 2), http(61, 3)])
    assert [[a.event.offset for a in m.alerts[0].members] for m in messages] == [[0, 1], [2, 3]]


def test_group_window_finish_flushes_an_open_group() -> None:
    p = pipeline(rule(GROUPED))
    assert p.feed([http(0, 0), http(10, 1)]).messages == []
    [message] = p.finish().messages
    assert [a.event.offset for a in message.alerts[0].members] == [0, 1]
    assert message.count == 2
    assert p.finish().messages == []


def test_group_window_flushed_by_advance() -> None:
    p = pipeline(rule(GROUPED))
    assert p.feed([http(0, 0), http(10, 1)]).messages == []
    assert p.advance(at(59).timestamp()).messages == []
    [message] = p.advance(at(60).timestamp()).messages
    assert message.count == 2


# -- event time, not arrival, decides


MIXED = "\n".join(
    [
        rule(TH + 'group_by = ["client"]\n', name="th"),
        rule(RATIO + 'group_by = ["host"]\nrealert = 30\n', name="ratio"),
        rule(FLAT + "realert = 120\n", name="flat"),
        rule(ACME + BY_USER + "on_change = true\nsnooze = 45\n", name="kong"),
        rule(ACME + 'new_value = ["consumer.username"]\ngroup_window = 20\n', name="new"),
        rule('kind = "http"\nwhen = "status == 503"\ngroup_window = 30\n', name="grouped"),
    ]
)


def mixed_events(seed: int) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    t = 0.0
    for off in range(600):
        t += rng.choice((0, 0, 0.3, 1, 2, 7, 40))
        pick = rng.random()
        if pick < 0.4:
            events.append(http(t, off, rng.choice((404, 500, 502, 503)), client=rng.choice("abc")))
        elif pick < 0.6:
            events.append(tally(t, off, rng.randint(1, 20)))
        elif pick < 0.8:
            events.append(error(t, off, rng.choice(("u1", "u2", "u3"))))
        else:
            events.append(quota(t, off, rng.choice(("alice", "bob", "carol", "dave", f"user{off % 9}"))))
    return events


def signature(messages: list[Message]) -> list[tuple[Any, ...]]:
    def one(a: Alert) -> tuple[Any, ...]:
        return (a.rule.name, a.key, a.time, a.first, a.last, a.count, a.event.offset, [one(m) for m in a.members])

    return [(m.notifier, m.time, [one(a) for a in m.alerts]) for m in messages]


def feed_in(batches: list[list[Event]]) -> tuple[list[Message], dict[str, dict[str, int]]]:
    p = pipeline(MIXED)
    out: list[Message] = []
    for batch in batches:
        out += p.feed(batch).messages
    out += p.finish().messages
    return out, {name: nonzero(s) for name, s in p.stats().items()}


def random_batches(events: list[Event], seed: int) -> list[list[Event]]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(events):
        n = rng.choice((0, 1, 2, 3, 17, 100))
        out.append(events[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batching_does_not_change_alerts(seed: int) -> None:
    events = mixed_events(seed)
    whole, whole_stats = feed_in([events])
    assert {r for _, _, alerts in signature(whole) for r, *_ in alerts} == {"th", "ratio", "flat", "kong", "new",
                                                                            "grouped"}  # fmt: skip
    for batches in ([[e] for e in events], random_batches(events, seed), random_batches(events, seed + 100)):
        messages, stats = feed_in(batches)
        assert signature(messages) == signature(whole)
        assert stats == whole_stats


def test_engine_directly_batching_does_not_change_alerts() -> None:
    events = mixed_events(7)
    rules = load_texts([("t.toml", MIXED)]).rules
    whole = Engine(rules)
    one = Engine(rules)
    expected = whole.feed(events) + whole.finish()
    got = [a for e in events for a in one.feed([e])] + one.finish()
    assert [(a.rule.name, a.key, a.time, a.count) for a in got] == [
        (a.rule.name, a.key, a.time, a.count) for a in expected
    ]
    assert whole.stats() == one.stats()


def test_event_time_not_arrival_decides() -> None:
    """Three matches fed minutes apart in wall time but within 60 s of log time alert; the same count spread
    over more than 60 s of log time does not, however quickly it arrives."""
    p = pipeline(rule(TH))
    assert p.feed([http(0, 0)]).messages == []
    assert p.feed([http(20, 1)]).messages == []
    assert offsets(p.feed([http(40, 2)]).messages) == [2]
    q = pipeline(rule(TH))
    assert q.feed([http(0, 0), http(61, 1), http(122, 2)]).messages + q.finish().messages == []


# -- the Slack budget (rate 1/s)

PER_EVENT_SLACK = rule('kind = "http"\nwhen = "status >= 500"\n', notify="slack", text="{{ status }} {{ path }}")


def test_slack_budget_same_second_storm() -> None:
    p = pipeline(PER_EVENT_SLACK)
    first = p.feed([http(0, i) for i in range(10)]).messages
    assert [offsets([m]) for m in first] == [[0]]
    assert p.advance(at(0.5).timestamp()).messages == []
    [digest] = p.advance(at(1).timestamp()).messages
    assert offsets([digest]) == list(range(1, 10))
    assert (digest.count, digest.time) == (9, at(1))
    assert p.finish().messages == []
    assert nonzero(p.stats()["r"]) == {"matched": 10, "alerts": 10, "budget:slack": 9}


def test_slack_budget_finish_sends_the_backlog() -> None:
    p = pipeline(PER_EVENT_SLACK)
    assert len(p.feed([http(0, i) for i in range(10)]).messages) == 1
    [digest] = p.finish().messages
    assert digest.count == 9


def test_slack_budget_hundred_thousand_events_in_a_minute() -> None:
    n = 100_000
    step = timedelta(microseconds=60_000_000 // n)
    events: list[Event] = [
        Http(BASE + i * step, HOST, "access.log", i, "raw", 500, "GET", "/orders", "HTTP/1.1", "10.0.0.5", 0, None,
             None, None, {})
        for i in range(n)
    ]  # fmt: skip
    p = pipeline(PER_EVENT_SLACK)
    messages: list[Message] = []
    for i in range(0, n, 2048):
        messages += p.feed(events[i : i + 2048]).messages
    messages += p.finish().messages
    assert len(messages) <= 60
    assert sum(m.count for m in messages) == n
    assert sorted(a.event.offset for m in messages for a in m.alerts) == list(range(n))
    times = [m.time for m in messages]
    assert times == sorted(times)
    assert all(b - a >= timedelta(seconds=1) for a, b in zip(times, times[1:], strict=False))


def test_slack_digests_do_not_depend_on_batching() -> None:
    """The same events, read in one batch (replay) or one at a time (the daemon), make the same messages: the
    digest due at 1 s goes out at the first event time past 1 s, not at the end of whatever batch held it."""
    events: list[Event] = [http(0, 0), http(0, 1), http(1, 2, 404), http(2.5, 3), http(4, 4)]

    def run(batches: list[list[Event]]) -> list[tuple[datetime, list[int]]]:
        p = pipeline(PER_EVENT_SLACK)
        out: list[Message] = []
        for batch in batches:
            out += p.feed(batch).messages
        out += p.finish().messages
        return [(m.time, offsets([m])) for m in out]

    assert run([[e] for e in events]) == run([events])


# -- correlation: the error entry explains the request


def test_correlated_cause_and_error_fields() -> None:
    toml = rule(
        'kind = "http"\nwhen = \'cause == "upstream_timeout"\'\n',
        text="{{ status }}: {{ error.message }} ({{ cause }})",
    )
    timeout = "upstream timed out (110: Connection timed out) while reading response header from upstream"
    events: list[Event] = [
        error(0, 0, message=timeout, cause="upstream_timeout", request_id="abc"),
        http(0, 1, 504, request_id="other"),
        http(1, 2, 504, request_id="abc"),
        http(2, 3, 504, request_id="abc"),  # the error was used up by the first request with its id
    ]
    p = pipeline(toml)
    messages = run_steps(p, events)
    assert offsets(messages) == [2]
    [alert] = messages[0].alerts
    assert alert.render("text", no_escape) == f"504: {timeout} (upstream_timeout)"
    assert f"504: {timeout}" in console.format_message(messages[0])
    assert nonzero(p.stats()["r"]) == {"matched": 1, "alerts": 1}


def test_correlation_across_batches() -> None:
    toml = rule('kind = "http"\nwhen = \'cause == "upstream_refused"\'\n', text="{{ error.upstream }}")
    p = pipeline(toml)
    assert p.feed([error(0, 0, upstream="http://10.0.0.12:8080/orders", request_id="r1")]).messages == []
    [message] = p.feed([http(0, 1, 502, request_id="r1")]).messages
    assert message.alerts[0].render("text", no_escape) == "http://10.0.0.12:8080/orders"
