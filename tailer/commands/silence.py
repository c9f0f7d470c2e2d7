"""`kong-tailer silence add | list | show | expire`: silences in the state database, beside the daemon
(which reads them again every second: no reload)."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Sequence
from typing import TextIO

from tailer import silence
from tailer.errors import ConfigError, TailerError
from tailer.notify.summary import controls
from tailer.rules.load import duration, load_rules
from tailer.state import KEEP_HELD, open_outbox


def add(
    directory: str,
    rules_dir: str,
    rule: str,
    when: str | None,
    length: str,
    comment: str,
    out: TextIO,
    err: TextIO,
    author: str | None = None,
) -> int:
    try:
        seconds = duration(length)
    except ValueError as exc:
        raise ConfigError(f"--for: {exc}") from None
    if seconds <= 0:
        raise ConfigError("--for: a silence must last some time")
    for warning in silence.check_when(when) if when is not None else []:
        err.write(f"kong-tailer: warning: {warning}\n")
    _check_rule(rules_dir, rule, err)
    outbox = open_outbox(directory)
    try:
        s = silence.add(outbox.db, rule, when, seconds, comment, _who() if author is None else author, time.time())
    finally:
        outbox.close()
    out.write(f"silence {s.id} in force until {silence.when_text(s.ends_at)}: {controls(s.describe())}\n")
    return 0


def listing(directory: str, everything: bool, out: TextIO) -> int:
    now = time.time()
    outbox = open_outbox(directory)
    try:
        found = silence.listing(outbox.db, None if everything else now)
    finally:
        outbox.close()
    if not found:
        out.write("no silence in force\n" if not everything else "no silence\n")
    for s in found:
        if s.in_force(now):
            state = f"in force until {silence.when_text(s.ends_at)} ({_left(s.ends_at - now)} left)"
        elif s.starts_at > now:
            state = f"starts {silence.when_text(s.starts_at)}"
        else:
            state = f"ended {silence.when_text(s.ends_at)}"
        by = f", by {controls(s.created_by)}" if s.created_by else ""
        out.write(f"{s.id}  {state}: {controls(s.describe())}; held back {s.silenced} alert(s){by}\n")
    return 0


def show(directory: str, silence_id: int, out: TextIO) -> int:
    """The alerts a silence held back, oldest first."""
    outbox = open_outbox(directory)
    try:
        s = silence.get(outbox.db, silence_id)
        held = silence.held(outbox.db, silence_id) if s is not None else []
    finally:
        outbox.close()
    if s is None:
        raise TailerError(f"no silence {silence_id} (see `kong-tailer silence list --all`)")
    out.write(f"silence {s.id}: {controls(s.describe())}; held back {s.silenced} alert(s)\n")
    for h in held:
        text = h.text if h.text is not None else f"(text not kept: past the first {KEEP_HELD})"
        out.write(f"{silence.when_text(h.time)}  {h.rule}  key {h.key[:12]}  {controls(text)}\n")
    return 0


def expire(directory: str, silence_ids: Sequence[int], out: TextIO) -> int:
    """End each silence of `silence_ids` now; TailerError naming those not in force (the others end)."""
    outbox = open_outbox(directory)
    missing = []
    try:
        for silence_id in dict.fromkeys(silence_ids):
            s = silence.expire(outbox.db, silence_id, time.time())
            if s is None:
                missing.append(str(silence_id))
            else:
                out.write(f"silence {s.id} expired; it held back {s.silenced} alert(s)\n")
    finally:
        outbox.close()
    if missing:
        which = "silence " + ", ".join(missing) if len(missing) == 1 else "silences " + ", ".join(missing)
        raise TailerError(f"no {which} in force (see `kong-tailer silence list`)")
    return 0


def _check_rule(rules_dir: str, pattern: str, err: TextIO) -> None:
    """A silence for a rule that does not exist would hush nothing: refused, when the rules can be read."""
    import fnmatch

    try:
        names = [r.name for r in load_rules(rules_dir, (), warn=lambda _: None).rules]  # check tells them
    except TailerError as exc:
        err.write(f"kong-tailer: warning: cannot check the rule name against {rules_dir}: {exc}\n")
        return
    if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
        raise ConfigError(
            f"--rule {pattern!r}: no rule of {rules_dir} has that name (rules: {', '.join(sorted(names)) or 'none'})"
        )


def _who() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return ""


def _left(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m" if minutes else f"{int(seconds)}s"
