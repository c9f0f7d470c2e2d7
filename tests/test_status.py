"""`kong-tailer status`, run as an operator or a monitoring check runs it: a subprocess asking about a real
running daemon (tests/daemon.py) beside it, without stopping it. Its words and its exit codes (0 OK, 1 warning,
2 critical, 3 unknown) as the daemon reads, fails to deliver, is silenced, reloads, refuses a reload, hangs,
stops and is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon import ROOT, Daemon, delivered, entry, wait_until
from tests.receiver import Receiver, Reply

BAD_RULE = """
[[rule]]
name = "broken"
kind = "errors"
text = "x"
"""


def status(state: Path | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    environ.update(PYTHONPATH=str(ROOT), **(env or {}))
    where = ["--state-dir", str(state)] if state is not None else []
    return subprocess.run(
        [sys.executable, "-m", "tailer", "status", *where, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
    )


def status_until(state: Path, condition: Any, *args: str, what: str) -> subprocess.CompletedProcess[str]:
    """`status` again until its answer meets `condition` (the daemon writes its status every 2 s)."""
    found: list[subprocess.CompletedProcess[str]] = []

    def answered() -> bool:
        found[:] = [status(state, *args)]
        return bool(condition(found[0]))

    try:
        wait_until(answered, 20.0, what)
    except AssertionError:
        raise AssertionError(f"{what}; the last answer:\n{found[0].stdout}{found[0].stderr}") from None
    return found[0]


def rows(out: str) -> dict[str, list[str]]:
    """The report's rows by label (a label's continuation lines go with it)."""
    got: dict[str, list[str]] = {}
    label = ""
    for line in out.splitlines()[1:]:
        label = line[:10].strip() or label
        got.setdefault(label, []).append(line[12:])
    return got


def test_status_follows_a_running_daemon_without_stopping_it(daemon: Daemon, rx: Receiver) -> None:
    log = daemon.logs / "error.log"
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    assert daemon.proc is not None
    pid = daemon.proc.pid

    # running, read, delivered: OK
    # (the status file is written every 2 s: the entry read may show there after its delivery shows in the outbox)
    done = status_until(
        daemon.state, lambda d: "1 sent" in d.stdout and "(to line 1)" in d.stdout, what="the entry read and sent"
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == "OK: kong-tailer is running"
    got = rows(done.stdout)
    assert got["daemon"][0].startswith(f"running, pid {pid}, kong-tailer ")
    assert re.fullmatch(rf"{log}: \d+ bytes read \(to line 1\), 0 bytes behind; last read .* ago\)", got["files"][0])
    assert re.fullmatch(
        r"2025-01-15 10:0\d:\d\d UTC \(the latest line's, moving on while the logs are quiet\)", got["log time"][0]
    )
    assert got["outbox"] == ["slack: 0 to send, 1 sent, 0 dead"]
    assert got["dead"] == ["none"]
    assert got["silences"] == ["none in force"]
    assert got["reload"] == ["none since the start"]
    assert got["problems"] == ["none"]

    # Slack refuses a message: a dead letter is a warning
    rx.default = Reply(400, "invalid_payload")
    daemon.write(entry(2))
    done = status_until(daemon.state, lambda d: d.returncode == 1, what="a warning")
    assert done.stdout.splitlines()[0] == "WARNING: 1 dead letter(s) queued in the last 24 h (slack)"
    got = rows(done.stdout)
    assert got["outbox"] == ["slack: 0 to send, 1 sent, 1 dead"]
    assert re.fullmatch(r"[0-9a-f]{12} slack, queued .* UTC, 1 attempt\(s\): 400 invalid_payload", got["dead"][0])
    rx.default = Reply()

    # a silence in force, added beside the running daemon
    added = subprocess.run(
        [sys.executable, "-m", "tailer", "silence", "add", "--state-dir", str(daemon.state), "--rules"]
        + [str(daemon.rules), "--rule", "marked", "--for", "2h", "--comment", "maintenance"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    got = rows(status(daemon.state).stdout)
    assert re.fullmatch(
        r"1 until .* UTC \(1[12]\d min left\): rule marked \(maintenance\); held back 0 alert\(s\)", got["silences"][0]
    )

    # a reload refused, then one done
    (daemon.rules / "zz-bad.toml").write_text(BAD_RULE)
    daemon.proc.send_signal(signal.SIGHUP)
    done = status_until(daemon.state, lambda d: "refused" in d.stdout, what="the refused reload")
    assert done.returncode == 1
    reason = f"the last reload was refused: {daemon.rules / 'zz-bad.toml'}:4: rule 'broken': kind"
    assert reason in done.stdout.splitlines()[0]
    assert re.fullmatch(
        r".* UTC: refused: .*zz-bad\.toml:4: .* \(0 done, 1 refused since the start\)", rows(done.stdout)["reload"][0]
    )
    (daemon.rules / "zz-bad.toml").unlink()
    daemon.proc.send_signal(signal.SIGHUP)
    done = status_until(daemon.state, lambda d: "1 done" in d.stdout, what="the reload done")
    assert re.fullmatch(r".* UTC: done \(1 done, 1 refused since the start\)", rows(done.stdout)["reload"][0])
    assert "reload" not in done.stdout.splitlines()[0]

    # all of it as JSON
    done = status(daemon.state, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["state"], report["code"], report["running"], report["pid"]) == ("WARNING", 1, True, pid)
    assert report["daemon"]["phase"] == "running"
    assert report["daemon"]["files"][0]["source"] == str(log)
    assert report["daemon"]["files"][0]["reading"][0]["line"] == 2
    assert report["daemon"]["last_reload"]["result"] == "done"
    assert report["outbox"] == {"slack": {"pending": 0, "sending": 0, "sent": 1, "dead": 1}}
    assert report["dead_letters"][0]["error"] == "400 invalid_payload"
    assert [(s["rule"], s["comment"]) for s in report["silences"]] == [("marked", "maintenance")]

    # a reader that stops going round: its status goes stale (critical), and comes back
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        done = status_until(daemon.state, lambda d: d.returncode == 2, "--stale-after", "3s", what="a stale status")
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    assert re.match(
        rf"CRITICAL: kong-tailer \(pid {pid}\) has not written its status for \d+ s: its reader is stuck", done.stdout
    )
    done = status_until(daemon.state, lambda d: d.returncode == 1, "--stale-after", "3s", what="a fresh status")

    # stopped
    assert daemon.stop() == 0
    done = status(daemon.state)
    assert done.returncode == 2
    assert re.match(r"CRITICAL: kong-tailer is not running \(it stopped .* UTC \(\d+ s ago\)\)", done.stdout)
    assert rows(done.stdout)["daemon"][0].startswith("not running; what follows is its last status, written ")
    assert rows(done.stdout)["outbox"] == ["slack: 0 to send, 1 sent, 1 dead"]


def test_a_killed_daemon_is_critical_and_its_pid_reused_is_not_taken_for_it(daemon: Daemon) -> None:
    daemon.start()
    status_until(daemon.state, lambda d: d.returncode == 0, what="OK")
    assert daemon.proc is not None
    pid = daemon.proc.pid
    daemon.kill()
    done = status(daemon.state)
    assert done.returncode == 2
    assert done.stdout.startswith(f"CRITICAL: kong-tailer is not running (pid {pid} last wrote its status 20"), (
        done.stdout
    )
    assert "and did not stop: killed, or crashed)" in done.stdout.splitlines()[0]
    # the lock file names a live process that holds no lock: not a daemon
    (daemon.state / "lock").write_text(f"{os.getpid()}\n")
    done = status(daemon.state)
    assert done.returncode == 2 and "CRITICAL: kong-tailer is not running" in done.stdout


def test_no_state_directory_is_unknown(tmp_path: Path) -> None:
    done = status(tmp_path / "nowhere")
    assert done.returncode == 3
    assert (
        done.stdout
        == f"UNKNOWN: no state directory {tmp_path / 'nowhere'} (give --state-dir, or set $STATE_DIRECTORY)\n"
    )
    (tmp_path / "empty").mkdir()
    done = status(None, "--json", env={"STATE_DIRECTORY": str(tmp_path / "empty")})
    assert done.returncode == 3
    report = json.loads(done.stdout)
    assert report["state"] == "UNKNOWN" and report["state_dir"] == str(tmp_path / "empty")
    assert report["reasons"] == [
        f"{tmp_path / 'empty'}: no state database here (has `kong-tailer run` used this --state-dir?)"
    ]


def test_a_starting_daemon_is_a_warning(tmp_path: Path) -> None:
    with Receiver() as rx:
        d = Daemon(tmp_path, rx.url, env={"KONG_TAILER_FAULT": "hang_in_reconcile"})
        try:
            d.start(wait=False)
            done = status_until(d.state, lambda p: p.returncode == 1, what="starting")
            assert done.stdout.startswith(f"WARNING: kong-tailer (pid {d.proc.pid if d.proc else 0}) is starting")
        finally:
            d.close()
