"""`new_value = ["field", ...]`: alerts the first time a value (of those fields together) is seen. Events
missing one of the fields are skipped; the latest `SEEN_CAP` values are remembered (the oldest forgotten
first), and a snapshot keeps them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailer.fields import MISSING
from tailer.rules.aggregations.kind import Aggregation
from tailer.rules.model import Paths
from tailer.rules.values import paths

if TYPE_CHECKING:
    from tailer.alerts import Alert
    from tailer.events import Event
    from tailer.rules.engine import RuleRunner

SEEN_CAP = 100_000  # the most values remembered per rule (oldest forgotten first)


def describe(settings: Paths) -> str:
    return f"new {', '.join(settings.names)}"


def step(runner: RuleRunner, event: Event, t: float, out: list[Alert]) -> None:
    rule = runner.rule
    value = rule.settings.values(event)
    if any(v is MISSING or v is None for v in value):
        return
    seen = runner.seen
    if value in seen:
        return
    seen[value] = None
    if len(seen) > SEEN_CAP:
        del seen[next(iter(seen))]
    runner.candidate(event, t, rule.group_by.values(event) or value, 1, t, {"value": list(value)}, out)


AGGREGATION = Aggregation(name="new_value", read=paths, describe=describe, step=step)
