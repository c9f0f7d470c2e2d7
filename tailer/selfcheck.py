"""Self-alerts: kong-tailer says when it cannot do its job, pure decisions over what the daemon observed.

    stalled   a followed file was written more than `stall_after` s after the last time anything was read
              from it: Kong is writing, we are not reading (an unreadable new file after rotation, a path
              that names a file we do not have open...)
    failing   a notifier's deliveries have failed (retried or dead) for `failing_after` s without a success
    inotify   the kernel gives no inotify instance (tailer.watch): no file is watched, the files are looked
              at on the reader's timer (changes are seen later, nothing is lost)
    missing   a followed path (or glob) has named no file for `stall_after` s: no such directory, no
              permission on one, a directory given for a file (`follow.why_unmatched`)

A problem is raised once when it starts and resolved once when it ends (`Checks.update`); the daemon logs
both, shows open problems in STATUS=, in the metrics, and tells the notifiers (never the failing one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    check: str  # stalled | failing | inotify | missing
    subject: str  # the file, the notifier, `unavailable`, or the path as followed
    text: str


def stalled(files: Mapping[str, float], after: float) -> list[Problem]:
    """`files`: source → seconds it has been written to with nothing read from it (`Follower.unread_for`)."""
    out = []
    for source, unread in sorted(files.items()):
        if unread > after:
            out.append(
                Problem(
                    "stalled",
                    source,
                    f"{source} is being written (for {unread:.0f} s since our last read) but nothing is read "
                    "from it: check that kong-tailer can read it (permissions after rotation?)",
                )
            )
    return out


def failing(since: Mapping[str, float | None], now: float, after: float) -> list[Problem]:
    """`since`: notifier → when its deliveries started failing (None: they work)."""
    out = []
    for name, start in sorted(since.items()):
        if start is not None and now - start > after:
            out.append(
                Problem(
                    "failing",
                    name,
                    f"notifier '{name}' has not delivered for {now - start:.0f} s; its messages wait in the "
                    "outbox (`kong-tailer outbox list`)",
                )
            )
    return out


def unwatched(reason: str | None, period: float) -> list[Problem]:
    """`reason`: why the file watcher has no inotify instance (None: it has one, or polling was asked for)."""
    if reason is None:
        return []
    text = (
        f"no file is watched: {reason}. The files are looked at every {period:g} s instead: changes are seen "
        "later, nothing is lost"
    )
    return [Problem("inotify", "unavailable", text)]


def missing(paths: Mapping[str, tuple[str, float]], after: float) -> list[Problem]:
    """`paths`: followed path → (why it names no file, for how many seconds it has named none)
    (`Follower.unmatched`)."""
    out = []
    for path, (reason, unmatched) in sorted(paths.items()):
        if unmatched > after:
            out.append(
                Problem(
                    "missing",
                    path,
                    f"{path} has named no file for {unmatched:.0f} s ({reason}): nothing is read from it; "
                    "check the --log path (`logs` in the configuration) and its permissions",
                )
            )
    return out


class Checks:
    """The problems open now; `update` says which started and which ended."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], Problem] = {}

    def update(self, problems: Iterable[Problem]) -> tuple[list[Problem], list[Problem]]:
        now = {(p.check, p.subject): p for p in problems}
        started = [p for k, p in now.items() if k not in self.open]
        ended = [p for k, p in self.open.items() if k not in now]
        self.open = now
        return started, ended
