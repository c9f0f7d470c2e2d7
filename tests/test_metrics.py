"""The Prometheus endpoint (`--metrics`, `metrics =`) and the self-checks (stalled, failing) against
`kong-tailer run` as a real process: real files, a real receiver standing in for Slack, real HTTP scrapes of
/metrics read with prometheus-client's own parser. Every wait is a poll with a deadline; the few
`time.sleep` calls pace a writer, none waits for the daemon.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

from prometheus_client.parser import text_string_to_metric_families

import tests.daemon
from tailer import selfcheck
from tests.daemon import ROOT, RULES, Daemon, delivered, entry, marks, wait_until
from tests.receiver import Received, Receiver, Reply

DEADLINE = 30.0  # seconds any one wait may take (CI under load)
NOBODY = 65534

# RULES, and a rule whose `snooze` drops every match after the first (alerts_suppressed{reason="snooze"})
SNOOZE_RULES = (
    RULES
    + """
[[rule]]
name = "snoozed"
kind = "error"
when = 'message =~ "SNOOZE"'
snooze = "1h"
notify = ["slack"]
title = "snoozed"
text = "{{ message }}"
"""
)


# -- helpers


Labels = tuple[tuple[str, str], ...]


class Scrape:
    """One scrape of /metrics: every sample by its name (`..._total` for counters) and sorted labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, dict[Labels, float]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value

    def series(self, name: str) -> dict[Labels, float]:
        """Every sample of `kong_tailer_<name>` (or of `name` itself, for process_*)."""
        return self.samples.get(name if name.startswith("process_") else "kong_tailer_" + name, {})

    def by(self, name: str, label: str) -> dict[str, float]:
        """The samples of a one-label metric, by that label's value."""
        out = {}
        for labels, value in self.series(name).items():
            assert [k for k, _ in labels] == [label], (name, labels)
            out[labels[0][1]] = value
        return out

    def get(self, name: str, **labels: str) -> float | None:
        return self.series(name).get(tuple(sorted(labels.items())))


def free_port() -> int:
    """A port on 127.0.0.1 free a moment ago (the daemon does not report the port it got for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return Scrape(response.read().decode())


def scrape_until(port: int, condition: Callable[[Scrape], Any], what: str, timeout: float = DEADLINE) -> Scrape:
    """Scrape until `condition(scrape)` holds (the numbers are published once a second); that scrape."""
    last: list[Scrape] = []

    def check() -> Scrape | None:
        try:
            got = scrape(port)
        except (urllib.error.URLError, ConnectionError):
            return None
        last[:] = [got]
        return got if condition(got) else None

    try:
        return wait_until(check, timeout, what)
    except AssertionError:
        shown = "\n".join(line for line in (last[0].text if last else "").splitlines() if "kong_tailer_" in line)
        raise AssertionError(f"timed out waiting for {what}; last scrape:\n{shown}") from None


def metered(root: Path, url: str, port: int, *args: str, rules: str = RULES) -> Daemon:
    """The harness's daemon (tests/daemon.py), with the endpoint on 127.0.0.1:`port`."""
    return Daemon(root, url, rules=rules, args=("--metrics", f"127.0.0.1:{port}", *args))


def run_args(tmp_path: Path) -> list[str]:
    """`run` with rules, a log and a state directory under `tmp_path` (for runs that stop at the start)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(RULES)
    log, state = tmp_path / "error.log", tmp_path / "state"
    return ["run", "--rules", str(tmp_path / "rules"), "--log", str(log), "--state-dir", str(state)]


def listening_ports(pid: int) -> set[int]:
    """The TCP ports the process listens on: its socket descriptors' inodes, in its namespace's socket tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def notices(requests: list[Received]) -> list[dict[str, Any]]:
    """The Slack messages kong-tailer wrote about itself (rule `kong-tailer`: "kong-tailer on <host>: ...")."""
    out = []
    for request in requests:
        payload = request.json()
        if payload["blocks"][0]["text"]["text"].startswith("kong-tailer on gw: "):
            out.append(payload)
    return out


def tailer(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tailer ARGS`, to its end."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tailer", *args], capture_output=True, text=True, env=env, timeout=60)


class Notifications:
    """The receiving end of NOTIFY_SOCKET (an abstract socket: any user may send to it), STATUS= lines kept."""

    def __init__(self) -> None:
        self.name = f"@kong-tailer-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.setblocking(False)
        self.got: list[str] = []

    def saw(self, text: str) -> bool:
        while True:
            try:
                self.got.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                break
        return any(text in m for m in self.got)

    def close(self) -> None:
        self.sock.close()


def last_status(notify: Notifications) -> str:
    notify.saw("")
    statuses = [m for m in notify.got if "STATUS=" in m]
    return statuses[-1] if statuses else ""


# Running a daemon that cannot read a file the test can write: as `nobody` when root and this Python is
# reachable by nobody; as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH when it is not (a Python
# installed under /root, whose mode is 0700); as ourselves, the file write-only, when not root.

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _drop_dac() -> None:
    """preexec_fn: out of the bounding set, so that root's exec gets neither capability."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@functools.cache
def confinement() -> tuple[str, dict[str, Any]]:
    """How to start a daemon that file permissions bind: (how, extra Popen arguments)."""
    if os.geteuid() != 0:
        return "self", {}
    as_nobody: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": [], "cwd": "/"}
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import tailer.daemon, prometheus_client"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            timeout=60,
            **as_nobody,
        )
    except PermissionError:  # nobody cannot even run this Python
        pass
    else:
        if probe.returncode == 0:
            return "nobody", as_nobody
    return "root without CAP_DAC_OVERRIDE", {"preexec_fn": _drop_dac}


def make_unreadable(path: Path, how: str) -> None:
    """Create `path` empty, in a way the confined daemon cannot read and the test can still append to: 0600
    and root's for nobody; 0600 and nobody's for root without DAC override; for ourselves, write-only (0200:
    with 000 we could not write it either)."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    if how == "self":
        path.chmod(0o200)
    elif how != "nobody":
        os.chown(path, NOBODY, NOBODY)


def cap_eff(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff")


class Confined(Daemon):
    """The harness's daemon, started with extra Popen arguments (another user, fewer capabilities)."""

    def __init__(self, root: Path, url: str, popen: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(root, url, **kwargs)
        self.popen = popen

    def start(self, *, wait: bool = True, env: dict[str, str] | None = None) -> None:
        popen = functools.partial(subprocess.Popen, **self.popen)
        with mock.patch.object(tests.daemon, "subprocess", SimpleNamespace(Popen=popen)):
            super().start(wait=False, env=env)
        if wait:
            self.wait_for_log("following")


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh directory anyone may use (pytest's tmp_path has 0700 parents), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="kong-tailer-metrics-"))
    try:
        path.chmod(0o777)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- 1. the self-checks' decisions (pure)


def test_stalled_only_past_the_threshold() -> None:
    after = 2.0
    assert selfcheck.stalled({"/l/a.log": 1.999}, after) == []
    assert selfcheck.stalled({"/l/a.log": 2.0}, after) == []  # exactly at it: not yet
    assert selfcheck.stalled({"/l/a.log": 0.0}, after) == []  # read since its last write
    (p,) = selfcheck.stalled({"/l/a.log": 2.001, "/l/b.log": 1}, after)
    assert (p.check, p.subject) == ("stalled", "/l/a.log")
    assert p.text.startswith("/l/a.log is being written") and "permissions after rotation" in p.text
    both = selfcheck.stalled({"/l/b.log": 9, "/l/a.log": 9}, after)
    assert [p.subject for p in both] == ["/l/a.log", "/l/b.log"]  # sorted


def test_failing_only_past_the_threshold() -> None:
    since = {"slack": 1_000.0, "pager": None}  # pager delivers
    assert selfcheck.failing(since, 1_001.999, 2.0) == []
    assert selfcheck.failing(since, 1_002.0, 2.0) == []
    (p,) = selfcheck.failing(since, 1_002.001, 2.0)
    assert (p.check, p.subject) == ("failing", "slack")
    assert "notifier 'slack' has not delivered for 2 s" in p.text and "kong-tailer outbox list" in p.text
    assert selfcheck.failing({"pager": None}, 1e12, 2.0) == []


def test_checks_say_a_start_and_an_end_once_each() -> None:
    checks = selfcheck.Checks()
    a = selfcheck.Problem("stalled", "/l/a.log", "first text")
    a_later = selfcheck.Problem("stalled", "/l/a.log", "the same problem, a later text")
    b = selfcheck.Problem("failing", "slack", "b")
    assert checks.update([a]) == ([a], [])
    assert checks.update([a_later]) == ([], [])  # still open: not raised again
    assert checks.update([a_later, b]) == ([b], [])
    assert checks.update([b]) == ([], [a_later])  # ended once...
    assert checks.update([b]) == ([], [])  # ...and only once
    assert checks.update([]) == ([], [b])
    assert checks.update([]) == ([], [])
    assert checks.update([a]) == ([a], [])  # back again: a new start
    assert set(checks.open) == {("stalled", "/l/a.log")}


# -- 2. on, off, and refused


def test_metrics_are_off_by_default(daemon: Daemon) -> None:
    daemon.write(entry(1))
    daemon.start()
    assert daemon.proc is not None
    assert listening_ports(daemon.proc.pid) == set()
    assert "metrics on" not in daemon.log_text()
    assert daemon.stop() == 0


def test_a_bad_metrics_value_exits_2_saying_what_is_expected(tmp_path: Path) -> None:
    run = run_args(tmp_path)
    for value in ("nope", "127.0.0.1:0", "65536", "localhost:http"):
        proc = tailer(*run, "--metrics", value)
        assert proc.returncode == 2, (value, proc.stderr)
        assert proc.stderr == (
            f"kong-tailer: error: --metrics: {value!r}: expected [HOST:]PORT, such as 127.0.0.1:9464\n"
        ), proc.stderr
    config = tmp_path / "config.toml"
    config.write_text('metrics = "nope"\n')
    proc = tailer(*run, "--config", str(config))
    assert proc.returncode == 2 and f"{config}:1: metrics: 'nope': expected [HOST:]PORT" in proc.stderr, proc.stderr


def test_a_port_in_use_exits_2_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = tailer(*run_args(tmp_path), "--metrics", f"127.0.0.1:{port}")
    assert proc.returncode == 2, proc.stderr
    said = f"kong-tailer: error: metrics: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert proc.stderr.splitlines()[-1] == said, proc.stderr  # (after the warning that no webhook URL is set)
    assert "Traceback" not in proc.stderr


# -- 3. what was read, matched, alerted and sent, exactly


def test_counts_after_known_lines_are_exact(tmp_path: Path, rx: Receiver) -> None:
    port = free_port()
    d = metered(tmp_path, rx.url, port, rules=SNOOZE_RULES)
    src = str(d.logs / "error.log")
    text = (
        entry(1)  # an alert
        + entry(2, "nothing to see", level="warn")  # an event no rule wants
        + "this is not a log line at all\n"  # a parse error
        + entry(3)
        + entry(4, "chatty", level="info")  # below warn: read, not an event
        + entry(5)
        + entry(6, "SNOOZE one")  # the snoozed rule: alerts
        + entry(7, "SNOOZE two")  # ...and drops this one
    )
    try:
        d.write("")
        d.start()
        assert d.proc is not None
        assert listening_ports(d.proc.pid) == {port}
        first = scrape_until(port, lambda s: s.get("seconds_since_last_read", file=src) is not None, "the file")
        # before any line: the rules and the notifier are there at 0, the file is followed, nothing behind
        assert first.by("alerts_total", "rule") == {"marked": 0, "snoozed": 0}
        assert first.by("rule_matched_events_total", "rule") == {"marked": 0, "snoozed": 0}
        assert first.by("messages_sent_total", "notifier") == {"slack": 0}
        assert first.by("bytes_behind", "file") == {src: 0}
        assert first.series("alerts_suppressed_total") == first.series("problem") == {}
        d.write(text)
        s = scrape_until(
            port,
            lambda s: (
                s.get("lines_read_total", file=src) == 8
                and s.get("messages_sent_total", notifier="slack") == 4
                and s.get("outbox_messages", notifier="slack", state="sent") == 4
            ),
            "8 lines read, 4 messages sent",
        )
        assert delivered(rx) == {"1": 1, "3": 1, "5": 1}
        assert s.by("lines_read_total", "file") == {src: 8}
        assert s.by("bytes_read_total", "file") == {src: len(text.encode())}
        assert s.series("events_total") == {
            (("file", src), ("kind", "error")): 6,
            (("file", src), ("kind", "parse_error")): 1,
        }
        assert s.by("parse_errors_total", "file") == {src: 1}
        assert s.by("rule_matched_events_total", "rule") == {"marked": 3, "snoozed": 2}
        assert s.by("alerts_total", "rule") == {"marked": 3, "snoozed": 1}
        assert s.series("alerts_suppressed_total") == {(("reason", "snooze"), ("rule", "snoozed")): 1}
        for name, value in (
            ("messages_sent_total", 4),
            ("messages_dead_total", 0),
            ("deliveries_retried_total", 0),
            ("deliveries_rate_limited_total", 0),
        ):
            assert s.by(name, "notifier") == {"slack": value}, name
        assert s.series("outbox_messages") == {
            (("notifier", "slack"), ("state", st)): n
            for st, n in (("pending", 0), ("sending", 0), ("sent", 4), ("dead", 0))
        }
        assert s.series("problem") == {}
        assert s.by("reloads_total", "result") == {"done": 0, "refused": 0}
        assert s.series("process_resident_memory_bytes")[()] > 0
        assert s.series("process_cpu_seconds_total")[()] >= 0
        # caught up: nothing behind
        s = scrape_until(port, lambda s: s.get("bytes_behind", file=src) == 0, "bytes_behind 0")
        assert s.by("bytes_behind", "file") == {src: 0}
        # nothing written: the time since the last read grows, and a write brings it back
        since = s.by("seconds_since_last_read", "file")[src]
        grown = scrape_until(
            port, lambda s: s.by("seconds_since_last_read", "file")[src] >= since + 1.5, "the idle time to grow"
        )
        assert grown.by("lines_read_total", "file") == {src: 8}  # nothing more was read meanwhile
        idle = grown.by("seconds_since_last_read", "file")[src]
        d.write(entry(8))
        s = scrape_until(port, lambda s: s.get("lines_read_total", file=src) == 9, "line 9")
        assert s.by("seconds_since_last_read", "file")[src] < idle
        s = scrape_until(port, lambda s: s.get("messages_sent_total", notifier="slack") == 5, "ALERT 8 sent")
        assert s.by("alerts_total", "rule") == {"marked": 4, "snoozed": 1}
        assert s.series("events_total")[(("file", src), ("kind", "error"))] == 7
        assert d.stop() == 0
    finally:
        d.close()
    assert delivered(rx) == {"1": 1, "3": 1, "5": 1, "8": 1}


# -- 4. 429


def test_a_429_is_counted_and_the_message_still_sent(tmp_path: Path) -> None:
    port = free_port()
    with Receiver([Reply(429, "rate_limited", {"Retry-After": "1"})]) as rx:
        d = metered(tmp_path, rx.url, port)
        try:
            d.start()
            d.write(entry(1))
            s = scrape_until(
                port, lambda s: s.get("messages_sent_total", notifier="slack") == 1, "ALERT 1 sent after the 429"
            )
            assert s.by("deliveries_rate_limited_total", "notifier") == {"slack": 1}
            assert s.by("deliveries_retried_total", "notifier") == {"slack": 1}  # the 429 was an attempt to retry
            assert s.by("messages_dead_total", "notifier") == {"slack": 0}
            assert s.get("outbox_messages", notifier="slack", state="sent") == 1
            assert s.get("outbox_messages", notifier="slack", state="pending") == 0
            assert s.series("problem") == {}
            assert d.stop() == 0
        finally:
            d.close()
    assert delivered(rx) == {"1": 2} and len(rx.requests) == 2
    assert rx.requests[1].time - rx.requests[0].time >= 0.95  # Retry-After: 1 was honoured


# -- 5. a notifier failing, then healed


def test_a_failing_notifier_is_a_problem_until_it_delivers_again(tmp_path: Path) -> None:
    port = free_port()
    with Receiver(default=Reply(500, "internal_error")) as rx:
        d = metered(tmp_path, rx.url, port, "--failing-after", "2s")
        try:
            d.start()
            d.write(entry(1))
            d.wait_for_log("kong-tailer: error: self-check: notifier 'slack' has not delivered for", DEADLINE)
            s = scrape_until(port, lambda s: s.get("problem", check="failing", subject="slack") == 1, "the problem")
            assert s.series("problem") == {(("check", "failing"), ("subject", "slack")): 1}
            assert s.by("messages_sent_total", "notifier") == {"slack": 0}
            assert s.by("deliveries_retried_total", "notifier")["slack"] >= 2
            assert s.get("outbox_messages", notifier="slack", state="dead") == 0
            assert d.log_text().count("self-check:") == 1  # said once, not at every check
            # the only notifier is the failing one: it is not told about itself
            failing = rx.requests
            assert all(set(marks(r.json())) == {"1"} for r in failing), [r.body for r in failing]
            rx.default = Reply()  # Slack is back
            d.wait_for_log("kong-tailer: warning: resolved: failing slack", DEADLINE)
            s = scrape_until(port, lambda s: s.series("problem") == {}, "the problem gone")
            assert s.get("messages_sent_total", notifier="slack") == 1
            # The Resolved notice goes to every notifier but the subject (daemon._self_check), the same as the
            # problem's: with slack alone, none is queued. ALERT 2 queued after it would come after such a notice.
            d.write(entry(2))
            wait_until(lambda: delivered(rx).get("2") == 1, DEADLINE, "ALERT 2")
            s = scrape_until(port, lambda s: s.get("messages_sent_total", notifier="slack") == 2, "ALERT 2 counted")
            assert s.series("outbox_messages")[(("notifier", "slack"), ("state", "sent"))] == 2
            assert sum(s.series("outbox_messages").values()) == 2  # nothing else was ever queued
            assert d.stop() == 0
        finally:
            d.close()
    assert notices(rx.requests) == []
    assert d.log_text().count("self-check:") == 1 and d.log_text().count("resolved:") == 1


# -- 6. a file written that the daemon cannot read


def test_a_file_it_cannot_read_after_rotation_is_stalled_then_resolved(rx: Receiver) -> None:
    how, popen = confinement()
    port = free_port()
    notify = Notifications()
    with shared_dir() as root:
        d = Confined(
            root,
            rx.url,
            popen,
            args=("--metrics", f"127.0.0.1:{port}", "--stall-after", "2s"),
            env={"NOTIFY_SOCKET": notify.name},
        )
        src = str(d.logs / "error.log")
        log = d.logs / "error.log"
        try:
            d.write(entry(1))
            d.start()
            assert d.proc is not None
            if how != "self":
                assert cap_eff(d.proc.pid) & (1 << CAP_DAC_OVERRIDE | 1 << CAP_DAC_READ_SEARCH) == 0, how
            wait_until(lambda: delivered(rx) == {"1": 1}, DEADLINE, "ALERT 1")
            os.rename(log, d.logs / "error.log.1")
            make_unreadable(log, how)
            n = 100
            deadline = time.monotonic() + DEADLINE
            while "self-check:" not in d.log_text():  # Kong goes on writing into the new file
                assert time.monotonic() < deadline, f"no stalled self-check ({how}):\n{d.log_text()}"
                assert d.proc.poll() is None, d.log_text()
                with open(log, "a") as f:
                    f.write(entry(n))
                n += 1
                time.sleep(0.2)  # the writer's pace
            text = d.log_text()
            assert f"kong-tailer: error: self-check: {src} is being written (for " in text, text
            assert f"cannot read {src} (EACCES: Permission denied)" in text, text
            s = scrape_until(port, lambda s: s.get("problem", check="stalled", subject=src) == 1, "the stalled gauge")
            assert s.series("problem") == {(("check", "stalled"), ("subject", src)): 1}
            wait_until(lambda: notify.saw(f"problems: stalled {src}"), DEADLINE, "STATUS= with the problem")
            wait_until(lambda: notices(rx.requests), DEADLINE, "the notice")
            (notice,) = notices(rx.requests)
            assert notice["blocks"][0]["text"]["text"] == "kong-tailer on gw: problem"
            assert f"{src} is being written" in json.dumps(notice) and "permissions after rotation" in notice["text"]
            assert "kong-tailer" in json.dumps(notice["blocks"][-1])  # the built-in rule, as for any alert
            # the file made readable: read from its start, the problem resolved, and said
            log.chmod(0o644)
            written = {str(i) for i in range(100, n)}
            wait_until(lambda: written <= delivered(rx).keys(), DEADLINE, "the lines written while unreadable")
            d.wait_for_log(f"kong-tailer: warning: resolved: stalled {src}", DEADLINE)
            wait_until(lambda: len(notices(rx.requests)) == 2, DEADLINE, "the Resolved notice")
            resolved = notices(rx.requests)[1]
            assert resolved["blocks"][0]["text"]["text"] == "kong-tailer on gw: resolved"
            assert f"Resolved: stalled {src}" in resolved["text"]
            scrape_until(port, lambda s: s.series("problem") == {}, "the gauge cleared")
            wait_until(lambda: "problems:" not in last_status(notify), DEADLINE, "STATUS= without the problem")
            assert d.stop() == 0
            assert d.log_text().count("self-check:") == 1 and d.log_text().count("resolved:") == 1
        finally:
            d.close()
            notify.close()
    assert delivered(rx) == {k: 1 for k in ["1", *written]}  # nothing lost, nothing twice


# -- 7. counters through a reload


def test_counters_survive_reloads(tmp_path: Path, rx: Receiver) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'metrics = "127.0.0.1:{port}"\n')  # the endpoint from the configuration file
    d = Daemon(tmp_path, rx.url, args=("--config", str(config)))
    src = str(d.logs / "error.log")
    carried = (
        ("lines_read_total", "file"),
        ("bytes_read_total", "file"),
        ("parse_errors_total", "file"),
        ("messages_sent_total", "notifier"),
    )
    try:
        d.write(entry(1) + entry(2) + entry(3, "quiet", level="warn"))
        d.start()
        before = scrape_until(
            port,
            lambda s: s.get("lines_read_total", file=src) == 3 and s.get("messages_sent_total", notifier="slack") == 2,
            "3 lines read, ALERT 1 and 2 sent",
        )
        assert before.by("reloads_total", "result") == {"done": 0, "refused": 0}
        assert before.by("alerts_total", "rule") == {"marked": 2}
        # a reload that adds a rule: a new pipeline, the old one's counts carried over
        (d.rules / "test.toml").write_text(SNOOZE_RULES)
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for_log("reloaded: 2 rule(s)", DEADLINE)
        s = scrape_until(port, lambda s: s.get("reloads_total", result="done") == 1, "the reload counted")
        assert s.by("reloads_total", "result") == {"done": 1, "refused": 0}
        for name, label in carried:
            assert s.by(name, label) == before.by(name, label), name
        assert s.series("events_total") == before.series("events_total") == {(("file", src), ("kind", "error")): 3}
        assert s.by("alerts_total", "rule") == {"marked": 2, "snoozed": 0}
        assert s.by("rule_matched_events_total", "rule") == {"marked": 2, "snoozed": 0}
        d.write(entry(4) + entry(5, "SNOOZE"))
        s = scrape_until(port, lambda s: s.get("messages_sent_total", notifier="slack") == 4, "ALERT 4, SNOOZE sent")
        assert s.by("lines_read_total", "file") == {src: 5}
        assert s.by("alerts_total", "rule") == {"marked": 3, "snoozed": 1}
        assert s.series("events_total") == {(("file", src), ("kind", "error")): 5}
        # a refused reload: counted as such, nothing reset
        (d.rules / "test.toml").write_text(SNOOZE_RULES + "[[rule]]\nname = \n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for_log("reload refused", DEADLINE)
        s = scrape_until(port, lambda s: s.get("reloads_total", result="refused") == 1, "the refusal counted")
        assert s.by("reloads_total", "result") == {"done": 1, "refused": 1}
        assert s.by("alerts_total", "rule") == {"marked": 3, "snoozed": 1}
        assert s.by("lines_read_total", "file") == {src: 5}
        assert "changed from" not in d.log_text()  # the endpoint's address was read again, the same
        assert d.stop() == 0
    finally:
        d.close()
    assert delivered(rx) == {"1": 1, "2": 1, "4": 1}
