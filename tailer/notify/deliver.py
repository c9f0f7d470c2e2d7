"""Delivery rules: a rate per destination, pauses on 429, retries with backoff up to a deadline, dead letters.

One attempt gives an `Outcome`; `decide` (pure) turns it into the next action, so that a persistent outbox can
reuse it:

    sent                         done
    dead                         dead: logged at ERROR (key and reason, never the URL); the next message goes on
    retry with `after`           wait max(after, 1 s), capped at `max_retry_after` (a 429's or 503's Retry-After)
    retry without `after`        wait backoff(attempts - 1): base * 2**n up to `backoff_cap`, times U(0.5, 1)
    next attempt past deadline   dead: "gave up after N attempts over S s: <last reason>"

The deadline is `retry_for` seconds from a message's first attempt, and 429 pauses count toward it (a webhook
that rate-limits us for an hour is as good as down). A 429 without a readable Retry-After gets the backoff.
Every attempt, retries included, first takes a token from the destination's bucket (`rate` per second, `burst`).
Messages to one destination go in order, one at a time: waiting on one message pauses its whole destination,
as Slack asks. `Deliverer.deliver_all` runs each destination in a thread of its own, so a slow or paused
webhook holds up no other.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from tailer.alerts import Message
from tailer.budget import TokenBucket
from tailer.notify import Outcome
from tailer.notify.transport import failure_reason

log = logging.getLogger("tailer.deliver")

MIN_PAUSE = 1.0  # seconds a 429 pauses a destination at least, whatever its Retry-After says


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    rate: float | None = 1.0  # attempts per second per destination; None: no limit
    burst: int = 1
    timeout: float = 10.0  # seconds for one HTTP request or command run
    max_retry_after: float = 300.0
    retry_for: float = 3600.0  # seconds from a message's first attempt until it is given up
    backoff_base: float = 1.0
    backoff_cap: float = 300.0


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["done", "wait", "dead"]
    outcome: Outcome
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Result:
    key: str
    outcome: Outcome  # final: sent or dead
    attempts: int


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry number `attempt + 1`: exponential, capped, with jitter of up to half."""
    return min(cap, base * 2.0 ** min(attempt, 64)) * rng.uniform(0.5, 1.0)


def decide(outcome: Outcome, *, attempts: int, elapsed: float, policy: DeliveryPolicy, rng: random.Random) -> Decision:
    """What to do after `attempts` attempts over `elapsed` seconds, the last of which gave `outcome`."""
    if outcome.status == "sent":
        return Decision("done", outcome)
    if outcome.status == "dead":
        return Decision("dead", outcome)
    if outcome.after is not None:
        delay = min(policy.max_retry_after, max(outcome.after, MIN_PAUSE))
    else:
        delay = backoff(attempts - 1, policy.backoff_base, policy.backoff_cap, rng)
    if elapsed + delay > policy.retry_for:
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        reason = f"gave up after {tries} over {elapsed:.1f} s: {outcome.reason}"
        return Decision("dead", Outcome("dead", reason))
    return Decision("wait", outcome, delay)


class Destination(Protocol):
    """Where a notifier's messages go (each type's module has its own). `render` makes the payload once (the
    outbox stores it, without any secret); `send` makes one try with it and never raises for a failed delivery."""

    @property
    def name(self) -> str: ...

    def render(self, message: Message) -> str: ...

    def send(self, payload: str) -> Outcome: ...


@runtime_checkable
class Folding(Protocol):
    """A destination that can send a backlog of rendered payloads as one message (a Slack webhook does)."""

    def fold(self, payloads: list[str], keys: list[str], span_text: str) -> str: ...


def folding(destination: Destination) -> Folding | None:
    """`destination` when it folds a backlog into one message, else None."""
    return destination if isinstance(destination, Folding) else None


def attempt(destination: Destination, message: Message) -> Outcome:
    return destination.send(destination.render(message))


Job = tuple[Destination, list[Message], DeliveryPolicy]


class Deliverer:
    """Runs the delivery rules. `clock`, `sleep` and `rng` are injectable for tests."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()

    def deliver(
        self, destination: Destination, messages: Iterable[Message], policy: DeliveryPolicy = DeliveryPolicy()
    ) -> list[Result]:
        """Deliver `messages` in order; one final Result each (sent or dead)."""
        bucket = TokenBucket(policy.rate, policy.burst) if policy.rate else None
        return [self._deliver_one(destination, m, policy, bucket) for m in messages]

    def deliver_all(self, jobs: Sequence[Job]) -> dict[str, list[Result]]:
        """Deliver every job at once, one thread per destination; results by destination name."""
        names = [destination.name for destination, _, _ in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"destination names must be distinct: {names}")
        results: dict[str, list[Result]] = {}

        def run(destination: Destination, messages: list[Message], policy: DeliveryPolicy) -> None:
            results[destination.name] = self.deliver(destination, messages, policy)

        threads = [threading.Thread(target=run, args=job, name=f"deliver-{job[0].name}") for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def _deliver_one(
        self, destination: Destination, message: Message, policy: DeliveryPolicy, bucket: TokenBucket | None
    ) -> Result:
        first = self.clock()
        attempts = 0
        while True:
            if bucket is not None:
                self._pause(bucket.wait(self.clock()))
                bucket.take(self.clock())
            outcome = self._attempt(destination, message)
            attempts += 1
            decision = decide(outcome, attempts=attempts, elapsed=self.clock() - first, policy=policy, rng=self.rng)
            if decision.action != "wait":
                break
            log.warning(
                "%s: message %s: retry in %.1f s: %s", destination.name, message.key, decision.delay, outcome.reason
            )
            self._pause(decision.delay)
        if decision.action == "dead":
            log.error("%s: message %s not delivered: %s", destination.name, message.key, decision.outcome.reason)
        return Result(message.key, decision.outcome, attempts)

    def _attempt(self, destination: Destination, message: Message) -> Outcome:
        """One attempt; a bug in a destination dead-letters the message instead of stopping delivery."""
        try:
            return attempt(destination, message)
        except Exception as exc:
            log.debug("%s: message %s: attempt failed", destination.name, message.key, exc_info=True)
            return Outcome("dead", f"internal error: {failure_reason(exc)}")

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)
