"""`flatline = { count = N, within = T }`: fewer than N matches within T seconds, per `group_by` key already
seen. Judged as event time passes; a key that is back to N matches resolves, and its next quiet spell alerts
again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailer.rules.aggregations.kind import Aggregation
from tailer.rules.values import count_within

if TYPE_CHECKING:
    from tailer.alerts import Alert
    from tailer.events import Event
    from tailer.rules.engine import RuleRunner


@dataclass(frozen=True, slots=True)
class Flatline:
    """Fewer than `count` matches within `within` seconds (per key already seen)."""

    count: int
    within: float


def read(v: Any) -> Flatline:
    return Flatline(*count_within(v))


def describe(settings: Flatline) -> str:
    return f"< {settings.count} within {settings.within:g} s"


def step(runner: RuleRunner, event: Event, t: float, out: list[Alert]) -> None:
    rule = runner.rule
    group = rule.group_by.values(event)
    window = runner.window(group, t)
    window.add(t, 1, 0, event)
    if window.total >= rule.settings.count:  # back to normal: the next quiet spell alerts again
        runner.resolve(group)


def tick(runner: RuleRunner, now: float, out: list[Alert]) -> None:
    """Keys that saw fewer than `count` matches over the last `within` seconds alert; the others resolve."""
    rule = runner.rule
    flat: Flatline = rule.settings
    firing = runner.firing
    for group, window in runner.windows.items():
        window.expire(now)
        if now - window.since >= flat.within and window.total < flat.count:
            if (group not in firing or rule.realert is not None) and runner.fires(group):
                fields = {"within": flat.within, "expected": flat.count}
                event = window.last_event
                assert event is not None
                runner.candidate(event, now, group, window.total, now - flat.within, fields, out)
        else:
            runner.resolve(group)


AGGREGATION = Aggregation(
    name="flatline",
    read=read,
    describe=describe,
    step=step,
    tick=tick,
    within=lambda settings: settings.within,
    counts=True,
)
