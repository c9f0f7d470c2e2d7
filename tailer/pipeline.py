"""The one place the stage order is written: events → correlation → rules → silences → notifier budgets →
messages.

Both drivers use it through this narrow interface and nothing else: `replay` feeds it the events of whole
files, the daemon those of the lines it just read.

    feed(events, origins=, requests=)   one batch, in log order → Outcome
    advance(now)                        event time moved on with no event (the daemon's idle timer) → Outcome
    now                                 the latest event time it knows (None before the first event)
    finish()                            the input ended: open groups and backlogs go out → Outcome
    hold_back(match)                    the silences in force (None: none); a held alert goes to Outcome.held
    state() / restore(state)            the rules' state as a plain, versioned value (tailer.snapshot saves it)

It is pure: time is the events' time, and nothing here reads a clock, a file or a socket. `QuietClock` is how
the daemon tells the time of a log that has gone quiet (the `now` it passes to `advance`), from the monotonic
time it is given.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tailer.alerts import Alert, Message
from tailer.budget import Budget
from tailer.correlate import Correlator
from tailer.events import Event
from tailer.parse.base import ParseContext
from tailer.rules.engine import Engine
from tailer.rules.expr import statuses
from tailer.rules.model import RuleSet

STATE_VERSION = 1  # of `PipelineState`: a snapshot of another version is not read back
Silence = Callable[[Alert], int | None]  # the id of the silence holding an alert back, or None


@dataclass(frozen=True, slots=True)
class Failure:
    """A rule raised on an event (a bug, or a value no one foresaw): the event is lost to that rule only."""

    rule: str
    event: Event
    error: Exception

    @property
    def key(self) -> str:
        """The outbox key of the entry: the same entry read again is the same failure."""
        return failure_key(self.rule, self.event)


@dataclass(slots=True)
class Outcome:
    """What one step of the pipeline let out."""

    messages: list[Message] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    held: list[tuple[int, Alert]] = field(default_factory=list)  # (silence id, alert) held back by silences


@dataclass(slots=True)
class PipelineState:
    """The rules' state between two batches: windows, snooze digests, open groups, budgets' backlogs and the
    error entries waiting for their request. Each part is a plain mapping of its owner's making."""

    engine: dict[str, Any]
    rules: dict[str, dict[str, Any]]  # by rule name: restored into the rule of that name, if there is one
    correlator: dict[str, Any]
    budgets: dict[str, dict[str, Any]]  # by notifier name
    version: int = STATE_VERSION


class Pipeline:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._correlator = Correlator()
        self._engine = Engine(ruleset.rules)
        used = sorted({n for rule in ruleset.rules for n in rule.notify})
        self._budgets = {n: Budget(n, ruleset.notifiers[n].rate, ruleset.notifiers[n].burst) for n in used}
        self._silence: Silence | None = None

    # -- what the rules need read

    def parse_context(self, ctx: ParseContext) -> ParseContext:
        """`ctx` told what these rules need read: the request statuses to make events of, whether to count
        the others. Both drivers read their files with it."""
        return replace(ctx, statuses=self.http_statuses(), tallies=bool(self._engine.counting))

    def http_statuses(self) -> frozenset[int] | None:
        """The request statuses some rule may want as events (None: every one from 400 up); the parser only
        counts the others, which is all that rules over counts need."""
        wanted: set[int] = set()
        for rule in self.ruleset.rules:
            if rule.kind not in (None, "http"):
                continue
            if rule.counts_all_requests:  # counts; events only where its aggregation wants them (a ratio's `when`)
                assert rule.aggregation is not None
                codes = rule.aggregation.statuses(rule.settings)
                if codes is None:
                    return None
                wanted |= codes
                continue
            codes = statuses(rule.when) if rule.when is not None else None
            if codes is None:
                return None
            wanted |= codes
        return frozenset(c for c in wanted if c >= 400)

    # -- the steps

    def feed(self, events: list[Event], *, origins: Mapping[str, str] | None = None, requests: bool = True) -> Outcome:
        """What the events of one batch (in log order) let out. `origins`: which generation of each file they
        come from (`lines.origin`; alert keys hold it). `requests`: an access log is being read, so error
        entries are kept for the request line that explains them (False: only error logs are read)."""
        if origins:
            self._engine.note_origins(origins)
        self._correlator.joining = requests
        out = Outcome()
        alerts = self._engine.feed(self._correlator.join(events))
        self._route(alerts, self._engine.now, out)
        out.failures = [Failure(rule, event, exc) for rule, event, exc in self._engine.take_failures()]
        return out

    @property
    def now(self) -> float | None:
        """The latest event time it knows, in seconds since the epoch (None before the first event)."""
        return self._engine.now

    def advance(self, now: float) -> Outcome:
        """Event time moved on to `now` (seconds since the epoch) with no event."""
        out = Outcome()
        self._route(self._engine.advance(now), now, out)
        return out

    def finish(self) -> Outcome:
        """The input ended: flush every open group and backlog."""
        out = Outcome()
        self._route(self._engine.finish(), self._engine.now, out)
        for budget in self._budgets.values():
            out.messages.extend(budget.finish())
        return out

    def hold_back(self, silence: Silence | None) -> None:
        """From now on, alerts `silence` names an id for are held back (Outcome.held), before any budget."""
        self._silence = silence

    def _route(self, alerts: Iterable[Alert], now: float | None, out: Outcome) -> None:
        messages = out.messages
        silence = self._silence
        budgets = self._budgets
        for alert in alerts:
            if silence is not None:
                held = silence(alert)
                if held is not None:
                    out.held.append((held, alert))
                    continue
            t = alert.time.timestamp()
            for name in alert.rule.notify:
                messages.extend(budgets[name].offer(alert, t))
        if now is not None:
            for budget in budgets.values():
                messages.extend(budget.tick(now))

    # -- what it knows

    def stats(self) -> dict[str, Counter[str]]:
        """Per rule: events matched, alerts, and what was suppressed by which step."""
        stats = self._engine.stats()  # fresh counters, ours to add to
        for budget in self._budgets.values():
            for rule, n in budget.held.items():
                stats[rule][f"budget:{budget.notifier}"] += n
        return stats

    def state(self) -> PipelineState:
        engine, rules = self._engine.state()
        return PipelineState(
            engine, rules, self._correlator.state(), {name: b.state() for name, b in self._budgets.items()}
        )

    def restore(self, state: PipelineState) -> None:
        """Go on from `state`, saved by a pipeline whose rules and notifiers may differ from ours: the state of
        a rule or budget that is gone is dropped, a new one starts afresh."""
        self._engine.restore(state.engine, state.rules)
        self._correlator.restore(state.correlator)
        for name, budget in self._budgets.items():
            if name in state.budgets:
                budget.restore(state.budgets[name])

    def wrap_rules(self, wrap: Callable[[str, Callable[..., None]], Callable[..., None]]) -> None:
        """Replace each rule's step by `wrap(rule name, step)` (the fault-injection tests, tailer.faults)."""
        self._engine.wrap_rules(wrap)


class QuietClock:
    """The log's time while no line comes: the latest log time seen, moved on by the monotonic time elapsed
    since it was seen. Never the wall clock: rule time is log time, and a wall clock that is off or steps
    (either way) would close windows an hour early or hold them open for an hour. A log time ahead of this
    count (a line written later than it was read) becomes the new start; one behind it changes nothing. Pure:
    the monotonic time is given."""

    def __init__(self) -> None:
        self._log: float | None = None  # a log time seen
        self._seen = 0.0  # the monotonic time it was seen at

    def saw(self, log_time: float | None, mono: float) -> None:
        """The log's time was `log_time` (None: not known yet) at monotonic time `mono`."""
        if log_time is not None and (self._log is None or log_time > self._log + (mono - self._seen)):
            self._log, self._seen = log_time, mono

    def at(self, mono: float) -> float | None:
        """The log's time at monotonic time `mono`; None until a log time was seen."""
        return None if self._log is None else self._log + (mono - self._seen)


def failure_key(rule: str, event: Event) -> str:
    """The outbox key of an entry a rule failed on: the same entry read again is the same failure."""
    text = f"{rule}\0{event.file}\0{event.offset}\0{event.raw}"
    return "failed-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:25]
