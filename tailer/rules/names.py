"""The fields an event of each kind can have, and the check of the field paths that rules, templates and
silences name: a misspelled field must not pass as a value that is never there (a rule that never matches,
a message that says `-`).

A path's first name must be one that some event of the rule's kind can have, else it is an error (for a
request, a name close to none known is a warning: it may be a variable of the user's own log_format):
`unknown field 'stauts' for kind http; did you mean 'status'?`. Those names are the kind's own fields
(tailer.events) and those tailer.fields reads through for it:
- an Event Hooks event's `data` keys (`consumer.username` is `data.consumer.username`): free-form data; the
  fields Kong documents for each source/event (GET /event-hooks/sources) are known, and a name outside them is
  a warning naming them, not an error (a Kong version may add one, a custom plugin posts its own);
- a request's `extra`: file-log's fields, what the correlation joins in (`cause`, `error`, `upstream`), and
  access-log variables (nginx's and Kong's; a variable of a custom log_format, defined by `map`, `set` or Lua,
  is named `extra.NAME`, and the error says so). The joined `error.*` has fixed keys: another is a warning.
Deeper parts (`service.name`, `extra.*`, `data.*` beyond the documented field) are free-form and not checked.
Templates may also name the alert's own fields (`count`, `ratio`, ...; `alert.count` names them explicitly).
With no kind (a rule without `kind`, a silence's `--when`), a name must be a field of some kind, and free-form
data is known by the names above only (`data.NAME` and `extra.NAME` name the others).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from tailer.events import Error, Event, EventHook, Http, Inspect, ParseError
from tailer.fields import Named, collect_paths
from tailer.rules.expr import compile_when
from tailer.tomltext import did_you_mean

_CLASSES: tuple[type[Event], ...] = (EventHook, Inspect, Http, Error, ParseError)
KINDS = tuple(cls.kind for cls in _CLASSES)


def _fields(cls: type[Event]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls)) | {"kind"}


COMMON = _fields(Event)
OWN: dict[str, frozenset[str]] = {cls.kind: _fields(cls) for cls in _CLASSES}

# What Kong documents for each Event Hooks source/event (GET /event-hooks/sources); None: every event of the
# source (`crud` names its events after the DAO: `consumers`, `consumers:create`, ...).
_CRUD = ("operation", "entity", "old_entity", "schema")
_RATE_LIMITING = ("consumer", "ip", "service", "rate", "limit", "window")
HOOK_FIELDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("dao:crud", "create"): _CRUD,
    ("dao:crud", "update"): _CRUD,
    ("dao:crud", "delete"): _CRUD,
    ("crud", None): _CRUD,
    ("balancer", "health"): ("upstream_id", "ip", "port", "hostname", "health"),
    ("rate-limiting-advanced", "rate-limit-exceeded"): _RATE_LIMITING,
    ("ai-rate-limiting-advanced", "rate-limit-exceeded"): _RATE_LIMITING,
    ("service-protection", "rate-limit-exceeded"): ("service", "rate", "limit", "window"),
    ("oas-validation", "validation-failed"): ("consumer", "ip", "service", "err"),
}
_ALL_HOOK_FIELDS = frozenset(name for fields in HOOK_FIELDS.values() for name in fields)

# A request's `extra`: what file-log records give (tailer.parse.filelog), what the correlation joins in
# (tailer.correlate; `error` has JOINED_ERROR's keys), and the request line nginx logged when it could not be read.
FILE_LOG = ("service", "route", "consumer", "upstream_uri", "upstream_status", "latencies", "source", "workspace_name",
            "tries")  # fmt: skip
JOINED = ("cause", "error", "upstream")
JOINED_ERROR = ("cause", "level", "message", "upstream", "action", "file", "offset", "line")
# Access-log variables read into an Http field (tailer.parse.accesslog): never in `extra`.
READ_INTO = {
    "remote_addr": "client", "request_method": "method", "request_uri": "path", "uri": "path",
    "server_protocol": "protocol", "body_bytes_sent": "bytes", "bytes_sent": "bytes",
    "http_user_agent": "user_agent", "http_referer": "referer", "kong_request_id": "request_id",
    "time_local": "time", "time_iso8601": "time", "msec": "time",
}  # fmt: skip
# nginx's variables (http core, upstream, ssl, realip, stream) and those Kong's nginx template sets
_VARIABLE_NAMES = """
    args binary_remote_addr connection connection_requests connection_time content_length content_type
    document_root document_uri host hostname https is_args limit_rate nginx_version pid pipe proxy_protocol_addr
    proxy_protocol_port proxy_protocol_server_addr proxy_protocol_server_port query_string realpath_root remote_port
    remote_user request request_body request_body_file request_completion request_filename request_length
    request_time scheme server_addr server_name server_port tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd
    tcpinfo_rcv_space gzip_ratio http2 http3 realip_remote_addr realip_remote_port
    upstream_addr upstream_bytes_received upstream_bytes_sent upstream_cache_status upstream_connect_time
    upstream_header_time upstream_last_server_name upstream_queue_time upstream_response_length
    upstream_response_time upstream_status upstream_session_time upstream_first_byte_time
    ssl_alpn_protocol ssl_cipher ssl_ciphers ssl_client_cert ssl_client_escaped_cert ssl_client_fingerprint
    ssl_client_i_dn ssl_client_i_dn_legacy ssl_client_raw_cert ssl_client_s_dn ssl_client_s_dn_legacy
    ssl_client_serial ssl_client_v_end ssl_client_v_remain ssl_client_v_start ssl_client_verify ssl_curve
    ssl_curves ssl_early_data ssl_protocol ssl_server_name ssl_session_id ssl_session_reused
    bytes_received session_time
    ctx_ref upstream_te upstream_via upstream_host upstream_upgrade upstream_connection upstream_scheme
    upstream_uri upstream_x_forwarded_for upstream_x_forwarded_proto upstream_x_forwarded_host
    upstream_x_forwarded_port upstream_x_forwarded_path upstream_x_forwarded_prefix kong_proxy_mode set_request_id
"""
VARIABLES = frozenset(_VARIABLE_NAMES.split())
# Families of variables: a request header (`http_x_tenant`), a response header, an argument, a cookie...
VARIABLE_FAMILIES = ("http_", "sent_http_", "sent_trailer_", "upstream_http_", "upstream_trailer_",
                     "upstream_cookie_", "cookie_", "arg_", "proxy_protocol_tlv_")  # fmt: skip
HTTP_EXTRA = frozenset(FILE_LOG + JOINED) | VARIABLES

# An alert's own fields (tailer.alerts.Alert.own; `suppressed`: the matches the engine dropped since the rule's
# last alert), and those each aggregation's alerts add (the `fields` its step gives `RuleRunner.candidate`)
ALERT_FIELDS = frozenset({"count", "first", "last", "time", "key", "group", "rule", "suppressed"})
AGGREGATION_FIELDS: dict[str, frozenset[str]] = {
    "threshold": frozenset({"within", "threshold"}),
    "ratio": frozenset({"ratio", "percent", "total", "within"}),
    "flatline": frozenset({"within", "expected"}),
    "new_value": frozenset({"value"}),
}
_EVERY_ALERT_FIELD = ALERT_FIELDS.union(*AGGREGATION_FIELDS.values())


def documented(source: str | None, event: str | None) -> tuple[str, ...] | None:
    """The data fields Kong documents for events of `source`/`event` (None: any), in Kong's order; for an event
    it does not document of a source it does, the source's. None when it documents none (a custom plugin's)."""
    if source is not None:
        of_source = [(e, fields) for (s, e), fields in HOOK_FIELDS.items() if s == source]
        chosen = [fields for e, fields in of_source if e is None or e == event] or [f for _, f in of_source]
    elif event is not None:
        chosen = [fields for (_, e), fields in HOOK_FIELDS.items() if e == event]
    else:
        chosen = list(HOOK_FIELDS.values())
    return tuple(dict.fromkeys(name for fields in chosen for name in fields)) if chosen else None


@dataclass(frozen=True, slots=True)
class Selection:
    """Events of one kind a path is read on (for event hooks, maybe of one source/event). `strict`: free-form
    data is known only by the names above (a rule of no kind, a silence), else a name is an error."""

    kind: str
    source: str | None = None
    event: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """The events a path may be read on: it is fine if one of them can have it. A template is also filled with
    an alert, whose fields are `alert`; `unknown`: aggregations whose alerts may add fields not known here (one
    added without a line in AGGREGATION_FIELDS): a template's name none has is then a warning."""

    selections: tuple[Selection, ...]
    alert: frozenset[str] = _EVERY_ALERT_FIELD
    unknown: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        kinds = sorted({s.kind for s in self.selections}, key=KINDS.index)
        if len(kinds) == len(KINDS):
            return "any kind"
        return f"kind {kinds[0]}" if len(kinds) == 1 else f"kinds {', '.join(kinds)}"


ANY = Scope(tuple(Selection(kind, strict=True) for kind in KINDS))


def rule_scope(kind: str | None, source: str | None, event: str | None, aggregation: str | None = None) -> Scope:
    """What a rule's paths are read on: its kind (Kong's source/event for event hooks), or any kind; and the
    alerts of its aggregation (by its key: `threshold`, ...)."""
    selections = ANY.selections if kind is None else (Selection(kind, source, event),)
    if aggregation is None:
        return Scope(selections, ALERT_FIELDS)
    if aggregation not in AGGREGATION_FIELDS:
        return Scope(selections, ALERT_FIELDS, (aggregation,))
    return Scope(selections, ALERT_FIELDS | AGGREGATION_FIELDS[aggregation])


def union(scopes: Iterable[Scope]) -> Scope:
    """What any of `scopes` reads on (a notifier's templates: the rules that use it); none: any kind."""
    scopes = list(scopes)
    if not scopes:
        return ANY
    return Scope(
        tuple(dict.fromkeys(s for scope in scopes for s in scope.selections)),
        frozenset().union(*(scope.alert for scope in scopes)),
        tuple(dict.fromkeys(a for scope in scopes for a in scope.unknown)),
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """A path no event in scope can have (`error`), or one that names free-form data Kong does not document."""

    error: bool
    text: str


def check(parts: tuple[str | int, ...], scope: Scope, template: bool = False) -> Finding | None:
    """None when an event of `scope` can have the path `parts` (tailer.fields.parse_path); `template`: the
    alert's own fields are known too."""
    first = str(parts[0])
    if template and first == "alert" and len(parts) > 1:
        name = str(parts[1])
        if name in scope.alert:
            return None
        if scope.unknown:
            return Finding(False, f"alert field {name!r}: {_maybe(scope)}")
        hint = _in_alerts(name) or _guess(name, scope.alert) or f" (known: {', '.join(sorted(scope.alert))})"
        return Finding(True, f"unknown alert field {_shown(parts)!r}{hint}")
    if template and first in scope.alert:
        return None
    verdicts = [_verdict(s, parts) for s in scope.selections]
    if any(v is None for v in verdicts):
        return None
    for v in verdicts:
        if v is not None and not v.error:
            return v
    if template and scope.unknown:
        return Finding(False, f"field {first!r} is not one of {scope.label} nor of an alert: {_maybe(scope)}")
    text = _unknown(first, scope, template)
    # A request may carry any variable of the user's own log_format: a name close to none known may be one.
    custom = all(s.kind == "http" for s in scope.selections) and "did you mean" not in text
    if custom and first not in _EVERY_ALERT_FIELD and first not in READ_INTO:
        return Finding(
            False,
            f"field {first!r} is not one kong-tailer knows for {scope.label}: if it is a variable of your own "
            f"log_format, write extra.{first} to say so",
        )
    return Finding(True, text)


def check_all(named: Named, scope: Scope, template: bool = False) -> list[Finding]:
    """The findings for each distinct path of `named` (tailer.fields.collect_paths), in order."""
    found = (check(parts, scope, template) for parts in dict.fromkeys(named))
    return list(dict.fromkeys(f for f in found if f is not None))


def check_condition(text: str, scope: Scope = ANY) -> list[Finding]:
    """A `when` condition compiled (ConfigError if it does not) and its paths checked."""
    with collect_paths() as named:
        compile_when(text)
    return check_all(named, scope)


_NO = Finding(True, "")  # a selection none of whose events can have the path


def _verdict(sel: Selection, parts: tuple[str | int, ...]) -> Finding | None:
    first = str(parts[0])
    second = parts[1] if len(parts) > 1 else None
    if first in OWN[sel.kind]:
        if sel.kind == "event_hook" and first == "data" and isinstance(second, str) and not sel.strict:
            return _undocumented(sel, second, _shown(parts))
        return None
    if sel.kind == "http":
        if first == "error" and isinstance(second, str) and second not in JOINED_ERROR:
            keys = ", ".join(JOINED_ERROR)
            return Finding(
                False,
                f"field {_shown(parts)!r}: a request's `error` (the error-log entry joined to it) has {keys}"
                + _guess(second, JOINED_ERROR),
            )
        return None if first in HTTP_EXTRA or _family(first) else _NO
    if sel.kind == "event_hook":
        if sel.strict:
            return None if first in _ALL_HOOK_FIELDS else _NO
        return _undocumented(sel, first, first)
    return _NO


def _undocumented(sel: Selection, name: str, shown: str) -> Finding | None:
    """An Event Hooks data field: a warning if Kong documents others, not it, for the rule's source/event."""
    fields = documented(sel.source, sel.event)
    if fields is None or name in fields:
        return None
    if sel.source and sel.event:
        what = f"{sel.source}/{sel.event}"
    elif sel.source or sel.event:
        what = f"{'source' if sel.source else 'event'} {sel.source or sel.event!r}"
    else:
        what = "any Event Hooks event"
    return Finding(
        False, f"field {shown!r} is not one Kong documents for {what} ({', '.join(fields)}){_guess(name, fields)}"
    )


def _unknown(first: str, scope: Scope, template: bool) -> str:
    text = f"unknown field {first!r} for {scope.label}"
    kinds = {s.kind for s in scope.selections}
    if "http" in kinds and first in READ_INTO:
        return f"{text}; nginx's ${first} is the field {READ_INTO[first]!r}"
    if first in _EVERY_ALERT_FIELD:
        if template:  # not one of these alerts'
            return text + _in_alerts(first)
        return f"{text} ({first!r} is an alert's, for its templates: `text`, `title`, a webhook's payload)"
    known = set().union(*(_known(s) for s in scope.selections))
    guess = _guess(first, known | scope.alert if template else known)
    if guess:
        return text + guess
    hints = []
    if len(kinds) == 1:
        (kind,) = kinds
        hints.append(f"its fields: {', '.join(sorted(OWN[kind] - COMMON))}, and {', '.join(sorted(COMMON))}")
    if "http" in kinds:
        hints.append(f"a variable of your own log_format is extra.{first}")
    if any(s.kind == "event_hook" and s.strict for s in scope.selections):
        hints.append(f"Event Hooks data Kong does not document is data.{first}")
    return f"{text} ({'; '.join(hints)})" if hints else text


def _known(sel: Selection) -> frozenset[str]:
    """The names a path of `sel` may start with, to suggest from (families of variables aside)."""
    if sel.kind == "http":
        return OWN["http"] | HTTP_EXTRA
    if sel.kind == "event_hook":
        return OWN["event_hook"] | frozenset(documented(sel.source, sel.event) or _ALL_HOOK_FIELDS)
    return OWN[sel.kind]


def _in_alerts(name: str) -> str:
    """Which aggregations' alerts have `name` (one the rule's have not), as a hint; "" if none."""
    rules = [f"{a} rule" for a, fields in AGGREGATION_FIELDS.items() if name in fields]
    return f" (the alerts of a {' or '.join(rules)} have it)" if rules else ""


def _maybe(scope: Scope) -> str:
    return f"none known has it, unless the alerts of the {' or '.join(scope.unknown)} aggregation do"


def _family(name: str) -> bool:
    """An access-log variable of an open family (`http_x_tenant`), not one read into an Http field."""
    return name not in READ_INTO and any(name.startswith(p) and len(name) > len(p) for p in VARIABLE_FAMILIES)


def _guess(name: str, known: Iterable[str]) -> str:
    return did_you_mean(name, sorted(known))


def _shown(parts: tuple[str | int, ...]) -> str:
    """The path up to its second part, as written (`data.servcie`, `values[1]`)."""
    out = str(parts[0])
    for part in parts[1:2]:
        out += f"[{part + 1}]" if isinstance(part, int) else f".{part}"
    return out
