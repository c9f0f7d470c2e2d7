"""A real HTTP server on 127.0.0.1 for tests: it answers from a script and records what it received.

    with Receiver([Reply(429, "rate_limited", {"Retry-After": "1"})]) as rx:
        post_to(rx.url + "/services/T000/B000/XXXX")
        first, second = rx.wait_for(2)

Each request takes the next scripted `Reply` (then `default`: 200 `ok`); a reply's `delay` holds the answer
back (closing the receiver cuts it short). Every request is recorded as `Received`, with the monotonic time at
which it had been read, so tests can measure spacing. Wait with `wait_for` (polls with a deadline), not sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lowercased
    body: bytes
    time: float  # time.monotonic() when the request had been read

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.path).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, replies: Iterable[Reply] = (), default: Reply | None = None) -> None:
        self._script: deque[Reply] = deque(replies)
        self._default = default or Reply()
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="receiver", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def default(self) -> Reply:
        """The reply once the script is used up."""
        return self._default

    @default.setter
    def default(self, reply: Reply) -> None:
        with self._lock:
            self._default = reply

    def reply(self, *replies: Reply) -> None:
        """Add replies to the end of the script."""
        with self._lock:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The requests, once at least `count` have arrived; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(got := self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests within {timeout} s, got {len(got)}")
            time.sleep(0.005)
        return got

    def _take(self, request: Received) -> Reply:
        with self._lock:
            self._received.append(request)
            return self._script.popleft() if self._script else self._default

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # The answer goes out as two writes (head, body): with Nagle's algorithm the body would wait for
            # the client's delayed ACK of the head, 40 ms per request, which no real server adds.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = receiver._take(Received(self.command, self.path, headers, body, time.monotonic()))
            if reply.delay and receiver._closing.wait(reply.delay):
                self.close_connection = True
                return
            data = reply.body.encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError:  # the client gave up (a timeout test)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
