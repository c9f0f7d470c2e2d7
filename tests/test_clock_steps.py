"""The wall clock jumps (issue 13, point 4): `kong-tailer run` as a real process under libfaketime, its wall clock
an hour off the true one from the start or stepped an hour while it runs, its monotonic clock left alone (as a
real step leaves it), the log lines stamped with the true time. Rule time is log time, and a quiet log's time
moves on by the monotonic clock; waits and the retry budget run on the monotonic clock: none of them notices.

Every wait is a poll with a deadline; the short rule windows and retry settings keep each test to seconds.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tailer.pipeline import QuietClock
from tests.daemon import RULES, T0, Daemon, FakeClock, delivered, entry, wait_until
from tests.receiver import Receiver, Reply

HOUR = 3600.0
DEADLINE = 15.0  # seconds: generous for a loaded machine, short enough for a failure to show soon

THRESHOLD = (
    RULES
    + """
[[rule]]
name = "burst"
kind = "error"
when = 'message =~ "BURST"'
threshold = { count = 3, within = "1m" }
notify = ["slack"]
title = "burst"
text = "threshold reached: {{ count }} bursts"

[[rule]]
name = "probe"
kind = "error"
when = 'message =~ "PROBE"'
group_window = "1s"
notify = ["slack"]
title = "probe"
text = "probe went out"
"""
)

GROUPED = (
    RULES
    + """
[[rule]]
name = "grouped"
kind = "error"
when = 'message =~ "GROUPED"'
group_window = "3s"
notify = ["slack"]
title = "grouped"
text = "{{ message }}"
"""
)

SHORT_BUDGET = RULES.replace("timeout = 2\n", 'timeout = 2\nretry_for = "30s"\n')


def line(text: str) -> str:
    """An error-log entry stamped with the true time: only the daemon's clock is off."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    return f'{stamp} [error] 1234#0: *1 {text}, client: 10.0.0.1, server: kong, request: "GET / HTTP/1.1"\n'


def saying(rx: Receiver, text: str) -> int:
    """The requests whose body holds `text`."""
    return sum(text in r.body.decode() for r in rx.requests)


def states(d: Daemon) -> list[str]:
    """The outbox rows' states, oldest first."""
    db = sqlite3.connect(f"file:{d.state / 'state.db'}?mode=ro", uri=True, timeout=30)
    try:
        return [state for (state,) in db.execute("SELECT state FROM outbox ORDER BY id")]
    finally:
        db.close()


@pytest.fixture
def clock(tmp_path: Path) -> FakeClock:
    return FakeClock(tmp_path / "faketime")


def on_clock(root: Path, rx: Receiver, clock: FakeClock, rules: str = RULES) -> Daemon:
    """The daemon on `clock`. Its stall self-check is the default's (5 min): it compares file times only with
    themselves (the kernel writes them with the true time), so an hour's difference raises no false one."""
    return Daemon(root, rx.url, rules=rules, faketime=clock)


def test_a_quiet_logs_time_moves_on_from_the_latest_log_time_by_the_monotonic_clock() -> None:
    quiet = QuietClock()
    assert quiet.at(100.0) is None  # no log time known (a first start, nothing read yet): it stays put
    quiet.saw(T0, 100.0)  # a line read, or a restart's saved log time
    assert quiet.at(103.5) == T0 + 3.5
    quiet.saw(T0 + 1, 104.0)  # a line behind the count (written before it was read) changes nothing
    assert quiet.at(105.0) == T0 + 5
    quiet.saw(T0 + 10, 106.0)  # one ahead of it says what time it is
    assert quiet.at(107.0) == T0 + 11


def test_a_clock_an_hour_ahead_from_the_start_alerts_a_threshold_once(
    tmp_path: Path, rx: Receiver, clock: FakeClock
) -> None:
    clock.set(HOUR)
    d = on_clock(tmp_path, rx, clock, THRESHOLD)
    try:
        d.start()
        d.write("".join(line(f"BURST {n} upstream flapping") for n in (1, 2, 3)) + line("PROBE a quiet spell"))
        wait_until(lambda: saying(rx, "threshold reached: 3"), DEADLINE, "the threshold alert")
        # The probe's 1 s group goes out with no further line: the quiet log's time has moved on (by the wall
        # clock, it would have moved an hour on, past the threshold's 1 min window, and resolved it).
        wait_until(lambda: saying(rx, "probe went out"), DEADLINE, "the probe's group")
        d.write("".join(line(f"BURST {n} upstream flapping") for n in (4, 5, 6)) + line("ALERT 1 upstream went away"))
        wait_until(lambda: delivered(rx)["1"], DEADLINE, "the alert written after the bursts")
        assert saying(rx, "threshold reached") == 1, "6 bursts within a minute: one alert, the key still firing"
        assert d.stop() == 0
    finally:
        d.close()


def test_a_clock_an_hour_behind_from_the_start_sends_a_group_after_its_window(
    tmp_path: Path, rx: Receiver, clock: FakeClock
) -> None:
    clock.set(-HOUR)
    d = on_clock(tmp_path, rx, clock, GROUPED)
    try:
        d.start()
        written = time.monotonic()
        d.write(line("GROUPED one upstream went away") + line("GROUPED two upstream went away"))
        [message] = wait_until(lambda: rx.requests, DEADLINE, "the group, with no further line")
        body = message.body.decode()
        assert "GROUPED one" in body and "GROUPED two" in body
        # The group opened at the lines' second (up to 1 s before they were written) and stays open 3 s of log time
        assert 2.0 <= message.time - written < 8.0
        assert d.stop() == 0
        assert len(rx.requests) == 1
        assert "self-check" not in d.log_text()  # no file taken for stalled by its time against our clock
    finally:
        d.close()


def test_a_clock_stepped_back_an_hour_during_a_retry_after_delays_nothing(
    tmp_path: Path, rx: Receiver, clock: FakeClock
) -> None:
    rx.reply(Reply(429, "rate_limited", {"Retry-After": "3"}))
    d = on_clock(tmp_path, rx, clock)
    try:
        d.start()
        d.write(entry(1))
        d.wait_for_log("retry in 3.0 s: 429", DEADLINE)  # the wait is written down: now the clock steps
        clock.set(-HOUR)
        first, second = wait_until(lambda: rx.requests[:2] if len(rx.requests) >= 2 else None, DEADLINE, "a retry")
        assert 3.0 <= second.time - first.time < 8.0  # after Retry-After, not an hour later
        wait_until(lambda: states(d) == ["sent"], DEADLINE, "the message sent")
        assert delivered(rx) == {"1": 2}
        assert d.stop() == 0
    finally:
        d.close()


def test_a_clock_stepped_an_hour_ahead_during_retries_gives_nothing_up(
    tmp_path: Path, rx: Receiver, clock: FakeClock
) -> None:
    rx.default = Reply(500, "rollup_error")
    d = on_clock(tmp_path, rx, clock, SHORT_BUDGET)
    try:
        d.start()
        d.write(entry(1))
        wait_until(lambda: len(rx.requests) >= 2, DEADLINE, "a retry")  # the retry budget (30 s) has started
        clock.set(HOUR)
        failed = len(rx.requests)
        wait_until(lambda: len(rx.requests) > failed, DEADLINE, "an attempt failing after the step")
        rx.default = Reply()
        wait_until(lambda: states(d) == ["sent"], DEADLINE, "the message sent once the receiver is back")
        assert "gave up" not in d.log_text() and "dead letter" not in d.log_text()
        assert d.stop() == 0
    finally:
        d.close()


def test_stopped_with_the_clock_an_hour_ahead_and_rotated_twice_meanwhile_reads_every_rotated_file(
    tmp_path: Path, rx: Receiver, clock: FakeClock
) -> None:
    """The last save was made with the clock an hour ahead; the log is rotated twice while the daemon is down,
    and it is started again on the true time: both rotated files are read (which files are new is told by
    their bytes, not by their times against the saved time)."""
    clock.set(HOUR)
    d = on_clock(tmp_path, rx, clock)
    try:
        d.write(entry(1))
        d.start()
        wait_until(lambda: delivered(rx) == {"1": 1}, DEADLINE, "alert 1")
        assert d.stop() == 0
        d.write(entry(2))
        (d.logs / "error.log").rename(d.logs / "error.log.1")
        d.write(entry(3))
        (d.logs / "error.log.1").rename(d.logs / "error.log.2")
        (d.logs / "error.log").rename(d.logs / "error.log.1")
        d.write(entry(4))
        clock.set(0)
        d.start()
        wait_until(lambda: delivered(rx) == {str(n): 1 for n in (1, 2, 3, 4)}, DEADLINE, "alerts 2, 3 and 4, once")
        assert "was not read" not in d.log_text()
        assert d.stop() == 0
    finally:
        d.close()
