# ruff: noqa: E501  (verbatim nginx/Kong error messages below)
"""tailer.parse.causes.classify: error-log message + " while <action>" → cause and the status the client got.

The table follows shared/reference/kong-log-formats.md section 6 (copied here: tests read nothing under
/work/shared). `message` is what the error-log parser passes: the entry's text without the context suffix and
without the trailing " while <action>", which is passed as `action`.
"""

from __future__ import annotations

import pytest

from tailer.events import Error
from tailer.parse.causes import OTHER, classify
from tests.conftest import parse_bytes

# (message, action, expected cause, expected status)
CASES: list[tuple[str, str | None, str, int | None]] = [
    # upstream refused / unreachable: 502
    ("connect() failed (111: Connection refused)", "connecting to upstream", "upstream_refused", 502),
    ("connect() to 10.0.0.7:8080 failed (113: No route to host)", "connecting to upstream", "upstream_refused", 502),
    (
        "connect() to 10.0.0.7:8080 failed (101: Network is unreachable)",
        "connecting to upstream",
        "upstream_refused",
        502,
    ),
    # upstream timed out: 504, whatever it was doing
    ("upstream timed out (110: Connection timed out)", "connecting to upstream", "upstream_timeout", 504),
    (
        "upstream timed out (110: Connection timed out)",
        "reading response header from upstream",
        "upstream_timeout",
        504,
    ),
    ("upstream timed out (110: Connection timed out)", "sending request to upstream", "upstream_timeout", 504),
    ("upstream timed out (110: Operation timed out)", "reading upstream", "upstream_timeout", 504),
    # nginx's own resolver (nginx 1.22, real output: tests/fixtures/replay/nginx-no-request-id): the request's
    # entry, and the resolver's own, which is no upstream failure even though it says send() failed
    ("nowhere.invalid could not be resolved (110: Operation timed out)", None, "dns", 502),
    ("api.internal could not be resolved (3: Host not found)", None, "dns", 502),
    ("send() failed (111: Connection refused) while resolving, resolver: 127.0.0.1:53", None, "dns", 502),
    ("recv() failed (111: Connection refused) while resolving, resolver: 10.0.0.2:53", None, "dns", 502),
    # upstream closed / reset / bad: 502
    ("upstream prematurely closed connection", "reading response header from upstream", "upstream_closed", 502),
    ("recv() failed (104: Connection reset by peer)", "reading response header from upstream", "upstream_closed", 502),
    ("writev() failed (104: Connection reset by peer)", "sending request to upstream", "upstream_closed", 502),
    ("upstream sent too big header", "reading response header from upstream", "upstream_closed", 502),
    # TLS to the upstream: 502
    (
        "upstream SSL certificate verify error: (20:unable to get local issuer certificate)",
        "SSL handshaking to upstream",
        "tls",
        502,
    ),
    (
        "upstream SSL certificate verify error: (22:certificate chain too long)",
        "SSL handshaking to upstream",
        "tls",
        502,
    ),
    ('upstream SSL certificate does not match "orders.internal"', "SSL handshaking to upstream", "tls", 502),
    (
        "SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed)",
        "SSL handshaking to upstream",
        "tls",
        502,
    ),
    ("peer closed connection in SSL handshake", "SSL handshaking to upstream", "tls", 502),
    # TLS failing on the client side: no upstream involved, no status implied
    (
        "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)",
        "SSL handshaking",
        "tls",
        None,
    ),
    ("peer closed connection in SSL handshake (104: Connection reset by peer)", "SSL handshaking", "tls", None),
    (
        "SSL_do_handshake() failed (SSL: error:0A000416:SSL routines::sslv3 alert certificate unknown:SSL alert number 46)",
        None,
        "tls",
        None,
    ),
    # no live upstreams: 502
    ("no live upstreams", "connecting to upstream", "no_live_upstreams", 502),
    # DNS: 503 (Kong 2.x `[lua] balancer.lua`, 3.x `[lua] init.lua` of kong/runloop/balancer)
    (
        '[lua] balancer.lua:1064: execute(): DNS resolution failed: dns server error: 3 name error. Tried: [["orders.internal:(na) - cache-miss","orders.internal:1 - cache-miss/querying/dns server error: 3 name error"]]',
        None,
        "dns",
        503,
    ),
    (
        '[lua] init.lua:393: execute(): DNS resolution failed: dns server error: 3 name error. Tried: [["(short)orders.internal:(na) - cache-miss","orders.internal:1 - cache-miss/querying/dns server error: 3 name error"]]',
        None,
        "dns",
        503,
    ),
    (
        '[lua] init.lua:393: execute(): DNS resolution failed: dns client error: 101 empty record received. Tried: ["(short)orders.internal:(na) - cache-miss"]',
        None,
        "dns",
        503,
    ),
    # Kong logs "failed the initial dns/balancer resolve" only when balancer.execute returned errcode 500
    # (kong/runloop/handler.lua: `if not ok and errcode == 500 then err = "failed the initial dns/balancer
    # resolve for '" .. host .. "' with: " .. tostring(err)`): the client got a 500.
    (
        "[lua] handler.lua:1478: failed the initial dns/balancer resolve for 'orders.internal' with: dns server error: 2 server failure",
        None,
        "dns",
        500,
    ),
    # Lua errors: 500 in request phases, unchanged in the log phase
    (
        "lua entry thread aborted: runtime error: /usr/local/share/lua/5.1/kong/plugins/my-plugin/handler.lua:12: attempt to index local 'conf' (a nil value)\nstack traceback:\ncoroutine 0:\n\t[C]: in function 'error'",
        None,
        "lua_error",
        500,
    ),
    (
        "failed to run log_by_lua*: /usr/local/share/lua/5.1/kong/plugins/my-plugin/handler.lua:30: boom\nstack traceback:\n\t[C]: in function 'error'",
        None,
        "lua_error",
        None,
    ),
    # body too large: 413
    ("client intended to send too large body: 10485761 bytes", None, "body_too_large", 413),
    # client gone: 499
    ("client prematurely closed connection", "reading client request body", "client_closed", 499),
    ("client prematurely closed connection", None, "client_closed", 499),
    (
        "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too",
        "sending request to upstream",
        "client_closed",
        499,
    ),
    # bad requests: 400
    ("client sent too long header line", None, "bad_request", 400),
    ("client sent invalid request", None, "bad_request", 400),
    # the database
    ("[lua] init.lua:400: [postgres] connection refused", None, "db_unreachable", None),
    ("[kong] init.lua:540 failed to get from node cache: [postgres] timeout", None, "db_unreachable", None),
    ("failed to retrieve PostgreSQL server_version_num: connection refused", None, "db_unreachable", None),
    # plugin backends (rate-limiting against Redis or the DB, fault tolerant by default)
    ("[kong] handler.lua:92 [rate-limiting] failed to get usage: connection refused", None, "plugin_backend", None),
    (
        "[kong] handler.lua:92 [rate-limiting] failed to get usage: failed to connect to redis: timeout",
        None,
        "plugin_backend",
        None,
    ),
    # crashes
    ("worker process 1234 exited on signal 9", None, "worker_crash", None),
    ("worker process 77 exited on signal 11 (core dumped)", None, "worker_crash", None),
    # health checks
    (
        "[lua] healthcheck.lua:1150: log(): [healthcheck] (orders.upstream:default) unhealthy TCP increment (1/3) for 'orders.internal(10.0.0.7:8080)'",
        None,
        "healthcheck",
        None,
    ),
    ("[lua] healthcheckers.lua:100: [healthchecks] failed setting peer status", None, "healthcheck", None),
    # section 6, last rows
    ('open() "/usr/local/kong/logs/x.log" failed (28: No space left on device)', None, "filesystem", None),
    ("failed to emit event: source 'crud' has no 'nope' event", None, "event_hooks", None),
    (
        "[http-log plugin 0f4b] queue http-log: handler could not process entries: connection refused",
        None,
        "log_delivery",
        None,
    ),
]


@pytest.mark.parametrize(
    ("message", "action", "cause", "status"), CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_classify(message: str, action: str | None, cause: str, status: int | None) -> None:
    assert classify(message, action) == (cause, status)


# Same messages, on the client side: the upstream is not to blame.
CLIENT_SIDE: list[tuple[str, str | None]] = [
    ("recv() failed (104: Connection reset by peer)", "reading client request headers"),
    ("writev() failed (32: Broken pipe)", "sending to client"),
    ("connect() failed (111: Connection refused)", None),
]


@pytest.mark.parametrize(("message", "action"), CLIENT_SIDE)
def test_client_side_failures_are_not_upstream_causes(message: str, action: str | None) -> None:
    cause = classify(message, action)
    assert not cause.name.startswith("upstream")
    assert cause.status is None


def test_unknown_message_is_other() -> None:
    assert classify("something nobody has seen before", None) == OTHER
    assert OTHER == ("other", None)


@pytest.mark.parametrize(
    ("line", "cause", "status"),
    [
        (
            b'2024/11/28 18:04:05 [error] 1280#0: *20004 upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream, client: 192.168.194.1, server: kong, request: "GET /echo HTTP/1.1", upstream: "https://192.168.194.9:443/", host: "kong.example", request_id: "e2b3182856c96c23d61e880d0a28012f"',
            "tls",
            502,
        ),
        (
            b'2025/01/15 10:00:06 [error] 1280#0: *77 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: kong, request: "GET /orders HTTP/1.1", upstream: "http://10.0.0.7:8080/orders", host: "api.example.test"',
            "upstream_refused",
            502,
        ),
        (
            b"2025/01/15 10:00:06 [info] 1280#0: *78 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking, client: 10.0.0.9, server: 0.0.0.0:8443",
            "tls",
            None,
        ),
    ],
)
def test_error_log_entries_carry_the_cause(line: bytes, cause: str, status: int | None) -> None:
    (event,) = parse_bytes(line + b"\n", "error", emit_all=True)
    assert isinstance(event, Error)
    assert (event.cause, event.status) == (cause, status)


CLIENT_FAILURES = b"""\
2026/12/04 16:24:41 [debug] 29874#29874: *14 http upstream request: "/slow?"
2026/12/04 16:24:41 [info] 29874#29874: *14 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while reading response header from upstream, client: 127.0.0.1, server: kong, request: "GET /timeout HTTP/1.1", upstream: "http://127.0.0.1:49239/slow", host: "127.0.0.1:49239"
2026/12/04 16:24:41 [info] 29874#29874: *15 client sent invalid method while reading client request line, client: 127.0.0.1, server: kong, request: "GARBAGE"
2026/12/04 16:24:41 [info] 29874#29874: *16 client prematurely closed connection while reading client request body, client: 127.0.0.1, server: kong, request: "POST /upload HTTP/1.1", host: "kong"
2026/12/04 16:24:41 [info] 29874#29874: *17 client 127.0.0.1 closed keepalive connection
2026/12/04 16:24:41 [notice] 29874#29874: *18 client sent too long URI while reading client request line, client: 127.0.0.1, server: kong, request: "GET /aaaa"
2026/12/04 16:24:42 [debug] 29874#29874: *19 client sent plain text in a debug line of its own making
"""


@pytest.mark.parametrize("prefix", [b"", b"kong-1  | "])  # the C scanner, and the line-by-line path
def test_the_clients_own_failures_below_warn_are_events(prefix: bytes) -> None:
    data = b"".join(prefix + line + b"\n" for line in CLIENT_FAILURES.splitlines())
    got = [(e.level, e.conn, e.cause, e.status) for e in parse_bytes(data, "error") if isinstance(e, Error)]
    assert got == [
        ("info", 14, "client_closed", 499),
        ("info", 15, "bad_request", 400),
        ("info", 16, "client_closed", 499),
        ("notice", 18, "bad_request", 414),  # nginx answers a too long URI with 414
    ]  # not the debug line: nginx writes these at info
