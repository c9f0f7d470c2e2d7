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
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
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
        argv = [sys.executable, "-m", "tailer", "run", "--rules", str(self.rules), "--state-dir", str(self.state)]
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
