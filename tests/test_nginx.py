"""kong-tailer over what a real nginx writes (tests/nginx.py): Kong's access-log format without a request id
(Kong before 3.5, plain nginx) joined to the error entries that explain each failure, by client, request line
and time; the most telling entry of a retried request wins; nginx's own resolver failures are `dns`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.nginx import Nginx

ROOT = Path(__file__).resolve().parent.parent

RULES = """
[[rule]]
name = "failures"
kind = "http"
when = "status >= 400"
notify = "console"
text = "{{ status }} {{ method }} {{ path }} cause={{ cause }}"
"""


def replay(logs: list[Path], rules: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "tailer", "replay", "--json", "--tz", "UTC", "--rules", str(rules), *map(str, logs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


def causes(messages: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(status, path, cause) of each request alerted on, in order (the console line: `... [rule] <text>`)."""
    out = []
    for m in messages:
        status, _, path, cause = m["payload"].split("] ", 1)[1].split()
        out.append((int(status), path, cause.removeprefix("cause=")))
    return out


def test_every_failure_nginx_explained_is_named_without_a_request_id(tmp_path: Path) -> None:
    with Nginx(tmp_path / "nginx") as ngx:
        assert ngx.get("/refused") == 502
        assert ngx.get("/retried") == 502  # two upstreams, one entry per try, then warn entries
        assert ngx.get("/timeout") == 504
        assert ngx.get("/closed") == 502
        assert ngx.get("/reset") == 502
        assert ngx.get("/garbage") == 502
        assert ngx.get("/big") == 502
        assert ngx.get("/tls") == 502
        assert ngx.get("/retried") == 502  # within fail_timeout of the first: no try at all
        assert ngx.get("/dns") == 502
        assert ngx.get("/lua") == 500
        assert ngx.post("/small", b"x" * 100) == 413
        assert ngx.get("/ok") == 200
        ngx.give_up("/timeout")
        assert ngx.raw(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert ngx.raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: kong\r\n\r\n").startswith(b"HTTP/1.1 414 ")
        long_header = b"GET /ok HTTP/1.1\r\nHost: kong\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
        assert ngx.raw(long_header).startswith(b"HTTP/1.1 400 ")
        with httpx.Client(base_url=f"http://127.0.0.1:{ngx.port}") as other:  # the same request, another connection
            assert other.get("/refused").status_code == 502
    error_log = ngx.error_log.read_text()
    assert "request_id" not in error_log and "connect() failed (111: Connection refused)" in error_log
    assert error_log.count('request: "GET /retried HTTP/1.1"') >= 2  # the tries, and what they left behind
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(RULES)
    got = causes(replay([ngx.error_log, ngx.access_log], rules))
    assert got == [
        (502, "/refused", "upstream_refused"),
        (502, "/retried", "upstream_refused"),
        (504, "/timeout", "upstream_timeout"),
        (502, "/closed", "upstream_closed"),
        (502, "/reset", "upstream_closed"),
        (502, "/garbage", "upstream_closed"),
        (502, "/big", "upstream_closed"),
        (502, "/tls", "tls"),
        (502, "/retried", "no_live_upstreams"),
        (502, "/dns", "dns"),
        (500, "/lua", "lua_error"),
        (413, "/small", "body_too_large"),
        (499, "/timeout", "client_closed"),  # nginx writes both at info: they are events all the same
        (400, "-", "bad_request"),
        # nginx cuts that entry at 2048 bytes, before the suffix naming the client and the request; and the access
        # log has the request line cut at 8 KiB: nothing tells which request the entry was for
        (414, "-", "-"),
        (400, "/ok", "bad_request"),
        (502, "/refused", "upstream_refused"),
    ]


def test_the_daemon_joins_real_nginx_failures_as_replay_does(tmp_path: Path) -> None:
    """The real logs of tests/fixtures/replay/nginx-no-request-id, followed by `kong-tailer run` with the access
    log named first (so each round reads it first): every failure gets the cause replay gives it."""
    from tests.daemon import Daemon, wait_until

    case = ROOT / "tests" / "fixtures" / "replay" / "nginx-no-request-id"
    rules = (case / "rules" / "failures.toml").read_text()
    expected = [
        m["payload"].split("] ", 1)[1] for m in replay([case / "error.log", case / "access.log"], case / "rules")
    ]
    d = Daemon(tmp_path, None, rules=rules, logs=("access.log", "error.log"))
    for name in ("access.log", "error.log"):
        d.write((case / name).read_text(), name)
    try:
        d.start()
        stdout = tmp_path / "stdout.1"
        wait_until(lambda: stdout.read_text().count("[failures]") >= len(expected), what="the daemon's alerts")
        assert d.stop() == 0
    finally:
        d.close()
    got = [line.split("] ", 1)[1] for line in stdout.read_text().splitlines() if "[failures]" in line]
    assert got == expected
    assert len(expected) == 17 and all(": -" not in text for text in expected if text.startswith("5"))
