"""The sender: one thread per notifier drains its part of the outbox, oldest first, under the delivery rules
of `notify.deliver` (rate, 429 pauses, backoff until `retry_for`, dead letters). The reader never waits on it.

A row is committed `sending` before its attempt and `sent` right after it, so a crash in between leaves at
most one message that may go twice (the outbox's `recover()` says which). When a notifier whose destination
folds (`deliver.Folding`: a Slack webhook) has fallen behind, and `FOLD_FROM` messages or more are due, up to
`FOLD_MAX` of them go out as one backlog message that lists each one's text and key (`destination.fold`), and are
all marked sent together. Behind means the destination failed (the sender is failing, or the messages were tried
before a restart) or the notifier's rate would not let them all go now; a burst the destination can take goes
out message by message, as `replay --send` sends it.

Waits and the retry budget run on the monotonic clock, so a step of the wall clock, either way, neither holds a
message back nor gives it up early. The outbox keeps wall-clock times (`not_before`, `first_attempt`), to show and
for a restart, where the monotonic clock does not carry over: a wait left from before it is read once, and is at
most the longest wait the notifier's policy can ask for; the retry budget (`retry_for`) counts from a message's
first attempt in the running process (its attempts count on, for the backoff).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from tailer import faults
from tailer.budget import TokenBucket
from tailer.notify import Outcome
from tailer.notify.deliver import MIN_PAUSE, Decision, DeliveryPolicy, Destination, Folding, decide, folding
from tailer.state import Outbox, Row

log = logging.getLogger("tailer.sender")

POLL = 5.0  # seconds between looks at the outbox when nothing is known to be due (dead letters revived...)
FOLD_FROM = 5
FOLD_MAX = 100


class Sender(threading.Thread):
    def __init__(self, destination: Destination, policy: DeliveryPolicy, outbox: Outbox) -> None:
        super().__init__(name=f"send-{destination.name}", daemon=True)
        self.destination = destination
        self.policy = policy
        self.outbox = outbox
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.beat = time.monotonic()  # the last time the loop went round (health)
        self.degraded: str | None = None  # the last dead letter's reason, until something is sent again
        self.unrecorded: tuple[list[Row], Decision] | None = None  # an outcome the outbox could not take yet
        # Messages sent and dead, attempts retried and answered 429 (metrics). Every key is there from the
        # start: another thread copies the counter, and only a new key could change its size under it.
        self.counts: Counter[str] = Counter(sent=0, dead=0, retried=0, rate_limited=0)
        self.failing_since: float | None = None  # monotonic: the first failed attempt since the last success
        # Per message (outbox row id), on the monotonic clock: no attempt before (a wait), and its first attempt
        # in this process (the retry budget). Forgotten once it is sent or dead.
        self._due: dict[int, float] = {}
        self._first: dict[int, float] = {}
        self._bucket = TokenBucket(policy.rate, policy.burst) if policy.rate else None
        self._rng = random.Random()

    def reconfigure(self, destination: Destination, policy: DeliveryPolicy) -> None:
        """A reload changed this notifier: the next attempt goes through `destination`, under `policy`.
        (Payloads are rendered when queued, so what is queued is sent as it was rendered.)"""
        if (policy.rate, policy.burst) != (self.policy.rate, self.policy.burst):
            self._bucket = TokenBucket(policy.rate, policy.burst) if policy.rate else None
        self.destination, self.policy = destination, policy
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        name = self.destination.name
        disk_said: float | None = None  # when a failing outbox write was last logged
        while not self.stopping.is_set():
            self.beat = time.monotonic()
            try:
                wait = self._step(name)
                disk_said = None
            except sqlite3.Error as exc:  # the state disk is full, or gone: said once a minute, tried each second
                if disk_said is None or time.monotonic() - disk_said >= 60:
                    disk_said = time.monotonic()
                    held = "" if self.unrecorded is None else " (an outcome is held in memory until it can be)"
                    log.error("%s: cannot write to the outbox: %s; sending paused%s", name, exc, held)
                wait = 1.0
            except Exception:  # a bug: logged, and tried again a little later
                log.exception("%s: sender failed; retrying", name)
                wait = 1.0
            if wait > 0:
                self.wake.wait(min(wait, POLL))
                self.wake.clear()
        if self.unrecorded is not None:
            keys = " ".join(r.key[:12] for r in self.unrecorded[0])
            log.warning("%s: stopping with the outcome of message %s not written: it may be sent again", name, keys)
        self.outbox.close()

    def _step(self, name: str) -> float:
        """Send what is due: 0 to go on at once, else seconds until something may be due."""
        if self.unrecorded is not None:
            self._record()
        if self._bucket is not None:
            wait = self._bucket.wait(time.monotonic())
            if wait:
                return wait
        folder = folding(self.destination)
        rows = self.outbox.head(name, FOLD_MAX if folder is not None else 1)
        if not rows:
            return POLL
        now = time.monotonic()
        wait = self._wait(rows[0], now)
        if wait > 0:  # messages go in order: while the oldest waits, the others wait behind it
            return wait
        rows = [r for r in rows if self._wait(r, now) <= 0]
        if folder is not None and len(rows) >= FOLD_FROM and self._behind(rows):
            payload = _fold(folder, rows)
        else:
            rows = rows[:1]
            payload = rows[0].payload
        if self._bucket is not None:
            self._bucket.take(now)
        self.outbox.sending(rows, time.time())
        for row in rows:
            self._first.setdefault(row.id, now)
        outcome = self._send(payload)
        faults.point("after_post_before_mark")
        elapsed = time.monotonic() - self._first[rows[0].id]
        decision = decide(outcome, attempts=rows[0].attempts + 1, elapsed=elapsed, policy=self.policy, rng=self._rng)
        self.unrecorded = (rows, decision)  # until the outbox says so: only memory knows it was sent
        self._record()
        return 0.0 if decision.action != "wait" else decision.delay

    def _wait(self, row: Row, now: float) -> float:
        """Seconds from `now` (monotonic) until `row` may be tried. A wait this process did not set (the outbox's
        wall-clock `not_before`, written before a restart) is read once, and cut to the longest wait the policy
        can ask for: a wall clock stepped back since cannot stretch it."""
        due = self._due.get(row.id)
        if due is None:
            if row.not_before <= 0:  # never waited
                return 0.0
            policy = self.policy
            longest = max(policy.max_retry_after, policy.backoff_cap, MIN_PAUSE)
            due = self._due[row.id] = now + max(0.0, min(row.not_before - time.time(), longest))
        return due - now

    def _forget(self, rows: list[Row]) -> None:
        """The rows are sent or dead: their times are no longer needed."""
        for row in rows:
            self._due.pop(row.id, None)
            self._first.pop(row.id, None)

    def _behind(self, rows: list[Row]) -> bool:
        """The due messages piled up because the destination failed (now, or before a restart: they were
        tried already) or because its rate ran out: a backlog to fold. A burst it can take is sent as it is."""
        if self.failing_since is not None or any(r.attempts for r in rows):
            return True
        return self._bucket is not None and self._bucket.tokens < len(rows)

    def _record(self) -> None:
        """Write the outcome of the last attempt; sqlite3.Error (the disk is full) leaves it in memory, and
        nothing is sent until it is written (the next step tries again)."""
        assert self.unrecorded is not None
        rows, decision = self.unrecorded
        name = self.destination.name
        outcome = decision.outcome
        keys = " ".join(r.key[:12] for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
        if decision.action == "done":
            self.outbox.sent(rows, time.time())
            self._forget(rows)
            self.degraded = self.failing_since = None
            self.counts["sent"] += len(rows)
        elif decision.action == "wait":
            self.outbox.retry(rows, time.time() + decision.delay, outcome.reason)  # wall clock: shown, and a restart
            due = time.monotonic() + decision.delay
            self._due.update((r.id, due) for r in rows)
            self.counts["retried"] += 1
            self.failing_since = self.failing_since or time.monotonic()
            log.warning("%s: message %s: retry in %.1f s: %s", name, keys, decision.delay, outcome.reason)
        else:
            self.outbox.dead(rows, outcome.reason)
            self._forget(rows)
            self.degraded = outcome.reason
            self.counts["dead"] += len(rows)
            self.failing_since = self.failing_since or time.monotonic()
            log.error(
                "%s: message %s not delivered, kept as a dead letter (`kong-tailer outbox retry`): %s",
                name,
                keys,
                outcome.reason,
            )
        if outcome.code == 429:  # counted once written: a write that failed runs this again
            self.counts["rate_limited"] += 1
        self.unrecorded = None

    def _send(self, payload: str) -> Outcome:
        faults.point("hang_in_send")
        try:
            return self.destination.send(payload)
        except Exception as exc:  # a bug in a destination: a dead letter, not a dead sender
            log.debug("%s: attempt failed", self.destination.name, exc_info=True)
            return Outcome("dead", f"internal error: {type(exc).__name__}: {exc}")


def _fold(folder: Folding, rows: list[Row]) -> str:
    """One payload for a backlog of rows, as the destination folds them."""
    first = datetime.fromtimestamp(rows[0].created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    last = datetime.fromtimestamp(rows[-1].created_at, UTC).strftime("%H:%M:%S UTC")
    span = f"queued {first} – {last}"
    return folder.fold([r.payload for r in rows], [r.key for r in rows], span)
