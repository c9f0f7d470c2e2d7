"""`kong-tailer status`: what the daemon of a state directory is doing, asked without stopping or slowing it,
for an operator and for a monitoring check (fail2ban-client's `status`, with a Nagios plugin's exit codes).

    0 OK         running and reading
    1 WARNING    starting; a dead letter queued in the last 24 h; a self-check problem open; a file 1 MiB or
                 more behind; the last reload refused
    2 CRITICAL   not running (or stopping); its status not written for `stale_after` s (the reader is stuck,
                 or the state disk refuses writes); the state disk full
    3 UNKNOWN    no state directory, or no state database in it, or one that cannot be read

It reads two things, and writes nothing. The status file the daemon replaces every 2 s in its state directory
(`tailer.daemon.StatusFile`: the files followed, how far each is read and when, the notifiers' health, open
problems, the last reload and its result), and the state database through a connection of its own (the
outbox per notifier, dead letters, silences in force). A daemon runs when the pid in the directory's lock
file is alive and holds the lock (as /proc/locks says; a pid reused by another process holds none), and its
status is fresh when its age, on the monotonic clock that a wall-clock step leaves alone, is under
`stale_after`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from tailer import silence
from tailer.daemon import STATUS_FILE
from tailer.errors import TailerError
from tailer.notify.summary import controls
from tailer.state import DATABASE, LOCK, open_outbox

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
STALE_AFTER = 30.0  # seconds without a new status before the daemon is called stuck
BEHIND = 1 << 20  # bytes a file may be behind before it is a warning (a busy log is a few lines behind)
DEAD_RECENT = 86400.0  # seconds: dead letters queued this recently are a warning
SHOW_DEAD = 10  # dead letters listed (`outbox list` lists them all)


@dataclass
class Report:
    """The verdict (the worst of the reasons) and what was found."""

    code: int = OK
    reasons: list[str] = field(default_factory=list)
    found: bool = False  # the state directory is there, and readable
    running: bool = False
    pid: int | None = None
    daemon: dict[str, Any] | None = None  # the status file, as the daemon wrote it
    age: float | None = None  # seconds since the daemon wrote it (monotonic; None: not running)
    database: str | None = None  # why the database could not be read
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)
    dead: list[dict[str, Any]] = field(default_factory=list)
    silences: list[silence.Silence] = field(default_factory=list)

    def worse(self, code: int, reason: str) -> None:
        self.code = max(self.code, code)
        self.reasons.append(reason)


def run_status(directory: str, as_json: bool, stale_after: float, out: TextIO) -> int:
    """Print what the daemon of `directory` is doing; the exit code says how it goes (module docstring)."""
    report = examine(directory, stale_after, time.time())
    if as_json:
        out.write(json.dumps(_as_json(directory, report), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(_text(report, time.time()))
    return report.code


def examine(directory: str, stale_after: float, now: float) -> Report:
    report = Report()
    if not os.path.isdir(directory):
        report.worse(UNKNOWN, f"no state directory {directory} (give --state-dir, or set $STATE_DIRECTORY)")
        return report
    try:
        os.listdir(directory)
    except OSError as exc:
        reason = f"cannot read {directory}: {exc.strerror or exc} (run as root, or as the service's user)"
        report.worse(UNKNOWN, reason)
        return report
    report.found = True
    _database(directory, report, now)  # first: run as root, it becomes the directory's owner (open_outbox)
    report.pid = _holder(directory)
    report.running = report.pid is not None
    report.daemon, unreadable = _status_file(directory)
    _judge(directory, report, unreadable, stale_after, now)
    if report.database is not None and report.code < CRITICAL:
        report.worse(UNKNOWN, report.database)
    recent = [d for d in report.dead if d["created_at"] >= now - DEAD_RECENT]
    if recent:
        names = ", ".join(sorted({d["notifier"] for d in recent}))
        report.worse(WARNING, f"{len(recent)} dead letter(s) queued in the last 24 h ({names})")
    return report


def _database(directory: str, report: Report, now: float) -> None:
    if not os.path.exists(os.path.join(directory, DATABASE)):
        report.database = f"{directory}: no state database here (has `kong-tailer run` used this --state-dir?)"
        return
    try:
        outbox = open_outbox(directory)
        try:
            outbox.db.execute("PRAGMA query_only = 1")
            for (notifier, state), n in sorted(outbox.counts().items()):
                report.outbox.setdefault(notifier, dict.fromkeys(("pending", "sending", "sent", "dead"), 0))[state] = n
            report.dead = [
                {
                    "key": row.key,
                    "notifier": row.notifier,
                    "created_at": row.created_at,
                    "attempts": row.attempts,
                    "error": row.last_error,
                }
                for row in outbox.dead_letters()
            ]
            report.silences = [s for s in silence.listing(outbox.db, now) if s.in_force(now)]
        finally:
            outbox.close()
    except TailerError as exc:
        report.database = str(exc)
    except Exception as exc:  # sqlite3.Error: locked for longer than the busy timeout, damaged...
        report.database = f"{os.path.join(directory, DATABASE)}: cannot read the state database: {exc}"


def _holder(directory: str) -> int | None:
    """The pid of the daemon holding the directory's lock, or None when none does."""
    path = os.path.join(directory, LOCK)
    try:
        with open(path) as f:
            text = f.read().strip()
        ino = os.stat(path).st_ino
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    try:
        with open("/proc/locks") as f:
            locks = f.read().splitlines()
    except OSError:  # not Linux: a live pid is taken at its word
        return pid
    for line in locks:
        parts = line.split()  # 1: FLOCK  ADVISORY  WRITE 11027 fe:00:2146387 0 EOF
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[4] == str(pid) and parts[5].endswith(f":{ino}"):
            return pid
    return None  # the pid is another process now


def _status_file(directory: str) -> tuple[dict[str, Any] | None, str | None]:
    """The status file's content, or why it could not be read (None, None: there is none)."""
    path = os.path.join(directory, STATUS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path}: cannot read it: {getattr(exc, 'strerror', None) or exc}"
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None, f"{path}: not a status file of this version"
    return data, None


def _judge(directory: str, report: Report, unreadable: str | None, stale_after: float, now: float) -> None:
    st = report.daemon
    if not report.running:
        if st is not None and st.get("phase") == "stopped":
            report.worse(CRITICAL, f"kong-tailer is not running (it stopped {_ago(st.get('written_at'), now)})")
        elif st is not None:
            report.worse(
                CRITICAL,
                f"kong-tailer is not running (pid {st['pid']} last wrote its status "
                f"{_ago(st.get('written_at'), now)} and did not stop: killed, or crashed)",
            )
        elif report.database is not None and not os.path.exists(os.path.join(directory, LOCK)):
            report.worse(UNKNOWN, report.database)
            report.database = None
        else:
            report.worse(CRITICAL, "kong-tailer is not running")
        return
    if st is None or st["pid"] != report.pid:
        try:
            since = now - os.stat(os.path.join(directory, LOCK)).st_mtime  # the lock is written at its start
        except OSError:
            since = 0.0
        report.daemon = None
        if since < stale_after:
            report.worse(WARNING, f"kong-tailer (pid {report.pid}) is starting")
        else:
            why = f": {unreadable}" if unreadable else ""
            report.worse(
                CRITICAL,
                f"kong-tailer (pid {report.pid}) runs but has written no status{why} (started by a version "
                "before `status`? restart it)",
            )
        return
    report.age = max(0.0, time.monotonic() - float(st.get("monotonic", 0.0)))
    if st.get("phase") == "stopped":
        report.worse(CRITICAL, f"kong-tailer (pid {report.pid}) is stopping")
        return
    if report.age > stale_after:
        report.worse(
            CRITICAL,
            f"kong-tailer (pid {report.pid}) has not written its status for {report.age:.0f} s: its reader is "
            "stuck, or the state disk refuses writes",
        )
    elif st.get("phase") == "starting":
        report.worse(WARNING, f"kong-tailer (pid {report.pid}) is starting")
    if st.get("disk_full"):
        report.worse(CRITICAL, f"the state disk is full: reading is paused ({st['disk_full']})")
    for p in st.get("problems", []):
        report.worse(WARNING, f"self-check: {p['check']} {p['subject']}")
    for f in st.get("files", []):
        if f.get("behind", 0) >= BEHIND:
            report.worse(WARNING, f"{f['source']} is {f['behind']:,} bytes behind")
    reload = st.get("last_reload")
    if reload is not None and reload.get("result") == "refused":
        report.worse(WARNING, f"the last reload was refused: {reload.get('error')}")


# -- output


def _text(report: Report, now: float) -> str:
    verdict = "; ".join(report.reasons) if report.reasons else "kong-tailer is running"
    lines = [f"{NAMES[report.code]}: {controls(verdict)}"]
    if not report.found:
        return lines[0] + "\n"

    def row(label: str, *texts: str) -> None:
        for i, text in enumerate(texts):
            lines.append(f"{label if i == 0 else '':<10}  {controls(text)}")

    st = report.daemon
    if report.running and st is not None:
        row(
            "daemon",
            f"running, pid {report.pid}, kong-tailer {st.get('kong_tailer')}, since {_when(st.get('started'))} "
            f"(up {_span(now - float(st.get('started') or now))}); status written {_span(report.age or 0.0)} ago",
        )
    elif report.running:
        row("daemon", f"running, pid {report.pid}")
    elif st is not None:
        row("daemon", f"not running; what follows is its last status, written {_ago(st.get('written_at'), now)}")
    else:
        row("daemon", "not running")
    if st is not None:
        row("files", *[_file(f, now) for f in st.get("files", [])] or ["none followed"])
        log_time = st.get("log_time")
        if log_time is not None:
            row("log time", f"{_when(log_time)} (the latest line's, moving on while the logs are quiet)")
    if report.database is not None:
        row("database", report.database)
    else:
        row(
            "outbox",
            *[
                f"{name}: {c['pending'] + c['sending']} to send, {c['sent']} sent, {c['dead']} dead"
                for name, c in report.outbox.items()
            ]
            or ["empty"],
        )
        dead = [
            f"{d['key'][:12]} {d['notifier']}, queued {_when(d['created_at'])}, {d['attempts']} attempt(s): "
            f"{d['error']}"
            for d in report.dead[-SHOW_DEAD:]
        ]
        if len(report.dead) > SHOW_DEAD:
            dead.insert(0, f"{len(report.dead)}, the latest {SHOW_DEAD} below (all: kong-tailer outbox list)")
        row("dead", *dead or ["none"])
        row(
            "silences",
            *[
                f"{s.id} until {silence.when_text(s.ends_at)} ({_span(s.ends_at - now)} left): {s.describe()}; "
                f"held back {s.silenced} alert(s)"
                for s in report.silences
            ]
            or ["none in force"],
        )
    if st is not None:
        counts = st.get("reloads") or {}
        done, refused = counts.get("done", 0), counts.get("refused", 0)
        reload = st.get("last_reload")
        if reload is None:
            row("reload", "none since the start")
        else:
            result = "refused: " + str(reload.get("error")) if reload.get("result") == "refused" else "done"
            row("reload", f"{_when(reload.get('at'))}: {result} ({done} done, {refused} refused since the start)")
        problems = [f"{p['check']} {p['subject']}: {p['text']}" for p in st.get("problems", [])]
        row("problems", *problems or ["none"])
        degraded = st.get("degraded") or []
        if degraded:
            row("degraded", f"dead letters since their last delivery: {', '.join(degraded)}")
    return "\n".join(lines) + "\n"


def _file(f: dict[str, Any], now: float) -> str:
    reading = f.get("reading") or []
    current = [r for r in reading if not r.get("rotated") and not r.get("copy")]
    if current:
        r = current[0]
        line = f" (to line {r['line']:,})" if r.get("line") else ""
        text = f"{f['source']}: {r['offset']:,} bytes read{line}, {f.get('behind', 0):,} bytes behind"
    else:
        text = f"{f['source']}: no file there yet"
    if f.get("bytes_read") and f.get("read_at") is not None:
        text += f"; last read {_ago(f['read_at'], now)}"
    else:
        text += "; nothing read since the start"
    for r in reading:
        if r.get("rotated") or r.get("copy"):
            what = "the copy" if r.get("copy") else "rotated"
            size = f" of {r['size']:,}" if r.get("size") is not None else ""
            text += f"; also reading {r['path']} ({what}) at byte {r['offset']:,}{size}"
    return text


def _as_json(directory: str, report: Report) -> dict[str, Any]:
    return {
        "state": NAMES[report.code],
        "code": report.code,
        "reasons": report.reasons,
        "state_dir": directory,
        "running": report.running,
        "pid": report.pid,
        "status_age": report.age,
        "daemon": report.daemon,
        "database_error": report.database,
        "outbox": report.outbox,
        "dead_letters": report.dead,
        "silences": [
            {
                "id": s.id,
                "rule": s.rule,
                "when": s.when,
                "comment": s.comment,
                "created_by": s.created_by,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "silenced": s.silenced,
            }
            for s in report.silences
        ],
    }


def _when(t: Any) -> str:
    return silence.when_text(float(t)) if isinstance(t, int | float) else "(not known)"


def _ago(t: Any, now: float) -> str:
    if not isinstance(t, int | float):
        return "at a time not known"
    return f"{_when(t)} ({_span(now - t)} ago)" if now >= t else _when(t)


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours}h{minutes % 60:02d}m" if hours < 48 else f"{hours // 24} days"
