"""The daemon's notifiers and their senders: what each notifier the rules use sends through, a `Sender` thread
per notifier, and what the daemon asks of them (a message rendered, senders woken, health, metrics, status).

A set of notifiers is `prepare`d off to the side (secrets resolved, destinations built; a ConfigError names the
notifier's table) and only then `use`d: a sender per new notifier, the changed ones reconfigured in place, and
those no rule uses any more stopped (their queued messages stay in the outbox). A notifier whose configuration
and secrets are unchanged keeps its destination.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from tailer.alerts import Message
from tailer.errors import ConfigError
from tailer.notify.build import policy_for
from tailer.notify.deliver import DeliveryPolicy, Destination
from tailer.notify.registry import destination_for, type_of
from tailer.rules.model import NotifierConfig, RuleSet
from tailer.sender import POLL, Sender
from tailer.state import Store

log = logging.getLogger("tailer.daemon")

JOIN_TIMEOUT = 15.0  # seconds each sender is given to finish its attempt at shutdown


@dataclass
class Outlet:
    """A notifier as configured now: what identifies its configuration (secrets resolved), where it sends."""

    fingerprint: tuple[Any, ...]
    destination: Destination
    policy: DeliveryPolicy


Prepared = dict[str, Outlet]  # the notifiers the rules use, by name (sorted), ready to be used


def fingerprint(config: NotifierConfig, environ: Mapping[str, str]) -> tuple[Any, ...]:
    """What makes a notifier's deliveries what they are: its settings and its secrets as they resolve now."""
    kind = type_of(config)
    secrets = tuple(kind.secret(config, what, environ) for what in kind.secrets)
    return (config.type, config.rate, config.burst, repr(sorted(config.options.items())), secrets)


class Outlets:
    """The notifiers in use and a sender each. `store` gives each sender its own outbox connection; a console
    destination writes to `console`."""

    def __init__(self, store: Store, console: TextIO) -> None:
        self.store = store
        self.console = console
        self.notifiers: Prepared = {}
        self.senders: dict[str, Sender] = {}
        self._retired: list[Sender] = []  # senders of notifiers a reload removed, finishing their attempt

    def prepare(self, ruleset: RuleSet, environ: Mapping[str, str]) -> Prepared:
        """The notifiers the rules use, with their secrets resolved (ConfigError when one cannot be); one
        whose configuration is unchanged keeps its destination. Nothing in use changes."""
        out: Prepared = {}
        for name in sorted({n for rule in ruleset.rules for n in rule.notify}):
            config = ruleset.notifiers[name]
            try:
                identity = fingerprint(config, environ)
                current = self.notifiers.get(name)
                if current is not None and current.fingerprint == identity:
                    out[name] = current
                    continue
                destination, warning = destination_for(config, environ, self.console)
            except ConfigError as exc:  # a secret that cannot be read: name the notifier's table
                where = f"{config.file}:{config.line}: " if config.line and not str(exc).startswith(config.file) else ""
                raise ConfigError(f"{where}{exc}") from None
            if warning:
                log.warning("%s", warning)
            out[name] = Outlet(identity, destination, policy_for(config))
        return out

    def use(self, prepared: Prepared, start: bool) -> None:
        """Send through `prepared` from now on: a sender per new notifier (started when `start`), the others'
        reconfigured, and those no rule uses any more stopped (their queued messages stay in the outbox)."""
        for name, n in prepared.items():
            sender = self.senders.get(name)
            if sender is None:
                sender = Sender(n.destination, n.policy, self.store.connect())
                self.senders[name] = sender
                if start:
                    sender.start()
            elif n is not self.notifiers.get(name):
                sender.reconfigure(n.destination, n.policy)
        for name in [n for n in self.senders if n not in prepared]:
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
        self.notifiers = prepared

    def start(self) -> None:
        """Start the senders of the notifiers in use (those `use`d with `start=False`)."""
        for sender in self.senders.values():
            sender.start()

    def wake(self) -> None:
        """Something was committed: every sender looks at the outbox now."""
        for sender in self.senders.values():
            sender.wake.set()

    def stop(self) -> None:
        """Stop every sender, retired ones too, and give each up to JOIN_TIMEOUT s to finish its attempt."""
        senders = [*self.senders.values(), *self._retired]
        for sender in senders:
            sender.stop()
        for sender in senders:
            if sender.is_alive():
                sender.join(timeout=JOIN_TIMEOUT)

    def render(self, message: Message) -> str:
        """The payload of `message` as its notifier sends it (what the outbox stores)."""
        return self.notifiers[message.notifier].destination.render(message)

    def names(self) -> list[str]:
        """The notifiers in use, sorted."""
        return list(self.notifiers)

    def health(self, now: float, stale: float) -> str | None:
        """None when every sender goes round (`now`: time.monotonic()); else which one has stopped or is stuck
        for over its timeout + POLL + `stale` seconds, in words that stay the same while it lasts."""
        for sender in self.senders.values():
            if not sender.is_alive():
                return f"the sender of {sender.destination.name} has stopped"
            limit = sender.policy.timeout + POLL + stale
            if now - sender.beat > limit:
                return f"the sender of {sender.destination.name} has been stuck for over {limit:.0f} s"
        return None

    def degraded(self) -> list[str]:
        """The notifiers with a dead letter since their last success (status)."""
        return [s.destination.name for s in self.senders.values() if s.degraded]

    def failing_since(self) -> dict[str, float | None]:
        """Per notifier, the wall-clock time of its first failed attempt since its last success (self-check),
        as the time now less how long it has failed on the monotonic clock: a step of the wall clock neither
        raises the self-alert early nor holds it back."""
        wall, now = time.time(), time.monotonic()
        return {n: None if s.failing_since is None else wall - (now - s.failing_since) for n, s in self.senders.items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """Per notifier: messages sent and dead, attempts retried and rate-limited (metrics)."""
        return {name: dict(sender.counts) for name, sender in self.senders.items()}

    def max_retry_after(self) -> float:
        """The longest pause a notifier may be asked for (the outbox's `recover`)."""
        return max((s.policy.max_retry_after for s in self.senders.values()), default=0)
