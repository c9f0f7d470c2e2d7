"""Messages kong-tailer writes itself, through the same notifiers and outbox as the rules' alerts: a silence
has ended (and how much it held back), a followed file has stalled, a notifier keeps failing, inotify
is unavailable.

A notice is an alert of the built-in rule `kong-tailer`, whose event (`Notice`) carries a title and a text,
so every notifier renders it as it renders any alert, escaping included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from tailer.alerts import Alert, Message
from tailer.events import Event
from tailer.rules.model import Rule
from tailer.template import compile_template

RULE = "kong-tailer"
_TITLE = compile_template("{{ title }}")
_TEXT = compile_template("{{ text }}")


@dataclass(slots=True)
class Notice(Event):
    """What kong-tailer has to say about itself (`raw` is the text)."""

    kind: ClassVar[str] = "notice"

    check: str  # silence_ended | stalled | failing | inotify | recovered
    title: str
    text: str


def notice(
    notifiers: Iterable[str], key: str, check: str, title: str, text: str, now: float, host: str
) -> list[Message]:
    """One message per notifier; `key` makes it once-only in the outbox, like an alert's."""
    rule = Rule(name=RULE, file="(built in)", line=0, text=_TEXT, title=_TITLE, notify=tuple(sorted(set(notifiers))))
    at = datetime.fromtimestamp(now, UTC)
    event = Notice(at, host, "", 0, text, check, title, text)
    alert = Alert(rule, key, event, at, at, at, 1)
    return [Message(name, [alert], at) for name in rule.notify]
