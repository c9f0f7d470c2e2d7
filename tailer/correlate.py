"""Joining the two halves of a failed request: the access-log line (what the client got) and the error-log
entries that explain it (upstream refused, timed out, ...).

An error entry is written while the request is proxied, the access line when it ends: the entries come
first, at or before the access line's second. How an access line finds its entries:

    by request id     Kong 3.5+ writes `request_id: "..."` in the error log and `kong_request_id` in the
                      access log: the id wins, always
    by what both say  otherwise (Kong 2.8 and 3.4, plain nginx): the client address and the request line
                      (`GET /path HTTP/1.1`), the Host where both lines carry it, the connection number where
                      the access log's format has `$connection`; and time: the entries were logged at or
                      before the access line's second, and at most KEEP_FOR seconds before it

The entries of one request are those of one connection (nginx's `*conn`, with the worker's pid): a request
retried over several upstreams writes one entry per try. When several requests match (the same client
repeating the same request), the access line takes the oldest waiting one, and of a connection's entries those
logged by its second: the same choice in replay and live, whichever of the two files was read first. (The same
request line twice on one keep-alive connection within one second, both failing, cannot be told apart: the first
access line takes the entries of both.)

Of a request's entries, the most telling one explains it (`telling`): the most severe level, then a known cause
over `other`, then the latest. The joined request gets `cause` and `error` fields that rules and templates use.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tailer.events import Error, Event, Http

KEEP = 10_000  # requests whose error entries are remembered while waiting for their access line
KEEP_FOR = 300.0  # seconds of log time an error entry waits for it (Kong's default timeouts add up to 180 s)
SEVERITY = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}

Slot = tuple[Any, ...]  # ("id", request id) or ("conn", client, request line, pid, conn)


class Correlator:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        # The waiting requests' entries, oldest request first (log order). A slot is a request id, or for
        # entries without one, the client, request line and connection they were written for.
        self._slots: dict[Slot, list[Error]] = {}
        self._by_line: dict[tuple[str, str], list[Slot]] = {}  # (client, request line) → its slots, oldest first
        # False when no access log is read (the daemon following error logs only): then no error entry is
        # kept for a request line that will never come.
        self.joining = True

    def join(self, events: list[Event]) -> list[Event]:
        """`events` with each request joined to the error entries of the same request."""
        slots = self._slots
        out = events
        for i, event in enumerate(events):
            if isinstance(event, Error):
                if self.joining:
                    slot = _slot(event)
                    if slot is not None:
                        entries = slots.get(slot)
                        if entries is not None:
                            entries.append(event)
                        else:
                            slots[slot] = [event]
                            if slot[0] == "conn":
                                self._by_line.setdefault((slot[1], slot[2]), []).append(slot)
                            if len(slots) > self.keep:
                                self._drop(next(iter(slots)))
                        if event.time is not None:
                            self._forget_before(event.time.timestamp() - KEEP_FOR)
            elif isinstance(event, Http) and slots:
                entries = self._claim(event)
                if entries:
                    if out is events:
                        out = list(events)
                    out[i] = _joined(event, telling(entries))
        return out

    def _claim(self, request: Http) -> list[Error] | None:
        """The entries waiting for this request line, taken out (None if there are none)."""
        slots = self._slots
        if request.request_id:
            entries = slots.pop(("id", request.request_id), None)
            if entries is not None:
                return entries
        line: str | None
        if request.method is not None and request.path is not None:
            line = " ".join(p for p in (request.method, request.path, request.protocol) if p)
        else:  # a request line nginx could not read (a 400): the access log has it as it came
            line = request.extra.get("request")
        if request.client is None or not line:
            return None
        t = request.time.timestamp() if request.time is not None else None
        conn = request.extra.get("connection")
        host = request.extra.get("host") or request.extra.get("http_host")
        for slot in self._by_line.get((request.client, line), ()):  # oldest first
            first = slots[slot][0]
            if t is not None and first.time is not None and int(first.time.timestamp()) > int(t):
                continue  # logged after this request ended: another request's
            if conn is not None and str(conn) != str(slot[4]):
                continue
            if host and first.http_host and not _same_host(str(host), first.http_host):
                continue
            return self._take(slot, t)
        return None

    def _take(self, slot: Slot, t: float | None) -> list[Error]:
        """A request's entries logged at or before `t`'s second; later ones (the same request line again on
        the same keep-alive connection, read before this access line) stay for the next access line."""
        entries = self._slots[slot]
        if t is not None:
            second = int(t)
            n = 0
            for entry in entries:
                if entry.time is not None and int(entry.time.timestamp()) > second:
                    break
                n += 1
            if n < len(entries):
                self._slots[slot] = entries[n:]
                return entries[:n]
        return self._drop(slot)

    def _drop(self, slot: Slot) -> list[Error]:
        """Take a request's entries out (claimed, or forgotten)."""
        entries = self._slots.pop(slot)
        if slot[0] == "conn":
            key = (slot[1], slot[2])
            waiting = self._by_line[key]
            waiting.remove(slot)
            if not waiting:
                del self._by_line[key]
        return entries

    def state(self) -> dict[str, Any]:
        """The error entries waiting for their request's access line (a snapshot)."""
        return {"_errors": self._slots}

    def restore(self, state: dict[str, Any]) -> None:
        saved = state.get("_errors")
        if not isinstance(saved, dict):
            return
        # Before slots, a snapshot kept one entry per request id: {id: Error}.
        self._slots = {
            (("id", k) if isinstance(v, Error) else k): ([v] if isinstance(v, Error) else v) for k, v in saved.items()
        }
        self._by_line = {}
        for slot in self._slots:
            if slot[0] == "conn":
                self._by_line.setdefault((slot[1], slot[2]), []).append(slot)

    def _forget_before(self, t: float) -> None:
        """Drop requests whose first entry was logged before `t` (oldest first: entries arrive in log order)."""
        slots = self._slots
        while slots:
            slot = next(iter(slots))
            oldest = slots[slot][0]
            if oldest.time is None or oldest.time.timestamp() >= t:
                return
            self._drop(slot)


def telling(entries: list[Error]) -> Error:
    """The entry that explains a request best: the most severe, then a known cause, then the latest."""
    best = entries[0]
    for entry in entries[1:]:
        if _rank(entry) <= _rank(best):
            best = entry
    return best


def _rank(entry: Error) -> tuple[int, int]:
    return (SEVERITY.get(entry.level, 8), entry.cause == "other")


def _slot(entry: Error) -> Slot | None:
    """Which request an entry was written for, when it says (None: no request, e.g. a timer's entry)."""
    if entry.request_id:
        return ("id", entry.request_id)
    if entry.client is None or entry.request is None or entry.conn is None:
        return None
    return ("conn", entry.client, entry.request, entry.pid, entry.conn)


def _same_host(logged: str, header: str) -> bool:
    """The access log's host and the error log's Host header: equal but for a port one of them leaves out."""
    return logged == header or logged.split(":")[0] == header.split(":")[0]


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
            "line": error.lineno,
        },
    }
    if "upstream" not in extra and error.upstream:
        extra["upstream"] = error.upstream
    return replace(request, extra=extra)
