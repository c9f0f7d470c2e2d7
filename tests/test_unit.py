"""The shipped systemd unit and example configuration agree with the program: the command line it runs is one
`kong-tailer run` accepts, the credential it loads is the one the built-in Slack notifier reads, the paths
match. (`systemd-analyze verify` and `security` check the unit itself, in .ci/run.)"""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path

import click
import pytest

from tailer.cli import run
from tailer.commands.run import DEFAULT_STATE_DIR, load_config, settings_now
from tailer.notify.console import ConsoleDestination
from tailer.notify.registry import BUILTIN_NOTIFIERS, destination_for
from tailer.notify.slack import BUILTIN_CREDENTIAL, SlackDestination

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "kong-tailer.service"
CONFIG = ROOT / "systemd" / "config.toml"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)  # systemd allows a key more than once
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_runs_the_daemon_with_the_example_configuration() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/kong-tailer/bin/kong-tailer"
    assert argv[1:3] == ["run", "--config"] and argv[3] == "/etc/kong-tailer/config.toml"
    args = [*argv[1:3], str(CONFIG)]  # the example, where the unit reads /etc/kong-tailer/config.toml
    with click.Context(click.Group(), info_name="kong-tailer") as parent:
        ctx = run.make_context("run", args[1:], parent=parent)
        values = settings_now(ctx, str(CONFIG)).values
    assert values["logs"] == ("/usr/local/kong/logs/error.log", "/usr/local/kong/logs/access.log")
    assert values["rules_dir"] == "/etc/kong-tailer/rules"
    assert values["state_dir"] is None  # the unit's $STATE_DIRECTORY
    assert values["metrics"] is None  # off by default


def test_the_unit_and_the_example_name_the_same_places() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert "/var/lib/" + service["StateDirectory"] == DEFAULT_STATE_DIR
    logs_dir = service["ReadOnlyPaths"]
    assert all(path.startswith(logs_dir + "/") for path in load_config(str(CONFIG))["logs"])
    name, _, source = service["LoadCredential"].partition(":")
    assert name == BUILTIN_CREDENTIAL and source.startswith("/etc/kong-tailer/")


def test_the_built_in_slack_notifier_reads_the_units_credential(tmp_path: Path) -> None:
    (tmp_path / BUILTIN_CREDENTIAL).write_text("https://hooks.slack.com/services/T0/B0/credential\n")
    config = BUILTIN_NOTIFIERS["slack"]
    destination, warning = destination_for(config, {"CREDENTIALS_DIRECTORY": str(tmp_path)}, sys.stdout)
    assert isinstance(destination, SlackDestination) and warning is None
    assert destination.url == "https://hooks.slack.com/services/T0/B0/credential"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/env"}, "env"),  # the variable wins
        ({}, "credential"),
    ],
)
def test_the_environment_variable_comes_before_the_credential(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    (tmp_path / BUILTIN_CREDENTIAL).write_text("https://hooks.slack.com/services/T0/B0/credential")
    env = {**environ, "CREDENTIALS_DIRECTORY": str(tmp_path)}
    destination, _ = destination_for(BUILTIN_NOTIFIERS["slack"], env, sys.stdout)
    assert isinstance(destination, SlackDestination) and destination.url.endswith("/" + expected)


def test_without_url_or_credential_the_console_gets_the_alerts(tmp_path: Path) -> None:
    destination, warning = destination_for(
        BUILTIN_NOTIFIERS["slack"], {"CREDENTIALS_DIRECTORY": str(tmp_path)}, sys.stdout
    )
    assert isinstance(destination, ConsoleDestination)
    assert warning is not None and "SLACK_WEBHOOK_URL" in warning
