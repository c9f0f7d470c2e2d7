"""Rule aggregations are plug-ins: one module declaring an `Aggregation`, and one line in the registry. A new
one, declared here and registered for the test, loads from TOML, is described by `check`, and alerts through
the engine with nothing else changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tailer import snapshot
from tailer.alerts import Alert
from tailer.cli import main
from tailer.errors import RulesError
from tailer.events import Event
from tailer.rules.aggregations.kind import Aggregation
from tailer.rules.aggregations.registry import AGGREGATIONS
from tailer.rules.engine import RuleRunner, Window
from tailer.rules.load import load_texts
from tailer.rules.values import count, table
from tests.test_engine import at, error, http, nonzero, pipeline, rule, run_steps, tally

# -- a new aggregation, as its module would declare it: `burst = { count = N }`, at least N matches within one
# second of event time (per group_by key); it resolves once the key's window holds fewer


@dataclass(frozen=True, slots=True)
class Burst:
    count: int


def _read(v: Any) -> Burst:
    return Burst(table(v, {"count": count}, ("count",))["count"])


def _holds(runner: RuleRunner) -> Any:
    need = runner.rule.settings.count
    return lambda window: window.total >= need


def _step(runner: RuleRunner, event: Event, t: float, out: list[Alert]) -> None:
    group = runner.rule.group_by.values(event)
    window = runner.window(group, t)
    window.add(t, 1, 0, event)
    if window.total < runner.rule.settings.count:
        runner.resolve(group)
    elif runner.fires(group):
        runner.candidate(event, t, group, window.total, window.first, {"burst": window.total}, out)


def _tick(runner: RuleRunner, now: float, out: list[Alert]) -> None:
    runner.resolve_cleared(runner.firing, now, _holds(runner))


BURST = Aggregation(
    name="burst",
    read=_read,
    describe=lambda s: f"≥ {s.count} within a second",
    step=_step,
    tick=_tick,
    within=lambda s: 1.0,
)


@pytest.fixture
def burst(monkeypatch: pytest.MonkeyPatch) -> Aggregation:
    monkeypatch.setitem(AGGREGATIONS, "burst", BURST)  # the one line a module adds to the registry
    return BURST


BURST_RULE = rule('kind = "error"\ngroup_by = ["upstream"]\nburst = { count = 3 }\n', text="{{ burst }} at once")


def test_a_registered_aggregation_loads_from_toml(burst: Aggregation) -> None:
    [loaded] = load_texts([("t.toml", BURST_RULE)]).rules
    assert loaded.aggregation is burst
    assert loaded.settings == Burst(3)
    assert not loaded.counts_all_requests  # it does not count every request: no tallies for it


def test_a_registered_aggregations_value_is_checked_with_file_and_line(burst: Aggregation) -> None:
    bad = '[[rule]]\nname = "b"\ntext = "x"\nburst = { count = 0 }\n'
    with pytest.raises(RulesError) as caught:
        load_texts([("t.toml", bad)])
    assert caught.value.problems == ["t.toml:4: rule 'b': burst: expected a whole number of at least 1, got 0"]
    both = '[[rule]]\nname = "b"\ntext = "x"\nthreshold = { count = 2, within = 5 }\nburst = { count = 2 }\n'
    with pytest.raises(RulesError) as caught:
        load_texts([("t.toml", both)])
    assert caught.value.problems == ["t.toml:5: rule 'b': one aggregation per rule, not threshold and burst"]


def test_an_unregistered_aggregation_is_an_unknown_key() -> None:
    with pytest.raises(RulesError) as caught:
        load_texts([("t.toml", BURST_RULE)])
    [problem] = caught.value.problems
    assert "unknown key 'burst'" in problem


def test_a_registered_aggregation_is_described_by_check(burst: Aggregation, tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(BURST_RULE)
    result = CliRunner().invoke(main, ["check", "--rules", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "kind error; ≥ 3 within a second, per upstream → console" in result.stdout


def test_a_registered_aggregation_alerts_through_the_engine(burst: Aggregation) -> None:
    p = pipeline(BURST_RULE)
    steps = [
        error(0, 0, "u1"),
        error(0.2, 1, "u1"),
        error(0.5, 2, "u2"),
        error(0.9, 3, "u1"),  # the third of u1 within the second: alerts
        error(0.95, 4, "u1"),  # still firing: no second alert
        error(5, 5, "u1"),  # the window cleared (resolved at the tick), a new one begins
        error(5.1, 6, "u1"),
        error(5.2, 7, "u1"),  # alerts again
    ]
    messages = run_steps(p, steps)
    alerts = [a for m in messages for a in m.alerts]
    assert [(a.event.offset, a.group, a.render("text", str)) for a in alerts] == [
        (3, ("u1",), "3 at once"),
        (7, ("u1",), "3 at once"),
    ]
    assert nonzero(p.stats()["r"]) == {"matched": 8, "alerts": 2, "realert": 1}
    assert alerts[0].first == at(0)


def test_a_registered_aggregation_keeps_its_windows_across_a_snapshot(burst: Aggregation) -> None:
    p = pipeline(BURST_RULE)
    p.feed([error(0, 0, "u1"), error(0.2, 1, "u1")])
    restored = pipeline(BURST_RULE)
    snapshot.load(restored, snapshot.dump(p))
    [message] = restored.feed([error(0.4, 2, "u1")]).messages
    assert [a.count for a in message.alerts] == [3]


def test_the_shipped_aggregations_in_their_order() -> None:
    assert list(AGGREGATIONS) == ["threshold", "ratio", "flatline", "new_value"]
    for name, declared in AGGREGATIONS.items():
        assert declared.name == name
        assert declared.within is not None or not declared.counts  # what counts keeps windows


def test_what_an_aggregation_declares_decides_the_requests_read_as_events() -> None:
    """A rule over every request counts them if its aggregation does; a ratio wants its `when` statuses."""
    over_all = 'kind = "http"\n'
    ratio = pipeline(rule(over_all + 'ratio = { when = "status == 503", above = 0.5, within = 60 }\n'))
    assert ratio.http_statuses() == frozenset({503})
    threshold = pipeline(rule(over_all + "threshold = { count = 5, within = 60 }\n"))
    assert threshold.http_statuses() == frozenset()
    new_value = pipeline(rule(over_all + 'new_value = ["host"]\n'))
    assert new_value.http_statuses() is None  # it sees the events, every one from 400 up


def test_a_runner_binds_the_aggregations_step_for_the_per_event_path(burst: Aggregation) -> None:
    """One bound call per matching event, as the method it replaces was; the tallies reach only counting rules."""
    [loaded] = load_texts([("t.toml", BURST_RULE)]).rules
    runner = RuleRunner(loaded)
    out: list[Alert] = []
    for n in range(3):
        runner.feed(error(n * 0.1, n, "u1"), at(n * 0.1).timestamp(), out)
    assert [a.count for a in out] == [3]
    assert isinstance(runner.windows[("u1",)], Window)
    assert runner.ticks
    counted = load_texts([("t.toml", rule('kind = "http"\nthreshold = { count = 2, within = 60 }\n'))]).rules[0]
    assert counted.counts_all_requests
    counting = RuleRunner(counted)
    counting.tally(tally(0, 0, 5), at(0).timestamp())
    counting.feed(http(1, 1), at(1).timestamp(), out)
    assert [a.count for a in out] == [3, 6]
