"""Benchmark of `kong-tailer run` as a real process, posting to a real HTTP server on 127.0.0.1:

    python -m benchmarks.daemon [--rate 10000] [--seconds 20] [--rss-lines 10000000] [--backlog-mb 1024]
                                [--batch 1] [--idle 10] [--quick] [--profile DIR]

The daemon is started as tests/daemon.py starts it (its rule alerts on every error entry holding `ALERT <n>`,
through a Slack notifier whose budget, 1000/s with a burst of 1000, never holds a message back; no grouping),
on a debug-level error log made of the corpus benchmarks.parse generates (debug noise, an Event Hooks box
every ~200 lines, 0.5 % upstream errors with a request id), restamped with the current time as it is written,
each copy of it with request ids of its own. Measured:

  idle      CPU of the daemon over `--idle` s without writes, after start-up
  live      a writer appends at `--rate` lines/s for `--seconds` s, `--batch` lines per write() (1: as nginx
            writes each entry), what is due written every ~1 ms; one line in `--alert-every` (on average) is an
            `ALERT <n>` error entry whose write time (time.monotonic() right after its write()) is kept; the
            receiver keeps each POST's arrival time: line-to-POST latency (p50, p99, max) matched by n, split
            at the time the outbox row was queued (its created_at); the daemon's CPU over the writing window,
            per thread too
  idle      the same again once the writer has stopped: a daemon that has followed traffic must go quiet
  rss       `--rss-lines` lines appended in big blocks as fast as they can be written; VmRSS sampled every
            0.1 s until the daemon has read them all (an `ALERT` after the last block comes back as a POST),
            against the lines read (from the positions it commits): start, after the first 10 % (at most 1M),
            at 25/50/75/100 %, max; and the size of the rules' snapshot each commit rewrites
  live      again, with the rule state the rss phase left (skipped if the daemon is still reading)
  backlog   `--backlog-mb` MiB of debug log and one `ALERT` at its end; a fresh daemon started with
            `--start-at beginning`: time from its "following" log line to that alert's POST, in MB/s and
            lines/s, as a ratio to a bare `for line in f: pass` (binary) over the same file, run just before
            and just after it (the machine is noisy: the ratio is what to compare)

CPU is utime + stime of every thread of the daemon (/proc/PID/stat) over the window, as % of one core; the
load average is printed with each phase (other work on the machine makes every figure worse). A phase that
does not finish in time (250 s for 10M lines, 2 MB/s for the backlog) is reported with how far it got.
`--profile DIR` runs the daemons under cProfile (main thread only: the reader; the sender and watchdog's
threads are not seen) and prints their hot spots; CPU and latency figures are then inflated by the profiler.
`--quick`: a smoke run (2k lines/s for 3 s, 3 s idle, 200k lines, 20 MiB), well under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.parse import write_error_log
from tailer.state import DATABASE
from tests.daemon import RULES, marks
from tests.receiver import Receiver

ALERT_EVERY = 1000  # lines between two alerts of the live phases, on average (--alert-every)

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PLACEHOLDER = b"0000/00/00 00:00:00"  # where each line's timestamp goes, in the corpus
STAMP_RE = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", re.M)
REQUEST_ID_RE = re.compile(rb'request_id: "[0-9a-f]{8}')
COPY = b'request_id: "########'  # the first 8 digits of each request id: which copy of the corpus it is in
CORPUS_LINES = 50_000  # one block of the bulk writers (~6 MiB)

# The floors from the issue.
P99_MS = 50.0
CPU_LIVE = 5.0  # % of one core at 10k lines/s
CPU_IDLE = 0.5  # "~0 %"
RSS_MB = 50.0
FLAT_MB = 5.0  # max - RSS after the first lines: "flat"


# -- the log


def stamp(t: float | None = None) -> bytes:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(time.time() if t is None else t)).encode()


def alert_line(n: int, when: bytes) -> bytes:
    """The error entry tests/daemon.py's rule alerts on (as tests.daemon.entry writes it), stamped `when`."""
    return (
        when + b" [error] 1234#0: *%d ALERT %d upstream went away, client: 10.0.0.1, server: kong, "
        b'request: "GET / HTTP/1.1"\n' % (n, n)
    )


@dataclass
class Corpus:
    """50,000 lines of debug error log as benchmarks.parse makes it, written again and again: each copy with
    its timestamps and request ids of its own (the correlator remembers error entries by request id)."""

    block: bytes  # every line, each starting with PLACEHOLDER, each request id with COPY
    lines: int
    copies: int = 0

    @classmethod
    def make(cls, directory: Path, rng: random.Random) -> Corpus:
        path = directory / "corpus.log"
        write_error_log(path, CORPUS_LINES, rng)
        block = REQUEST_ID_RE.sub(COPY, STAMP_RE.sub(PLACEHOLDER, path.read_bytes()))
        path.unlink()
        return cls(block, block.count(b"\n"))

    def copy(self, when: bytes = PLACEHOLDER) -> bytes:
        """The next copy, stamped `when`."""
        self.copies += 1
        return self.block.replace(COPY, b'request_id: "%08x' % self.copies).replace(PLACEHOLDER, when)

    def bodies(self) -> list[bytes]:
        """The next copy as lines without their timestamp (each with its newline)."""
        return [line[len(PLACEHOLDER) :] + b"\n" for line in self.copy().split(b"\n")[:-1]]


def write_blocks(fd: int, corpus: Corpus, lines: int, t0: float | None = None) -> int:
    """About `lines` lines (whole corpus blocks), as fast as they can be written; stamped with the clock, or
    from `t0` on, one second of log time per block. The number of lines written."""
    written, i = 0, 0
    while written < lines:
        os.write(fd, corpus.copy(stamp(None if t0 is None else t0 + i)))
        written += corpus.lines
        i += 1
    return written


# -- the daemon


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of every thread of `pid` (or of its thread `tid`)."""
    with open(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of `pid` (the main thread's id is `pid`)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # the thread just ended
            out[int(tid)] = cpu_seconds(pid, int(tid))
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def state_query(state: Path, sql: str) -> int:
    """One number from the daemon's state database, read beside it (WAL: readers do not block it)."""
    db = sqlite3.connect(f"file:{state / DATABASE}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute(sql).fetchone()
    finally:
        db.close()
    return int(row[0] or 0) if row else 0


def snapshot_kb(state: Path) -> float:
    """The size of the rules' snapshot the daemon rewrites with every commit."""
    return state_query(state, "SELECT length(data) FROM snapshot") / 1024


def outbox_times(state: Path, after: int) -> dict[int, float]:
    """When each `ALERT <n>` (n > `after`) was queued: the wall-clock time the daemon took just before the
    commit that queued it (before the rules' snapshot is pickled and the transaction made)."""
    db = sqlite3.connect(f"file:{state / DATABASE}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT payload, created_at FROM outbox").fetchall()
    finally:
        db.close()
    out: dict[int, float] = {}
    for payload, created in rows:
        for n in marks(json.loads(payload)):
            if int(n) > after:
                out.setdefault(int(n), created)
    return out


def emitted(state: Path) -> int:
    """Bytes of log the daemon has read and committed (at most `commit_every`, 1 s, behind its reading)."""
    return state_query(state, "SELECT sum(emitted) FROM generation")


class Daemon:
    """`kong-tailer run` on one log, with its own state directory, posting to `url`."""

    def __init__(self, root: Path, log: Path, url: str, start_at: str, profile: Path | None) -> None:
        root.mkdir(parents=True)
        (root / "rules").mkdir()
        (root / "rules" / "bench.toml").write_text(RULES)
        self.stderr = root / "stderr"
        self.state = root / "state"
        environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "JOURNAL_STREAM")}
        environ.update(PYTHONPATH=str(ROOT), TEST_WEBHOOK_URL=url + "/services/T0/B0/secret")
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += ["-m", "tailer", "run", "--rules", str(root / "rules"), "--state-dir", str(self.state)]
        argv += ["--tz", "UTC", "--host", "gw", "--start-at", start_at, "--log", str(log)]
        with open(self.stderr, "wb") as err:
            self.spawned = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=environ)
        self.pid = self.proc.pid
        self.following = self._wait_log("following")
        self.cpu_following = cpu_seconds(self.pid)

    def log_text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def _wait_log(self, text: str, timeout: float = 30.0) -> float:
        """When `text` appeared in the daemon's log (polled every 5 ms)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            self.check()
            if time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not log {text!r} within {timeout} s:\n{self.log_text()}")
            time.sleep(0.005)
        return time.monotonic()

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"the daemon exited ({self.proc.returncode}):\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Arrivals:
    """When each `ALERT <n>` first arrived at the receiver."""

    def __init__(self, rx: Receiver) -> None:
        self.rx = rx
        self.seen = self.first = len(rx.requests)  # only the requests from now on
        self.at: dict[int, float] = {}

    @property
    def posts(self) -> int:
        return len(self.rx.requests) - self.first

    def update(self) -> dict[int, float]:
        requests = self.rx.requests
        for request in requests[self.seen :]:
            for n in marks(request.json()):
                self.at.setdefault(int(n), request.time)
        self.seen = len(requests)
        return self.at

    def wait(self, wanted: set[int], daemon: Daemon, timeout: float) -> set[int]:
        """The marks of `wanted` still missing after `timeout` s (empty: all arrived)."""
        deadline = time.monotonic() + timeout
        while True:
            missing = wanted - self.update().keys()
            if not missing or time.monotonic() > deadline:
                return missing
            daemon.check()
            time.sleep(0.01)


# -- the measures


@dataclass
class Results:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # measure, value, floor, verdict
    notes: list[str] = field(default_factory=list)

    def add(self, measure: str, value: str, floor: str = "", ok: bool | None = None) -> None:
        self.rows.append((measure, value, floor, "" if ok is None else ("ok" if ok else "OVER")))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [("measure", "value", "floor", ""), *self.rows]) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        print()
        print("  ".join(h.ljust(w) for h, w in zip(("measure", "value", "floor", ""), widths, strict=True)))
        print(line)
        for row in self.rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for note in self.notes:
            print(f"  {note}")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure_idle(res: Results, d: Daemon, seconds: float, label: str) -> None:
    time.sleep(1.0)  # what was going on settles
    c0, t0 = cpu_seconds(d.pid), time.monotonic()
    time.sleep(seconds)
    share = 100 * (cpu_seconds(d.pid) - c0) / (time.monotonic() - t0)
    res.add(
        f"CPU idle {label} ({seconds:g} s, no writes)",
        f"{share:.2f} % of a core",
        f"~0 % (<= {CPU_IDLE:g})",
        share <= CPU_IDLE,
    )
    res.add(f"RSS {label}", f"{rss_mb(d.pid):.1f} MB")


def measure_live(
    res: Results,
    d: Daemon,
    fd: int,
    corpus: Corpus,
    arrivals: Arrivals,
    rate: float,
    seconds: float,
    batch: int,
    rng: random.Random,
    n0: int,
    label: str,
) -> int:
    """Write `rate` lines/s for `seconds` s, `batch` lines per write(), with an alert every ALERT_EVERY lines
    on average; latency and CPU. The last alert's number."""
    total = int(rate * seconds)
    written: dict[int, float] = {}
    n, sent, body = n0, 0, 0
    next_alert = rng.randint(ALERT_EVERY // 2, ALERT_EVERY * 3 // 2)
    bodies = corpus.bodies()
    last_second, when = -1, b""
    writes = 0
    threads0 = thread_cpu(d.pid)
    c0, t0, own0 = cpu_seconds(d.pid), time.monotonic(), time.process_time()
    while sent < total:
        due = min(total, int((time.monotonic() - t0) * rate) + 1)
        if due > sent:
            second = int(time.time())
            if second != last_second:
                last_second, when = second, stamp(second)
            for _ in range(sent, due, batch):
                parts, alerts = [], []
                for _ in range(min(batch, due - sent)):
                    next_alert -= 1
                    if next_alert == 0:
                        n += 1
                        parts.append(alert_line(n, when))
                        alerts.append(n)
                        next_alert = rng.randint(ALERT_EVERY // 2, ALERT_EVERY * 3 // 2)
                    else:
                        if body == len(bodies):
                            bodies, body = corpus.bodies(), 0
                        parts.append(when + bodies[body])
                        body += 1
                os.write(fd, b"".join(parts))
                t = time.monotonic()
                for a in alerts:
                    written[a] = t
                sent += len(parts)
                writes += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - t0
    share = 100 * (cpu_seconds(d.pid) - c0) / elapsed
    own = 100 * (time.process_time() - own0) / elapsed
    threads = {tid: 100 * (c - threads0.get(tid, 0.0)) / elapsed for tid, c in thread_cpu(d.pid).items()}
    missing = arrivals.wait(set(written), d, 30.0)
    at = arrivals.update()
    latencies = [(at[a] - written[a]) * 1000 for a in written if a in at]
    queued = outbox_times(d.state, n0)  # n -> when the reader began the commit that queued it
    wall = time.time() - time.monotonic()
    to_outbox = [(queued[a] - wall - written[a]) * 1000 for a in written if a in queued and a in at]
    to_post = [(at[a] + wall - queued[a]) * 1000 for a in written if a in queued and a in at]
    achieved = total / elapsed
    res.add(f"{label}: {achieved:,.0f} lines/s for {elapsed:.1f} s", f"{writes:,} write() calls")
    if latencies:
        res.add("  latency line->POST p50", f"{quantile(latencies, 0.5):.1f} ms")
        p99 = quantile(latencies, 0.99)
        res.add("  latency line->POST p99", f"{p99:.1f} ms", f"<= {P99_MS:g} ms", p99 <= P99_MS)
        res.add("  latency line->POST max", f"{max(latencies):.1f} ms")
    if to_outbox:
        res.add(
            "    line->outbox, outbox->POST p50 / p99",
            f"{quantile(to_outbox, 0.5):.1f} / {quantile(to_outbox, 0.99):.1f} ms, "
            f"{quantile(to_post, 0.5):.1f} / {quantile(to_post, 0.99):.1f} ms",
        )
    res.add("  alerts delivered", f"{len(latencies)}/{len(written)} in {arrivals.posts} POSTs", "all", not missing)
    floor_ok = share <= CPU_LIVE if rate >= 10_000 else None
    res.add("  CPU", f"{share:.1f} % of a core", f"<= {CPU_LIVE:g} % at 10k lines/s", floor_ok)
    others = sorted((c for tid, c in threads.items() if tid != d.pid), reverse=True)
    res.add(
        "    by thread: main (reader), others",
        f"{threads.get(d.pid, 0.0):.1f} %, " + " + ".join(f"{c:.1f}" for c in others) + " %",
    )
    res.add("  RSS at the end", f"{rss_mb(d.pid):.1f} MB")
    res.add("  rules' snapshot (rewritten per commit)", f"{snapshot_kb(d.state):,.0f} KB")
    res.notes.append(
        f"{label}: {total / writes:.1f} lines per write() on average; the writer and receiver (this process) used "
        f"{own:.0f} % of a core, on {os.cpu_count()} CPUs; the daemon's other threads: the sender, watchdog's "
        "inotify emitter and its dispatcher"
    )
    return n


def measure_rss(res: Results, d: Daemon, fd: int, corpus: Corpus, arrivals: Arrivals, lines: int, n: int) -> int:
    """Append `lines` lines as fast as possible; RSS sampled until the daemon has read them all."""
    bytes_per_line = len(corpus.block) / corpus.lines
    samples: list[tuple[float, float, float]] = []  # (t, lines read, RSS MB)
    done = threading.Event()
    e0 = emitted(d.state)
    rss0 = rss_mb(d.pid)

    def sample() -> None:
        while not done.wait(0.1):
            try:
                samples.append((time.monotonic(), (emitted(d.state) - e0) / bytes_per_line, rss_mb(d.pid)))
            except (OSError, sqlite3.Error):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.monotonic()
    sampler.start()
    written = write_blocks(fd, corpus, lines)
    t_written = time.monotonic() - t0
    n += 1
    os.write(fd, alert_line(n, stamp()))
    timeout = max(60.0, written / 40_000)
    missing = arrivals.wait({n}, d, timeout)
    t_read = arrivals.update().get(n, time.monotonic()) - t0
    done.set()
    sampler.join()
    if not missing:
        samples.append((time.monotonic(), written, rss_mb(d.pid)))
    read = max((r for _, r, _ in samples), default=0.0)
    early = min(1_000_000, written // 10)

    def rss_after(read_lines: float) -> float:
        return next((rss for _, r, rss in samples if r >= read_lines), samples[-1][2])

    at_early = rss_after(early)
    peak = max(rss for _, _, rss in samples)
    growth = peak - at_early
    res.add(f"rss: {written:,} lines appended", f"{written * bytes_per_line / 2**20:,.0f} MiB in {t_written:.1f} s")
    if missing:
        res.add(
            "  read by the daemon (following)",
            f"only {read:,.0f} lines in {timeout:.0f} s: {read / timeout:,.0f} lines/s",
            "all",
            False,
        )
    else:
        res.add("  read by the daemon (following)", f"all in {t_read:.1f} s: {written / t_read:,.0f} lines/s")
    res.add("  RSS start", f"{rss0:.1f} MB")
    res.add(f"  RSS after {early:,} lines read", f"{at_early:.1f} MB")
    res.add(
        f"  RSS after 25/50/75/100 % of {read:,.0f} lines read",
        " / ".join(f"{rss_after(read * q):.1f}" for q in (0.25, 0.5, 0.75, 1.0)) + " MB",
    )
    res.add("  RSS max", f"{peak:.1f} MB", f"<= {RSS_MB:g} MB", peak <= RSS_MB)
    res.add(f"  RSS max - after {early:,} lines", f"{growth:+.1f} MB", f"flat (<= {FLAT_MB:g} MB)", growth <= FLAT_MB)
    res.add("  rules' snapshot (rewritten per commit)", f"{snapshot_kb(d.state):,.0f} KB")
    res.notes.append(f"rss: {len(samples)} samples of VmRSS; lines read from the positions the daemon committed")
    if missing:
        raise Behind(f"the daemon had not read the {written:,} lines after {timeout:.0f} s")
    return n


class Behind(Exception):
    """The daemon is still reading a phase's lines: the phases after it that need it are skipped."""


def bare(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        for _line in f:
            pass
    return time.perf_counter() - t0


def measure_backlog(
    res: Results, directory: Path, corpus: Corpus, rx: Receiver, mib: int, n: int, profile: Path | None
) -> int:
    """A fresh daemon reads `mib` MiB of log from the beginning; compared with a bare loop over the file."""
    log = directory / "backlog" / "error.log"
    log.parent.mkdir()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        wanted = max(1, (mib << 20) * corpus.lines // len(corpus.block))
        lines = write_blocks(fd, corpus, wanted, t0=time.time() - 86400)
        n += 1
        os.write(fd, alert_line(n, stamp()))
        lines += 1
    finally:
        os.close(fd)
    size = log.stat().st_size
    before = bare(log)
    arrivals = Arrivals(rx)
    arrivals.update()
    d = Daemon(directory / "daemon-backlog", log, rx.url, "beginning", profile)
    timeout = max(120.0, size / 2e6)  # at least 2 MB/s
    peak = 0.0
    try:
        while (arrived := arrivals.update().get(n)) is None and time.monotonic() - d.following < timeout:
            d.check()
            peak = max(peak, rss_mb(d.pid))
            time.sleep(0.05)
        cpu = cpu_seconds(d.pid) - d.cpu_following
        peak = max(peak, rss_mb(d.pid))
        done = emitted(d.state)
        snapshot = snapshot_kb(d.state)
    finally:
        d.stop()
    after = bare(log)
    mb = size / 1e6
    res.add(f"backlog: {mb:,.0f} MB, {lines:,} lines", "from the beginning, fresh daemon")
    if arrived is None:
        res.add("  catch-up", f"not done after {timeout:.0f} s: {done / 1e6 / timeout:.1f} MB/s", "", False)
        took = timeout
    else:
        took = arrived - d.following
        res.add("  catch-up", f"{took:.1f} s: {mb / took:.1f} MB/s, {lines / took:,.0f} lines/s")
    base = statistics.mean((before, after))
    res.add("  bare `for line in f` (before/after)", f"{mb / before:.0f} / {mb / after:.0f} MB/s")
    res.add("  daemon / bare", f"{base / took:.3f}x ({took / base:.1f}x slower)")
    res.add("  daemon CPU during catch-up", f"{100 * cpu / took:.0f} % of a core")
    res.add("  RSS max", f"{peak:.1f} MB", f"<= {RSS_MB:g} MB", peak <= RSS_MB)
    res.add("  rules' snapshot (rewritten per commit)", f"{snapshot:,.0f} KB")
    res.notes.append(
        f"backlog: start-up (spawn to 'following') {d.following - d.spawned:.2f} s, not counted in the catch-up"
    )
    return n


def load() -> str:
    """The machine's load average: other work running beside the benchmark makes its figures worse."""
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def say(what: str) -> None:
    print(f"{what} ... ({load()})", flush=True)


def show_profile(path: Path, title: str, top: int = 25) -> None:
    if not path.exists():
        print(f"\n{title}: no profile written ({path})")
        return
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(str(path), stream=out).strip_dirs().sort_stats(sort).print_stats(top)
        text = out.getvalue()
        start = text.find("   ncalls")
        print(f"\n{title}, by {sort} ({path}):\n{text[start:].rstrip()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=10_000, help="lines/s of the live phase (default 10000)")
    ap.add_argument("--seconds", type=float, default=20, help="length of the live phase (default 20)")
    ap.add_argument(
        "--batch", type=int, default=1, help="lines per write() in the live phase (default 1, as nginx writes)"
    )
    ap.add_argument("--idle", type=float, default=10, help="seconds of the idle measure (default 10)")
    ap.add_argument("--rss-lines", type=int, default=10_000_000, help="lines of the RSS phase (default 10M)")
    ap.add_argument("--backlog-mb", type=int, default=1024, help="MiB of backlog (default 1024)")
    ap.add_argument("--alert-every", type=int, default=1000, help="lines between two alerts, on average (default 1000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2k lines/s for 3 s, 200k lines, 20 MiB")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR", help="run the daemons under cProfile")
    args = ap.parse_args()
    if args.quick:
        args.rate, args.seconds, args.idle, args.rss_lines, args.backlog_mb = 2000, 3, 3, 200_000, 20
    global ALERT_EVERY
    ALERT_EVERY = max(2, args.alert_every)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="kong-tailer-bench-") as tmp, Receiver() as rx:
        directory = Path(tmp)
        need = args.rss_lines * 135 + (args.backlog_mb << 20) + (64 << 20)
        free = shutil.disk_usage(directory).free
        if need > free * 0.9:
            raise SystemExit(f"{directory}: {free >> 20} MiB free, {need >> 20} MiB needed: lower the sizes")
        corpus = Corpus.make(directory, rng)
        per_line = len(corpus.block) / corpus.lines
        print(
            f"corpus: {corpus.lines:,} lines of debug error log, {per_line:.0f} bytes/line; "
            f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}; temp dir {directory}; {load()}"
        )
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            print(f"profiling into {args.profile}: the figures below are inflated by cProfile")
        results = Results()
        log = directory / "live" / "error.log"
        log.parent.mkdir()
        log.write_bytes(b"")
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        live_prof = args.profile / "daemon-live.prof" if args.profile is not None else None
        backlog_prof = args.profile / "daemon-backlog.prof" if args.profile is not None else None
        d = Daemon(directory / "daemon-live", log, rx.url, "end", live_prof)
        n = 0
        try:
            say(f"start-up: {d.following - d.spawned:.2f} s to 'following'; idle {args.idle:g} s")
            measure_idle(results, d, args.idle, "after start-up")
            live = (args.rate, args.seconds, args.batch, rng)
            say(f"live: {args.rate:,.0f} lines/s for {args.seconds:g} s, {args.batch} per write()")
            n = measure_live(results, d, fd, corpus, Arrivals(rx), *live, n, "live, fresh daemon")
            say(f"idle {args.idle:g} s")
            measure_idle(results, d, args.idle, "after the live phase")
            say(f"rss: {args.rss_lines:,} lines")
            try:
                n = measure_rss(results, d, fd, corpus, Arrivals(rx), args.rss_lines, n)
                say("live again, with the state the rss phase left")
                n = measure_live(results, d, fd, corpus, Arrivals(rx), *live, n, "live, after the rss phase")
            except Behind as exc:
                results.notes.append(f"{exc}: the second live phase is skipped")
            os.close(fd)
            d.stop()
            log.unlink()  # room for the backlog
            say(f"backlog: {args.backlog_mb:,} MiB")
            n = measure_backlog(results, directory, corpus, rx, args.backlog_mb, n, backlog_prof)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
            d.stop()
            results.print()
            print(f"  at the end: {load()}")
        if live_prof is not None and backlog_prof is not None:
            show_profile(live_prof, "live daemon (idle, live, rss, live phases), main thread")
            show_profile(backlog_prof, "backlog daemon, main thread")


if __name__ == "__main__":
    main()
