"""File-system events as hints: watchdog watches the directories of the followed files (never the files:
see tailing-and-delivery §3) and every event only wakes the reader, which then looks for itself.

The handler never raises and does no I/O (an exception in it would silently stop watchdog's dispatch).
`update()` is called on every look at the paths: it watches new directories and re-watches one that was
removed and made again (watchdog's emitter exits when its directory goes). When watching fails (inotify
limits, no read permission on the directory) the periodic reconcile still reads everything, only later.

Two modes. *Eager*: every write wakes the reader (the kernel's IN_MODIFY). *Structural*: only files
created, deleted and moved do; the reader polls on its own while the logs are busy, because at 10,000
writes a second an event per write would cost watchdog's threads more than the reading itself. Events are
asked of the kernel by type (watchdog's `event_filter`), so what is not wanted is never even made.
`structural` is set when a file was created, deleted or moved: the paths must be looked at.

Without inotify. When the kernel gives no inotify instance (the per-user limit fs.inotify.max_user_instances
used up, a kernel without inotify) nothing is watched and the reader's timer looks at the files every
`period` s: changes are seen later, nothing is lost. `unavailable` says why (a self-alert), an instance is
asked for again every RETRY_EVERY s, and the watcher says when it has one. watchdog 7.1 asks for the instance
on the first `schedule()`; versions that ask when the observer is made or started are taken the same way.
`poll` (the `poll` setting) never asks: for file systems whose changes inotify does not see (NFS, some
overlay file systems).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from tailer import faults

log = logging.getLogger("tailer.watch")

STRUCTURAL = [FileCreatedEvent, FileDeletedEvent, FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
EAGER = [*STRUCTURAL, FileModifiedEvent]
RETRY_EVERY = 10.0  # seconds between two requests for an inotify instance, while the kernel refuses them
NO_INSTANCE = {errno.EMFILE, errno.ENFILE, errno.ENOSYS}  # inotify_init's refusals (not inotify_add_watch's)


class _Poke(FileSystemEventHandler):
    def __init__(self, wake: threading.Event, structural: threading.Event) -> None:
        self.wake = wake
        self.structural = structural

    def on_any_event(self, event: FileSystemEvent) -> None:
        with contextlib.suppress(BaseException):  # nothing may escape into watchdog's dispatch thread
            if event.event_type != "modified":
                self.structural.set()
            self.wake.set()


class _Expected(logging.Filter):
    """watchdog logs an error when the directory of a watch is removed under it: we notice and say it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_Expected())


class _Overflow(logging.Handler):
    """watchdog logs a queue overflow (events were lost): look at everything at once."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        self.wake.set()


class Watcher:
    def __init__(self, wake: threading.Event, *, poll: bool = False, period: float = 1.0) -> None:
        self.wake = wake
        self.poll = poll  # never watch: the reader looks at the files every `period` s
        self.period = period
        self.unavailable: str | None = None  # why the kernel gives no inotify instance (None: it does)
        self._retry_at = 0.0  # when to ask for an instance again
        self.structural = threading.Event()
        self.handler = _Poke(wake, self.structural)
        self.eager = True
        self.observer: Any = None
        self.watches: dict[str, tuple[Any, tuple[int, int]]] = {}  # directory → (watch, (dev, ino))
        self._failed: set[str] = set()
        logging.getLogger("watchdog.observers.inotify_c").addHandler(_Overflow(wake))
        if poll:
            log.info(_POLLING, period)

    def update(self, directories: set[str], eager: bool = True) -> None:
        """Watch exactly `directories` (those that exist) in the given mode, re-watching any that was made
        again."""
        if self.poll or (self.unavailable is not None and time.monotonic() < self._retry_at):
            return
        if not self._running():
            return
        alive = _alive_watches(self.observer)
        if eager != self.eager:
            for watch, _ in self.watches.values():
                self._unschedule(watch)
            self.watches.clear()
            self.eager = eager
        for directory in sorted(directories):
            try:
                st = os.stat(directory)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            current = self.watches.get(directory)
            if current is not None and current[1] == ident and current[0] in alive:
                continue
            if current is not None:
                if current[1] != ident:
                    log.warning("%s was removed and made again: watching the new directory", directory)
                else:
                    log.warning("the watch on %s stopped; watching it again", directory)
                self._unschedule(current[0])
            if not os.access(directory, os.R_OK | os.X_OK):
                if directory not in self._failed:
                    log.warning(
                        "%s is not readable: changes in it are not watched (inotify needs read permission), "
                        "so files there are read on the periodic check only",
                        directory,
                    )
                    self._failed.add(directory)
                continue
            try:
                wanted = EAGER if self.eager else STRUCTURAL
                watch = self.observer.schedule(self.handler, directory, recursive=False, event_filter=wanted)
            except OSError as exc:
                if exc.errno in NO_INSTANCE:  # no directory can be watched: asked again in RETRY_EVERY s
                    self._refused(exc)
                    break
                if directory not in self._failed:
                    log.warning("cannot watch %s (%s): files there are read on the periodic check only", directory, exc)
                    self._failed.add(directory)
                continue
            self._failed.discard(directory)
            self.watches[directory] = (watch, ident)
            if self.unavailable is not None:
                log.info("inotify works again: the files' directories are watched again")
                self.unavailable = None
        for directory in set(self.watches) - directories:
            if not os.path.isdir(directory):
                log.warning(
                    "%s was removed: its files are read until they are closed, and it is watched again when made again",
                    directory,
                )
            self._unschedule(self.watches.pop(directory)[0])

    def problem(self) -> str | None:
        """What is wrong with the watcher now (None: nothing). `update` starts again what stopped, so a
        problem that lasts means it cannot be started."""
        observer = self.observer
        if observer is None:
            return None
        if not observer.is_alive():
            return "the file watcher has stopped"
        try:  # called from the watchdog pinger's thread, while the reader may (un)schedule watches
            alive = _alive_watches(observer)
            watches = list(self.watches.items())
        except RuntimeError:  # changed during the copy: looked at again on the next ping
            return None
        dead = sorted(d for d, (watch, _) in watches if watch not in alive)
        return f"the file watcher's watch on {dead[0]} has stopped" if dead else None

    def use_poll(self, poll: bool) -> None:
        """Take a changed `poll` setting (a reload): stop watching now, or watch again at the next update."""
        if poll == self.poll:
            return
        self.poll = poll
        self.unavailable = None
        self._retry_at = 0.0
        if poll:
            self.stop()
            self.observer = None
            self.watches.clear()
            self._failed.clear()
            log.info(_POLLING, self.period)
        else:
            log.info("poll = false: the files' directories are watched again (inotify)")

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)

    def _running(self) -> bool:
        """The observer is running, started (again) if it was not; False when the kernel refuses inotify."""
        if self.observer is not None and self.observer.is_alive():
            return True
        if self.observer is not None:
            log.warning("the file watcher stopped; starting it again")
        try:
            self._restart()
        except OSError as exc:  # a watchdog that asks for the instance when the observer is made or started
            self.observer = None
            self.watches.clear()
            self._refused(exc)
            return False
        return True

    def _refused(self, exc: OSError) -> None:
        """The kernel gave no inotify instance: say it once per cause, and ask again in RETRY_EVERY s."""
        self._retry_at = time.monotonic() + RETRY_EVERY
        why = _why(exc)
        if why != self.unavailable:
            log.warning(
                "no file is watched: %s. The files are looked at every %g s instead: changes are seen later, "
                "nothing is lost; inotify is asked again every %g s",
                why,
                self.period,
                RETRY_EVERY,
            )
        self.unavailable = why

    def _restart(self) -> None:
        self.stop()
        self.observer = Observer()
        self.observer.daemon = True
        self.observer.start()
        self.watches.clear()
        if faults.active("watcher_dies"):  # tests: a watcher that cannot be kept going
            self.observer.stop()
            self.observer.join()

    def _unschedule(self, watch: Any) -> None:
        with contextlib.suppress(KeyError, OSError):
            self.observer.unschedule(watch)


_POLLING = "poll = true: inotify is not used; the files are looked at every %g s"


def _why(exc: OSError) -> str:
    """Why the kernel gave no inotify instance, and what to do about it."""
    advice = {
        errno.EMFILE: "all of this user's inotify instances (fs.inotify.max_user_instances) are in use: raise "
        "the limit, stop what holds them, or set poll = true",
        errno.ENFILE: "the system's table of open files is full",
        errno.ENOSYS: "this kernel has no inotify: set poll = true",
    }
    return f"inotify gives no instance ({exc}; {advice.get(exc.errno or 0, 'set poll = true if it lasts')})"


def _alive_watches(observer: Any) -> set[Any]:
    """The watches whose emitter thread runs (the set copied first: the reader may (un)schedule meanwhile)."""
    return {e.watch for e in list(observer.emitters) if e.is_alive()}
