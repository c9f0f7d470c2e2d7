"""What every notifier says about an alert, before any destination's escaping: a one-line summary of the event
(`what`), the context fields worth showing (`context_fields`), times, counts, and control-character cleaning.

Everything here returns raw text taken from logs: a caller escapes it for its destination.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tailer.alerts import Alert
from tailer.events import Error, Event, EventHook, Http, ParseError
from tailer.fields import Getter, compile_path, show

SHORT = 160  # characters of an error message kept in a summary

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NEWLINES = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")


def _picture(m: re.Match[str]) -> str:
    """A control character as its visible Unicode picture (ESC → ␛), so it shows and does nothing."""
    code = ord(m.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "␡" if code == 0x7F else "\ufffd"


def controls(text: str, keep: str = "\t\n") -> str:
    """`text` with C0/C1 control characters other than those in `keep` made visible and harmless."""
    if "\r\n" in text and "\n" in keep:
        text = text.replace("\r\n", "\n")
    return _CONTROLS.sub(lambda m: m.group() if m.group() in keep else _picture(m), text)


def one_line(text: str) -> str:
    """`text` on one line (line breaks → `⏎`) with no control character left but tab."""
    return controls(_NEWLINES.sub("⏎", text), keep="\t")


def when(time: datetime | None) -> str:
    """A time to the second, ISO 8601 with its offset; `-` when unknown."""
    return "-" if time is None else time.isoformat(timespec="seconds")


def span(first: datetime, last: datetime) -> str:
    """`between 10:00:01 and 10:01:00` (with dates when the two fall on different days)."""
    if first.date() == last.date():
        return f"between {first:%H:%M:%S} and {last:%H:%M:%S}"
    return f"between {when(first)} and {when(last)}"


def dated_span(first: datetime, last: datetime) -> str:
    """`2025-01-15 between 10:00:04 and 10:00:05` (`span` with the date, for text that shows no other time)."""
    if first.date() == last.date():
        return f"{first:%Y-%m-%d} {span(first, last)}"
    return span(first, last)


def says(alert: Alert, name: str) -> bool:
    """The rule's text names the field `name` (`count`, `message`): what shows it again need not."""
    text = alert.rule.text
    return text is not None and any(f.path in (name, f"alert.{name}") for f in text.fields)


def count_suffix(alert: Alert, *, spans: bool = True) -> str:
    """` (×42 between 10:00:01 and 10:01:00, 3 alerts grouped)` (without the times unless `spans`), for an alert
    that stands for several events or several grouped alerts; `` for one event. The count is left out when the
    rule's text says it already (`{{ count }}`)."""
    notes = []
    if alert.count > 1:
        count = [] if says(alert, "count") else [f"×{alert.count}"]
        notes.append(" ".join([*count, span(alert.first, alert.last)] if spans else count))
    notes = [n for n in notes if n]
    if alert.members:
        notes.append(f"{plural(len(alert.members), 'alert')} grouped")
    return f" ({', '.join(notes)})" if notes else ""


def what(event: Event, message: bool = True) -> str:
    """What happened, in a few words: `502 GET /orders`, `upstream_timeout: upstream timed out ...`; without the
    error's message (`message=False`: the alert's text shows it), the cause and what nginx was doing."""
    if isinstance(event, Http):
        return " ".join(str(p) for p in (event.status, event.method, event.path) if p is not None)
    if isinstance(event, Error):
        if not message:
            return f"{event.cause} while {event.action}" if event.action else event.cause
        return f"{event.cause}: {shorten(event.message)}"
    if isinstance(event, EventHook):
        return f"{event.source} / {event.event}"
    if isinstance(event, ParseError):
        return f"{event.kind}: {shorten(event.reason)}"
    return event.kind


def shorten(text: str, limit: int = SHORT) -> str:
    """The first line of `text`, cut to `limit` characters with `…`."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


# Labelled context fields: the first path with a scalar value wins. `hostname` names the target in a balancer
# health event only; elsewhere (a log_format's $hostname) it is the Kong node, already shown as the host.
_CONTEXT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Service", ("service.name", "service.id", "service")),
    ("Route", ("route.name", "route.id", "route")),
    ("Upstream", ("upstream", "upstream_id", "hostname")),
)
_GETTERS: dict[str, Getter] = {path: compile_path(path) for _, paths in _CONTEXT for path in paths}
_CAUSE = compile_path("cause")  # a request's: the error-log entry that explains it (tailer.correlate)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and value != ""


def context_fields(event: Event) -> list[tuple[str, str]]:
    """(label, value) for the service, route and upstream the event names, those it has only."""
    out = []
    for label, paths in _CONTEXT:
        for path in paths:
            if path == "hostname" and not isinstance(event, EventHook):
                continue
            value = _GETTERS[path](event)
            if _scalar(value):
                out.append((label, show(value, "-")))
                break
    return out


def fields(alert: Alert) -> list[tuple[str, str]]:
    """Every labelled field shown for an alert, raw: host, what, context (and why, for a request the error log
    explains), count, first and last time."""
    event = alert.event
    cause = _CAUSE(event) if isinstance(event, Http) else None
    return [
        ("Host", event.host),
        ("What", what(event, message=not says(alert, "message"))),
        *context_fields(event),
        *([("Cause", show(cause, "-"))] if _scalar(cause) else []),
        ("Count", str(alert.count)),
        ("First", when(alert.first)),
        ("Last", when(alert.last)),
    ]


def origin(alert: Alert, key: str) -> str:
    """`rule <name> · <file>:<line> · key <first 12 characters>` (see `Event.where`)."""
    return f"rule {alert.rule.name} · {alert.event.where()} · key {key[:12]}"


def by_rule(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    """Alerts grouped by rule name, rules in order of first appearance."""
    out: dict[str, list[Alert]] = {}
    for alert in alerts:
        out.setdefault(alert.rule.name, []).append(alert)
    return out


def tally(alerts: list[Alert]) -> str:
    """`3 alerts, 120 events` (exact)."""
    events = sum(a.count for a in alerts)
    return f"{plural(len(alerts), 'alert')}, {plural(events, 'event')}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def capped(items: list[Any], limit: int, line: Callable[[Any], str]) -> list[str]:
    """`line(item)` for the first `limit` items, then `+N more` for the rest."""
    out = [line(item) for item in items[:limit]]
    if len(items) > limit:
        out.append(f"+{len(items) - limit} more")
    return out
