"""Joining the two halves of a failed request: the access-log line (what the client got) and the error-log
entry that explains it (upstream refused, timed out, ...), by the request id Kong writes in both.

The error entry is written while the request is proxied, the access line when it ends, so the error comes
first; a request with an explained failure gets `cause` and `error` fields that rules and templates can use.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tailer.events import Error, Event, Http

KEEP = 10_000  # error entries remembered while waiting for their request's access line
KEEP_FOR = 300.0  # seconds of log time an error entry waits for it (Kong's default timeouts add up to 180 s)


class Correlator:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._errors: dict[str, Error] = {}
        # False when no access log is read (the daemon following error logs only): then no error entry is
        # kept for a request line that will never come.
        self.joining = True

    def join(self, events: list[Event]) -> list[Event]:
        """`events` with each 4xx/5xx request joined to the error entry of the same request id."""
        errors = self._errors
        out = events
        for i, event in enumerate(events):
            if isinstance(event, Error):
                if event.request_id and self.joining:
                    errors[event.request_id] = event
                    if len(errors) > self.keep:
                        del errors[next(iter(errors))]
                    if event.time is not None:
                        self._forget_before(event.time.timestamp() - KEEP_FOR)
            elif isinstance(event, Http) and errors and event.request_id:
                error = errors.pop(event.request_id, None)
                if error is not None:
                    if out is events:
                        out = list(events)
                    out[i] = _joined(event, error)
        return out

    def state(self) -> dict[str, Any]:
        """The error entries waiting for their request's access line (a snapshot)."""
        return {"_errors": self._errors}

    def restore(self, state: dict[str, Any]) -> None:
        if "_errors" in state:
            self._errors = state["_errors"]

    def _forget_before(self, t: float) -> None:
        """Drop entries logged before `t` (oldest first: entries arrive in log order)."""
        errors = self._errors
        while errors:
            oldest = next(iter(errors.values()))
            if oldest.time is None or oldest.time.timestamp() >= t:
                return
            del errors[oldest.request_id]  # type: ignore[arg-type]


def _joined(request: Http, error: Error) -> Http:
    extra = {
        **request.extra,
        "cause": error.cause,
        "error": {
            "cause": error.cause,
            "level": error.level,
            "message": error.message,
            "upstream": error.upstream,
            "action": error.action,
            "file": error.file,
            "offset": error.offset,
        },
    }
    if "upstream" not in extra and error.upstream:
        extra["upstream"] = error.upstream
    return replace(request, extra=extra)
