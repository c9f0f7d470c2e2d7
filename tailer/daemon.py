"""The daemon: follow the files, run the pipeline, commit each batch, let the senders deliver.

    reader (main thread)   Follower.reconcile → Pipeline.feed → render each message once → Store.commit
                           (messages, file positions and the rules' snapshot in one transaction)
    senders (a thread per notifier) drain the outbox: tailer.outlets owns them and the notifiers
    watcher (watchdog)     only wakes the reader; a reconcile also runs every `period` seconds

This module is the loop that reads and commits, and the reload that swaps what it reads with. Its parts
live beside it: the notifiers and their senders (tailer.outlets), the silences in force and the notices of
their end (tailer.silencer), self-checks (tailer.selfcheck), metrics (tailer.metrics), systemd's protocol
(tailer.systemd).

A batch is committed as soon as it holds a message (latency), else, while lines are read, every
`commit_every` seconds. When a commit fails (the state disk is full), the batch stays in
memory, reading pauses, and the commit is tried again with a growing pause, logged once a minute.
SIGTERM and SIGINT end the loop after the batch in hand is committed; the senders finish their attempt.

SIGHUP reloads: the rules and the configuration are loaded and checked off to the side (`reload()`, the
command's loader), with the notifiers' credentials and the rules' state carried over into the new pipeline.
Only then is anything replaced: the pipeline, the follower (rebuilt from the positions just committed), the
notifiers that changed. A set that fails any check is refused, said with its file and line, and the running
one goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, TextIO

from tailer import __version__, faults, metrics, notices, selfcheck, snapshot, systemd
from tailer.alerts import Message, unqueued
from tailer.errors import SnapshotError, StateError, TailerError
from tailer.events import Event
from tailer.follow import Follower, Settings, Tail
from tailer.outlets import Outlets
from tailer.pipeline import Outcome, Pipeline, QuietClock
from tailer.reader import ReadOptions
from tailer.rules.model import RuleSet
from tailer.silencer import Silencer
from tailer.state import Store
from tailer.watch import Watcher

log = logging.getLogger("tailer.daemon")

PRUNE_AFTER = 7 * 86400.0  # seconds a sent message's key is kept
BUSY_AFTER = 3  # rounds in a row that read lines, before polling instead of waking on each write
IDLE_AFTER = 50  # rounds in a row that read nothing, before waking on each write again
SELF_CHECK_EVERY = 5.0  # seconds between two self-checks (tailer.selfcheck)
_KIND = operator.attrgetter("kind")


def _access_last(read: tuple[Tail, list[Event]]) -> bool:
    """A round that read an error log and an access log feeds the error log's events first (a stable sort), as
    replay's timeline does within a second: a request's access line then finds the entries that explain it."""
    return read[0].requests


NOTIFY_WAIT = 5.0  # seconds READY=1, RELOADING=1 and STOPPING=1 are tried while systemd's queue is full
PUBLISH_EVERY = 1.0  # seconds between two updates of the metrics' numbers
STATUS_FILE = "status.json"  # in the state directory: what only the running daemon knows (`kong-tailer status`)
STATUS_EVERY = 2.0  # seconds between two writes of it (at once when the phase changes or after a reload)
STATUS_VERSION = 1  # of its layout


@dataclass
class RunOptions:
    logs: list[str]
    state_dir: str
    read: ReadOptions
    follow: Settings = field(default_factory=Settings)
    period: float = 1.0  # seconds between looks at the paths (and reconciles when no file event comes)
    busy_poll: float = 0.025  # seconds between reconciles while lines keep coming
    commit_every: float = 1.0
    read_limit: int = 1 << 20  # bytes read per generation per round
    idle_tick: float = 1.0  # seconds without events after which rule time moves on by itself (QuietClock)
    environ: dict[str, str] = field(default_factory=dict)
    metrics: tuple[str, int] | None = None  # (host, port) of the Prometheus endpoint
    stall_after: float = 300.0  # self-alert: a file changes on disk, and nothing is read from it for this long
    failing_after: float = 600.0  # self-alert: a notifier fails to deliver for this long
    poll: bool = False  # no inotify at all: the files are looked at every `period` s


Loader = Callable[[], tuple[RuleSet, RunOptions]]


class Daemon:
    def __init__(self, ruleset: RuleSet, opts: RunOptions, console: TextIO, reload: Loader | None = None) -> None:
        self.opts = opts
        self.reload = reload  # the rules and options as they are now (SIGHUP)
        self.store = Store(opts.state_dir)  # first: a second instance stops here
        self.pipeline = Pipeline(ruleset)
        faults.install(self.pipeline)
        saved = self.store.snapshot()
        if saved is not None:
            try:
                snapshot.load(self.pipeline, saved)
            except SnapshotError as exc:
                log.warning("%s: the rules' saved state cannot be read (%s): rules start afresh", self.store.path, exc)
        self.follower = self._follower(opts, self.pipeline)
        self.outlets = Outlets(self.store, console)
        self.outlets.use(self.outlets.prepare(ruleset, opts.environ), start=False)
        self.silencer = Silencer()
        self.wake = threading.Event()
        self.stop_requested = False  # set by SIGTERM / SIGINT
        self.reload_requested = False  # set by SIGHUP
        self.reload_error: str | None = None  # why the last reload was refused
        # for the metrics: counts the pipeline does not keep, and those of pipelines a reload replaced
        self.event_counts: Counter[tuple[str, str]] = Counter()  # (source, kind) → events
        self.reloads: Counter[str] = Counter(done=0, refused=0)
        self._stats_before: dict[str, Counter[str]] = {}
        self.checks = selfcheck.Checks()
        self._checked_at = time.monotonic()
        self._published_at = 0.0
        self.endpoint = metrics.Endpoint(opts.metrics, opts.state_dir) if opts.metrics else None
        self.watcher = Watcher(self.wake, poll=opts.poll, period=opts.period)
        self.last_reconcile = time.monotonic()
        self._watcher_ok = time.monotonic()  # the last time the file watcher was seen healthy
        self.disk_full: str | None = None
        self._failed: list[tuple[str, str, str, str]] = []  # entries rules failed on, to save as dead letters
        self.pinger: systemd.Pinger | None = None
        self.systemd = bool(opts.environ.get("NOTIFY_SOCKET"))
        self._status_at = 0.0
        self._disk_logged = 0.0  # when the full disk was last said
        self._disk_tries = 0
        self._snapshot_failed = False
        self._status_file = StatusFile(os.path.join(opts.state_dir, STATUS_FILE))

    # -- lifecycle

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        signal.signal(signal.SIGHUP, self._hup)
        try:
            self._publish_status("starting")
            self._start()
            systemd.notify(f"READY=1\nSTATUS={self._status()}", wait=NOTIFY_WAIT)
            interval = systemd.watchdog_interval()
            if interval is not None:
                self.pinger = systemd.Pinger(interval, self.health)
                self.pinger.start()
            self._loop()
        finally:
            systemd.notify("STOPPING=1", wait=NOTIFY_WAIT)
            self._publish_status("stopped")
            self._shutdown()
        return 0

    def health(self) -> str | None:
        """None when every stage is going round; else what is not (the watchdog pings stop)."""
        now = time.monotonic()
        stale = max(3 * self.opts.period, 2 * (self.pinger.interval if self.pinger else 0), 5.0)
        # Each problem is said in words that stay the same while it lasts: the pinger logs it once.
        if now - self.last_reconcile > stale:
            return f"the reader has not gone round for over {stale:.0f} s"
        problem = self.watcher.problem()
        if problem is None:
            self._watcher_ok = now
        elif now - self._watcher_ok > stale:
            return f"{problem} for over {stale:.0f} s"
        return self.outlets.health(now, stale)

    def _status(self) -> str:
        """One line for `systemctl status`."""
        if self.disk_full is not None:
            return f"state disk full: reading paused ({self.disk_full})"
        files = len(self.follower.tails)
        text = f"following {files} file(s), {self.follower.behind()} bytes behind; outbox {self.store.depth()} to send"
        dead = self.outlets.degraded()
        text += f"; degraded: dead letters for {', '.join(dead)}" if dead else ""
        problems = sorted(f"{check} {subject}" for check, subject in self.checks.open)
        text += f"; problems: {', '.join(problems)}" if problems else ""
        return text + (f"; reload refused: {self.reload_error}" if self.reload_error else "")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler runs in the main thread between two bytecodes, possibly while that thread holds
        # `wake`'s lock inside wait(): setting an Event here could deadlock. A plain flag takes no lock; the
        # loop sees it within `period` s.
        self.stop_requested = True

    def _hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload_requested = True  # a plain flag, like _stop's; the loop reloads between two batches

    def _start(self) -> None:
        fresh = self.store.meta("started") is None
        for source in self.follower.sources():
            self.follower.attach(source, fresh)
        recovered = self.store.recover(time.time(), self.outlets.max_retry_after())
        if recovered:
            log.warning("%d message(s) were being sent when kong-tailer stopped: sending them again", recovered)
        self.store.prune(time.time() - PRUNE_AFTER)
        self._commit([])
        if fresh:
            try:
                self.store.set_meta("started", str(time.time()))
            except sqlite3.Error as exc:  # without it the next start would skip to the files' ends again
                raise StateError(f"{self.store.path}: cannot write the state database: {exc}") from exc
        self.outlets.start()
        self.watcher.update(self.follower.directories())
        if faults.active("stop_observer"):
            self.watcher.observer.stop()
        names = ", ".join(self.follower.sources()) or "(no file yet)"
        log.info("following %s; state in %s", names, self.opts.state_dir)
        self._warn_unmatched()

    def _warn_unmatched(self) -> None:
        """One warning per followed path that names no file (the `missing` self-alert follows if it stays so)."""
        for pattern, (reason, _) in self.follower.unmatched(time.monotonic()).items():
            log.warning(
                "%s matches no file yet (%s): it is followed all the same, and a file that appears there is read "
                "from its start",
                pattern,
                reason,
            )

    def _follower(self, opts: RunOptions, pipeline: Pipeline) -> Follower:
        read = replace(opts.read, ctx=pipeline.parse_context(opts.read.ctx))
        return Follower(opts.logs, read, self.store, opts.follow)

    def _reload(self) -> None:
        """SIGHUP: load and check everything new, then swap; a set that fails any check changes nothing."""
        systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}\nSTATUS=reloading", wait=NOTIFY_WAIT)
        try:
            if self.reload is None:
                raise TailerError("this daemon was started without a way to read its configuration again")
            ruleset, opts = self.reload()
            pipeline = Pipeline(ruleset)
            snapshot.load(pipeline, snapshot.dump(self.pipeline))  # windows, snooze digests, groups, budgets
            notifiers = self.outlets.prepare(ruleset, opts.environ)
            if not self._commit([]):  # the follower is rebuilt from the positions saved now
                raise TailerError("the state disk refuses writes")
        except Exception as exc:
            reason = str(exc) if isinstance(exc, TailerError) else f"{type(exc).__name__}: {exc}"
            self.reload_error = reason
            self.reloads["refused"] += 1
            log.error("reload refused, the running rules and configuration go on: %s", reason)
            systemd.notify(f"READY=1\nSTATUS={self._status()}", wait=NOTIFY_WAIT)
            return
        for what, old, new in (
            ("state_dir", self.opts.state_dir, opts.state_dir),
            ("metrics", self.opts.metrics, opts.metrics),
        ):
            if old != new:
                log.warning("%s changed from %s to %s: that takes a restart; kept as it was", what, old, new)
        opts = replace(opts, state_dir=self.opts.state_dir, metrics=self.opts.metrics)
        pipeline.hold_back(self.silencer.match)
        for rule, counts in self.pipeline.stats().items():
            self._stats_before.setdefault(rule, Counter()).update(counts)
        previous = self.follower
        previous.close()
        self.pipeline, self.opts = pipeline, opts
        faults.install(pipeline)
        self.follower = self._follower(opts, pipeline)
        self.follower.carry(previous)
        for source in self.follower.sources():
            self.follower.attach(source, fresh=source not in previous.known_sources)
        self.outlets.use(notifiers, start=True)
        self.watcher.use_poll(opts.poll)
        self.watcher.update(self.follower.directories())
        self.reload_error = None
        self.reloads["done"] += 1
        log.info(
            "reloaded: %d rule(s) from %s, notifiers %s; following %s",
            len(ruleset.rules),
            ", ".join(ruleset.files) or "(no file)",
            ", ".join(self.outlets.names()) or "(none)",
            ", ".join(self.follower.sources()) or "(no file yet)",
        )
        self._warn_unmatched()
        systemd.notify(f"READY=1\nSTATUS={self._status()}", wait=NOTIFY_WAIT)

    def _shutdown(self) -> None:
        if self.pinger is not None:
            self.pinger.stop()
        if self.endpoint is not None:
            self.endpoint.close()
        self.watcher.stop()
        self.outlets.stop()
        self.follower.close()
        self.store.close()

    # -- the loop

    def _loop(self) -> None:
        opts = self.opts
        pending: list[Message] = []
        progress = 0
        last_commit = last_event = last_look = time.monotonic()
        quiet = QuietClock()  # a quiet log's time: from the latest log time (a restored one: the one saved)
        quiet.saw(self.pipeline.now, last_event)
        flowing = idle = 0  # rounds in a row that read something, that read nothing
        eager = True
        retry_at = 0.0
        while not self.stop_requested:
            self.last_reconcile = time.monotonic()  # the loop goes round (health), reading or not
            if self.disk_full is not None:  # nothing more is read until the batch in hand is saved
                if time.monotonic() < retry_at:
                    self.wake.wait(min(opts.period, retry_at - time.monotonic()))
                elif self._commit(pending):
                    pending, progress, last_commit = [], 0, time.monotonic()
                else:
                    retry_at = time.monotonic() + self._disk_pause()
                continue
            faults.point("hang_in_reconcile")
            if self.silencer.due():
                changed, told = self.silencer.check(self.store, self.pipeline.ruleset.rules, self._host())
                if changed:
                    self.pipeline.hold_back(self.silencer.match)
                pending += told
            # The paths are looked at when a file was created, moved or deleted, and every `period`.
            look = self.watcher.structural.is_set() or time.monotonic() - last_look >= opts.period
            if look:
                self.watcher.structural.clear()
                last_look = time.monotonic()
                self.watcher.update(self.follower.directories(), eager)
            read = self.follower.reconcile(opts.read_limit, look)
            read.sort(key=_access_last)  # nginx writes a request's error entries before its access line
            requests = self.follower.reads_requests()
            for tail, events in read:
                if events:
                    last_event = time.monotonic()
                    for kind, n in Counter(map(_KIND, events)).items():  # at C speed, per event
                        self.event_counts[(tail.source, kind)] += n
                    origins = {tail.source: tail.key or ""}
                    pending += self._take(self.pipeline.feed(events, origins=origins, requests=requests))
                    quiet.saw(self.pipeline.now, last_event)
            progress += len(read)
            more = bool(read) and self.follower.behind() > 0
            if time.monotonic() - last_event >= opts.idle_tick:
                log_now = quiet.at(time.monotonic())  # by the monotonic clock: a wall-clock step changes nothing
                if log_now is not None:
                    pending += self._take(self.pipeline.advance(log_now))
            faults.point("after_read")
            now = time.monotonic()
            done = self.follower.done
            held = self.silencer.waiting()  # silenced alerts (time passing can make them, with no line read)
            due = pending or done or self._failed or held or (progress and (now - last_commit >= opts.commit_every))
            if due and self._commit(pending):
                pending, progress, last_commit = [], 0, now
                faults.point("after_commit")
                self.outlets.wake()
            if self.reload_requested and not pending:
                self.reload_requested = False
                self._reload()
                continue
            if now - self._checked_at >= SELF_CHECK_EVERY:
                pending += self._self_check()
            if self.endpoint is not None and now - self._published_at >= PUBLISH_EVERY:
                self._published_at = now
                self.endpoint.publish(self._numbers())
            if self.systemd and now - self._status_at >= 1.0:
                self._status_at = now
                systemd.notify(f"STATUS={self._status()}")
            self._publish_status()
            flowing, idle = (flowing + 1, 0) if read else (0, idle + 1)
            if more:
                continue
            # While lines keep coming, poll every `busy_poll` s instead of being woken by each write.
            if eager and flowing >= BUSY_AFTER:
                eager = False
                self.watcher.update(self.follower.directories(), eager)
            elif not eager and idle >= IDLE_AFTER:
                eager = True
                self.watcher.update(self.follower.directories(), eager)
                continue  # what was written while switching woke no one: one more round first
            self.wake.wait(opts.period if eager else opts.busy_poll)
            self.wake.clear()
        if pending or self.disk_full is None:
            self._commit(pending)

    def _take(self, outcome: Outcome) -> list[Message]:
        """An outcome's messages; its silenced alerts and failures are kept for the next commit."""
        if outcome.held:
            self.silencer.hold(outcome.held)
        for failure in outcome.failures:  # said once each, and the entry kept as a dead letter
            event, exc = failure.event, failure.error
            log.error(
                "%s: rule %r failed on this entry (%s: %s); it is kept in the outbox as a dead letter, "
                "and reading goes on",
                event.where(),
                failure.rule,
                type(exc).__name__,
                exc,
            )
            self._failed.append((failure.key, f"(rule {failure.rule})", event.raw, f"{type(exc).__name__}: {exc}"))
        return outcome.messages

    def _self_check(self) -> list[Message]:
        """Raise and resolve self-alerts: logged, in STATUS= and the metrics, and told to the notifiers (a
        failing notifier is not told about itself)."""
        self._checked_at = time.monotonic()
        now = time.time()
        problems = selfcheck.stalled(self.follower.unread_for(time.monotonic()), self.opts.stall_after)
        problems += selfcheck.failing(self.outlets.failing_since(), now, self.opts.failing_after)
        problems += selfcheck.unwatched(self.watcher.unavailable, self.opts.period)
        problems += selfcheck.missing(self.follower.unmatched(time.monotonic()), self.opts.stall_after)
        started, ended = self.checks.update(problems)
        out: list[Message] = []
        for p, over in [(p, False) for p in started] + [(p, True) for p in ended]:
            if over:
                log.warning("resolved: %s %s", p.check, p.subject)
            else:
                log.error("self-check: %s", p.text)
            names = [n for n in self.outlets.names() if not (p.check == "failing" and n == p.subject)]
            key = f"self-{p.check}-{hashlib.sha256(p.subject.encode()).hexdigest()[:16]}-{int(now)}"
            title = f"kong-tailer on {self._host()}: " + ("resolved" if over else "problem")
            text = f"Resolved: {p.check} {p.subject}" if over else p.text
            out += notices.notice(names, key, "recovered" if over else p.check, title, text, now, self._host())
        return out

    def _numbers(self) -> metrics.Numbers:
        f = self.follower
        stats = {rule: Counter(counts) for rule, counts in self._stats_before.items()}
        for rule, counts in self.pipeline.stats().items():
            stats.setdefault(rule, Counter()).update(counts)
        files = f.known_sources  # every file's series from the start, at 0 until something is read
        return metrics.Numbers(
            lines={source: f.lines_read[source] for source in files | set(f.lines_read)},
            bytes={source: f.bytes_read[source] for source in files | set(f.bytes_read)},
            behind=dict(f.behind_by_source()),
            read_at=dict(f.read_at),
            events=dict(self.event_counts),
            rules={rule: dict(counts) for rule, counts in stats.items()},
            silenced=dict(self.silencer.by_rule),
            notifiers=self.outlets.counts(),
            problems=sorted(self.checks.open),
            reloads=dict(self.reloads),
        )

    def _publish_status(self, phase: str = "running") -> None:
        """What only the running daemon knows, for `kong-tailer status` (which reads the outbox, dead letters
        and silences from the database itself): the files followed and how far each is read, the notifiers'
        health, open self-check problems, the last reload. Written every STATUS_EVERY s, and at once when the
        phase (starting, running, stopped) changes or a reload was done or refused. Never raises: a status
        that cannot be written goes stale, which `status` reports."""
        status = self._status_file
        if not status.due(phase, self.reloads, self.reload_error):
            return
        try:
            f = self.follower
            behind = f.behind_by_source()
            reading: dict[str, list[dict[str, Any]]] = {}
            for tail in f.tails:
                try:
                    size: int | None = os.fstat(tail.fd).st_size
                except OSError:
                    size = None
                line = tail.reader.resume()[1]  # the line reading resumes at (0: not known)
                reading.setdefault(tail.source, []).append(
                    {
                        "path": tail.path,
                        "offset": tail.pos,
                        "size": size,
                        "line": line - 1 if line else None,  # the last line read and handled
                        "rotated": tail.rotated_at is not None,
                        "copy": tail.copy,
                    }
                )
            data: dict[str, Any] = {
                "files": [
                    {
                        "source": source,
                        "behind": behind.get(source, 0),
                        "read_at": f.read_at.get(source),
                        "lines_read": f.lines_read[source],
                        "bytes_read": f.bytes_read[source],
                        "reading": reading.get(source, []),
                    }
                    for source in sorted(set(f.sources()) | set(reading))
                ],
                "log_time": self.pipeline.now,
                "notifiers": self.outlets.names(),
                "degraded": self.outlets.degraded(),
                "delivery": self.outlets.counts(),
                "problems": [
                    {"check": p.check, "subject": p.subject, "text": p.text}
                    for _, p in sorted(self.checks.open.items())
                ],
                "disk_full": self.disk_full,
                "reloads": dict(self.reloads),
                "rules": len(self.pipeline.ruleset.rules),
            }
        except Exception as exc:  # a bug here must not stop the daemon: the status goes stale and says so
            status.failed(phase, f"{type(exc).__name__}: {exc}")
            return
        status.write(phase, data)

    def _host(self) -> str:
        return self.opts.read.ctx.host

    def _commit(self, messages: list[Message]) -> bool:
        """Save a batch; False (and the batch kept by the caller) when the state disk refuses it."""
        failed = self._failed
        try:
            state = snapshot.dump(self.pipeline)
        except Exception as exc:  # a value that cannot be saved: the rules' state of the last save stands
            state = None
            if not self._snapshot_failed:
                log.error(
                    "the rules' state cannot be saved (%s: %s): a restart resumes them from an older state",
                    type(exc).__name__,
                    exc,
                )
            self._snapshot_failed = True
        try:
            messages = unqueued(messages, self._queued(messages))
            rows = [(m.key, m.notifier, self.outlets.render(m)) for m in messages]
            folded = [(m.notifier, a.key) for m in messages if len(m.alerts) > 1 for a in m.alerts]
            now = time.time()
            held = self.silencer.pending()
            self.store.commit(
                rows, self.follower.positions_now(), state, now=now, failed=failed, held=held, folded=folded
            )
            self.follower.done.clear()
            failed.clear()
            self.silencer.committed(self.store)
        except sqlite3.OperationalError as exc:  # SQLITE_FULL, an I/O error: nothing was written
            first = self.disk_full is None
            self.disk_full = str(exc)
            if first or time.monotonic() - self._disk_logged >= 60:
                self._disk_logged = time.monotonic()
                log.error(
                    "%s: cannot save (%s): reading is paused, %d message(s) held in memory; free space on the "
                    "state disk",
                    self.store.path,
                    exc,
                    len(messages),
                )
                systemd.notify(f"STATUS={self._status()}")
            return False
        if self.disk_full is not None:
            log.warning("%s: saving works again: reading resumes", self.store.path)
            self.disk_full = None
            self._disk_tries = 0
        return True

    def _queued(self, messages: list[Message]) -> set[tuple[str, str]]:
        """(notifier, alert key) of the alerts in `messages` already queued, alone or in a digest."""
        asked: dict[str, list[str]] = {}
        for m in messages:
            asked.setdefault(m.notifier, []).extend(a.key for a in m.alerts)
        return {(n, k) for n, keys in asked.items() for k in self.store.queued(n, keys)}

    def _disk_pause(self) -> float:
        self._disk_tries += 1
        return min(30.0, 0.5 * 2.0 ** min(self._disk_tries, 10))


class StatusFile:
    """The status file of the state directory (STATUS_FILE), read by `kong-tailer status`: JSON, replaced whole
    (a temporary file renamed over it), so a reader never sees half of one. Besides the daemon's numbers it
    says who wrote it (pid), in which phase, when (wall clock, and the monotonic clock, which a wall-clock
    step leaves alone: `status` tells its age by it), and the last reload with its result."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.started = time.time()
        self.phase = ""
        self.written = float("-inf")  # monotonic
        self.reloads: dict[str, int] | None = None
        self.last_reload: dict[str, Any] | None = None  # at (wall clock), result (done | refused), error
        self.problem: str | None = None  # why it was last not written (said once)

    def due(self, phase: str, reloads: Counter[str], reload_error: str | None) -> bool:
        """Time to write: STATUS_EVERY s since the last write, another phase, or a reload since."""
        if self.reloads != reloads:
            if self.reloads is not None:  # the latest reload's result is what the daemon says now
                result = "refused" if reload_error is not None else "done"
                self.last_reload = {"at": time.time(), "result": result, "error": reload_error}
            self.reloads = dict(reloads)
            return True
        return phase != self.phase or time.monotonic() - self.written >= STATUS_EVERY

    def write(self, phase: str, data: dict[str, Any]) -> None:
        self.phase, self.written = phase, time.monotonic()
        data = {
            "version": STATUS_VERSION,
            "pid": os.getpid(),
            "kong_tailer": __version__,
            "phase": phase,
            "started": self.started,
            "written_at": time.time(),
            "monotonic": self.written,
            "every": STATUS_EVERY,
            "last_reload": self.last_reload,
            **data,
        }
        new = self.path + ".new"
        try:
            with open(new, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=1)
            os.replace(new, self.path)
        except OSError as exc:
            self.failed(phase, exc.strerror or str(exc))
            return
        if self.problem is not None:
            log.info("%s: the status file is written again", self.path)
            self.problem = None

    def failed(self, phase: str, reason: str) -> None:
        """The status could not be written: said once (until it is written again), tried again in STATUS_EVERY s."""
        self.phase, self.written = phase, time.monotonic()
        if reason != self.problem:
            log.warning("%s: cannot write the status file (%s); `kong-tailer status` will say so", self.path, reason)
        self.problem = reason
