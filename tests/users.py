"""Running a program as another user, for tests that need what only a non-root user meets (its own inotify
instances, a file it may not read), while the tests themselves run as root (as CI does).

The program runs as a user id no account has and no process runs as (`unused_uid`), through `setpriv`
(`as_user`). It keeps CAP_DAC_OVERRIDE, inherited and ambient: the interpreter may live where only root may
read (a pyenv under /root). What it opens, it may then open as root would; what it asks access(2) about is
answered for its real user id alone (the kernel applies no capability to a non-root real uid there), which is
how kong-tailer checks readability (`check --config`, the file watcher).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import tempfile
from pathlib import Path


def users_of_processes() -> set[int]:
    """Every user id some process runs as (real, effective, saved or file system)."""
    out: set[int] = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            match = re.search(r"^Uid:\s+(.*)$", status.read_text(), re.M)
            if match:
                out |= {int(u) for u in match.group(1).split()}
    return out


def mapped(uid: int, path: str) -> bool:
    """Whether `uid` exists in this user namespace (a container maps only some)."""
    for line in Path(path).read_text().splitlines():
        inside, _, count = (int(x) for x in line.split())
        if inside <= uid < inside + count:
            return True
    return False


def unused_uid() -> int:
    """A user id no account has and no process runs as: its inotify instances are all the test's to take.
    Tried from a place that depends on the pid, so that tests running beside this one pick others."""
    busy = users_of_processes()
    for i in range(20000):
        uid = 40000 + (os.getpid() + i) % 20000
        if uid in busy or not mapped(uid, "/proc/self/uid_map") or not mapped(uid, "/proc/self/gid_map"):
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("no unused user id between 40000 and 59999")


def as_user(uid: int) -> tuple[str, ...]:
    """A command prefix that runs a program as `uid`, with root's access to files (see the module's text)."""
    return (
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=+dac_override",
        "--ambient-caps=+dac_override",
        "--",
    )


def searchable_dir(prefix: str) -> Path:
    """A new directory under /tmp that every user can search (pytest's own are root's only)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    return root
