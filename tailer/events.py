"""Structured events: what the parsers make of Kong's logs.

Every event carries where it came from (`file`; `offset` of its first byte, and `lineno`, the number of the line
that starts it, 0 where not known), when it happened (`time`, taken from
the log line itself, timezone-aware), which machine saw it (`host`) and the `raw` text it was read from.
Events are slotted dataclasses, compared with one `==` against a parser's expected output. They are not
frozen: a frozen dataclass takes nine times longer to build, and a busy log makes events by the thousand.
Nothing changes an event once a parser has made it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

# A decoded Lua value (see tailer.parse.luavalues): what inspect.lua printed, as plain Python.
LuaValue = Any


@dataclass(slots=True)
class Event:
    """Fields every event has; `kind` names the concrete type in JSON output."""

    kind: ClassVar[str] = "event"

    time: datetime | None
    host: str
    file: str
    offset: int
    raw: str
    # Set by the reader that numbers the lines (tailer.reader), not by the parsers; 0: not known.
    lineno: int = field(default=0, kw_only=True)

    def where(self) -> str:
        """Where it is, for people: `<file>:<line>` (`<file> byte <offset>` when the line is not known)."""
        return f"{self.file}:{self.lineno}" if self.lineno else f"{self.file} byte {self.offset}"

    def __setstate__(self, state: tuple[Any, dict[str, Any]]) -> None:
        """Unpickling (a rules' snapshot): events saved before they had `lineno` have it not known."""
        self.lineno = 0
        for name, value in state[1].items():
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data: `kind` first, `raw` last, `time` in ISO 8601."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.name != "raw":
                value = getattr(self, f.name)
                out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        out["raw"] = self.raw  # last: the longest, and what a reader looks at least
        return out

    def to_json(self) -> str:
        """One line of JSON; non-finite floats from Lua (`nan`, `inf`) become the strings Lua printed."""
        data = self.to_dict()
        try:
            return json.dumps(data, ensure_ascii=False, allow_nan=False)
        except ValueError:
            return json.dumps(_finite(data), ensure_ascii=False, allow_nan=False)


@dataclass(slots=True)
class EventHook(Event):
    """An Event Hooks `log` handler box: `"log callback: " { event, source, data, pid }`."""

    kind: ClassVar[str] = "event_hook"

    source: str
    event: str
    data: dict[Any, LuaValue]
    pid: int | None  # the worker that posted the event (from the table), not always the one that logged it
    worker: int | None  # the pid in the nginx prefix


@dataclass(slots=True)
class Inspect(Event):
    """Any other `kong.log.inspect` output: the header's location and the decoded arguments."""

    kind: ClassVar[str] = "inspect"

    source_file: str
    function: str | None
    line: int | None
    namespace: str | None
    values: list[LuaValue]
    worker: int | None


@dataclass(slots=True)
class Http(Event):
    """One access-log record (by default only those with status >= 400)."""

    kind: ClassVar[str] = "http"

    status: int
    method: str | None
    path: str | None
    protocol: str | None
    client: str | None
    bytes: int | None
    user_agent: str | None
    referer: str | None
    request_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)  # whatever else the format carries


@dataclass(slots=True)
class Error(Event):
    """One nginx error-log entry (by default only `warn` and above), possibly several physical lines."""

    kind: ClassVar[str] = "error"

    level: str
    pid: int | None
    conn: int | None
    message: str
    cause: str
    status: int | None  # the HTTP status the cause implies, when it implies one
    action: str | None  # "connecting to upstream", from " while <action>"
    context: str | None  # "ngx.timer", "init_worker_by_lua*", ...
    client: str | None
    server: str | None
    request: str | None
    upstream: str | None
    http_host: str | None  # the `host: "..."` field of the suffix (the request's Host header)
    request_id: str | None
    truncated: bool  # nginx cut the entry at 4096 bytes; the suffix may be partial or missing


@dataclass(slots=True)
class ParseError(Event):
    """Text that could not be read as any known shape; `reason` says why, for a human."""

    kind: ClassVar[str] = "parse_error"

    reason: str


@dataclass(slots=True)
class Tally(Event):
    """Requests the parser counted without making events of them (2xx/3xx by default), all logged in the
    second `time`: rules that need every request (the 5xx share) count them. `raw` is empty."""

    kind: ClassVar[str] = "tally"

    count: int


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {_finite(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
