"""The one place the stage order is written: events → correlation → rules → notifier budgets → messages.

Both drivers use it: `replay` feeds it the events of whole files, the daemon those of the lines it just read.
It is pure: time is the events' time; `advance(t)` lets the daemon move time on when no event comes.
The daemon may set `silence` (tailer.silence): alerts it holds back go to `held` instead of the budgets.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace

from tailer.alerts import Alert, Message
from tailer.budget import Budget
from tailer.correlate import Correlator
from tailer.events import Event
from tailer.parse.base import ParseContext
from tailer.rules.engine import Engine
from tailer.rules.expr import statuses
from tailer.rules.model import RuleSet


class Pipeline:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.correlator = Correlator()
        self.engine = Engine(ruleset.rules)
        used = sorted({n for rule in ruleset.rules for n in rule.notify})
        self.budgets = {n: Budget(n, ruleset.notifiers[n].rate, ruleset.notifiers[n].burst) for n in used}
        self.silence: Callable[[Alert], int | None] | None = None  # the id of the silence holding an alert back
        self.held: list[tuple[int, Alert]] = []  # alerts silences held back, for the caller to take

    @property
    def needs_tallies(self) -> bool:
        """Some rule counts every request, so the parser must count those it does not make events of."""
        return bool(self.engine.counting)

    def parse_context(self, ctx: ParseContext) -> ParseContext:
        """`ctx` told what these rules need read: the request statuses to make events of, whether to count
        the others. Both drivers read their files with it."""
        return replace(ctx, statuses=self.http_statuses(), tallies=self.needs_tallies)

    def http_statuses(self) -> frozenset[int] | None:
        """The request statuses some rule may want as events (None: every one from 400 up); the parser only
        counts the others, which is all that rules over counts need."""
        wanted: set[int] = set()
        for rule in self.ruleset.rules:
            if rule.kind not in (None, "http"):
                continue
            if rule.counts_all_requests:  # counts; events only where a ratio's `when` may hold
                if rule.ratio is not None:
                    codes = statuses(rule.ratio.when)
                    if codes is None:
                        return None
                    wanted |= codes
                continue
            codes = statuses(rule.when) if rule.when is not None else None
            if codes is None:
                return None
            wanted |= codes
        return frozenset(c for c in wanted if c >= 400)

    def feed(self, events: list[Event]) -> list[Message]:
        """The messages that the events of one batch (in log order) let go out."""
        alerts = self.engine.feed(self.correlator.join(events))
        return self._route(alerts, self.engine.now)

    def advance(self, now: float) -> list[Message]:
        """Event time moved on to `now` (seconds since the epoch) with no event."""
        return self._route(self.engine.advance(now), now)

    def finish(self) -> list[Message]:
        """The input ended: flush every open group and backlog."""
        out = self._route(self.engine.finish(), self.engine.now)
        for budget in self.budgets.values():
            out.extend(budget.finish())
        return out

    def _route(self, alerts: Iterable[Alert], now: float | None) -> list[Message]:
        out: list[Message] = []
        silence = self.silence
        for alert in alerts:
            if silence is not None:
                held = silence(alert)
                if held is not None:
                    self.held.append((held, alert))
                    continue
            t = alert.time.timestamp()
            for name in alert.rule.notify:
                out.extend(self.budgets[name].offer(alert, t))
        if now is not None:
            for budget in self.budgets.values():
                out.extend(budget.tick(now))
        return out

    def stats(self) -> dict[str, Counter[str]]:
        """Per rule: events matched, alerts, and what was suppressed by which step."""
        stats = self.engine.stats()  # fresh counters, ours to add to
        for budget in self.budgets.values():
            for rule, n in budget.held.items():
                stats[rule][f"budget:{budget.notifier}"] += n
        return stats


def failure_key(rule: str, event: Event) -> str:
    """The outbox key of an entry a rule failed on: the same entry read again is the same failure."""
    text = f"{rule}\0{event.file}\0{event.offset}\0{event.raw}"
    return "failed-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:25]
