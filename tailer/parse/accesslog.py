"""Access logs → `http` events: nginx `log_format` strings compiled once into regexes.

The built-in formats (Kong's proxy `kong_log_format`, nginx `combined`, the stream `basic`) are compiled by
the same code as a user's `log_format`, so a custom format is as well supported as the defaults.

Most lines of a busy access log are 2xx/3xx and are only counted. For formats written with nginx's default
escaping, a value never holds a raw `"`, so the status can be found by counting the format's literal quotes
before `$status` (two in `combined`): the parser's scanner skips 1xx-3xx lines in C that way, and
`LogFormat.status_at` does the same for one line.

How a line is matched. A client controls several logged values (User-Agent, Referer, the request line, the
Basic-auth user; nginx takes 8 KiB headers), so a compiled format must read any line in time linear in its
length: a regex that backtracks over where each value ends can take minutes on one line. The compiled regex
never comes back to a value once it has matched (possessive quantifiers and atomic groups), and each value's
end is decided where it stands:

- `$status`, `$time_local`, `$time_iso8601`, `$msec`, `$pipe` have a fixed shape, matched whole;
- counts and times (`$body_bytes_sent`, `$request_time`...), `$remote_addr` and `$protocol` are runs of one
  character class (digits, digits and dots, non-spaces); any other variable is text: any byte, but no `"`
  inside a literal pair of quotes with escape=default (nginx writes `"` as `\x22`), JSON string content
  inside quotes with escape=json;
- when the character after the value in the format cannot be part of the value (a `"` after quoted text
  with escape=default or json, a space after a run of digits), the value is the longest run of its kind;
- otherwise the value ends at the first place where the format's literal text after it follows, and then
  what the next variable starts with: the whole of a fixed-shaped one and the literal after it, the first
  character of a run; the end of the line after the last variable. A variable directly followed by another
  (no text between) is, if text, empty when the next one is text too.

For lines nginx writes with escape=default or json this is no restriction (a value cannot hold the quote that
ends it). With escape=none, or unquoted text holding the literal that follows it, the format is ambiguous and
this rule decides: in `"$http_user_agent" "$http_referer" "$request" $status` a User-Agent holding `" "` ends
there (the rest goes to the next fields), but the request, followed by the status at the end of the line, ends
at the `" ` before that status. Such a line is read as a request with its status right, or is a parse error;
never an exception, never a stall.

Any variable name is accepted (nginx's own set is open: `map`, `set`, `geo` and Lua define more, Kong's
templates too); one the compiler does not know, such as a typo running into the text after it
(`$remote_addratus=`), is text and goes to `Http.extra`.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from tailer.errors import ConfigError
from tailer.events import Event, Http
from tailer.parse.base import LineParser, ParseContext, container_prefix, text
from tailer.parse.timestamps import AccessLogTimes, epoch_time

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
KONG = COMBINED + ' kong_request_id: "$kong_request_id"'
STREAM_BASIC = "$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time"

_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_DIRECTIVE = re.compile(r"\s*log_format\s+(\S+)\s+(?:escape=(\w+)\s+)?(.*?);?\s*\Z", re.S)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.S)
_CONF_ESCAPE = re.compile(r"\\(.)", re.S)  # nginx.conf quoted strings: \" \' \\ \t \r \n
_CONF_ESCAPES = {"t": "\t", "r": "\r", "n": "\n"}
# What a variable's value looks like, when we know better than "any text up to what follows it" (see the
# module docstring). Fixed shapes (bounded, but for $msec), matched whole and never given back:
_FIXED = {
    "status": rb"\d{3}",
    "time_local": rb"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
    "time_iso8601": rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)",
    "pipe": rb"[p.]",
    "msec": rb"\d++(?:\.\d++)?+",  # `float()` must meet nothing else
}
_UNBOUNDED = {"msec": rb"\d"}  # a fixed shape of any length: only its first character is looked ahead at
# Runs of one character class, at least one character long:
_RUNS = {
    "body_bytes_sent": rb"\d",
    "bytes_sent": rb"\d",
    "bytes_received": rb"\d",
    "request_length": rb"\d",
    "connection": rb"\d",
    "connection_requests": rb"\d",
    "server_port": rb"\d",
    "request_time": rb"[\d.]",
    "session_time": rb"[\d.]",
    "remote_addr": rb"\S",
    "protocol": rb"\S",
}
# Any other variable is text; one unit of it, by where it stands and the format's escaping:
_ANY = rb"."  # outside quotes, or escape=none
_NO_QUOTE = rb'[^"]'  # inside quotes with escape=default: nginx writes `"` as \x22
_JSON = rb'(?:[^"\\]|\\.)'  # inside quotes with escape=json
_TEXT_RUN = {_ANY: rb".*+", _NO_QUOTE: rb'[^"]*+', _JSON: rb'(?:[^"\\]++|\\.)*+'}
# Http field → the variables that may give it, best first; any other variable goes to `extra`.
_TEXT_FIELDS = ("request", "method", "path", "protocol", "client", "user_agent", "referer", "request_id")
_FIELD_SOURCES = {
    "request": ("request",),
    "method": ("request_method",),
    "path": ("request_uri", "uri"),
    "protocol": ("server_protocol", "protocol"),
    "client": ("remote_addr",),
    "bytes": ("body_bytes_sent", "bytes_sent"),
    "user_agent": ("http_user_agent",),
    "referer": ("http_referer",),
    "request_id": ("kong_request_id", "request_id"),
}
# Variables read into Http fields or its time; the others go to `extra`.
_FIELD_VARS = {v for sources in _FIELD_SOURCES.values() for v in sources} | {
    "status",
    "time_local",
    "time_iso8601",
    "msec",
}
_HEX = re.compile(rb"\\x([0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class LogFormat:
    """A compiled nginx `log_format`."""

    name: str
    source: str  # the format string
    escape: str  # "default", "json" or "none", as in nginx's `escape=`
    regex: re.Pattern[bytes]
    quotes_before_status: int  # literal `"`s before $status; 0 when the status cannot be found that way
    before_status: bytes  # the literal between the last of those quotes and $status (`combined`: " ")
    after_status: bytes  # the first byte of the literal after $status, to confirm a quick find
    scan: re.Pattern[bytes] | None  # b"\n" + a line that is not a 1xx-3xx request (see LineParser.scanner)
    fields: dict[str, str | None]  # Http field → the variable (group) that gives it in this format
    extra: tuple[str, ...]  # the variables that go to Http.extra
    time_in_brackets: bool  # `[$time_local]`: the first `[` of a line usually opens the time
    text_groups: tuple[str, ...]  # the groups of the Http text fields it carries, plus "status" (see below)
    text_pick: Callable[[list[str | None]], tuple[str | None, ...]]  # decoded groups → _TEXT_FIELDS order

    def status_at(self, line: bytes) -> int | None:
        """The status found by counting quotes, or None if this format or line does not allow it."""
        n = self.quotes_before_status
        if not n:
            return None
        parts = line.split(b'"', n)
        if len(parts) <= n:
            return None
        rest = parts[n]  # what follows the n-th quote: before_status, the status, after_status
        start = len(self.before_status)
        digits = rest[start : start + 3]
        after = rest[start + 3 : start + 4]  # must be the literal after $status, or the end of the line
        if not digits.isdigit() or len(digits) != 3 or not rest.startswith(self.before_status):
            return None
        if after != self.after_status:
            return None
        return int(digits)


def _conf_unescape(m: re.Match[str]) -> str:
    c = m.group(1)
    return _CONF_ESCAPES.get(c, c) if c in "\"'\\trn" else m.group(0)


def compile_log_format(fmt: str, name: str = "custom") -> LogFormat:
    """Compile a `log_format` string, or a whole `log_format name [escape=..] '...' ...;` directive."""
    escape = "default"
    d = _DIRECTIVE.match(fmt)
    if d is not None:
        name, escape = d.group(1), d.group(2) or "default"
        pieces = _QUOTED.findall(d.group(3))
        if not pieces:
            raise ConfigError(f"log_format {name}: no quoted format string found in {fmt!r}")
        fmt = "".join(_CONF_ESCAPE.sub(_conf_unescape, a or b) for a, b in pieces)
    if escape not in ("default", "json", "none"):
        raise ConfigError(f"log_format {name}: escape={escape} is not one of default, json, none")
    head = b""  # the literal before the first variable
    variables: list[_Var] = []
    seen: dict[str, None] = {}  # the variables in order (a dict: `extra` must not depend on hash order)
    pos = 0
    quotes = 0
    status_quotes = 0
    before_status = after_status = b""
    for m in _VAR.finditer(fmt):
        literal = fmt[pos : m.start()]
        if variables:
            variables[-1].after = literal.encode()
        else:
            head = literal.encode()
        quotes += literal.count('"')
        var = m.group(1) or m.group(2)
        if var == "status" and escape == "default" and '"' in literal:
            # No variable between the last quote and $status: counting quotes finds it.
            status_quotes = quotes
            before_status = literal[literal.rindex('"') + 1 :].encode()
            nxt = _VAR.search(fmt, m.end())
            after_status = fmt[m.end() : nxt.start() if nxt else len(fmt)].encode()[:1]
        quoted = quotes % 2 == 1 and escape != "none"  # inside a literal pair of quotes
        unit = (_JSON if escape == "json" else _NO_QUOTE) if quoted else _ANY
        variables.append(_Var(var, unit))
        seen[var] = None
        pos = m.end()
    if variables:
        variables[-1].after = fmt[pos:].encode()
    else:
        head = fmt.encode()
    parts = [b"\\A", re.escape(head)]
    named: set[str] = set()
    for i, v in enumerate(variables):
        pattern = _value_pattern(variables, i)
        if v.name in named:
            parts.append(b"(?:" + pattern + b")")
        else:
            named.add(v.name)
            parts.append(b"(?P<" + v.name.encode() + b">" + pattern + b")")
        parts.append(re.escape(v.after))
    parts.append(b"\\Z")
    if "status" not in seen:
        raise ConfigError(f"log_format {name}: has no $status, so 4xx/5xx requests cannot be told apart")
    try:
        regex = re.compile(b"".join(parts), re.S)
    except re.error as exc:  # a variable name that is not a valid group name, for one
        raise ConfigError(f"log_format {name}: cannot be compiled ({exc})") from exc
    scan = None
    if status_quotes:
        scan = _scan(status_quotes, before_status, after_status, rb"[123]\d\d")
    fields = {f: next((v for v in sources if v in seen), None) for f, sources in _FIELD_SOURCES.items()}
    extra = tuple(v for v in seen if v not in _FIELD_VARS)
    # `m.group(*text_groups)` gives the text fields' raw values in one call; "status" pads it, twice when
    # the format has none of those fields (`m.group(one)` would give bytes, not a tuple). The padding's
    # place, read as None, stands for the fields the format lacks.
    present = [name for name in _TEXT_FIELDS if fields[name]]
    groups = tuple(str(fields[name]) for name in present) + ("status",) * (1 if present else 2)
    pick = operator.itemgetter(*(present.index(name) if name in present else -1 for name in _TEXT_FIELDS))
    return LogFormat(
        name, fmt, escape, regex, status_quotes, before_status, after_status, scan, fields, extra,
        "[$time_local]" in fmt, groups, pick,
    )  # fmt: skip


@dataclass(slots=True)
class _Var:
    """One variable of a format being compiled, with the literal text that follows it."""

    name: str
    unit: bytes  # one unit of its value when it is text (_ANY, _NO_QUOTE or _JSON)
    after: bytes = b""  # the literal up to the next variable, or to the end of the format


def _start(variables: list[_Var], i: int) -> bytes:
    """A bounded regex for how the text from variable `i` on must begin (past the last: the end of the line)."""
    if i == len(variables):
        return rb"\Z"
    v = variables[i]
    if v.name in _UNBOUNDED:
        return _UNBOUNDED[v.name]
    if v.name in _FIXED:  # bounded: the whole value, and the literal after it
        return _FIXED[v.name] + re.escape(v.after) + (rb"\Z" if i + 1 == len(variables) else b"")
    return _RUNS.get(v.name, b"")  # a run's first character; text can start with anything


def _value_pattern(variables: list[_Var], i: int) -> bytes:
    """The regex of the value of variable `i`, followed in the format by its `after` and the next variable.

    Every pattern is possessive or atomic: once a value has matched, the regex never comes back to try
    another length, so a line is matched in one pass, in time linear in its length. A value ends where its
    own shape ends when the next character cannot continue it; otherwise at the first place where what
    follows it in the format can begin (`_start`: the literal, and a bounded look at the next value)."""
    v = variables[i]
    if v.name in _FIXED:
        return b"(?>" + _FIXED[v.name] + b")"
    last = i + 1 == len(variables)
    run = _RUNS.get(v.name)
    whole = run + b"++" if run is not None else _TEXT_RUN[v.unit]  # the longest value of its shape
    follow = _start(variables, i + 1)
    if not v.after and (last or not follow):
        # Followed by the end of the line (its longest value is the only one), or directly by a text
        # variable: a run takes all it can; text takes nothing (the next variable has it all).
        return whole if run is not None or last else b""
    if v.after:
        c = v.after[:1]
        continues = re.fullmatch(run, c) is not None if run is not None else v.unit == _ANY or c != b'"'
        if not continues:  # the value cannot hold the literal's first character: it ends before it
            return whole
    tail = re.escape(v.after) + follow
    if run is not None:
        return b"(?>" + run + b"+?(?=" + tail + b"))"
    if v.after and v.unit != _JSON:  # unrolled: runs without the literal's first character, in C
        c = re.escape(v.after[:1])
        other = b"[^" + c + b"]" if v.unit == _ANY else b'[^"' + c + b"]"
        rest = re.escape(v.after[1:]) + follow
        return b"(?>" + other + b"*+(?:" + c + b"(?!" + rest + b")" + other + b"*+)*+)"
    return b"(?>" + v.unit + b"*?(?=" + tail + b"))"


def _scan(quotes: int, before_status: bytes, after_status: bytes, skipped: bytes) -> re.Pattern[bytes]:
    """The regex of LineParser.scanner: b"\\n" + a line whose status (after `quotes` quotes) is not `skipped`."""
    skip = (
        rb'(?:[^"\n]*"){%d}' % quotes
        + re.escape(before_status)
        + skipped
        + (re.escape(after_status) if after_status else rb"(?:\n|\Z)")
    )
    return re.compile(rb"\n(?!" + skip + rb")[^\n]*")


def status_pattern(codes: Iterable[int]) -> bytes:
    """A regex matching exactly these three-digit statuses, compact (`40[0-35-9]|4[1-9]\\d|...`)."""
    by_head: dict[bytes, list[int]] = {}
    for code in sorted(set(codes)):
        by_head.setdefault(b"%d" % (code // 10), []).append(code % 10)
    tens: dict[bytes, list[bytes]] = {}  # `[0-9]` for the last digit when all ten are there
    parts = []
    for head, units in by_head.items():
        if len(units) == 10:
            tens.setdefault(head[:1], []).append(head[1:])
        else:
            parts.append(head + b"[" + b"".join(b"%d" % u for u in units) + b"]")
    for first, seconds in tens.items():
        parts.append(first + b"[" + b"".join(seconds) + rb"]\d")
    return b"(?:" + b"|".join(parts) + b")" if parts else b"(?!)"


BUILTIN = (
    compile_log_format(KONG, "kong"),
    compile_log_format(COMBINED, "combined"),
    compile_log_format(STREAM_BASIC, "stream_basic"),
)


class AccessLogParser(LineParser):
    """Reads access-log lines written in one of `formats` (the built-in ones by default)."""

    def __init__(self, ctx: ParseContext, formats: tuple[LogFormat, ...] = BUILTIN) -> None:
        super().__init__(ctx)
        self.formats = formats
        self._current = formats[0]  # the format that read the latest line: tried first
        self._times = AccessLogTimes()
        self._scans: dict[str, re.Pattern[bytes]] = {}  # per format, for ctx.statuses

    def scanner(self) -> re.Pattern[bytes] | None:
        if self.ctx.emit_all:
            return None
        fmt = self._current
        if self.ctx.statuses is None or not fmt.quotes_before_status:
            return fmt.scan
        scan = self._scans.get(fmt.name)
        if scan is None:  # skip in C every status no rule wants, not only 1xx-3xx
            skipped = status_pattern(set(range(100, 600)) - self.ctx.statuses)
            scan = _scan(fmt.quotes_before_status, fmt.before_status, fmt.after_status, skipped)
            self._scans[fmt.name] = scan
        return scan

    def _counted(self, status: int) -> bool:
        """Only counted, not made into an event: below 400, or a status no rule wants."""
        if self.ctx.emit_all:
            return False
        wanted = self.ctx.statuses
        return status < 400 if wanted is None else status not in wanted

    def skipped(self, buf: bytes, start: int, end: int, offset: int, out: list[Event]) -> None:
        lines = buf.count(b"\n", start, end)
        self.stats["http_below_400"] += lines
        if self.ctx.tallies:
            self._tally(buf, start, end, offset, out, lines)

    def _tally(self, buf: bytes, start: int, end: int, offset: int, out: list[Event], lines: int = 0) -> None:
        """Count the skipped lines `buf[start:end]` in the seconds they were logged in. An access log is
        written in time order, so when the last line has the stamp of the count in hand, or the same stamp as
        the first line, every line between has it too; otherwise the region is halved until that holds.
        A stamp or two per region, not one per line."""
        tallies = self.tallies
        last = buf.rfind(b"\n", start, end)
        stamp = self._stamp(buf[last + 1 : end])
        if stamp is not None and stamp == tallies.stamp and tallies.pending is not None:
            tallies.pending.count += lines or buf.count(b"\n", start, end)
            return
        first_end = buf.find(b"\n", start + 1, end)
        if first_end == -1 or self._stamp(buf[start + 1 : first_end]) == stamp:
            tallies.count(self._stamp_time(stamp), lines or buf.count(b"\n", start, end), offset + start, out)
            tallies.stamp = stamp
            return
        middle = buf.find(b"\n", (start + end) // 2, end)
        if middle <= start:
            middle = last
        self._tally(buf, start, middle, offset, out)
        self._tally(buf, middle, end, offset, out)

    def _stamp(self, line: bytes) -> bytes | None:
        """The time text of an access-log line, found the quick way when the format allows."""
        if self._current.time_in_brackets:
            i = line.find(b"[")
            if i >= 0 and line[i + 27 : i + 28] == b"]":
                return line[i + 1 : i + 27]
        m = self._match(line)
        if m is None:
            return None
        groups = m.groupdict()
        return groups.get("time_local") or groups.get("time_iso8601") or groups.get("msec")

    def _stamp_time(self, stamp: bytes | None) -> datetime | None:
        if not stamp:
            return None
        if len(stamp) == 26:
            return self._times.get(stamp)
        return _time({"time_iso8601" if b"T" in stamp else "msec": stamp}, self._times, self.ctx.zone)

    def scanned(self, m: re.Match[bytes], offset: int, out: list[Event]) -> None:
        line = m.group()[1:]
        if not self._read_full(line, offset, out) and line.strip():
            out.append(self._not_access(line, offset))

    def line(self, line: bytes, offset: int, out: list[Event]) -> None:
        if not self.read(line, offset, out) and line.strip():
            out.append(self._not_access(line, offset))

    def _not_access(self, line: bytes, offset: int) -> Event:
        return self.parse_error(
            line,
            offset,
            None,
            "line is not in any known access-log format (" + ", ".join(f.name for f in self.formats) + ")",
        )

    def read(self, line: bytes, offset: int, out: list[Event]) -> bool:
        """Read one access-log line; False if no format fits it."""
        status = self._current.status_at(line)
        if status is not None and self._counted(status):
            self.stats["http_below_400"] += 1
            if self.ctx.tallies:
                self.tallies.count(self._stamp_time(self._stamp(line)), 1, offset, out)
            return True
        return self._read_full(line, offset, out)

    def _read_full(self, line: bytes, offset: int, out: list[Event]) -> bool:
        m = self._match(line)
        if m is None:
            prefix = container_prefix(line)
            m = self._match(line[prefix:]) if prefix else None
            if m is None:
                return False
        event = _http_event(m, self._current, self.ctx, offset, line, self._times)
        if self._counted(event.status):
            self.stats["http_below_400"] += 1
            if self.ctx.tallies:
                self.tallies.count(event.time, 1, offset, out)
            return True
        self.tallies.before(event.time, out)
        out.append(event)
        return True

    def _match(self, line: bytes) -> re.Match[bytes] | None:
        m = self._current.regex.match(line)
        if m is None:
            for fmt in self.formats:
                m = fmt.regex.match(line)
                if m is not None:
                    self._current = fmt
                    break
        return m


def _http_event(
    m: re.Match[bytes], fmt: LogFormat, ctx: ParseContext, offset: int, line: bytes, times: AccessLogTimes
) -> Http:
    groups = m.groupdict()
    esc = "plain" if fmt.escape == "default" and b"\\" not in line else fmt.escape  # plain: nothing to undo
    f = fmt.fields
    if esc == "plain":  # the usual case: every text field at once, without a call per field
        raw = [v.decode("utf-8", "replace") if v and v != b"-" else None for v in m.group(*fmt.text_groups)]
        raw[-1] = None
        texts = fmt.text_pick(raw)
    else:
        texts = tuple(_val(groups, f[name], esc) for name in _TEXT_FIELDS)
    request, method, path, logged_protocol, client, user_agent, referer, request_id = texts
    protocol = None
    if request is not None:
        pieces = request.split(" ")
        if len(pieces) == 3:
            method, path, protocol = pieces
    if protocol is None:
        protocol = logged_protocol
    extra = {k: _val(groups, k, esc) for k in fmt.extra}
    if request is not None and (method is None or path is None):
        extra["request"] = request  # empty, or binary garbage (TLS on a plain port)
    size = groups[f["bytes"]] if f["bytes"] else None
    return Http(
        _time(groups, times, ctx.zone),
        ctx.host,
        ctx.file,
        offset,
        text(line),
        int(groups["status"] or 0),
        method,
        path,
        protocol,
        client,
        int(size) if size and size.isdigit() and len(size) <= 20 else None,  # int() refuses 4300+ digits
        user_agent,
        referer,
        request_id,
        extra,
    )


def _val(groups: dict[str, bytes | None], name: str | None, escape: str) -> str | None:
    """The variable's logged value as text: `-` (nginx's empty) → None; nginx's escapes undone."""
    if name is None:
        return None
    raw = groups[name]
    if raw is None or raw == b"-" or raw == b"":
        return None
    if escape == "plain":
        return raw.decode("utf-8", "replace")
    return _value(raw, escape)


def _value(raw: bytes, escape: str) -> str:
    if escape == "default" and b"\\x" in raw:
        raw = _HEX.sub(lambda m: bytes((int(m.group(1), 16),)), raw)
    elif escape == "json" and b"\\" in raw:
        return _json_unescape(raw)
    return text(raw)


def _json_unescape(raw: bytes) -> str:
    try:
        value: Any = json.loads(b'"' + raw + b'"')
    except ValueError:
        return text(raw)
    return value if isinstance(value, str) else text(raw)


def _time(groups: dict[str, bytes | None], times: AccessLogTimes, zone: tzinfo) -> datetime | None:
    stamp = groups.get("time_local")
    if stamp:
        return times.get(stamp)
    iso = groups.get("time_iso8601")
    if iso:
        try:
            return datetime.fromisoformat(iso.decode())
        except ValueError:
            return None
    msec = groups.get("msec")
    return epoch_time(float(msec), zone) if msec else None
