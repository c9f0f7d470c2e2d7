"""A real nginx (Debian's nginx-light with the Lua module), configured like Kong's proxy and started by the
tests on 127.0.0.1, so that what kong-tailer reads is what nginx really writes: the access log in Kong's
`kong_log_format` (no request id: Kong before 3.5, or plain nginx) and the error log at `info`.

    with Nginx(tmp_path) as ngx:
        assert ngx.get("/refused") == 502
    ngx.error_log.read_text()   # after the context: nginx has stopped, every line written

Its locations fail the way a gateway's upstreams do:

    /refused        an upstream port nobody listens on                         502, connect() failed
    /retried        two such upstreams: one entry per try, then a warn         502
    /timeout        an upstream (a Lua location of its own) answering too late  504, upstream timed out
    /closed         an upstream that closes the connection without answering    502, upstream prematurely closed
    /reset          one that resets it                                          502, recv() failed (104: ...)
    /garbage        one whose header line is invalid                            502, upstream sent invalid header
    /big            one whose header is over proxy_buffer_size                  502, upstream sent too big header
    /tls            TLS to a port that closes                                   502, SSL_do_handshake() / peer closed
    /dns            a host name through a resolver nobody answers               502, could not be resolved
    /lua            a Lua error in the content handler                          500, lua entry thread aborted
    /small          a body over client_max_body_size                            413, too large body
    give_up()       the client hangs up before the answer                        499, at info
    raw(b"...")     a request line nginx cannot read                             400, at info
    /ok             200
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

MODULES = Path("/usr/lib/nginx/modules")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
load_module {modules}/ndk_http_module.so;
load_module {modules}/ngx_http_lua_module.so;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {root}/tmp/body; proxy_temp_path {root}/tmp/proxy; fastcgi_temp_path {root}/tmp/fcgi;
    uwsgi_temp_path {root}/tmp/uwsgi; scgi_temp_path {root}/tmp/scgi;
    log_format kong_log_format '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                               '"$http_referer" "$http_user_agent"';
    access_log {root}/logs/access.log kong_log_format;
    proxy_connect_timeout 1s; proxy_read_timeout 1s; proxy_send_timeout 1s;
    resolver 127.0.0.1:{dead} valid=1s; resolver_timeout 1s;
    upstream retried {{ server 127.0.0.1:{dead}; server 127.0.0.1:{dead2}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name kong;
        location /refused {{ proxy_pass http://127.0.0.1:{dead}; }}
        location /retried {{ proxy_pass http://retried; }}
        location /slow {{ content_by_lua_block {{ ngx.sleep(3) ngx.say("late") }} }}
        location /timeout {{ proxy_pass http://127.0.0.1:{port}/slow; }}
        location /closed {{ proxy_pass http://127.0.0.1:{close}; }}
        location /reset {{ proxy_pass http://127.0.0.1:{reset}; }}
        location /garbage {{ proxy_pass http://127.0.0.1:{garbage}; }}
        location /big {{ proxy_pass http://127.0.0.1:{big}; }}
        location /tls {{ proxy_pass https://127.0.0.1:{close}; }}
        location /lua {{ content_by_lua_block {{ error("boom in handler") }} }}
        location /dns {{ set $up "nowhere.invalid"; proxy_pass http://$up; }}
        location /small {{ client_max_body_size 10; proxy_pass http://127.0.0.1:{dead}; }}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Upstream(threading.Thread):
    """An upstream that misbehaves one way on every connection, once it has read the request:

    close      closes without a word
    reset      closes with a TCP reset
    garbage    answers with a header line nginx refuses
    big        answers with a header larger than proxy_buffer_size
    """

    ANSWERS = {
        "garbage": b"HTTP/1.1 200 OK\r\nX-Bad\x01Header: 1\r\nContent-Length: 0\r\n\r\n",
        "big": b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 16384 + b"\r\nContent-Length: 0\r\n\r\n",
    }

    def __init__(self, mode: str) -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.recv(65536)
                    if self.mode == "reset":
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    elif self.mode in self.ANSWERS:
                        conn.sendall(self.ANSWERS[self.mode])


class Nginx:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.logs = root / "logs"
        self.error_log = self.logs / "error.log"
        self.access_log = self.logs / "access.log"
        self.upstreams = {mode: _Upstream(mode) for mode in ("close", "reset", "garbage", "big")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def __enter__(self) -> Nginx:
        if not (MODULES / "ngx_http_lua_module.so").exists():
            raise RuntimeError(
                "the tests need nginx with its Lua module: apt-get install nginx-light libnginx-mod-http-lua"
            )
        for d in ("logs", "tmp"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        ports = {"port": self.port, "dead": free_port(), "dead2": free_port()}
        ports.update((mode, u.port) for mode, u in self.upstreams.items())
        conf.write_text(CONF.format(modules=MODULES, root=self.root, **ports))
        for upstream in self.upstreams.values():
            upstream.start()
        argv = [NGINX, "-p", str(self.root), "-c", str(conf), "-e", str(self.error_log), "-g", "daemon off;"]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it answers
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/ok").status_code == 200:
                    return self
            time.sleep(0.02)
        raise RuntimeError("nginx did not answer on 127.0.0.1 within 10 s")

    def get(self, path: str, **kwargs: object) -> int:
        return self.client.request("GET", path, **kwargs).status_code  # type: ignore[arg-type]

    def give_up(self, path: str, after: float = 0.3) -> None:
        """Ask for `path` and hang up after `after` s without an answer (nginx logs a 499)."""
        with contextlib.suppress(httpx.TimeoutException), httpx.Client(timeout=after) as client:
            client.get(f"http://127.0.0.1:{self.port}{path}")

    def raw(self, data: bytes) -> bytes:
        """Send `data` on a connection of its own; nginx's answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    def post(self, path: str, body: bytes) -> int:
        return self.client.post(path, content=body).status_code

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: every log line written and closed
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for upstream in self.upstreams.values():
            upstream.sock.close()
