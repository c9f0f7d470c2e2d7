"""Silences: hush a known problem for a while, without a reload.

    kong-tailer silence add --rule NAME [--when EXPR] --for 2h [--comment TEXT] [--author NAME]
    kong-tailer silence list [--all] | show ID | expire ID...

A silence holds back the alerts of the rules it names (a name, or a glob such as `upstream-*`), or only those
whose event satisfies `when` (the rules' condition language), from when it is added until it ends. It is
kept in the state database; the running daemon reads the silences in force again every second. Silences
are about now (wall clock), not log time: `replay` knows none.

A silenced alert is not sent, and not lost: it is counted with its silence, the first 1,000 of them are
kept with their text and key (`silence show`), and when the silence ends its rules' notifiers get one
message saying how many were held back. Silences act before the notifiers' budgets: what they hold back
uses none of Slack's rate.
"""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tailer.alerts import Alert
from tailer.errors import ConfigError
from tailer.notify.summary import controls
from tailer.rules.expr import compile_when
from tailer.rules.model import Predicate
from tailer.rules.names import check_condition
from tailer.state import Held
from tailer.template import no_escape

log = logging.getLogger("tailer.silence")

TEXT_MAX = 500  # characters of an alert's text kept


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    rule: str  # a rule name or a glob of rule names
    when: str | None  # a condition on the alert's event
    comment: str
    created_by: str
    starts_at: float  # wall-clock seconds
    ends_at: float
    silenced: int = 0  # alerts held back so far
    noticed: bool = False  # its end was told to the notifiers

    def in_force(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def describe(self) -> str:
        what = f"rule {self.rule}" + (f" when {self.when}" if self.when else "")
        return what + (f" ({self.comment})" if self.comment else "")


class Matcher:
    """The silences in force: `match(alert)` is the id of the first one that holds the alert back, or None."""

    def __init__(self, silences: Iterable[Silence]) -> None:
        self.silences: list[tuple[Silence, Predicate | None]] = []
        for s in silences:
            try:
                self.silences.append((s, compile_when(s.when) if s.when else None))
            except ConfigError as exc:  # added by another version, or by hand: said, and left out
                log.error("silence %d cannot be applied: %s", s.id, exc)

    def __bool__(self) -> bool:
        return bool(self.silences)

    def match(self, alert: Alert) -> int | None:
        name = alert.rule.name
        for s, when in self.silences:
            if not fnmatch.fnmatchcase(name, s.rule):
                continue
            if when is not None:
                try:
                    if not when(alert.event):
                        continue
                except Exception:  # a condition that cannot be judged on this event does not hold
                    continue
            return s.id
        return None


def held_text(alert: Alert) -> str:
    """What is kept of a silenced alert: its rule's text, filled, with control characters made visible."""
    return controls(alert.render("text", no_escape))[:TEXT_MAX]


# -- the database (tables `silence` and `silenced`, made by tailer.state)


def add(
    db: sqlite3.Connection,
    rule: str,
    when: str | None,
    seconds: float,
    comment: str,
    created_by: str,
    now: float,
) -> Silence:
    """A new silence from `now` for `seconds`; ConfigError for a condition that does not compile, or that names
    a field no event has (`check_when`)."""
    if when is not None:
        check_when(when)
    cur = db.execute(
        "INSERT INTO silence (rule, condition, comment, created_by, starts_at, ends_at) VALUES (?, ?, ?, ?, ?, ?)",
        (rule, when, comment, created_by, now, now + seconds),
    )
    assert cur.lastrowid is not None
    return Silence(cur.lastrowid, rule, when, comment, created_by, now, now + seconds)


def check_when(when: str) -> list[str]:
    """A `--when` condition, checked as a rule's is, against the fields of an event of any kind (an alert's event
    may be of any): ConfigError when it does not compile or names a field no event has (a misspelled field would
    hush nothing); else the warnings (a field of the joined `error` that it does not have)."""
    try:
        findings = check_condition(when)
    except ConfigError as exc:
        raise ConfigError(f"--when: {exc}") from None
    unknown = [f"--when: {f.text}" for f in findings if f.error]
    if unknown:
        raise ConfigError("\n".join(unknown))
    return [f"--when: {f.text}" for f in findings]


def expire(db: sqlite3.Connection, silence_id: int, now: float) -> Silence | None:
    """End a silence now; None when there is no silence of that id still in force."""
    db.execute("UPDATE silence SET ends_at = ? WHERE id = ? AND ends_at > ?", (now, silence_id, now))
    found = get(db, silence_id)
    return found if found is not None and found.ends_at == now else None


_SELECT = "SELECT id, rule, condition, comment, created_by, starts_at, ends_at, silenced, noticed FROM silence "


def _silence(r: Any) -> Silence:
    return Silence(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))


def get(db: sqlite3.Connection, silence_id: int) -> Silence | None:
    row = db.execute(_SELECT + "WHERE id = ?", (silence_id,)).fetchone()
    return None if row is None else _silence(row)


def listing(db: sqlite3.Connection, since: float | None = None) -> list[Silence]:
    """Every silence (or those that ended after `since`), newest first."""
    rows = db.execute(
        _SELECT + "WHERE ends_at > ? ORDER BY id DESC", (since if since is not None else float("-inf"),)
    ).fetchall()
    return [_silence(r) for r in rows]


def held(db: sqlite3.Connection, silence_id: int) -> list[Held]:
    rows = db.execute(
        "SELECT silence, rule, key, time, text FROM silenced WHERE silence = ? ORDER BY id", (silence_id,)
    ).fetchall()
    return [Held(*r) for r in rows]


def ended_unnoticed(db: sqlite3.Connection, now: float) -> list[tuple[Silence, list[str]]]:
    """Silences that have ended and held something back, not yet told: each with the rules it held."""
    out = []
    for r in db.execute(_SELECT + "WHERE ends_at <= ? AND NOT noticed AND silenced > 0 ORDER BY id", (now,)):
        s = _silence(r)
        rules = [x[0] for x in db.execute("SELECT DISTINCT rule FROM silenced WHERE silence = ?", (s.id,))]
        out.append((s, rules))
    return out


def mark_noticed(db: sqlite3.Connection, silence_id: int) -> None:
    db.execute("UPDATE silence SET noticed = 1 WHERE id = ?", (silence_id,))


def when_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
