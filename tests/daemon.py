"""The daemon under test: `kong-tailer run` as a real subprocess on temporary `logs/` and `state/` directories,
with a rule that alerts on every error-log entry whose message holds `ALERT <n>`, sent to a real HTTP server
standing in for Slack (tests/receiver.py). Every alert's key is in its message, so a test can check that each
expected alert arrived exactly once (`delivered`).

    with Receiver() as rx:
        d = Daemon(tmp_path, rx.url)
        d.start()
        d.write(entry(1))
        d.wait_until(lambda: delivered(rx) == {"1": 1})
        assert d.stop() == 0

`faketime=FakeClock(path, offset)` runs it under libfaketime: its wall clock is off the true one by an offset
that `FakeClock.set` changes while it runs (a step), and its monotonic clock is left alone, as a real step
leaves it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
FAKETIME_LIBRARIES = Path("/usr/lib")  # Debian's libfaketime: /usr/lib/<triplet>/faketime/libfaketimeMT.so.1
FAKETIME_SHIM = Path(__file__).resolve().parent / "faketime"  # a sitecustomize: why, in its docstring
T0 = 1_736_935_200  # 2025-01-15T10:00:00Z: entry n is logged n seconds later

RULES = """
[notifier.slack]
type = "slack"
url_env = "TEST_WEBHOOK_URL"
rate = 1000
burst = 1000
backoff_base = 0.2
backoff_cap = 1
timeout = 2

[[rule]]
name = "marked"
kind = "error"
when = 'message =~ "ALERT [0-9]+"'
notify = ["slack"]
title = "marked"
text = "{{ message }}"
"""


def entry(n: int, text: str | None = None, level: str = "error") -> str:
    """One error-log entry, logged `n` seconds after T0, alerting as `ALERT <n>` (unless `text` says else)."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(T0 + n))
    body = text if text is not None else f"ALERT {n} upstream went away"
    return f'{stamp} [{level}] 1234#0: *{n} {body}, client: 10.0.0.1, server: kong, request: "GET / HTTP/1.1"\n'


def marks(payload: dict[str, Any]) -> list[str]:
    """The `ALERT <n>` marks in one Slack message (several in a backlog message)."""
    return re.findall(r"ALERT (\d+)", json.dumps(payload))


def delivered(rx: Receiver) -> Counter[str]:
    """How many times each `ALERT <n>` arrived, over every request received."""
    seen: Counter[str] = Counter()
    for request in rx.requests:
        seen.update(dict.fromkeys(marks(request.json()), 1))
    return seen


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `condition` until it is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Writer(threading.Thread):
    """Appends `entry(n)` for n = start, start+1, ... every `pace` seconds until stopped (load while faults
    hit, or while the daemon looks at the files on its timer)."""

    def __init__(self, d: Daemon, pace: float, start: int = 1) -> None:
        super().__init__(daemon=True)
        self.d, self.pace, self.first, self.next = d, pace, start, start
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.d.write(entry(self.next))
            self.next += 1
            self.halt.wait(self.pace)

    def stop(self) -> list[int]:
        """Stop writing; the numbers written."""
        self.halt.set()
        self.join(10)
        return list(range(self.first, self.next))


class FakeClock:
    """A wall clock `offset` seconds off the true one, for a daemon run under Debian's libfaketime (the
    multi-threaded library: the daemon has threads). The offset is kept in a file that the library reads on
    every call (FAKETIME_NO_CACHE), so `set` steps the clock of a daemon that is running; the monotonic clock
    is not faked (FAKETIME_DONT_FAKE_MONOTONIC). File times are left as the kernel wrote them (this library
    does not shift stat() under Debian 12's glibc): the files a test writes bear the true time."""

    def __init__(self, path: Path, offset: float = 0.0) -> None:
        found = sorted(FAKETIME_LIBRARIES.glob("*/faketime/libfaketimeMT.so.1"))
        if not found:
            raise RuntimeError("the tests need libfaketime: apt-get install faketime")
        self.library = found[0]
        self.path = path
        self.set(offset)

    def set(self, offset: float) -> None:
        """From now on the clock is `offset` seconds off the true time (the file is replaced whole: the
        library never reads half of it)."""
        new = self.path.with_name(self.path.name + ".new")
        new.write_text(f"{offset:+.0f}\n")
        os.replace(new, self.path)

    def environ(self) -> dict[str, str]:
        """The environment that runs a program on this clock."""
        return {
            "LD_PRELOAD": str(self.library),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }


class Daemon:
    def __init__(
        self,
        root: Path,
        url: str | None,
        *,
        rules: str = RULES,
        logs: tuple[str, ...] = ("error.log",),
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
        faketime: FakeClock | None = None,
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.state = root / "state"
        self.rules = root / "rules"
        self.logs.mkdir(exist_ok=True)
        self.rules.mkdir(exist_ok=True)
        (self.rules / "test.toml").write_text(rules)
        self.url = url
        self.log_names = logs
        self.args = args
        self.env = env or {}
        self.prefix = prefix  # a command the daemon runs under (e.g. setpriv, as another user)
        self.faketime = faketime  # the daemon's wall clock, when not the true one
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def stderr_path(self) -> Path:
        return self.root / f"stderr.{self.runs}"

    def start(self, *, wait: bool = True, env: dict[str, str] | None = None) -> None:
        self.runs += 1
        environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "JOURNAL_STREAM")}
        environ.update(PYTHONPATH=str(ROOT), PYTHONFAULTHANDLER="1", **self.env, **(env or {}))
        if self.url is not None:
            environ["TEST_WEBHOOK_URL"] = self.url + "/services/T0/B0/secret"
        if self.faketime is not None:
            environ.update(self.faketime.environ())
            environ["PYTHONPATH"] = f"{FAKETIME_SHIM}{os.pathsep}{environ['PYTHONPATH']}"
        argv = [*self.prefix, sys.executable, "-m", "tailer", "run", "--rules", str(self.rules)]
        argv += ["--state-dir", str(self.state)]
        argv += ["--tz", "UTC", "--host", "gw", "--start-at", "beginning", "--rotate-wait", "1s"]
        for name in self.log_names:
            argv += ["--log", str(self.logs / name)]
        with open(self.stderr_path, "wb") as err, open(self.root / f"stdout.{self.runs}", "wb") as out:
            self.proc = subprocess.Popen([*argv, *self.args], stdout=out, stderr=err, env=environ)
        if wait:
            self.wait_for_log("following")

    def log_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None and text not in self.log_text():
                raise AssertionError(f"the daemon exited ({self.proc.returncode}): {self.log_text()}")
            return text in self.log_text()

        wait_until(seen, timeout, f"{text!r} in the daemon's log")

    def write(self, text: str, name: str = "error.log") -> None:
        with open(self.logs / name, "a") as f:
            f.write(text)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the daemon and wait for it to exit; its exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """The exit code; if the daemon hangs, its threads' stacks (faulthandler, on SIGABRT) in the error."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(10)
            raise AssertionError(f"the daemon did not exit within {timeout} s:\n{self.log_text()}") from None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
