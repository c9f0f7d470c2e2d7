"""`kong-tailer run --config FILE`: the file's settings, overridden by flags; mistakes named with the file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tailer.commands.run import load_config
from tailer.errors import ConfigError
from tests.daemon import ROOT, RULES, entry, wait_until


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_settings_map_to_the_command_options(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        'logs = ["/var/log/kong/error.log"]\nrules = "/r"\nstate_dir = "/s"\nstart_at = "beginning"\n'
        'rotate_wait = 5\ntz = "UTC"\nformat = "error"\nmax_line = 4096\n',
    )
    assert load_config(str(path)) == {
        "logs": ("/var/log/kong/error.log",),
        "rules_dir": "/r",
        "state_dir": "/s",
        "start_at": "beginning",
        "rotate_wait": "5",
        "zone": "UTC",
        "fmt": "error",
        "max_line": 4096,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("logz = []\n", "unknown setting 'logz'"),
        ('logs = "/one/file"\n', "logs has the wrong type (str)"),
        ("logs = [1]\n", "logs must be a list of strings"),
        ("max_line = true\n", "max_line has the wrong type (bool)"),
        ("logs = [\n", "not valid TOML"),
    ],
)
def test_mistakes_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_config(str(path))
    assert str(path) in str(err.value)


def test_a_bad_file_stops_the_command_with_exit_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, "nope = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tailer", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and f"{path}:1: unknown setting 'nope'" in proc.stderr


@pytest.mark.parametrize("override", [False, True])
def test_the_file_configures_the_daemon_and_flags_override_it(tmp_path: Path, override: bool) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(RULES)
    log = tmp_path / "error.log"
    log.write_text(entry(1))
    config = write_config(
        tmp_path,
        f'logs = ["{log}"]\nrules = "{tmp_path / "rules"}"\nstate_dir = "{tmp_path / "from-file"}"\n'
        'start_at = "beginning"\n',  # and the host's time zone (saved with the rules' state: once a bug)
    )
    argv = [sys.executable, "-m", "tailer", "run", "--config", str(config)]
    if override:
        argv += ["--state-dir", str(tmp_path / "from-flag")]
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "TEST_WEBHOOK_URL")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # the console notifier: no URL is set
        assert "[marked] ALERT 1 upstream went away" in line
        expected = tmp_path / ("from-flag" if override else "from-file") / "state.db"
        wait_until(expected.exists, what=str(expected))
        assert not (tmp_path / ("from-file" if override else "from-flag")).exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_bad_flag_is_named_as_it_is_written(tmp_path: Path) -> None:
    """A setting given as a flag is named by the flag (`--tz`), not by the parameter behind it (`zone`)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tailer", "run", "--log", str(tmp_path / "x.log"), "--tz", "Mars/Base"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and "kong-tailer: error: --tz: time zone 'Mars/Base' is unknown" in proc.stderr
