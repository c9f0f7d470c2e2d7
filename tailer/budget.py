"""A notifier's budget: at most `rate` messages per second of event time (Slack: 1 per webhook).

Within budget an alert goes out as its own message. Over it, alerts wait in a backlog, and the backlog goes
out as one digest when a message may be sent again; while the storm lasts, the wait between digests doubles
(1 s, 2 s, 4 s ... up to `max_wait`), so a storm of any size costs a handful of messages, with exact counts.
Once calm returns, alerts go out one by one again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from tailer.alerts import Alert, Message

MAX_WAIT = 60.0  # the longest wait between two digests of one storm, in seconds


class Budget:
    def __init__(self, notifier: str, rate: float | None, burst: int = 1, max_wait: float = MAX_WAIT) -> None:
        self.notifier = notifier
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.held: Counter[str] = Counter()  # per rule: alerts that went out in a digest
        self._tokens = float(burst)
        self._refilled: float | None = None
        self._backlog: list[Alert] = []
        self._due = 0.0
        self._wait = 1.0 / rate if rate else 0.0
        self._last_digest: float | None = None

    def offer(self, alert: Alert, t: float) -> list[Message]:
        """An alert at event time `t`: the messages that may go out now (possibly none)."""
        out = self.tick(t)
        if self.rate is None:
            out.append(Message(self.notifier, [alert], alert.time))
            return out
        self._refill(t)
        if not self._backlog:
            if self._last_digest is not None and t >= self._last_digest + 2 * self._wait:
                self._wait = 1.0 / self.rate  # calm again
            if self._tokens >= 1:
                self._tokens -= 1
                out.append(Message(self.notifier, [alert], alert.time))
                return out
            self._due = t + max(self._wait, (1 - self._tokens) / self.rate)
        self._backlog.append(alert)
        return out

    def tick(self, now: float) -> list[Message]:
        """Event time reached `now`: the digests that fell due by then, each at the time it fell due (so
        when time is looked at, per event or per batch, changes nothing)."""
        out: list[Message] = []
        while self._backlog and self.rate is not None and now >= self._due:
            at = self._due
            self._refill(at)
            if self._tokens < 1:
                self._due = at + (1 - self._tokens) / self.rate
                continue
            self._tokens -= 1
            self._wait = min(self._wait * 2, self.max_wait)
            self._last_digest = at
            out.append(self._digest(datetime.fromtimestamp(at, UTC)))
        return out

    def finish(self) -> list[Message]:
        """The input ended: the backlog goes out now."""
        if not self._backlog:
            return []
        last = max(a.time for a in self._backlog)
        return [self._digest(last)]

    def _digest(self, time: datetime) -> Message:
        backlog, self._backlog = self._backlog, []
        if len(backlog) > 1:
            for alert in backlog:
                self.held[alert.rule.name] += 1
        return Message(self.notifier, backlog, time)

    def _refill(self, t: float) -> None:
        assert self.rate is not None
        if self._refilled is not None and t > self._refilled:
            self._tokens = min(float(self.burst), self._tokens + (t - self._refilled) * self.rate)
        if self._refilled is None or t > self._refilled:
            self._refilled = t
