"""`kong-tailer check`: whether `kong-tailer run` would start, said before it is started.

`check --rules DIR` loads the rules and notifiers and lists what loaded, then builds each notifier a rule uses
as `run` would, its secrets read (a file readable by this user, a variable set, a systemd credential present
when $CREDENTIALS_DIRECTORY is set). `check --config FILE` also reads the configuration file as `run --config`
does and checks each log path (readable by this user) and the state directory (writable). Every mistake is
found, not just the first: what is fine is listed on stdout, each problem goes to stderr as `file:line: what`
(or `--flag: what`), then their count; exit 0 only when nothing is wrong, 1 otherwise. No secret is printed.
"""

from __future__ import annotations

import glob
import os
import pwd
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from tailer.errors import ConfigError, RulesError
from tailer.notify.build import BUILT_IN
from tailer.notify.registry import ready, type_of
from tailer.rules.load import load_rules
from tailer.rules.model import NotifierConfig, Rule, RuleSet
from tailer.secrets import CredentialUnavailable

if TYPE_CHECKING:
    import click

    from tailer.commands.run import Settings


def run_check(rules_dir: str, out: TextIO, err: TextIO, environ: Mapping[str, str] | None = None) -> int:
    """0 when everything loads and every notifier a rule uses could be built; 1 (with every problem on stderr)
    otherwise."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    ruleset = _rules(rules_dir, None, out, problems)
    if ruleset is not None:
        _notifiers(ruleset, environ, out, problems)
    return _verdict(problems, f"in {rules_dir}", err)


def check_config(run: click.Context, config: str, environ: dict[str, str], out: TextIO, err: TextIO) -> int:
    """What `kong-tailer run --config FILE` would start with, `run` being the context of that command (its
    flags, the file's settings laid under them): the settings, the rules, the notifiers' secrets, each log path
    and the state directory. 0 when a start would work and find its files; 1 otherwise."""
    from tailer.commands.run import rules_dir, run_options, settings_now

    try:
        settings = settings_now(run, config)
    except ConfigError as exc:  # not read, or not TOML: nothing else can be known
        return _verdict([str(exc)], f"in {config}", err)
    _, problems = run_options(settings, environ)
    if not problems:
        out.write(f"config {config}: ok\n")
    ruleset = None
    if "rules_dir" not in settings.refused:  # a wrong one is said already: the default is not the one meant
        ruleset = _rules(rules_dir(settings["rules_dir"], environ), settings.where.get("rules_dir"), out, problems)
    if ruleset is not None:
        _notifiers(ruleset, environ, out, problems)
    _logs(settings, out, problems)
    if "state_dir" not in settings.refused:
        _state(settings, environ, out, problems)
    if not problems:
        out.write(f"ok: `kong-tailer run --config {config}` would start with all of this\n")
    return _verdict(problems, f"in the setup of {config}", err)


def _verdict(problems: list[str], where: str, err: TextIO) -> int:
    for problem in problems:
        err.write(f"{problem}\n")
    if not problems:
        return 0
    err.write(f"kong-tailer: {len(problems)} problem(s) {where}\n")
    return 1


def _rules(directory: str, named: str | None, out: TextIO, problems: list[str]) -> RuleSet | None:
    """The rules of `directory`, listed on `out`; None, with every mistake in `problems`, when they do not
    load (`named`: where the directory was named, to say so when it cannot be read)."""
    try:
        ruleset = load_rules(directory)
    except RulesError as exc:
        problems.extend(exc.problems)
        return None
    except ConfigError as exc:
        problems.append(f"{named}: {exc}" if named else str(exc))
        return None
    out.write(f"{len(ruleset.rules)} rules from {len(ruleset.files)} files in {directory}\n")
    for rule in ruleset.rules:
        out.write(f"  {rule.name:<24} {_selects(rule)}; {_decides(rule)} → {', '.join(rule.notify)}\n")
        for note in _notes(rule):
            out.write(f"  {'':<24} note: {note}\n")
    return ruleset


def _notifiers(ruleset: RuleSet, environ: Mapping[str, str], out: TextIO, problems: list[str]) -> None:
    """Each notifier a rule uses, built as `run` builds it (its secrets read, none shown), and those declared
    but unused; a secret that cannot be read is a problem, as it stops `run`."""
    used = {n for r in ruleset.rules for n in r.notify}
    out.write("notifiers\n")
    for name, config in sorted(ruleset.notifiers.items()):
        what = _notifier(config, environ)
        if name not in used:
            if config.file != BUILT_IN:
                out.write(f"  {name:<24} {what} (used by no rule)\n")
            continue
        try:
            warning = ready(config, environ)
        except CredentialUnavailable as exc:  # outside the unit: what systemd gives the service is not here
            out.write(
                f"  {name:<24} {what}\n  {'':<24} note: systemd credential {exc.credential!r} not checked: "
                "$CREDENTIALS_DIRECTORY is not set (the service gets it from LoadCredential=; "
                "outside systemd, `run` would stop here)\n"
            )
            continue
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if not warning:
            out.write(f"  {name:<24} {what}: ok\n")
            continue
        out.write(f"  {name:<24} {what}\n  {'':<24} warning: {warning}\n")
        if not environ.get("CREDENTIALS_DIRECTORY"):  # the built-in slack reads the unit's credential
            out.write(
                f"  {'':<24} note: $CREDENTIALS_DIRECTORY is not set: a credential the unit gives is not seen here\n"
            )


def _logs(settings: Settings, out: TextIO, problems: list[str]) -> None:
    """Each log path: a literal one's directory readable and its file, if there, readable; a glob's matches."""
    where = settings.where.get("logs", "logs")
    user = _user()
    out.write("logs\n")
    for pattern in settings["logs"]:
        found, fine = _log(pattern, user)
        if fine:
            out.write(f"  {pattern}: {found}\n")
        else:
            problems.append(f"{where}: {pattern}: {found}")


def _log(pattern: str, user: str) -> tuple[str, bool]:
    """What is found at a log path, and whether `run` (as this user) could follow it."""
    directory = os.path.dirname(os.path.abspath(pattern))
    if not glob.has_magic(directory):
        if not os.path.isdir(directory):
            return f"its directory {directory} does not exist", False
        if not os.access(directory, os.R_OK | os.X_OK):
            return (
                f"its directory {directory} cannot be read by {user} (changes are watched there: "
                f"setfacl -m u:{user}:rx {directory})"
            ), False
    if glob.has_magic(pattern):
        matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        unreadable = [p for p in matches if not os.access(p, os.R_OK)]
        if unreadable:
            return f"{len(unreadable)} of the {len(matches)} file(s) it matches cannot be read by {user}: " + (
                ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
            ), False
        if not matches:
            return "no file matches now (one that appears is read from its start)", True
        return f"{len(matches)} file(s) match now, all readable", True
    if not os.path.exists(pattern):
        return "not there yet (read from its start when it appears)", True
    if not os.path.isfile(pattern):
        return "not a regular file", False
    if not os.access(pattern, os.R_OK):
        return f"cannot be read by {user} (setfacl -m u:{user}:r {pattern})", False
    return "readable", True


def _state(settings: Settings, environ: Mapping[str, str], out: TextIO, problems: list[str]) -> None:
    """The state directory: there and writable by this user, or one this user (or systemd) can make."""
    from tailer.commands.run import DEFAULT_STATE_DIR, state_dir
    from tailer.state import DATABASE

    directory = state_dir(settings["state_dir"], environ)
    user = _user()
    found, fine = "writable", True
    if os.path.isdir(directory):
        database = os.path.join(directory, DATABASE)
        if not os.access(directory, os.W_OK | os.X_OK):
            found, fine = f"cannot be written by {user}", False
        elif os.path.exists(database) and not os.access(database, os.R_OK | os.W_OK):
            found, fine = f"{database} cannot be read and written by {user}", False
    elif os.path.exists(directory):
        found, fine = "not a directory", False
    else:
        parent = os.path.dirname(os.path.abspath(directory))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if os.access(parent, os.W_OK | os.X_OK):
            found = "not there yet; made at the first start"
        elif settings["state_dir"] is None and directory == DEFAULT_STATE_DIR:  # the unit's StateDirectory=
            found = f"not there yet; systemd makes it at start (StateDirectory=), {user} cannot make it in {parent}"
        else:
            found, fine = f"not there, and {user} cannot make it in {parent}", False
    if fine:
        out.write(f"state directory {directory}: {found}\n")
    else:
        where = settings.where.get("state_dir")
        problems.append(f"{where + ': ' if where else ''}state directory {directory}: {found}")


def _user() -> str:
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _selects(rule: Rule) -> str:
    parts = [f"kind {rule.kind}" if rule.kind else "any kind"]
    if rule.source:
        parts.append(f"source {rule.source}")
    if rule.event:
        parts.append(f"event {rule.event}")
    if rule.when_text:
        parts.append(f"when {' '.join(rule.when_text.split())}")
    return ", ".join(parts)


def _decides(rule: Rule) -> str:
    parts = []
    if rule.aggregation is not None:
        parts.append(rule.aggregation.describe(rule.settings))
    if rule.group_by.names:
        parts.append(f"per {', '.join(rule.group_by.names)}")
    if rule.snooze is not None:
        parts.append(f"snooze {rule.snooze:g} s")
    if rule.on_change:
        parts.append("on_change")
    if rule.unique is not None and (rule.on_change or rule.snooze is not None):
        parts.append(f"unique {', '.join(rule.unique.names)}")
    if rule.realert is not None:
        parts.append(f"realert {rule.realert:g} s")
    if rule.group_window is not None:
        parts.append(f"grouped over {rule.group_window:g} s")
    return ", ".join(parts) or "every match"


def _notes(rule: Rule) -> list[str]:
    notes = []
    if rule.snooze is not None and not rule.on_change:
        notes.append(
            "snooze without on_change silences every event of the rule after one message (Kong's semantics); "
            "add on_change = true to snooze per `unique` value"
        )
    if rule.kind == "http" and rule.when is None and not rule.counts_all_requests:
        notes.append("requests below 400 are only counted, so this rule sees 4xx/5xx requests only")
    return notes


def _notifier(config: NotifierConfig, environ: Mapping[str, str]) -> str:
    what = type_of(config).describe(config, environ)
    rate = f", at most {config.rate:g}/s" if config.rate else ""
    return what + rate
