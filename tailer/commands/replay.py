"""`kong-tailer replay`: the rules over whole log files, as the daemon would have run them.

The files' events are merged in time order (so `error.log.2.gz error.log.1 error.log`, or an error log and its
access log, are read as one timeline), go through the same `Pipeline` as the daemon's, and each message that
comes out is printed (dry run) or collected and delivered (`--send`). A summary per rule goes to stderr.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TextIO

import click

from tailer.alerts import Message
from tailer.commands.parse import untimed
from tailer.errors import ConfigError
from tailer.events import Error, Event, EventHook, Inspect
from tailer.lines import generation_key
from tailer.notify import Outcome
from tailer.notify.build import policy_for
from tailer.notify.deliver import Deliverer, DeliveryPolicy, Destination, Result
from tailer.notify.registry import destination_for, ready, type_of
from tailer.pipeline import Pipeline
from tailer.reader import ReadOptions
from tailer.rules.load import duration, load_rules
from tailer.rules.model import NotifierConfig
from tailer.sources import FileEvents, open_log

BATCH = 2048  # events handed to the pipeline at a time
DROPS = ("snooze", "unique", "realert")  # the engine's reasons for dropping a match
PROGRESS_FROM = 32 << 20  # show a progress bar on a terminal for inputs larger than this many bytes
INTERRUPTED = 130  # the exit code after Ctrl-C, as tailer.cli's (128 + SIGINT, as a shell reports it)


@dataclass(frozen=True)
class ReplayOptions:
    rules: str
    read: ReadOptions
    only: tuple[str, ...] = ()
    send: bool = False
    since: datetime | None = None
    until: datetime | None = None
    as_json: bool = False


def parse_time(text: str | None, zone: tzinfo, option: str, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time (`2025-01-15T10:00`, `2025-01-15 10:00:00+01:00`; without an offset, in `zone`), or a
    time ago, as journalctl takes it: `1h`, `30m`, `2d`, `1h30m`, `-1h`, `1h ago`, `now` (from `now`, which
    defaults to the wall clock's time)."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        ago = _ago(text)
        if ago is None:
            raise ConfigError(
                f"{option} {text!r}: not a time: give an ISO 8601 time (2025-01-15T10:00:00+00:00) or a time ago "
                "(1h, 30m, 2d)"
            ) from None
        return (now or datetime.now(UTC)) - timedelta(seconds=ago)
    return t if t.tzinfo is not None else t.replace(tzinfo=zone)


def _ago(text: str) -> float | None:
    """Seconds ago in `1h`, `-1h`, `1h ago`, `now`; None when `text` says no such thing (a bare number is
    not taken: it may be a mistyped year)."""
    m = re.fullmatch(r"\s*-?\s*(.*?)(?:\s+ago)?\s*", text)
    words = m.group(1) if m else ""
    if words == "now":
        return 0.0
    if not re.search(r"[a-zA-Z]", words):
        return None
    try:
        return duration(words)
    except ValueError:
        return None


def generation_keys(files: list[FileEvents]) -> dict[str, str]:
    """Each file's generation key (alert keys hold it), known once its first line is read: its origin, made
    distinct among files that start alike, as the daemon makes it."""
    out: dict[str, str] = {}
    for f in files:
        if f.origin:
            out[f.path] = generation_key(f.origin, set(out.values()))
    return out


def run_replay(paths: Sequence[str], opts: ReplayOptions, out: TextIO, err: TextIO) -> int:
    if opts.since is not None and opts.until is not None and opts.since >= opts.until:
        raise ConfigError(
            f"--since {opts.since.isoformat()} is not before --until {opts.until.isoformat()}: no event can be "
            "in between"
        )
    ruleset = load_rules(opts.rules, opts.only)
    if opts.send:  # a secret that cannot be read stops the replay before any log is read, as it stops `run`
        nowhere = []
        for name in sorted({n for rule in ruleset.rules for n in rule.notify}):
            warning = ready(ruleset.notifiers[name], os.environ)
            if warning is not None:  # not the destination configured (a Slack URL not set): sending to nowhere
                nowhere.append(warning.partition(": its messages go to")[0])
        if nowhere:
            raise ConfigError(
                f"--send has nowhere to send: {'; '.join(nowhere)}. Set it, or leave out --send to print the "
                "messages instead"
            )
    pipeline = Pipeline(ruleset)
    read = replace(opts.read, ctx=pipeline.parse_context(opts.read.ctx))
    files = [FileEvents(path, read) for path in paths]
    for path in paths:  # a file that cannot be opened stops the replay before any message, as open_log says
        if path != "-":
            open_log(path).close()
    sent: list[Message] = []

    def emit(messages: list[Message]) -> None:
        for message in messages:
            if opts.send:
                sent.append(message)
            elif opts.as_json:
                out.write(json.dumps(_json(message, ruleset.notifiers[message.notifier]), ensure_ascii=False) + "\n")
            else:
                out.write(_preview(message, ruleset.notifiers[message.notifier]) + "\n\n")

    def feed(batch: list[Event]) -> list[Message]:
        origins = generation_keys(files)
        outcome = pipeline.feed(batch, origins=origins)
        for failure in outcome.failures:
            event, exc = failure.event, failure.error
            err.write(
                f"kong-tailer: error: {event.where()}: rule {failure.rule!r} failed on this entry "
                f"({type(exc).__name__}: {exc}); the rule passed over it\n"
            )
        return outcome.messages

    batch: list[Event] = []
    try:
        with _progress(files, err) as advance:
            for event in timeline(files, opts.since, opts.until):
                batch.append(event)
                if len(batch) >= BATCH:
                    emit(feed(batch))
                    batch = []
                    advance()
            emit(feed(batch))
            emit(pipeline.finish().messages)
            advance()
    except KeyboardInterrupt:
        if not opts.send:
            raise  # the command line says it
        _break_line(err)  # messages are sent once the logs are read: none has gone out
        err.write("kong-tailer: interrupted while reading the logs: no message was sent\n")
        return INTERRUPTED
    for f in files:
        err.write(f"kong-tailer: {f.path}: {f.fmt} log, {f.stats['lines']} lines{untimed(f.stats)}\n")
    _summary(pipeline, err)
    if not opts.send:
        return 0
    return _deliver(sent, ruleset.notifiers, out, err, opts.as_json)


def timeline(files: list[FileEvents], since: datetime | None, until: datetime | None) -> Iterator[Event]:
    """The events of all files in time order (each file's own order kept), within [since, until)."""
    if len(files) == 1:  # nothing to merge
        events: Iterator[Event] = (event for batch in files[0] for event in batch)
    else:
        events = (keyed[-1] for keyed in heapq.merge(*(_keyed(f, i) for i, f in enumerate(files))))
    for event in events:
        if since is not None or until is not None:
            t = event.time
            if t is None or (since is not None and t < since) or (until is not None and t >= until):
                continue
        yield event


def _keyed(f: FileEvents, index: int) -> Iterator[tuple[float, int, int, int, Event]]:
    """Events with a sort key: time (an event without one takes the time before it), then the error log
    before the access log within a second (Kong writes the error entry first), then file and position."""
    t = 0.0
    n = 0
    for batch in f:
        for event in batch:
            if event.time is not None:
                t = event.time.timestamp()
            n += 1
            yield t, 0 if isinstance(event, Error | EventHook | Inspect) else 1, index, n, event


class _progress:
    """A progress bar over the files' bytes, on a terminal, for inputs large enough to wait for."""

    def __init__(self, files: list[FileEvents], err: TextIO) -> None:
        self.files = files
        sizes = [os.path.getsize(f.path) if f.path != "-" and os.path.isfile(f.path) else 0 for f in files]
        self.total = sum(sizes)
        self.bar: Any = None
        if err.isatty() and self.total >= PROGRESS_FROM:
            self.bar = click.progressbar(length=self.total, label="replaying", file=err)
        self.done = 0

    def __enter__(self) -> Any:
        if self.bar is None:
            return lambda: None
        self.bar.__enter__()

        def advance() -> None:
            position = sum(f.position() for f in self.files)
            self.bar.update(position - self.done)
            self.done = position

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _preview(message: Message, config: NotifierConfig) -> str:
    """A message as a person reads it: what the notifier would show or send."""
    rules = ", ".join(dict.fromkeys(a.rule.name for a in message.alerts))
    head = f"── {config.name} ({config.type}) · {message.time.isoformat()} · {rules} · {message.count} event(s)"
    return f"{head}\n{type_of(config).text(message, config)}"


def _payload(message: Message, config: NotifierConfig) -> Any:
    """What would be sent (the Slack JSON, the webhook body, the command's stdin, the console line), as the
    notifier's type previews it: no secret is needed."""
    return type_of(config).payload(message, config)


def _json(message: Message, config: NotifierConfig) -> dict[str, Any]:
    return {
        "notifier": config.name,
        "type": config.type,
        "key": message.key,
        "time": message.time.isoformat(),
        "rules": sorted({a.rule.name for a in message.alerts}),
        "alerts": len(message.alerts),
        "count": message.count,
        "payload": _payload(message, config),
    }


def _summary(pipeline: Pipeline, err: TextIO) -> None:
    """Per rule: `12 matched, 3 alerts; dropped: 9 by snooze; folded: 2 by grouping, 4 into slack digests`."""
    for name, stats in pipeline.stats().items():
        dropped = [f"{n} by {reason}" for reason, n in sorted(stats.items()) if reason in DROPS and n]
        folded = [f"{stats['grouped']} by grouping"] if stats["grouped"] else []
        folded += [f"{n} into {r.split(':', 1)[1]} digests" for r, n in sorted(stats.items()) if r[:7] == "budget:"]
        err.write(
            f"kong-tailer: rule {name}: {stats['matched']} matched, {stats['alerts']} alerts"
            + (f"; dropped: {', '.join(dropped)}" if dropped else "")
            + (f"; folded: {', '.join(folded)}" if folded else "")
            + "\n"
        )


def _break_line(err: TextIO) -> None:
    """After Ctrl-C on a terminal, what is said starts on a line of its own, not after the `^C` echoed."""
    if err.isatty():
        err.write("\n")


class _Stopped(BaseException):
    """Delivery stopped by Ctrl-C. Not an Exception: the deliverer takes an Exception out of a destination for
    the failure of the message at hand, and dead-letters it."""


class _Tracked:
    """A destination that notes the key of each message it delivered, and sends nothing once stopped."""

    def __init__(self, destination: Destination, stop: threading.Event) -> None:
        self.destination = destination
        self.stop = stop
        self.delivered: list[str] = []  # keys, in the order they went out
        self.current = ""  # the key of the message being sent (one at a time per destination)

    @property
    def name(self) -> str:
        return self.destination.name

    def render(self, message: Message) -> str:
        self.current = message.key
        return self.destination.render(message)

    def send(self, payload: str) -> Outcome:
        if self.stop.is_set():
            raise _Stopped
        outcome = self.destination.send(payload)
        if outcome.status == "sent":
            self.delivered.append(self.current)
        return outcome


def _deliver(
    messages: list[Message], notifiers: dict[str, NotifierConfig], out: TextIO, err: TextIO, as_json: bool
) -> int:
    """Send the messages, a thread per notifier; exit code 1 when one could not be delivered. Ctrl-C stops
    the sending: the attempt under way ends, then which messages had gone out is said (their keys and log
    times, and the --since that sends the rest); exit code INTERRUPTED."""
    by_notifier: dict[str, list[Message]] = {}
    for m in messages:
        by_notifier.setdefault(m.notifier, []).append(m)
    stop = threading.Event()

    def pause(seconds: float) -> None:
        if stop.wait(seconds):
            raise _Stopped

    deliverer = Deliverer(sleep=pause)
    jobs: list[tuple[_Tracked, list[Message], DeliveryPolicy]] = []
    for name, batch in by_notifier.items():
        destination, warning = destination_for(notifiers[name], os.environ, out)
        if warning:
            err.write(f"kong-tailer: warning: {warning}\n")
        jobs.append((_Tracked(destination, stop), batch, policy_for(notifiers[name])))
    results: dict[str, list[Result]] = {}

    # Waited for through an Event, not Thread.join: a join that Ctrl-C interrupts takes the thread for ended
    # (Python 3.11), and the attempt under way would then be left out of what is said to have gone out.
    left = [len(jobs)]
    lock = threading.Lock()
    finished = threading.Event()
    if not jobs:
        finished.set()

    def run(destination: _Tracked, batch: list[Message], policy: DeliveryPolicy) -> None:
        try:
            with contextlib.suppress(_Stopped):
                results[destination.name] = deliverer.deliver(destination, batch, policy)
        finally:
            with lock:
                left[0] -= 1
                if not left[0]:
                    finished.set()

    threads = [threading.Thread(target=run, args=job, name=f"deliver-{job[0].name}", daemon=True) for job in jobs]
    try:
        for thread in threads:
            thread.start()
        try:
            finished.wait()
        except KeyboardInterrupt:
            stop.set()
            finished.wait()  # an attempt under way ends (within the notifier's timeout)
            _interrupted(messages, {t.name: t.delivered for t, _, _ in jobs}, notifiers, out, err, as_json)
            return INTERRUPTED
    finally:
        for tracked, _, _ in jobs:
            transport = getattr(tracked.destination, "transport", None)
            if transport is not None:
                transport.close()
    outcomes = {(name, r.key): r.outcome for name, rs in results.items() for r in rs}
    if as_json:
        for m in messages:
            outcome = outcomes[(m.notifier, m.key)]
            ok = outcome.status == "sent"
            line = _json(m, notifiers[m.notifier]) | {"delivered": ok, "error": None if ok else outcome.reason}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    status = 0
    for name, rs in results.items():
        dead = [r for r in rs if r.outcome.status != "sent"]
        err.write(f"kong-tailer: {name}: {len(rs) - len(dead)} sent, {len(dead)} failed\n")
        for r in dead:
            err.write(f"kong-tailer: {name}: message {r.key[:12]} not delivered: {r.outcome.reason}\n")
            status = 1
    return status


def _interrupted(
    messages: list[Message],
    delivered: dict[str, list[str]],
    notifiers: dict[str, NotifierConfig],
    out: TextIO,
    err: TextIO,
    as_json: bool,
) -> None:
    """What had gone out when Ctrl-C stopped the sending: each message sent, by notifier, with its key and log
    time; the log time of the last one sent and the --since that replays what was not."""
    went = {(name, key) for name, keys in delivered.items() for key in keys}
    sent = [m for m in messages if (m.notifier, m.key) in went]
    rest = [m for m in messages if (m.notifier, m.key) not in went]
    if as_json:
        for m in sent:
            line = _json(m, notifiers[m.notifier]) | {"delivered": True, "error": None}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    _break_line(err)
    if not sent:
        err.write(f"kong-tailer: interrupted while sending: none of the {len(messages)} message(s) had gone out\n")
        return
    err.write(f"kong-tailer: interrupted while sending: {len(sent)} of {len(messages)} message(s) had gone out:\n")
    for m in sent:
        err.write(f"kong-tailer: {m.notifier}: sent {m.key[:12]} (log time {m.time.isoformat()})\n")
    last = max(m.time for m in sent)
    if rest:
        first = min(m.time for m in rest)
        err.write(
            f"kong-tailer: the last one sent is of {last.isoformat()}; the first not sent of {first.isoformat()}: "
            f"to send the rest, replay again with --since {first.isoformat()} (a message sent already is known "
            "by its key, above)\n"
        )
