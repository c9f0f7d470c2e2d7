"""`kong-tailer check` says whether `run` would start, before it is started (issue 14, points 1, 6 and 7): it reads
every notifier's secrets as `run` does, and with `--config FILE` the whole setup (the file, the rules, the log
paths, the state directory); the configuration file's mistakes come all at once with file:line and a
suggestion; one mistaken notifier type is one message. Each test runs the command line as an operator would
(a subprocess on real files) and looks at the exit code and the words."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon import ROOT
from tests.users import as_user, searchable_dir, unused_uid

SECRET = "https://hooks.slack.invalid/services/T000/B000/sEcReT0123456789"
RULE = '[[rule]]\nname = "errors"\nkind = "error"\ntext = "{{ message }}"\nnotify = ["%s"]\n'


def kong_tailer(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "CREDENTIALS_DIRECTORY")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "tailer", *args],
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
    )


def rules(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "r.toml").write_text(text)
    return directory


def setup(tmp_path: Path, notifier: str, extra: str = "") -> Path:
    """A whole setup, good unless `notifier` or `extra` says otherwise: a log, rules using `notifier`, and a
    configuration naming them and a state directory."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "error.log").write_text("")
    (tmp_path / "logs" / "a-access.log").write_text("")
    rules(tmp_path, notifier + "\n" + RULE % "ops")
    config = tmp_path / "config.toml"
    config.write_text(
        f'logs = ["{tmp_path}/logs/error.log", "{tmp_path}/logs/*access.log"]\n'
        f'rules = "{tmp_path}/rules"\nstate_dir = "{tmp_path}/state"\n' + extra
    )
    return config


# -- point 1: check catches what run would refuse


def test_an_unreadable_url_file_fails_check_as_it_fails_run(tmp_path: Path) -> None:
    directory = rules(tmp_path, f'[notifier.slack]\ntype = "slack"\nurl_file = "{tmp_path}/nonexistent/slack-url"\n')
    (directory / "r.toml").write_text((directory / "r.toml").read_text() + RULE % "slack")
    words = f"{directory / 'r.toml'}:1: notifier 'slack' url: cannot read file '{tmp_path}/nonexistent/slack-url'"

    check = kong_tailer("check", "--rules", str(directory))
    assert check.returncode == 1, check.stderr
    assert words in check.stderr and "No such file or directory" in check.stderr
    assert check.stderr.splitlines()[-1] == f"kong-tailer: 1 problem(s) in {directory}"

    log = tmp_path / "error.log"
    log.write_text("")
    run = kong_tailer("run", "--rules", str(directory), "--log", str(log), "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 2 and words in run.stderr


def test_replay_send_reads_the_secrets_before_any_log(tmp_path: Path) -> None:
    directory = rules(tmp_path, f'[notifier.slack]\ntype = "slack"\nurl_file = "{tmp_path}/nonexistent"\n')
    (directory / "r.toml").write_text((directory / "r.toml").read_text() + RULE % "slack")
    log = tmp_path / "error.log"
    log.write_text("2025/01/15 10:00:00 [error] 1#0: *1 upstream went away\n")
    replay = kong_tailer("replay", "--send", "--rules", str(directory), str(log))
    assert replay.returncode == 2
    assert "notifier 'slack' url: cannot read file" in replay.stderr
    assert "lines" not in replay.stderr  # no file's summary: nothing was read
    dry = kong_tailer("replay", "--rules", str(directory), str(log))  # a dry run needs no secret
    assert dry.returncode == 0, dry.stderr


def test_an_unset_url_variable_fails_check_and_a_set_one_is_not_shown(tmp_path: Path) -> None:
    directory = rules(tmp_path, '[notifier.ops]\ntype = "webhook"\nurl_env = "OPS_URL"\n\n' + RULE % "ops")
    unset = kong_tailer("check", "--rules", str(directory))
    assert unset.returncode == 1
    assert f"{directory / 'r.toml'}:1: notifier 'ops': no URL found" in unset.stderr

    done = kong_tailer("check", "--rules", str(directory), env={"OPS_URL": SECRET})
    assert done.returncode == 0, done.stderr
    assert "ops                      webhook, URL from $OPS_URL (set): ok" in done.stdout
    assert "sEcReT" not in done.stdout + done.stderr


def test_a_systemd_credential_is_read_when_credentials_directory_is_set(tmp_path: Path) -> None:
    directory = rules(tmp_path, '[notifier.ops]\ntype = "slack"\nurl_credential = "ops-url"\n\n' + RULE % "ops")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}

    missing = kong_tailer("check", "--rules", str(directory), env=env)
    assert missing.returncode == 1
    assert f"notifier 'ops' url: cannot read systemd credential '{credentials}/ops-url'" in missing.stderr

    (credentials / "ops-url").write_text(SECRET + "\n")
    present = kong_tailer("check", "--rules", str(directory), env=env)
    assert present.returncode == 0, present.stderr
    assert "ops                      slack, URL from ops-url, at most 1/s: ok" in present.stdout
    assert "sEcReT" not in present.stdout + present.stderr

    # outside the unit, what systemd gives the service cannot be looked at: said, not called a mistake
    outside = kong_tailer("check", "--rules", str(directory))
    assert outside.returncode == 0, outside.stderr
    assert "note: systemd credential 'ops-url' not checked: $CREDENTIALS_DIRECTORY is not set" in outside.stdout


# -- check --config: the whole setup


def test_check_config_on_a_good_setup_lists_each_thing_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "ops-url").write_text(SECRET + "\n")
    config = setup(tmp_path, f'[notifier.ops]\ntype = "webhook"\nurl_file = "{tmp_path}/ops-url"\n')
    result = kong_tailer("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"config {config}: ok"
    assert lines[1] == f"1 rules from 1 files in {tmp_path}/rules"
    assert f"  ops                      webhook, URL from {tmp_path}/ops-url: ok" in lines
    assert f"  {tmp_path}/logs/error.log: readable" in lines
    assert f"  {tmp_path}/logs/*access.log: 1 file(s) match now, all readable" in lines
    assert f"state directory {tmp_path}/state: not there yet; made at the first start" in lines
    assert lines[-1] == f"ok: `kong-tailer run --config {config}` would start with all of this"
    assert "sEcReT" not in result.stdout
    assert not (tmp_path / "state").exists()  # check makes nothing


def test_check_config_names_each_problem_of_a_bad_setup_and_exits_1(tmp_path: Path) -> None:
    config = setup(tmp_path, f'[notifier.ops]\ntype = "webhook"\nurl_file = "{tmp_path}/no-url"\n')
    (tmp_path / "state").write_text("a file, not a directory")
    config.write_text(
        f'logs = ["{tmp_path}/logs/error.log", "{tmp_path}/gone/error.log"]\n'  # line 1
        f'rules = "{tmp_path}/rules"\n'  # line 2
        f'state_dir = "{tmp_path}/state"\n'  # line 3
    )
    result = kong_tailer("check", "--config", str(config))
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert problems == [
        f"{tmp_path}/rules/r.toml:1: notifier 'ops' url: cannot read file '{tmp_path}/no-url': "
        "No such file or directory",
        f"{config}:1: logs: {tmp_path}/gone/error.log: its directory {tmp_path}/gone does not exist",
        f"{config}:3: state_dir: state directory {tmp_path}/state: not a directory",
        f"kong-tailer: 3 problem(s) in the setup of {config}",
    ]
    assert f"  {tmp_path}/logs/error.log: readable" in result.stdout  # what is fine is still listed
    assert "would start" not in result.stdout


def test_check_config_says_which_log_this_user_cannot_read() -> None:
    """Run as a user that may not read the log (as `sudo -u kong-tailer kong-tailer check` is): said."""
    root = searchable_dir("kong-tailer-check-")
    try:
        config = setup(root, '[notifier.ops]\ntype = "console"\n')
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / "logs" / "error.log").chmod(0o600)  # root's alone
        uid = unused_uid()
        result = kong_tailer("check", "--config", str(config), prefix=as_user(uid))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{config}:1: logs: {root}/logs/error.log: cannot be read by " in result.stderr
        readable = kong_tailer("check", "--config", str(config))  # by root: it can
        assert f"  {root}/logs/error.log: readable" in readable.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_check_config_on_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    result = kong_tailer("check", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.toml'}: cannot read the configuration: No such file or directory" in result.stderr


# -- point 6: the configuration file's mistakes, all at once, each with its line and a suggestion

BAD_CONFIG = (
    'logs = ["{log}"]\n'  # 1
    'rules = "{rules}"\n'  # 2
    'rotate_wiat = "5s"\n'  # 3
    'start_at = "begining"\n'  # 4
    'tz = "Mars/Base"\n'  # 5
    'stall_after = "5 minutes"\n'  # 6
    'max_line = "big"\n'  # 7
)


@pytest.mark.parametrize("command", ["run", "check"])
def test_every_mistake_of_the_config_file_at_once(tmp_path: Path, command: str) -> None:
    (tmp_path / "error.log").write_text("")
    rules(tmp_path, RULE % "console")
    config = tmp_path / "cfg.toml"
    config.write_text(BAD_CONFIG.format(log=tmp_path / "error.log", rules=tmp_path / "rules"))
    result = kong_tailer(command, "--config", str(config))
    assert result.returncode == (2 if command == "run" else 1)
    expected = [
        f"{config}:3: unknown setting 'rotate_wiat'; did you mean 'rotate_wait'?",
        f"{config}:4: start_at: 'begining' is not one of 'end', 'beginning'; did you mean 'beginning'?",
        f"{config}:5: tz: time zone 'Mars/Base' is unknown",
        f"{config}:6: stall_after: '5 minutes' is not a duration",
        f"{config}:7: max_line has the wrong type (str): expected a whole number",
    ]
    said = [
        line
        for line in result.stderr.removeprefix("kong-tailer: error: ").splitlines()
        if line.startswith(f"{config}:")
    ]
    assert len(said) == len(expected), result.stderr  # in the order of the file's lines
    assert all(line.startswith(e) for line, e in zip(said, expected, strict=True)), result.stderr


def test_a_setting_of_the_wrong_type_is_one_mistake(tmp_path: Path) -> None:
    rules(tmp_path, RULE % "console")
    config = tmp_path / "cfg.toml"
    config.write_text(f'rules = "{tmp_path}/rules"\nlogs = "{tmp_path}/error.log"\n')
    result = kong_tailer("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == (
        f"kong-tailer: error: {config}:2: logs has the wrong type (str): expected a list of strings\n"
    )  # and not also "no log to follow"


# -- point 7: a mistyped notifier type is one message


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_mistyped_notifier_type_is_one_message(tmp_path: Path, command: str) -> None:
    directory = rules(tmp_path, '[notifier.ops]\ntype = "webhok"\nurl_env = "OPS_URL"\n\n' + RULE % "ops")
    log = tmp_path / "error.log"
    log.write_text("")
    args = ["--log", str(log), "--state-dir", str(tmp_path / "state")] if command == "run" else []
    result = kong_tailer(command, "--rules", str(directory), *args)
    assert result.returncode == (1 if command == "check" else 2)
    said = result.stderr.removeprefix("kong-tailer: error: ").splitlines()
    mistake = (
        f"{directory / 'r.toml'}:2: notifier 'ops': type must be one of slack, webhook, command, console, "
        "not 'webhok'; did you mean 'webhook'?"
    )
    assert said[0] == mistake
    assert "no notifier 'ops'" not in result.stderr
    assert said[1:] == ([f"kong-tailer: 1 problem(s) in {directory}"] if command == "check" else [])


def test_a_misspelled_notifier_name_in_a_rule_gets_a_suggestion(tmp_path: Path) -> None:
    directory = rules(tmp_path, '[notifier.ops]\ntype = "console"\n\n' + RULE % "opps")
    result = kong_tailer("check", "--rules", str(directory))
    assert result.returncode == 1
    assert f"{directory / 'r.toml'}:8: rule 'errors': notify: no notifier 'opps'; did you mean 'ops'?" in result.stderr
