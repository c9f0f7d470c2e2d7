"""Readable lines on stdout (Kong's `log` handler, in spirit): the default notifier.

One line per alert: `2026-11-22T10:00:03+00:00 host-1 [rule] text (×3)`. Values are not escaped for any
markup, but every line is made single and free of terminal control characters, so a log value cannot move the
cursor, recolour the terminal or forge a line of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from tailer.alerts import Alert, Message
from tailer.notify import SENT, Outcome
from tailer.notify.build import BUILT_IN
from tailer.notify.kind import Built, NotifierType
from tailer.notify.summary import capped, count_suffix, one_line, tally, when
from tailer.rules.model import NotifierConfig
from tailer.template import no_escape

MAX_LINES = 20  # alerts listed in a digest before "+N more"


def format_message(message: Message) -> str:
    """The message as text: one line for one alert; for a digest, a header line then one line per alert."""
    if len(message.alerts) == 1:
        return format_alert(message.alerts[0])
    head = one_line(f"{when(message.time)} digest for {message.notifier}: {tally(message.alerts)} held back")
    return "\n".join([head, *("  " + line for line in capped(message.alerts, MAX_LINES, format_alert))])


def format_alert(alert: Alert) -> str:
    """One alert on one line."""
    text = alert.render("text", no_escape)
    return one_line(
        f"{when(alert.time)} {alert.event.host} [{alert.rule.name}] {text}{count_suffix(alert, spans=False)}"
    )


class ConsoleDestination:
    """Readable lines on a stream (stdout by default); always sent."""

    def __init__(self, stream: TextIO, *, name: str = "console") -> None:
        self.stream = stream
        self.name = name

    def render(self, message: Message) -> str:
        return format_message(message)

    def send(self, payload: str) -> Outcome:
        self.stream.write(payload + "\n")
        self.stream.flush()
        return SENT


def build(config: NotifierConfig, environ: Mapping[str, str], console: TextIO) -> Built:
    return ConsoleDestination(console, name=config.name), None


def describe(config: NotifierConfig, environ: Mapping[str, str]) -> str:
    return "console (standard output)"


def payload(message: Message, config: NotifierConfig) -> Any:
    return format_message(message)


TYPE = NotifierType(
    "console",
    options={},
    build=build,
    describe=describe,
    payload=payload,
    builtins=(NotifierConfig("console", "console", BUILT_IN, 0, None, 1, {}),),
)
