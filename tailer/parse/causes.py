"""Why an error-log entry was written, and the HTTP status that cause gives the client (kong-log-formats §6).

`classify(message, action)` tries the table below in order; the first pattern found in the message decides.
`action` is nginx's " while <action>" (e.g. "connecting to upstream"): when a rule names `needs_action`, the
action must contain that text too, so a client-side TLS failure is not blamed on the upstream.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Cause(NamedTuple):
    name: str
    status: int | None  # what the client got because of it, where that is known


class _Rule(NamedTuple):
    pattern: re.Pattern[str]
    cause: Cause
    needs_action: str = ""


def _rule(pattern: str, name: str, status: int | None, needs_action: str = "") -> _Rule:
    return _Rule(re.compile(pattern), Cause(name, status), needs_action)


_RULES = (
    _rule(r"upstream timed out", "upstream_timeout", 504),
    _rule(r"no live upstreams", "no_live_upstreams", 502),
    _rule(r"failure to get a peer from (?:the ring-balancer|retry handler)", "no_live_upstreams", 503),
    _rule(r"upstream SSL certificate|SSL_do_handshake\(\) failed|SSL handshake|SSL_", "tls", 502, "to upstream"),
    _rule(r"upstream SSL certificate verify error", "tls", 502),
    # nginx's own resolver (`resolver` + a variable in proxy_pass): the request's entry, and the resolver's
    # `send() failed (111: ...) while resolving, resolver: ...`, which must not read as an upstream failure.
    _rule(r" could not be resolved \(", "dns", 502),
    _rule(r"\) while resolving(?:, resolver: |\Z)", "dns", 502),
    _rule(r"connect\(\) (?:to \S+ )?failed", "upstream_refused", 502, "upstream"),
    _rule(
        r"upstream prematurely closed|upstream sent |(?:recv|send|writev|readv|sendfile|SSL_read|SSL_write)"
        r"\(\) failed|reset by peer|broken pipe",
        "upstream_closed",
        502,
        "upstream",
    ),
    # kong/runloop/handler.lua writes this text only when the balancer returned errcode 500.
    _rule(r"failed the initial dns/balancer resolve|failed to retry the dns/balancer resolver", "dns", 500),
    _rule(
        r"DNS resolution failed|name resolution failed|dns server error|dns client error|\[dns(?:-client)?\]",
        "dns",
        503,
    ),
    _rule(r"failed to set the current peer|failed to get from the balancer", "balancer", 500),
    _rule(r"lua (?:entry|user) thread aborted|failed to run balancer_by_lua", "lua_error", 500),
    _rule(
        r"failed to run \w+_by_lua|\[string \"[^\n]*?\"\]:\d+:|attempt to (?:index|call|perform arithmetic|"
        r"compare|concatenate)|stack traceback:",
        "lua_error",
        None,
    ),
    _rule(r"client intended to send too large body", "body_too_large", 413),
    _rule(r"client prematurely closed connection", "client_closed", 499),
    _rule(r"client sent too long URI", "bad_request", 414),
    _rule(r"client sent ", "bad_request", 400),  # invalid method, too long URI, duplicate header line, ...
    _rule(r"SSL_do_handshake\(\) failed|SSL handshake|ssl_certificate_by_lua", "tls", None),
    _rule(
        r"(?i)\[postgres\]|\[cassandra\]|postgres|cassandra|\[DB cache\]|\[cluster_events\]|database",
        "db_unreachable",
        None,
    ),
    _rule(r"(?i)redis|failed to get usage|failed to increment", "plugin_backend", None),
    _rule(r"\[healthchecks\]|healthcheck", "healthcheck", None),
    _rule(r"worker process \d+ exited on signal", "worker_crash", None),
    _rule(r"open\(\) \"[^\"]*\" failed|No space left on device", "filesystem", None),
    _rule(r"event_hooks|failed to emit event", "event_hooks", None),
    _rule(r"queue \S+: |could not send entries|handler could not process entries", "log_delivery", None),
)
OTHER = Cause("other", None)


def classify(message: str, action: str | None) -> Cause:
    """The first matching cause of the table, or `other`."""
    for rule in _RULES:
        if rule.needs_action and (action is None or rule.needs_action not in action):
            continue
        if rule.pattern.search(message):
            return rule.cause
    return OTHER
