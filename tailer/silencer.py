"""The running daemon's side of silences (tailer.silence keeps them in the state database): which are in
force now, what they hold back, and telling the notifiers when one that held something back has ended.

    check(store, rules, host)   read the silences again (every second): the matcher the pipeline holds alerts
                             back with, and a notice per silence that ended having held something back
    hold(held)               alerts the pipeline held back, to be counted with the next commit (`pending()`)
    committed(store)            the commit went through: the held alerts were counted, the notices queued

It reads the wall clock: silences are about now, not log time.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable

from tailer import notices, silence
from tailer.alerts import Alert, Message
from tailer.pipeline import Silence
from tailer.rules.model import Rule
from tailer.state import Held, Store

log = logging.getLogger("tailer.daemon")

EVERY = 1.0  # seconds between two looks at the silences in the state database


class Silencer:
    def __init__(self) -> None:
        self.match: Silence | None = None  # what the pipeline holds alerts back with (None: no silence applies)
        self.by_rule: Counter[str] = Counter()  # alerts held back, per rule (metrics)
        self.checked_at = 0.0  # monotonic
        self._seen: tuple[tuple[object, ...], ...] = ()  # the silences in force, as last read
        self._error = False
        self._held: list[Held] = []  # held back since the last commit
        self._noticed: set[int] = set()  # silences whose end is queued to be told

    def due(self) -> bool:
        return time.monotonic() - self.checked_at >= EVERY

    def check(self, store: Store, rules: Iterable[Rule], host: str) -> tuple[bool, list[Message]]:
        """Read the silences again. Returns whether the matcher changed (give the pipeline `match` again), and
        the notices of silences that ended having held something back, for their rules' notifiers."""
        self.checked_at = time.monotonic()
        now = time.time()
        try:
            current = silence.listing(store.db, since=now)
            ended = silence.ended_unnoticed(store.db, now)
        except sqlite3.Error as exc:
            if not self._error:
                log.error("%s: cannot read the silences (%s): the last ones read stay in force", store.path, exc)
            self._error = True
            return False, []
        self._error = False
        in_force = [s for s in current if s.in_force(now)]
        seen = tuple((s.id, s.rule, s.when, s.ends_at) for s in in_force)
        changed = seen != self._seen
        if changed:
            before = {x[0] for x in self._seen}
            for s in in_force:
                if s.id not in before:
                    log.info("silence %d in force until %s: %s", s.id, silence.when_text(s.ends_at), s.describe())
            for gone in before - {s.id for s in in_force}:
                log.info("silence %d has ended", gone)
            self._seen = seen
            matcher = silence.Matcher(in_force)
            self.match = matcher.match if matcher else None  # none in force, or none applicable
        out: list[Message] = []
        rules = list(rules)
        for s, names in ended:
            if s.id in self._noticed:
                continue
            notifiers = {n for r in rules if r.name in names for n in r.notify}
            self._noticed.add(s.id)  # marked once the message is committed (or at once, with no notifier)
            text = (
                f"Silence {s.id} ({s.describe()}) ended {silence.when_text(s.ends_at)}: it held back {s.silenced} "
                f"alert(s) of {', '.join(sorted(names))}. See them with `kong-tailer silence show {s.id}`."
            )
            out += notices.notice(notifiers, f"silence-{s.id}-ended", "silence_ended", "Silence ended", text, now, host)
        return changed, out

    def hold(self, held: list[tuple[int, Alert]]) -> None:
        """Alerts the pipeline held back: counted in the next commit."""
        for silence_id, alert in held:
            self.by_rule[alert.rule.name] += 1
            self._held.append(
                Held(silence_id, alert.rule.name, alert.key, alert.time.timestamp(), silence.held_text(alert))
            )

    def pending(self) -> list[Held]:
        """The held alerts the next commit counts (the same list until `committed`)."""
        return self._held

    def waiting(self) -> bool:
        return bool(self._held)

    def committed(self, store: Store) -> None:
        """The commit that counted `pending()` (and queued the notices) went through."""
        self._held.clear()
        for silence_id in self._noticed:
            silence.mark_noticed(store.db, silence_id)
        self._noticed.clear()
