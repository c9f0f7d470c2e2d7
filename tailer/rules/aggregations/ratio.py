"""`ratio = { when = "...", above = S, within = T, min_count = M }`: the share of matches for which `when`
holds is at least S over T seconds, once M matches are in the window, per `group_by` key.

A match is only counted when it comes; the share is judged once a second of event time (`tick`), when every
request of the second, including those the parser only tallied, is in. The parser makes events only of the
requests whose status `when` may hold for (`statuses`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailer.rules.aggregations.kind import Aggregation
from tailer.rules.expr import compile_when, statuses
from tailer.rules.model import Predicate
from tailer.rules.values import count, duration, string, table

if TYPE_CHECKING:
    from tailer.alerts import Alert
    from tailer.events import Event
    from tailer.rules.engine import RuleRunner, Window


@dataclass(frozen=True, slots=True)
class Ratio:
    """The share of matches for which `when` holds is at least `above`, over `within` seconds, once
    `min_count` matches have been seen in the window."""

    when: Predicate
    when_text: str
    above: float
    within: float
    min_count: int


def _share(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
        raise ValueError(f"above is a share between 0 and 1 (0.05 = 5 %), not {v!r}")
    return float(v)


def read(v: Any) -> Ratio:
    t = table(
        v,
        {"when": string, "above": _share, "within": duration, "min_count": count},
        ("when", "above", "within"),
    )
    return Ratio(compile_when(t["when"]), t["when"], t["above"], t["within"], t.get("min_count", 1))


def describe(settings: Ratio) -> str:
    return f"share of `{settings.when_text}` ≥ {settings.above:.1%} over {settings.within:g} s"


def step(runner: RuleRunner, event: Event, t: float, out: list[Alert]) -> None:
    # Only counted here; the share is judged once a second (`tick`), when every request of the second,
    # including those the parser only tallied, is in.
    rule = runner.rule
    group = rule.group_by.values(event)
    window = runner.windows.get(group) or runner.window(group, t)
    if rule.settings.when(event):
        window.add(t, 1, 1, event)
        window.last_hit = (t, event)
        runner.touched.add(group)
    else:
        window.add(t, 1, 0, event)


def _holds(ratio: Ratio) -> Callable[[Window], bool]:
    """The ratio's condition, over a window as it is now."""
    return lambda window: window.total >= ratio.min_count and window.hits >= ratio.above * window.total


def tick(runner: RuleRunner, now: float, out: list[Alert]) -> None:
    """Judge the keys with new hits as their windows stood at their last second (`now` may be much later: time
    only moves with events), then let the firing ones that have cleared by `now` resolve."""
    ratio: Ratio = runner.rule.settings
    holds = _holds(ratio)
    windows, touched = runner.windows, runner.touched
    for group in touched:
        window = windows[group]
        if not holds(window):
            runner.resolve(group)
        elif window.last_hit is not None and runner.fires(group):
            t, event = window.last_hit
            share = window.hits / window.total
            fields = {"ratio": share, "percent": f"{share:.1%}", "total": window.total, "within": ratio.within}
            runner.candidate(event, t, group, window.hits, window.first, fields, out)
    runner.resolve_cleared(runner.firing - touched, now, holds)
    touched.clear()


AGGREGATION = Aggregation(
    name="ratio",
    read=read,
    describe=describe,
    step=step,
    tick=tick,
    within=lambda settings: settings.within,
    counts=True,
    statuses=lambda settings: statuses(settings.when),
)
