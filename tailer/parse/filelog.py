"""Kong's file-log plugin (one `kong.log.serialize` JSON record per line) → `http` events.

http-log batches (a JSON array of records) are read too. Records of 2xx/3xx responses are counted without
being decoded: `"status":<digits>` occurs in a record only as the response status (a header or query value is
a JSON string, so it would be `"status":"..."`), and a line is decoded only if such a status is >= 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tailer.events import Event, Http
from tailer.parse.base import LineParser, container_prefix, text
from tailer.parse.timestamps import epoch_time

_STATUS = re.compile(rb'"status":(\d+)')
_STARTED = re.compile(rb'"started_at":(\d+)')


class FileLogParser(LineParser):
    """Reads file-log / http-log JSON lines."""

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        if not self.read(line, offset, out) and line.strip():
            out.append(self.parse_error(line, offset, None, "line is not a Kong file-log JSON record"))

    def read(self, line: bytes, offset: int, out: list[Event]) -> bool:
        """Read one JSON line; False if it is not a file-log record."""
        if not self.ctx.emit_all:
            statuses = _STATUS.findall(line)
            if statuses and all(int(s) < 400 for s in statuses):
                self.stats["http_below_400"] += len(statuses)
                if self.ctx.tallies:
                    started = _STARTED.search(line)
                    time = epoch_time(int(started.group(1)) // 1000, self.ctx.zone) if started else None
                    self.tallies.count(time, len(statuses), offset, out)
                return True
        try:
            doc = json.loads(line[container_prefix(line) :])
        except ValueError:
            return False
        records = doc if isinstance(doc, list) else [doc]
        if not records or not all(isinstance(r, dict) and isinstance(r.get("response"), dict) for r in records):
            return False
        for record in records:
            event = self._event(record, offset, line)
            if event.status >= 400 or self.ctx.emit_all:
                self.tallies.before(event.time, out)
                out.append(event)
            else:
                self.stats["http_below_400"] += 1
                if self.ctx.tallies:
                    second = event.time.replace(microsecond=0) if event.time else None
                    self.tallies.count(second, 1, offset, out)
        return True

    def _event(self, r: dict[str, Any], offset: int, line: bytes) -> Http:
        request = _dict(r.get("request"))
        response = _dict(r.get("response"))
        headers = _dict(request.get("headers"))
        started = r.get("started_at")
        time = None
        if isinstance(started, (int, float)) and not isinstance(started, bool):
            time = epoch_time(started / 1000, self.ctx.zone)
        status = response.get("status")
        size = response.get("size")
        extra: dict[str, Any] = {
            k: r[k]
            for k in (
                "service",
                "route",
                "consumer",
                "upstream_uri",
                "upstream_status",
                "latencies",
                "source",
                "workspace_name",
            )
            if k in r
        }
        if isinstance(r.get("tries"), list):
            extra["tries"] = len(r["tries"])
        return Http(
            time,
            self.ctx.host,
            self.ctx.file,
            offset,
            text(line),
            status=_int(status) or 0,
            method=_str(request.get("method")),
            path=_str(request.get("uri")),
            protocol=None,
            client=_str(r.get("client_ip")),
            bytes=_int(size),
            user_agent=_str(headers.get("user-agent")),
            referer=_str(headers.get("referer")),
            request_id=_str(request.get("id")) or _str(_dict(response.get("headers")).get("x-kong-request-id")),
            extra=extra,
        )


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _str(v: Any) -> str | None:
    if isinstance(v, list):  # a repeated header
        v = v[0] if v else None
    return v if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():  # Kong 1.x wrote sizes as strings
        return int(v)
    return None
