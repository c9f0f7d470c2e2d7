"""`kong-tailer run` as a real process: lines written to real files reach a real HTTP receiver once each,
through restarts, crashes at the dangerous points, and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.daemon import ROOT, Daemon, delivered, entry, wait_until
from tests.receiver import Receiver


def test_lines_become_alerts_once_across_a_restart(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(1) + entry(2, "nothing to see", level="warn"))
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1}, what="ALERT 1")
    daemon.write(entry(3))
    wait_until(lambda: delivered(rx) == {"1": 1, "3": 1}, what="ALERT 3")
    assert daemon.stop() == 0
    daemon.write(entry(4))  # written while stopped
    daemon.start()
    wait_until(lambda: delivered(rx) == {"1": 1, "3": 1, "4": 1}, what="ALERT 4")
    assert daemon.stop(signal.SIGINT) == 0
    assert delivered(rx) == {"1": 1, "3": 1, "4": 1}
    assert "secret" not in daemon.log_text()  # the webhook URL is never logged


@pytest.mark.parametrize("point", ["after_read", "after_commit", "after_post_before_mark"])
def test_a_crash_at_a_dangerous_point_loses_nothing(daemon: Daemon, rx: Receiver, point: str) -> None:
    daemon.write(entry(1))
    daemon.start(env={"KONG_TAILER_FAULT": point})
    assert daemon.wait_exit() == -signal.SIGKILL
    daemon.start()
    wait_until(lambda: delivered(rx).keys() == {"1"}, what="ALERT 1")
    daemon.write(entry(2))
    wait_until(lambda: "2" in delivered(rx), what="ALERT 2")
    assert daemon.stop() == 0
    seen = delivered(rx)
    if point == "after_post_before_mark":  # Slack had it; the row was not yet marked: sent again, and said so
        assert seen == {"1": 2, "2": 1}
        assert "may have been sent before a crash" in daemon.log_text()
    else:
        assert seen == {"1": 1, "2": 1}


def test_an_entry_a_rule_fails_on_is_reported_kept_and_passed_over(daemon: Daemon, rx: Receiver) -> None:
    daemon.write(entry(1, "ALERT 1 POISON") + entry(2))
    daemon.start(env={"KONG_TAILER_FAULT": "raise:POISON"})
    wait_until(lambda: delivered(rx) == {"2": 1}, what="ALERT 2")
    daemon.wait_for_log("error.log:1: rule 'marked' failed on this entry (RuntimeError: fault injected")
    listing = subprocess.run(
        [sys.executable, "-m", "tailer", "outbox", "list", "--state-dir", str(daemon.state)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    assert "(rule marked): 0 pending, 0 sending, 0 sent, 1 dead" in listing
    assert "RuntimeError: fault injected for this entry" in listing
    daemon.write(entry(3))
    wait_until(lambda: delivered(rx) == {"2": 1, "3": 1}, what="ALERT 3")
    assert daemon.stop() == 0
