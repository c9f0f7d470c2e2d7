"""The command notifier, with real small programs (`python -c ...`): exit codes, stderr in the reason, timeouts
that kill the program and its children, programs that cannot be started, and the alert JSON on stdin."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tailer.notify import SENT
from tailer.notify.command import CommandDestination, run_command
from tailer.notify.deliver import Deliverer, DeliveryPolicy
from tailer.notify.payload import alert_json
from tests.test_delivery import make_message


def py(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


COPY_STDIN = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"


def test_exit_0_is_sent_and_the_program_got_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    assert run_command(py(COPY_STDIN, str(out)), b'{"a": 1}', timeout=10) == SENT
    assert json.loads(out.read_bytes()) == {"a": 1}


def test_exit_75_asks_for_a_retry() -> None:
    outcome = run_command(py("import sys; print('queue full', file=sys.stderr); sys.exit(75)"), b"{}", timeout=10)
    assert outcome.status == "retry"
    assert outcome.reason.endswith("exit 75 (temporary failure): queue full")


def test_other_exits_are_dead_with_the_last_stderr_line() -> None:
    code = "import sys; sys.stderr.write('first\\nsecond: bad token\\n\\n'); sys.exit(3)"
    outcome = run_command(py(code), b"{}", timeout=10)
    assert outcome.status == "dead"
    assert outcome.reason == f"{sys.executable!r} exit 3: second: bad token"


def test_stdout_stands_in_for_an_empty_stderr_and_is_kept_short() -> None:
    outcome = run_command(py("print('x' * 10000); raise SystemExit(1)"), b"", timeout=10)
    assert outcome.status == "dead" and "exit 1: xxx" in outcome.reason and len(outcome.reason) < 300


def test_a_program_that_ignores_stdin_is_fine() -> None:
    assert run_command(py("pass"), b"x" * 1_000_000, timeout=10) == SENT


def test_timeout_kills_the_program_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "open(sys.argv[1], 'w').write(f'{child.pid}');"
        "time.sleep(60)"
    )
    started = time.monotonic()
    outcome = run_command(py(code, str(pids)), b"{}", timeout=1.0)
    assert time.monotonic() - started < 5
    assert outcome.status == "retry" and "timed out after 1 s and was killed" in outcome.reason
    assert wait_gone(int(pids.read_text()))


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once `pid` has exited (gone, or a zombie waiting for its new parent to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


def test_a_missing_program_is_dead(tmp_path: Path) -> None:
    outcome = run_command([str(tmp_path / "no-such-notifier")], b"{}", timeout=10)
    assert outcome.status == "dead" and outcome.reason.endswith("no-such-notifier': no such program")


def test_a_program_that_is_not_executable_is_dead(tmp_path: Path) -> None:
    script = tmp_path / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    outcome = run_command([str(script)], b"{}", timeout=10)
    assert outcome.status == "dead" and outcome.reason.endswith("not executable (permission denied)")


def test_an_empty_command_is_dead() -> None:
    assert run_command([], b"{}", timeout=10).reason == "cannot run '': empty command"


def test_the_destination_sends_the_alert_json(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    message = make_message("k9", notifier="pager")
    destination = CommandDestination(py(COPY_STDIN, str(out)), timeout=10, name="pager")
    [result] = Deliverer().deliver(destination, [message], DeliveryPolicy(rate=None))
    assert (result.key, result.outcome) == ("k9", SENT)
    assert json.loads(out.read_bytes()) == json.loads(json.dumps(alert_json(message)))
