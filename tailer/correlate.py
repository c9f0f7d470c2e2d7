"""Joining the two halves of a failed request: the access-log line (what the client got) and the error-log
entry that explains it (upstream refused, timed out, ...), by the request id Kong writes in both.

The error entry is written while the request is proxied, the access line when it ends, so the error comes
first; a request with an explained failure gets `cause` and `error` fields that rules and templates can use.
"""

from __future__ import annotations

from dataclasses import replace

from tailer.events import Error, Event, Http

KEEP = 50_000  # error entries remembered while waiting for their request's access line


class Correlator:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._errors: dict[str, Error] = {}

    def join(self, events: list[Event]) -> list[Event]:
        """`events` with each 4xx/5xx request joined to the error entry of the same request id."""
        errors = self._errors
        out = events
        for i, event in enumerate(events):
            if isinstance(event, Error):
                if event.request_id:
                    errors[event.request_id] = event
                    if len(errors) > self.keep:
                        del errors[next(iter(errors))]
            elif isinstance(event, Http) and errors and event.request_id:
                error = errors.pop(event.request_id, None)
                if error is not None:
                    if out is events:
                        out = list(events)
                    out[i] = _joined(event, error)
        return out


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
