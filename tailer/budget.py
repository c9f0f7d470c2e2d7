"""A notifier's budget: at most `rate` messages per second of event time (Slack: 1 per webhook).

Within budget an alert goes out as its own message. Over it, alerts wait in a backlog, and the backlog goes
out as one digest when a message may be sent again; while the storm lasts, the wait between digests doubles
(1 s, 2 s, 4 s ... up to `max_wait`), so a storm of any size costs a handful of messages, with exact counts.
Once calm returns, alerts go out one by one again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tailer.alerts import Alert, Message

MAX_WAIT = 60.0  # the longest wait between two digests of one storm, in seconds


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; starts full. Time is given, never read: log time for
    a budget, the monotonic clock for delivery. Time going back adds nothing."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.tokens = float(self.burst)
        self.updated: float | None = None

    def _refill(self, now: float) -> None:
        if self.updated is None or now > self.updated:
            if self.updated is not None:
                self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds from `now` until a token is there (0 when one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1


class Budget:
    STATE = ("_bucket", "_backlog", "_due", "_wait", "_last_digest")

    def __init__(self, notifier: str, rate: float | None, burst: int = 1, max_wait: float = MAX_WAIT) -> None:
        self.notifier = notifier
        self.max_wait = max_wait
        self.held: Counter[str] = Counter()  # per rule: alerts that went out in a digest
        self._bucket = TokenBucket(rate, burst) if rate else None
        self._backlog: list[Alert] = []
        self._due = 0.0
        self._wait = 1.0 / rate if rate else 0.0
        self._last_digest: float | None = None

    def offer(self, alert: Alert, t: float) -> list[Message]:
        """An alert at event time `t`: the messages that may go out now (possibly none)."""
        out = self.tick(t)
        bucket = self._bucket
        if bucket is None:
            out.append(Message(self.notifier, [alert], alert.time))
            return out
        if not self._backlog:
            if self._last_digest is not None and t >= self._last_digest + 2 * self._wait:
                self._wait = 1.0 / bucket.rate  # calm again
            wait = bucket.wait(t)
            if not wait:
                bucket.take(t)
                out.append(Message(self.notifier, [alert], alert.time))
                return out
            self._due = t + max(self._wait, wait)
        self._backlog.append(alert)
        return out

    def tick(self, now: float) -> list[Message]:
        """Event time reached `now`: the digests that fell due by then, each at the time it fell due (so
        when time is looked at, per event or per batch, changes nothing)."""
        out: list[Message] = []
        bucket = self._bucket
        if bucket is None and self._backlog:  # the rate was taken away by a reload: no reason to hold them
            out.append(self._digest(datetime.fromtimestamp(now, UTC)))
        while self._backlog and bucket is not None and now >= self._due:
            at = self._due
            wait = bucket.wait(at)
            if wait:
                self._due = at + wait
                continue
            bucket.take(at)
            self._wait = min(self._wait * 2, self.max_wait)
            self._last_digest = at
            out.append(self._digest(datetime.fromtimestamp(at, UTC)))
        return out

    def state(self) -> dict[str, Any]:
        """The backlog, the bucket and the storm's pace, as a plain mapping (a snapshot)."""
        return {name: getattr(self, name) for name in self.STATE}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from `state`, saved by this notifier's budget then: the backlog's alerts of rules that are
        gone (read back as None) are dropped; the rate is the one configured now, with the tokens saved."""
        configured = self._bucket
        for name in self.STATE:
            if name in state:
                setattr(self, name, state[name])
        self._backlog = [a for a in self._backlog if a.rule is not None]
        saved = self._bucket
        if configured is None or saved is None:
            self._bucket = configured
        else:
            saved.rate, saved.burst = configured.rate, configured.burst
            saved.tokens = min(saved.tokens, float(saved.burst))

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
