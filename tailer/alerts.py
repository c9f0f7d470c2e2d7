"""What the rules stage produces and the notifiers consume.

An `Alert` is one decision of one rule: "this happened (`count` times between `first` and `last`)". It keeps
the event that made it fire, so templates can name any of its fields. A `Message` is what one notifier sends:
one alert, or several that its budget folded into a digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tailer.events import Event
from tailer.fields import MISSING, show, step

if TYPE_CHECKING:
    from tailer.rules.model import Rule
    from tailer.template import Field, Template


@dataclass(slots=True)
class Alert:
    rule: Rule
    key: str  # stable: from the rule, the group and the position of the first event, never from a clock
    event: Event  # the event that made it fire; its fields fill the templates
    time: datetime  # event time at which it fired
    first: datetime
    last: datetime
    count: int  # matching events it stands for
    group: tuple[Any, ...] = ()  # the group_by values
    fields: dict[str, Any] = field(default_factory=dict)  # aggregate values: ratio, total, within, suppressed...
    members: list[Alert] = field(default_factory=list)  # alerts a grouping window folded into this one

    def value(self, f: Field) -> Any:
        """A template field's value: the event's field, else the alert's own (`count`, `ratio`, ...);
        `alert.x` names the alert's own explicitly."""
        first = f.parts[0]
        if first == "alert" and len(f.parts) > 1:
            value = self.own(str(f.parts[1]))
            rest = f.parts[2:]
        else:
            value = f.get(self.event)
            if value is not MISSING:
                return value
            value = self.own(str(first))
            rest = f.parts[1:]
        for part in rest:
            value = step(value, part)
        return value

    def own(self, name: str) -> Any:
        if name in self.fields:
            return self.fields[name]
        if name in ("count", "first", "last", "time", "key", "group"):
            return getattr(self, name)
        if name == "rule":
            return self.rule.name
        return MISSING

    def render(self, which: str, escape: Any) -> str:
        """The rule's `text` (or `title`) for this alert, values escaped by `escape`."""
        template = self.rule.text if which == "text" else self.rule.title
        return "" if template is None else self.fill(template, escape)

    def fill(self, template: Template, escape: Any) -> str:
        """Any template (a rule's, a webhook payload's) with this alert's values, escaped by `escape`."""
        missing = self.rule.missing
        return template.render(lambda f: show(self.value(f), missing), escape)


@dataclass(slots=True)
class Message:
    notifier: str
    alerts: list[Alert]  # one, or several folded into a digest
    time: datetime  # event time at which the budget let it go

    @property
    def key(self) -> str:
        """Idempotency key: the alert's own, or that of the folded alerts."""
        return self.alerts[0].key if len(self.alerts) == 1 else folded_key(self.alerts)

    @property
    def count(self) -> int:
        """Matching events behind the message."""
        return sum(a.count for a in self.alerts)


def unqueued(messages: list[Message], queued: set[tuple[str, str]]) -> list[Message]:
    """`messages` without the alerts already queued for their notifier (`queued`: (notifier, alert key)) or
    earlier in `messages`: reading the same bytes again must not send an alert again inside a digest, whose
    own key is new. A message left with no alert goes; a digest keeps the others."""
    seen = set(queued)
    out: list[Message] = []
    for m in messages:
        fresh = []
        for a in m.alerts:
            if (m.notifier, a.key) not in seen:
                seen.add((m.notifier, a.key))
                fresh.append(a)
        if len(fresh) == len(m.alerts):
            out.append(m)
        elif fresh:
            out.append(Message(m.notifier, fresh, m.time))
    return out


def folded_key(alerts: list[Alert]) -> str:
    """The key of several alerts folded into one (a group, a digest): a hash of their keys, in order."""
    return hashlib.sha256("\n".join(a.key for a in alerts).encode()).hexdigest()[:32]
