"""`threshold = { count = N, within = T }`: at least N matches within T seconds, per `group_by` key. The match
that reaches N alerts; the key resolves once its window holds fewer."""

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
class Threshold:
    """At least `count` matches within `within` seconds (per group_by key)."""

    count: int
    within: float


def read(v: Any) -> Threshold:
    return Threshold(*count_within(v))


def describe(settings: Threshold) -> str:
    return f"≥ {settings.count} within {settings.within:g} s"


def step(runner: RuleRunner, event: Event, t: float, out: list[Alert]) -> None:
    rule = runner.rule
    settings: Threshold = rule.settings
    group = rule.group_by.values(event)
    window = runner.window(group, t)
    window.add(t, 1, 0, event)
    if window.total < settings.count:
        runner.resolve(group)
    elif runner.fires(group):
        fields = {"within": settings.within, "threshold": settings.count}
        runner.candidate(event, t, group, window.total, window.first, fields, out)


def tick(runner: RuleRunner, now: float, out: list[Alert]) -> None:
    """Firing keys whose window no longer holds `count` matches at `now` resolve."""
    need = runner.rule.settings.count
    runner.resolve_cleared(runner.firing, now, lambda window: window.total >= need)


AGGREGATION = Aggregation(
    name="threshold",
    read=read,
    describe=describe,
    step=step,
    tick=tick,
    within=lambda settings: settings.within,
    counts=True,
)
