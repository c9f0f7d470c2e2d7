"""`kong-tailer replay`: the rules over whole log files, as the daemon would have run them.

The files' events are merged in time order (so `error.log.2.gz error.log.1 error.log`, or an error log and its
access log, are read as one timeline), go through the same `Pipeline` as the daemon's, and each message that
comes out is printed (dry run) or collected and delivered (`--send`). A summary per rule goes to stderr.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, TextIO

import click

from tailer.alerts import Message
from tailer.commands.parse import untimed
from tailer.errors import ConfigError
from tailer.events import Error, Event, EventHook, Inspect
from tailer.lines import generation_key
from tailer.notify.build import policy_for
from tailer.notify.deliver import Deliverer, Job
from tailer.notify.registry import destination_for, type_of
from tailer.pipeline import Pipeline
from tailer.reader import ReadOptions
from tailer.rules.load import load_rules
from tailer.rules.model import NotifierConfig
from tailer.sources import FileEvents, open_log

BATCH = 2048  # events handed to the pipeline at a time
DROPS = ("snooze", "unique", "realert")  # the engine's reasons for dropping a match
PROGRESS_FROM = 32 << 20  # show a progress bar on a terminal for inputs larger than this many bytes


@dataclass(frozen=True)
class ReplayOptions:
    rules: str
    read: ReadOptions
    only: tuple[str, ...] = ()
    send: bool = False
    since: datetime | None = None
    until: datetime | None = None
    as_json: bool = False


def parse_time(text: str | None, zone: tzinfo, option: str) -> datetime | None:
    """An ISO 8601 time (`2025-01-15T10:00`, `2025-01-15 10:00:00+01:00`); without an offset, in `zone`."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not an ISO 8601 time (e.g. 2025-01-15T10:00:00+00:00)") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=zone)


def _generation_keys(files: list[FileEvents]) -> dict[str, str]:
    """Each file's generation key (alert keys hold it), known once its first line is read: its origin, made
    distinct among files that start alike, as the daemon makes it."""
    out: dict[str, str] = {}
    for f in files:
        if f.origin:
            out[f.path] = generation_key(f.origin, set(out.values()))
    return out


def run_replay(paths: Sequence[str], opts: ReplayOptions, out: TextIO, err: TextIO) -> int:
    ruleset = load_rules(opts.rules, opts.only)
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
        origins = _generation_keys(files)
        outcome = pipeline.feed(batch, origins=origins)
        for failure in outcome.failures:
            event, exc = failure.event, failure.error
            err.write(
                f"kong-tailer: error: {event.where()}: rule {failure.rule!r} failed on this entry "
                f"({type(exc).__name__}: {exc}); the rule passed over it\n"
            )
        return outcome.messages

    batch: list[Event] = []
    with _progress(files, err) as advance:
        for event in _timeline(files, opts.since, opts.until):
            batch.append(event)
            if len(batch) >= BATCH:
                emit(feed(batch))
                batch = []
                advance()
        emit(feed(batch))
        emit(pipeline.finish().messages)
        advance()
    for f in files:
        err.write(f"kong-tailer: {f.path}: {f.fmt} log, {f.stats['lines']} lines{untimed(f.stats)}\n")
    _summary(pipeline, err)
    if not opts.send:
        return 0
    return _deliver(sent, ruleset.notifiers, out, err)


def _timeline(files: list[FileEvents], since: datetime | None, until: datetime | None) -> Iterator[Event]:
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


def _deliver(messages: list[Message], notifiers: dict[str, NotifierConfig], out: TextIO, err: TextIO) -> int:
    by_notifier: dict[str, list[Message]] = {}
    for m in messages:
        by_notifier.setdefault(m.notifier, []).append(m)
    jobs: list[Job] = []
    for name, batch in by_notifier.items():
        destination, warning = destination_for(notifiers[name], os.environ, out)
        if warning:
            err.write(f"kong-tailer: warning: {warning}\n")
        jobs.append((destination, batch, policy_for(notifiers[name])))
    try:
        results = Deliverer().deliver_all(jobs)
    finally:
        for destination, _, _ in jobs:
            transport = getattr(destination, "transport", None)
            if transport is not None:
                transport.close()
    status = 0
    for name, rs in results.items():
        dead = [r for r in rs if r.outcome.status != "sent"]
        err.write(f"kong-tailer: {name}: {len(rs) - len(dead)} sent, {len(dead)} failed\n")
        for r in dead:
            err.write(f"kong-tailer: {name}: message {r.key[:12]} not delivered: {r.outcome.reason}\n")
            status = 1
    return status
