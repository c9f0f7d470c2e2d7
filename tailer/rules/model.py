"""What a rule file says, once loaded: plain frozen dataclasses, no behaviour.

A rule selects events (`kind`, Kong's `source`/`event`, a `when` condition), optionally aggregates them
(`threshold`, `ratio`, `flatline`, `new_value`: one module each in `tailer.rules.aggregations`), applies Kong's
Event Hooks filters (`snooze`, `on_change`, `unique`) and our noise control (`realert`, `group_window`), and names
the notifiers that get its alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tailer.events import Event
from tailer.fields import Getter
from tailer.template import Template

if TYPE_CHECKING:
    from tailer.rules.aggregations.kind import Aggregation

Predicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class Paths:
    """Field paths named in a rule (`unique`, `group_by`, `new_value`) with their compiled getters."""

    names: tuple[str, ...] = ()
    getters: tuple[Getter, ...] = ()

    def values(self, event: Event) -> tuple[Any, ...]:
        getters = self.getters
        if not getters:
            return ()
        if len(getters) == 1:  # the usual case (`group_by = ["host"]`), without a generator
            return (getters[0](event),)
        return tuple(get(event) for get in getters)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    file: str
    line: int
    text: Template
    notify: tuple[str, ...]
    kind: str | None = None
    source: str | None = None
    event: str | None = None
    when: Predicate | None = None
    when_text: str | None = None
    title: Template | None = None
    unique: Paths | None = None  # None: Kong's unique fields for the source/event, else every field
    snooze: float | None = None
    on_change: bool = False
    group_by: Paths = field(default_factory=Paths)
    aggregation: Aggregation | None = None  # its declaration (tailer.rules.aggregations.registry), if any
    settings: Any = None  # the aggregation's settings, as its `read` made them from the rule's key
    realert: float | None = None  # per-key minimum interval between alerts; doubles while it keeps firing
    realert_max: float = 86400.0
    group_window: float | None = None  # fold this rule's alerts within the window into one message
    missing: str = "-"  # shown for a template field with no value

    @property
    def counts_all_requests(self) -> bool:
        """Requests the parser only counted (2xx/3xx) count toward this rule's windows: it selects every
        request and aggregates over counts."""
        return self.kind == "http" and self.when is None and self.aggregation is not None and self.aggregation.counts


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """A `[notifier.NAME]` table. `options` were checked against the type's known keys at load."""

    name: str
    type: str  # slack | webhook | command | console
    file: str
    line: int
    rate: float | None  # messages per second of event time, None: no budget
    burst: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    notifiers: dict[str, NotifierConfig]
    files: tuple[str, ...]
