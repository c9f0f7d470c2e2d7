"""The daemon's loop: follow the files, run the pipeline, commit each batch, let the senders deliver.

    reader (main thread)   Follower.reconcile → Pipeline.feed → render each message once → Store.commit
                           (messages, file positions and the rules' snapshot in one transaction)
    senders (a thread per notifier) drain the outbox (tailer.sender)
    watcher (watchdog)     only wakes the reader; a reconcile also runs every `period` seconds

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
import logging
import operator
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, TextIO

from tailer import faults, metrics, notices, selfcheck, silence, snapshot, systemd
from tailer.alerts import Message
from tailer.errors import ConfigError, TailerError
from tailer.follow import Follower, Settings
from tailer.notify.build import destination_for, policy_for, secret_option
from tailer.notify.deliver import DeliveryPolicy, Destination, SlackDestination
from tailer.pipeline import Pipeline, failure_key
from tailer.rules.model import NotifierConfig, RuleSet
from tailer.sender import POLL, Sender
from tailer.sources import ReadOptions
from tailer.state import Held, StateError, Store
from tailer.watch import Watcher

log = logging.getLogger("tailer.daemon")

PRUNE_AFTER = 7 * 86400.0  # seconds a sent message's key is kept
BUSY_AFTER = 3  # rounds in a row that read lines, before polling instead of waking on each write
IDLE_AFTER = 50  # rounds in a row that read nothing, before waking on each write again
SILENCES_EVERY = 1.0  # seconds between two looks at the silences in the state database
SELF_CHECK_EVERY = 5.0  # seconds between two self-checks (tailer.selfcheck)
_KIND = operator.attrgetter("kind")
NOTIFY_WAIT = 5.0  # seconds READY=1, RELOADING=1 and STOPPING=1 are tried while systemd's queue is full
PUBLISH_EVERY = 1.0  # seconds between two updates of the metrics' numbers


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
    idle_tick: float = 1.0  # seconds without events after which rule time follows the clock
    environ: dict[str, str] = field(default_factory=dict)
    metrics: tuple[str, int] | None = None  # (host, port) of the Prometheus endpoint
    stall_after: float = 300.0  # self-alert: a file changes on disk, and nothing is read from it for this long
    failing_after: float = 600.0  # self-alert: a notifier fails to deliver for this long


Loader = Callable[[], tuple[RuleSet, RunOptions]]


@dataclass
class _Notifier:
    """A notifier as configured now: what identifies its configuration (secrets resolved), where it sends."""

    fingerprint: tuple[Any, ...]
    destination: Destination
    policy: DeliveryPolicy
    foldable: bool


class Daemon:
    def __init__(self, ruleset: RuleSet, opts: RunOptions, console: TextIO, reload: Loader | None = None) -> None:
        self.opts = opts
        self.console = console
        self.reload = reload  # the rules and options as they are now (SIGHUP)
        self.store = Store(opts.state_dir)  # first: a second instance stops here
        self.pipeline = Pipeline(ruleset)
        faults.install(self.pipeline.engine.runners)
        saved = self.store.snapshot()
        if saved is not None:
            try:
                snapshot.load(self.pipeline, saved)
            except snapshot.SnapshotError as exc:
                log.warning("%s: the rules' saved state cannot be read (%s): rules start afresh", self.store.path, exc)
        self.follower = self._follower(opts, self.pipeline)
        self.notifiers: dict[str, _Notifier] = {}
        self.senders: dict[str, Sender] = {}
        self._retired: list[Sender] = []  # senders of notifiers a reload removed, finishing their attempt
        self._use_notifiers(self._notifiers(ruleset, opts.environ), start=False)
        self.wake = threading.Event()
        self.stop_requested = False  # set by SIGTERM / SIGINT
        self.reload_requested = False  # set by SIGHUP
        self.reload_error: str | None = None  # why the last reload was refused
        self._silences: tuple[tuple[Any, ...], ...] = ()  # the silences in force, as last read
        self._silences_at = 0.0
        self._silence_error = False
        self._held: list[Held] = []  # alerts silences held back, to count with the next batch
        self._noticed: set[int] = set()  # silences whose end is queued to be told
        # for the metrics: counts the pipeline does not keep, and those of pipelines a reload replaced
        self.event_counts: Counter[tuple[str, str]] = Counter()  # (source, kind) → events
        self.silenced_by_rule: Counter[str] = Counter()
        self.reloads: Counter[str] = Counter(done=0, refused=0)
        self._stats_before: dict[str, Counter[str]] = {}
        self.checks = selfcheck.Checks()
        self._checked_at = time.monotonic()
        self._published_at = 0.0
        self.endpoint = metrics.Endpoint(opts.metrics, opts.state_dir) if opts.metrics else None
        self.watcher = Watcher(self.wake)
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

    # -- lifecycle

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        signal.signal(signal.SIGHUP, self._hup)
        try:
            self._start()
            systemd.notify(f"READY=1\nSTATUS={self._status()}", wait=NOTIFY_WAIT)
            interval = systemd.watchdog_interval()
            if interval is not None:
                self.pinger = systemd.Pinger(interval, self.health)
                self.pinger.start()
            self._loop()
        finally:
            systemd.notify("STOPPING=1", wait=NOTIFY_WAIT)
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
        for sender in self.senders.values():
            if not sender.is_alive():
                return f"the sender of {sender.destination.name} has stopped"
            limit = sender.policy.timeout + POLL + stale
            if now - sender.beat > limit:
                return f"the sender of {sender.destination.name} has been stuck for over {limit:.0f} s"
        return None

    def _status(self) -> str:
        """One line for `systemctl status`."""
        if self.disk_full is not None:
            return f"state disk full: reading paused ({self.disk_full})"
        files = len(self.follower.tails)
        text = f"following {files} file(s), {self.follower.behind()} bytes behind; outbox {self.store.depth()} to send"
        dead = [s.destination.name for s in self.senders.values() if s.degraded]
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
        recovered = self.store.recover(
            time.time(), max((s.policy.max_retry_after for s in self.senders.values()), default=0)
        )
        if recovered:
            log.warning("%d message(s) were being sent when kong-tailer stopped: sending them again", recovered)
        self.store.prune(time.time() - PRUNE_AFTER)
        self._commit([])
        if fresh:
            try:
                self.store.set_meta("started", str(time.time()))
            except sqlite3.Error as exc:  # without it the next start would skip to the files' ends again
                raise StateError(f"{self.store.path}: cannot write the state database: {exc}") from exc
        for sender in self.senders.values():
            sender.start()
        self.watcher.update(self.follower.directories())
        if faults.active("stop_observer"):
            self.watcher.observer.stop()
        names = ", ".join(self.follower.sources()) or "(no file yet)"
        log.info("following %s; state in %s", names, self.opts.state_dir)

    def _follower(self, opts: RunOptions, pipeline: Pipeline) -> Follower:
        read = replace(opts.read, ctx=pipeline.parse_context(opts.read.ctx))
        return Follower(opts.logs, read, self.store, opts.follow)

    def _notifiers(self, ruleset: RuleSet, environ: Mapping[str, str]) -> dict[str, _Notifier]:
        """The notifiers the rules use, with their secrets resolved (ConfigError when one cannot be); one
        whose configuration is unchanged keeps its destination."""
        out: dict[str, _Notifier] = {}
        for name in sorted({n for rule in ruleset.rules for n in rule.notify}):
            config = ruleset.notifiers[name]
            try:
                fingerprint = _fingerprint(config, environ)
                current = self.notifiers.get(name)
                if current is not None and current.fingerprint == fingerprint:
                    out[name] = current
                    continue
                destination, warning = destination_for(config, environ, self.console)
            except ConfigError as exc:  # a secret that cannot be read: name the notifier's table
                where = f"{config.file}:{config.line}: " if config.line and not str(exc).startswith(config.file) else ""
                raise ConfigError(f"{where}{exc}") from None
            if warning:
                log.warning("%s", warning)
            foldable = isinstance(destination, SlackDestination)  # not a Slack notifier falling back to the console
            out[name] = _Notifier(fingerprint, destination, policy_for(config), foldable)
        return out

    def _use_notifiers(self, notifiers: dict[str, _Notifier], start: bool) -> None:
        """Send through `notifiers` from now on: a sender per new notifier, the others' reconfigured, and
        those no rule uses any more stopped (their queued messages stay in the outbox)."""
        for name, n in notifiers.items():
            sender = self.senders.get(name)
            if sender is None:
                sender = Sender(n.destination, n.policy, self.store.connect(), foldable=n.foldable)
                self.senders[name] = sender
                if start:
                    sender.start()
            elif n is not self.notifiers.get(name):
                sender.reconfigure(n.destination, n.policy, n.foldable)
        for name in [n for n in self.senders if n not in notifiers]:
            sender = self.senders.pop(name)
            sender.stop()
            self._retired.append(sender)
            waiting = self.store.depth(name)
            if waiting:
                log.warning(
                    "notifier %r is no longer used by any rule: %d message(s) for it stay in the outbox, and go "
                    "out if a rule uses it again",
                    name,
                    waiting,
                )
        self.notifiers = notifiers

    def _reload(self) -> None:
        """SIGHUP: load and check everything new, then swap; a set that fails any check changes nothing."""
        systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}\nSTATUS=reloading", wait=NOTIFY_WAIT)
        try:
            if self.reload is None:
                raise TailerError("this daemon was started without a way to read its configuration again")
            ruleset, opts = self.reload()
            pipeline = Pipeline(ruleset)
            snapshot.load(pipeline, snapshot.dump(self.pipeline))  # windows, snooze digests, groups, budgets
            notifiers = self._notifiers(ruleset, opts.environ)
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
        pipeline.silence = self.pipeline.silence
        for rule, counts in self.pipeline.stats().items():
            self._stats_before.setdefault(rule, Counter()).update(counts)
        previous = self.follower
        previous.close()
        self.pipeline, self.opts = pipeline, opts
        faults.install(pipeline.engine.runners)
        self.follower = self._follower(opts, pipeline)
        self.follower.carry(previous)
        for source in self.follower.sources():
            self.follower.attach(source, fresh=source not in previous.known_sources)
        self._use_notifiers(notifiers, start=True)
        self.watcher.update(self.follower.directories())
        self.reload_error = None
        self.reloads["done"] += 1
        log.info(
            "reloaded: %d rule(s) from %s, notifiers %s; following %s",
            len(ruleset.rules),
            ", ".join(ruleset.files) or "(no file)",
            ", ".join(notifiers) or "(none)",
            ", ".join(self.follower.sources()) or "(no file yet)",
        )
        systemd.notify(f"READY=1\nSTATUS={self._status()}", wait=NOTIFY_WAIT)

    def _shutdown(self) -> None:
        if self.pinger is not None:
            self.pinger.stop()
        if self.endpoint is not None:
            self.endpoint.close()
        self.watcher.stop()
        senders = [*self.senders.values(), *self._retired]
        for sender in senders:
            sender.stop()
        for sender in senders:
            if sender.is_alive():
                sender.join(timeout=15)
        self.follower.close()
        self.store.close()

    # -- the loop

    def _loop(self) -> None:
        opts = self.opts
        pending: list[Message] = []
        progress = 0
        last_commit = last_event = last_look = time.monotonic()
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
            if time.monotonic() - self._silences_at >= SILENCES_EVERY:
                pending += self._check_silences()
            # The paths are looked at when a file was created, moved or deleted, and every `period`.
            look = self.watcher.structural.is_set() or time.monotonic() - last_look >= opts.period
            if look:
                self.watcher.structural.clear()
                last_look = time.monotonic()
                self.watcher.update(self.follower.directories(), eager)
            read = self.follower.reconcile(opts.read_limit, look)
            self.pipeline.correlator.joining = self.follower.reads_requests()
            for tail, events in read:
                if events:
                    last_event = time.monotonic()
                    for kind, n in Counter(map(_KIND, events)).items():  # at C speed, per event
                        self.event_counts[(tail.source, kind)] += n
                    self.pipeline.engine.origins[tail.source] = tail.origin or ""
                    pending += self.pipeline.feed(events)
                    self._note_failures()
            progress += len(read)
            more = bool(read) and self.follower.behind() > 0
            if time.monotonic() - last_event >= opts.idle_tick:
                pending += self.pipeline.advance(time.time())
            faults.point("after_read")
            now = time.monotonic()
            done = self.follower.done
            held = self.pipeline.held  # silenced alerts (time passing can make them, with no line read)
            due = pending or done or self._failed or held or (progress and (now - last_commit >= opts.commit_every))
            if due and self._commit(pending):
                pending, progress, last_commit = [], 0, now
                faults.point("after_commit")
                for sender in self.senders.values():
                    sender.wake.set()
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

    def _note_failures(self) -> None:
        """Rules that raised on an entry: said once each, and the entry kept as a dead letter."""
        for rule, event, exc in self.pipeline.engine.take_failures():
            log.error(
                "%s:%d: rule %r failed on this entry (%s: %s); it is kept in the outbox as a dead letter, "
                "and reading goes on",
                event.file,
                event.offset,
                rule,
                type(exc).__name__,
                exc,
            )
            key = failure_key(rule, event)
            self._failed.append((key, f"(rule {rule})", event.raw, f"{type(exc).__name__}: {exc}"))

    def _check_silences(self) -> list[Message]:
        """Read the silences again: those in force hold alerts back from now on; those that ended having
        held something back are told to their rules' notifiers (the messages returned)."""
        self._silences_at = time.monotonic()
        now = time.time()
        try:
            current = silence.listing(self.store.db, since=now)
            ended = silence.ended_unnoticed(self.store.db, now)
        except sqlite3.Error as exc:
            if not self._silence_error:
                log.error("%s: cannot read the silences (%s): the last ones read stay in force", self.store.path, exc)
            self._silence_error = True
            return []
        self._silence_error = False
        in_force = [s for s in current if s.in_force(now)]
        seen = tuple((s.id, s.rule, s.when, s.ends_at) for s in in_force)
        if seen != self._silences:
            before = {x[0] for x in self._silences}
            for s in in_force:
                if s.id not in before:
                    log.info("silence %d in force until %s: %s", s.id, silence.when_text(s.ends_at), s.describe())
            for gone in before - {s.id for s in in_force}:
                log.info("silence %d has ended", gone)
            self._silences = seen
            matcher = silence.Matcher(in_force)
            self.pipeline.silence = matcher.match if matcher else None  # none in force, or none applicable
        out: list[Message] = []
        for s, rules in ended:
            if s.id in self._noticed:
                continue
            names = {n for r in self.pipeline.ruleset.rules if r.name in rules for n in r.notify}
            self._noticed.add(s.id)  # marked once the message is committed (or at once, with no notifier)
            text = (
                f"Silence {s.id} ({s.describe()}) ended {silence.when_text(s.ends_at)}: it held back {s.silenced} "
                f"alert(s) of {', '.join(sorted(rules))}. See them with `kong-tailer silence show {s.id}`."
            )
            out += notices.notice(
                names, f"silence-{s.id}-ended", "silence_ended", "Silence ended", text, now, self._host()
            )
        return out

    def _self_check(self) -> list[Message]:
        """Raise and resolve self-alerts: logged, in STATUS= and the metrics, and told to the notifiers (a
        failing notifier is not told about itself)."""
        self._checked_at = time.monotonic()
        now = time.time()
        problems = selfcheck.stalled(self.follower.written(), self.opts.stall_after)
        problems += selfcheck.failing(
            {n: s.failing_since for n, s in self.senders.items()}, now, self.opts.failing_after
        )
        started, ended = self.checks.update(problems)
        out: list[Message] = []
        for p, over in [(p, False) for p in started] + [(p, True) for p in ended]:
            if over:
                log.warning("resolved: %s %s", p.check, p.subject)
            else:
                log.error("self-check: %s", p.text)
            names = [n for n in self.notifiers if not (p.check == "failing" and n == p.subject)]
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
            silenced=dict(self.silenced_by_rule),
            notifiers={name: dict(sender.counts) for name, sender in self.senders.items()},
            problems=sorted(self.checks.open),
            reloads=dict(self.reloads),
        )

    def _host(self) -> str:
        return self.opts.read.ctx.host

    def _commit(self, messages: list[Message]) -> bool:
        """Save a batch; False (and the batch kept by the caller) when the state disk refuses it."""
        rows = [(m.key, m.notifier, self.notifiers[m.notifier].destination.render(m)) for m in messages]
        failed = self._failed
        held = self._held
        for silence_id, alert in self.pipeline.held:
            self.silenced_by_rule[alert.rule.name] += 1
            held.append(Held(silence_id, alert.rule.name, alert.key, alert.time.timestamp(), silence.held_text(alert)))
        self.pipeline.held.clear()
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
            now = time.time()
            self.store.commit(rows, self.follower.positions_now(), state, now=now, failed=failed, held=held)
            self.follower.done.clear()
            failed.clear()
            held.clear()
            for silence_id in self._noticed:
                silence.mark_noticed(self.store.db, silence_id)
            self._noticed.clear()
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

    def _disk_pause(self) -> float:
        self._disk_tries += 1
        return min(30.0, 0.5 * 2.0 ** min(self._disk_tries, 10))


def _fingerprint(config: NotifierConfig, environ: Mapping[str, str]) -> tuple[Any, ...]:
    """What makes a notifier's deliveries what they are: its settings and its secrets as they resolve now."""
    secrets = tuple(secret_option(config, what, environ) for what in ("url", "secret") if config.type != "console")
    return (config.type, config.rate, config.burst, repr(sorted(config.options.items())), secrets)
