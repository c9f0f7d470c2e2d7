"""A followed path that names no file (issue 14, point 3): `kong-tailer run` says at start which paths match
nothing yet and why (no such directory, no permission on one, a directory given for a file), follows them all
the same, and raises the `missing` self-alert when one stays so for `stall_after`; resolved when a file
appears, and read from its start. Against `kong-tailer run` as a real process (tests/daemon.py) and a real
receiver standing in for Slack."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tailer import selfcheck
from tailer.follow import why_unmatched
from tests.daemon import Daemon, delivered, entry, wait_until
from tests.receiver import Received, Receiver

DEADLINE = 30.0
NOBODY = 65534


def notices(requests: list[Received]) -> list[dict[str, Any]]:
    """The Slack messages kong-tailer wrote about itself (its built-in rule `kong-tailer`)."""
    return [r.json() for r in requests if r.json()["blocks"][0]["text"]["text"].startswith("kong-tailer on gw: ")]


# -- why a path names no file (pure but for the file system)


def test_why_a_path_names_no_file(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "error.log").write_text("")
    (tmp_path / "plain").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "gone.log")
    assert why_unmatched(str(tmp_path / "logs" / "error.log")) is None
    assert why_unmatched(str(tmp_path / "logs" / "*.log")) is None
    assert why_unmatched(str(tmp_path / "nowhere" / "error.log")) == f"no such directory: {tmp_path / 'nowhere'}"
    assert why_unmatched(str(tmp_path / "nowhere" / "*.log")) == f"no such directory: {tmp_path / 'nowhere'}"
    assert why_unmatched(str(tmp_path / "logs" / "access.log")) == f"no such file in {tmp_path / 'logs'}"
    assert why_unmatched(str(tmp_path / "logs" / "*.txt")) == f"no file in {tmp_path / 'logs'} matches it"
    assert why_unmatched(str(tmp_path / "logs")) == f"it is a directory: did you mean {tmp_path / 'logs'}/*.log?"
    assert why_unmatched(str(tmp_path / "plain" / "error.log")) == f"{tmp_path / 'plain'} is not a directory"
    assert why_unmatched(str(tmp_path / "link")) == (
        f"it is a symbolic link to {tmp_path / 'gone.log'}, which names no file"
    )


def test_missing_only_past_the_threshold() -> None:
    why = "no such directory: /nowhere"
    assert selfcheck.missing({"/nowhere/a.log": (why, 2.0)}, 2.0) == []  # exactly at it: not yet
    (p,) = selfcheck.missing({"/nowhere/a.log": (why, 2.5), "/l/b.log": ("no such file in /l", 1.0)}, 2.0)
    assert (p.check, p.subject) == ("missing", "/nowhere/a.log")
    assert p.text == (
        "/nowhere/a.log has named no file for 2 s (no such directory: /nowhere): nothing is read from it; check "
        "the --log path (`logs` in the configuration) and its permissions"
    )


# -- the daemon


def test_a_path_in_no_directory_is_said_at_start_raises_a_self_alert_and_is_read_once_it_appears(
    tmp_path: Path, rx: Receiver
) -> None:
    nowhere = tmp_path / "nowhere"
    path = nowhere / "error.log"
    d = Daemon(tmp_path, rx.url, logs=(), args=("--log", str(path), "--stall-after", "2s"))
    try:
        d.start()
        d.wait_for_log(
            f"kong-tailer: warning: {path} matches no file yet (no such directory: {nowhere}): it is followed all "
            "the same, and a file that appears there is read from its start"
        )
        assert f"kong-tailer: info: following {path}; state in " in d.log_text()
        d.wait_for_log(
            f"kong-tailer: error: self-check: {path} has named no file for ", DEADLINE
        )  # after 2 s, at the next self-check
        assert f"(no such directory: {nowhere}): nothing is read from it; check the --log path" in d.log_text()
        wait_until(lambda: notices(rx.requests), DEADLINE, "the notice")
        (notice,) = notices(rx.requests)
        assert notice["blocks"][0]["text"]["text"] == "kong-tailer on gw: problem"
        assert f"{path} has named no file for " in notice["text"] and "no such directory" in notice["text"]

        nowhere.mkdir()  # it appears: read from its start, the problem resolved
        path.write_text(entry(1) + entry(2))
        wait_until(lambda: delivered(rx) == {"1": 1, "2": 1}, DEADLINE, "the lines of the file that appeared")
        d.wait_for_log(f"kong-tailer: warning: resolved: missing {path}", DEADLINE)
        wait_until(lambda: len(notices(rx.requests)) == 2, DEADLINE, "the Resolved notice")
        assert f"Resolved: missing {path}" in notices(rx.requests)[1]["text"]
        assert d.stop() == 0
    finally:
        d.close()
    assert d.log_text().count("self-check:") == 1 and d.log_text().count("resolved:") == 1


def test_a_directory_given_as_log_suggests_the_glob_and_is_not_taken_for_a_file(tmp_path: Path, rx: Receiver) -> None:
    d = Daemon(tmp_path, rx.url, logs=(), args=("--log", str(tmp_path / "logs"), "--stall-after", "2s"))
    logs = d.logs  # the directory Kong writes into
    try:
        (logs / "error.log").write_text(entry(1))
        d.start()
        d.wait_for_log(
            f"kong-tailer: warning: {logs} matches no file yet (it is a directory: did you mean {logs}/*.log?)"
        )
        assert "kong-tailer: info: following (no file yet); state in " in d.log_text()
        d.wait_for_log(f"kong-tailer: error: self-check: {logs} has named no file for ", DEADLINE)
        (logs / "access.log").write_text("")  # the directory changes: no `stalled` for it, no read error either
        wait_until(lambda: notices(rx.requests), DEADLINE, "the notice")
        assert d.stop() == 0
    finally:
        d.close()
    text = d.log_text()
    assert "stalled" not in text and "not a regular file" not in text and "cannot read" not in text, text
    assert delivered(rx) == {}  # nothing was read


@contextmanager
def private_dir() -> Iterator[tuple[Path, dict[str, Any], str]]:
    """A directory the daemon may not enter, under one it may: (its path, how to start the daemon, as whom).
    As root: owned by nobody, mode 0700, the daemon started as root without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH (tests/test_metrics.py's way); else: mode 0 for ourselves."""
    from tests.test_metrics import _drop_dac

    root = Path(tempfile.mkdtemp(prefix="kong-tailer-missing-"))
    try:
        root.chmod(0o755)
        private = root / "private"
        private.mkdir()
        if os.geteuid() == 0:
            os.chown(private, NOBODY, NOBODY)
            private.chmod(0o700)
            yield private, {"preexec_fn": _drop_dac}, "root"
        else:
            private.chmod(0)
            yield private, {}, subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    finally:
        (root / "private").chmod(0o700)
        shutil.rmtree(root, ignore_errors=True)


def test_a_directory_it_may_not_enter_is_named_with_the_user(tmp_path: Path, rx: Receiver) -> None:
    from tests.test_metrics import Confined

    with private_dir() as (private, popen, user):
        path = private / "error.log"
        d = Confined(tmp_path, rx.url, popen, logs=(), args=("--log", str(path), "--stall-after", "2s"))
        try:
            d.start()
            reason = f"no permission on {private} (user {user} may not enter it)"
            d.wait_for_log(f"kong-tailer: warning: {path} matches no file yet ({reason}): it is followed all the same")
            d.wait_for_log(f"kong-tailer: error: self-check: {path} has named no file for ", DEADLINE)
            assert f"({reason}): nothing is read from it" in d.log_text()
            wait_until(lambda: notices(rx.requests), DEADLINE, "the notice")
            assert reason in notices(rx.requests)[0]["text"]
            assert d.stop() == 0
        finally:
            d.close()
