"""The rules' state survives a restart: a pipeline stopped after any event and restored from its snapshot
into a new process's pipeline (new rule objects) decides exactly what one that never stopped decides."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tailer import snapshot
from tailer.alerts import Message
from tailer.config import localtime_zone
from tailer.events import Event
from tailer.pipeline import Pipeline
from tailer.rules.load import load_texts
from tailer.rules.model import RuleSet
from tests.test_engine import MIXED, at, http, mixed_events, rule, signature

# Every aggregation of the engine tests, plus a Slack budget that folds a storm into digests.
RULES = MIXED + "\n" + rule('kind = "http"\nwhen = "status >= 500"\n', notify="slack", name="storm")


def fresh(text: str = RULES) -> Pipeline:
    return Pipeline(load_texts([("t.toml", text)]))


def run(events: list[Event], stop_after: int | None = None) -> list[Message]:
    p = fresh()
    out: list[Message] = []
    for i, event in enumerate(events):
        out += p.feed([event]).messages
        if i == stop_after:  # a restart: everything but the snapshot is lost
            data = snapshot.dump(p)
            p = fresh()
            snapshot.load(p, data)
    return out + p.finish().messages


@pytest.mark.parametrize("seed", [11, 12])
def test_a_restart_after_any_event_changes_no_decision(seed: int) -> None:
    events = mixed_events(seed)
    whole = run(events)
    rules = {a.rule.name for m in whole for a in m.alerts}
    assert {"th", "ratio", "flat", "kong", "new", "grouped", "storm"} <= rules
    assert any(len(m.alerts) > 1 for m in whole if m.notifier == "slack")  # a budget digest is in there
    for stop in range(0, len(events), 7):
        assert signature(run(events, stop)) == signature(whole), f"restart after event {stop}"


def test_state_of_a_removed_rule_is_dropped() -> None:
    p = fresh()
    for n in range(5):  # a storm: slack's budget holds a backlog of storm alerts
        p.feed([http(n * 0.1, n, 503)])
    data = snapshot.dump(p)
    without = fresh(MIXED + "\n" + rule('kind = "http"\nwhen = "status == 1"\n', notify="slack", name="other"))
    snapshot.load(without, data)
    assert [m for m in without.finish().messages if m.notifier == "slack"] == []
    kept = fresh()
    snapshot.load(kept, data)
    assert any(a.rule.name == "storm" for m in kept.finish().messages for a in m.alerts)


def test_a_snapshot_written_by_the_previous_release_is_read_back() -> None:
    """tests/fixtures/snapshots/v1-5c6d4b0.pickle was written by commit 5c6d4b0 (before PipelineState) after
    30 storm requests: an upgraded daemon goes on from it as the old one would have."""
    data = (Path(__file__).parent / "fixtures" / "snapshots" / "v1-5c6d4b0.pickle").read_bytes()
    restored = fresh()
    snapshot.load(restored, data)
    never_stopped = fresh()
    for n in range(30):
        never_stopped.feed([http(n * 0.1, n, 503)])
    messages = restored.finish().messages
    assert signature(messages) == signature(never_stopped.finish().messages) != []
    # every alert's event was pickled before events had line numbers: the line is not known
    assert all(a.event.where() == f"access.log byte {a.event.offset}" for m in messages for a in m.alerts)


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def test_a_snapshot_is_never_a_way_to_run_code() -> None:
    evil = pickle.dumps({"version": snapshot.VERSION, "engine": _Boom()})
    with pytest.raises(snapshot.SnapshotError, match="has no place in a snapshot"):
        snapshot.load(fresh(), evil)


@pytest.mark.parametrize("data", [b"", b"garbage", pickle.dumps({"version": 999}), pickle.dumps([1, 2])])
def test_a_damaged_or_foreign_snapshot_is_an_error(data: bytes) -> None:
    with pytest.raises(snapshot.SnapshotError):
        snapshot.load(fresh(), data)


@pytest.mark.parametrize("zone", ["localtime", "Europe/Paris"])
def test_event_times_in_the_hosts_zone_are_saved(zone: str) -> None:
    """The error log's zone is the host's by default: /etc/localtime, which may be a file with no zone name."""
    tz = localtime_zone() if zone == "localtime" else ZoneInfo(zone)
    p = fresh()
    for n in range(3):  # a storm: slack's budget keeps the later alerts, and their events
        p.feed([replace(http(n * 0.1, n, 503), time=at(n * 0.1).astimezone(tz))])
    restored = fresh()
    snapshot.load(restored, snapshot.dump(p))
    held = [a for m in restored.finish().messages if m.notifier == "slack" for a in m.alerts]
    assert held and all(
        a.event.time is not None and a.event.time.utcoffset() == tz.utcoffset(a.event.time) for a in held
    )


def _burst_rules(within: str) -> RuleSet:
    from tailer.rules.load import load_texts

    return load_texts(
        [
            (
                "r.toml",
                f"""[[rule]]
name = "burst"
kind = "error"
when = 'message =~ "BURST"'
threshold = {{ count = 3, within = "{within}" }}
notify = ["console"]
text = "x"
""",
            )
        ]
    )


@pytest.mark.parametrize(("within", "fires"), [("10m", True), ("1m", False)])
def test_windows_restored_take_the_rules_within_as_it_is_now(within: str, fires: bool) -> None:
    """A reload (or restart) that narrows a threshold's `within` applies to the windows already open: events
    8 minutes apart no longer add up to 3 in a 1-minute window."""
    from tests.conftest import parse_bytes

    def line(minute: int) -> bytes:
        return f"2025/01/15 10:{minute:02d}:00 [error] 1#0: *1 BURST, client: 10.0.0.1, server: kong\n".encode()

    old = Pipeline(_burst_rules("10m"))
    assert old.feed(parse_bytes(line(1) + line(5))).messages == []
    new = Pipeline(_burst_rules(within))
    snapshot.load(new, snapshot.dump(old))
    alerts = [a for m in new.feed(parse_bytes(line(9))).messages for a in m.alerts]
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].count == 3 and alerts[0].fields["within"] == 600.0
