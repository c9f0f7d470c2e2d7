"""Alerts as JSON data: for the `command` notifier's stdin and `replay --json` (`alert_json`), and as the body
Kong Event Hooks' `webhook` handler would post (`kong_webhook_body`).

Text here is the plain render: values as they were logged, nothing escaped (JSON encoding is the escaping).
Every value is made JSON-ready (`json_safe`): `json.dumps` of the result needs no `default` and writes no NaN.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from tailer.alerts import Alert, Message
from tailer.events import EventHook
from tailer.fields import MISSING, show
from tailer.template import no_escape

SOURCE = "kong-tailer"  # the `source` of a webhook body for an event that is not an Event Hooks one


def alert_json(message: Message) -> dict[str, Any]:
    """The message: its key, notifier, time and event count, and each alert with its event."""
    return {
        "key": message.key,
        "notifier": message.notifier,
        "time": message.time.isoformat(),
        "count": message.count,
        "alerts": [_alert(a) for a in message.alerts],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule.name,
        "key": alert.key,
        "text": alert.render("text", no_escape),
        "title": alert.render("title", no_escape) if alert.rule.title is not None else None,
        "count": alert.count,
        "first": alert.first.isoformat(),
        "last": alert.last.isoformat(),
        "group": json_safe(alert.group),
        "fields": json_safe(alert.fields),
        "event": json_safe(alert.event.to_dict()),
        "members": [_alert(m) for m in alert.members],
    }


def kong_webhook_body(alert: Alert) -> dict[str, Any]:
    """What Kong's `webhook` handler posts: the hook's `data` with `event` and `source` added (for any other
    event, its fields but `raw`, with the rule as `event`), plus a `kong_tailer` table about the alert."""
    event = alert.event
    body: dict[Any, Any]
    if isinstance(event, EventHook):
        body = {**event.data, "event": event.event, "source": event.source}
    else:
        body = {k: v for k, v in event.to_dict().items() if k != "raw"}
        body |= {"event": alert.rule.name, "source": SOURCE}
    body["kong_tailer"] = {
        "rule": alert.rule.name,
        "key": alert.key,
        "text": alert.render("text", no_escape),
        "count": alert.count,
        "first": alert.first,
        "last": alert.last,
    }
    safe: dict[str, Any] = json_safe(body)
    return safe


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data: datetimes in ISO 8601, tuples and sets as lists, keys as strings,
    non-finite floats as the strings Lua prints (`nan`, `inf`, `-inf`), anything else as its `str`."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _lua_float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if value is MISSING:
        return None
    return str(value)


def _lua_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _key(key: Any) -> str:
    return key if isinstance(key, str) else show(json_safe(key), "null")
