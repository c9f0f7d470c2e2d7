"""`kong-tailer run`: the daemon, configured by a TOML file whose settings the command's flags override;
and `kong-tailer outbox`: what waits to be sent, and dead letters sent again.

    # /etc/kong-tailer/config.toml
    logs = ["/usr/local/kong/logs/error.log", "/usr/local/kong/logs/*access.log"]
    rules = "/etc/kong-tailer/rules"
    state_dir = "/var/lib/kong-tailer"
    start_at = "end"            # or "beginning": on the very first start, read what the files hold
    rotate_wait = "60s"         # how long a rotated file is still read after its last growth
    format = "auto"             # error | access | json | mixed
    tz = "UTC"                  # the error log's time zone (default: this host's)
    host = "gw-1"               # default: this machine's name
    log_format = ["..."]        # custom nginx log_format strings for access logs
    max_line = 262144
    metrics = "127.0.0.1:9464"  # a Prometheus endpoint (off when not set)
    stall_after = "5m"          # self-alert: a file changes but nothing is read from it
    failing_after = "10m"       # self-alert: a notifier fails to deliver
    poll = false                # true: no inotify, the files are looked at every second (NFS, overlayfs)

On SIGHUP the daemon calls `setup(settings_now(...))` again: the file is read anew, the flags given still
override it, and the rules are loaded and checked before anything running is replaced.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click
from click.core import ParameterSource

from tailer.errors import ConfigError, RulesError
from tailer.rules.load import duration
from tailer.tomltext import did_you_mean, key_line, toml_problem

if TYPE_CHECKING:
    from tailer.daemon import RunOptions
    from tailer.rules.model import RuleSet

_T = TypeVar("_T")

DEFAULT_STATE_DIR = "/var/lib/kong-tailer"
DEFAULT_RULES = "/etc/kong-tailer/rules"

# TOML key → (command parameter, expected type)
SETTINGS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "logs": ("logs", list),
    "rules": ("rules_dir", str),
    "state_dir": ("state_dir", str),
    "start_at": ("start_at", str),
    "rotate_wait": ("rotate_wait", (str, int, float)),
    "format": ("fmt", str),
    "tz": ("zone", str),
    "host": ("host", str),
    "log_format": ("log_formats", list),
    "max_line": ("max_line", int),
    "metrics": ("metrics", (str, int)),
    "stall_after": ("stall_after", (str, int, float)),
    "failing_after": ("failing_after", (str, int, float)),
    "poll": ("poll", bool),
}
_DURATIONS = ("rotate_wait", "stall_after", "failing_after")


def load_config(path: str) -> dict[str, Any]:
    """The settings of a configuration file, by command parameter name; ConfigError listing every mistake."""
    values, _, problems = read_config(path)
    if problems:
        raise ConfigError("\n".join(problems))
    return values


def read_config(path: str) -> tuple[dict[str, Any], dict[str, int], list[str]]:
    """The settings of a configuration file by command parameter name (`settings_now` lays flags over them),
    the line each known setting is on (a wrong one too), and every mistake, as `file:line: what is wrong; did
    you mean X?`. ConfigError when the file cannot be read or is not TOML."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read the configuration: {reason}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_problem(path, exc)) from exc
    lines = text.splitlines()
    out: dict[str, Any] = {}
    at: dict[str, int] = {}
    problems: list[str] = []
    for key, value in data.items():
        line = key_line(lines, key)
        if key not in SETTINGS:
            hint = did_you_mean(key, SETTINGS) or f" (known: {', '.join(SETTINGS)})"
            problems.append(f"{path}:{line}: unknown setting {key!r}{hint}")
            continue
        param, kind = SETTINGS[key]
        at[param] = line
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            problems.append(f"{path}:{line}: {key} has the wrong type ({type(value).__name__}): {_expected(key)}")
            continue
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                problems.append(f"{path}:{line}: {key} must be a list of strings")
                continue
            value = tuple(value)
        if key in _DURATIONS or key == "metrics":
            value = str(value)
        out[param] = value
    return out, at, problems


def _expected(key: str) -> str:
    if key in _DURATIONS:
        return 'expected a duration such as "60s"'
    if key == "metrics":
        return 'expected "[HOST:]PORT"'
    words: dict[Any, str] = {list: "a list of strings", str: "a string", int: "a whole number", bool: "true or false"}
    return f"expected {words[SETTINGS[key][1]]}"


@dataclass
class Settings:
    """`run`'s settings by parameter name, where each came from (for error messages), and the mistakes found
    in them so far (`setup` reports them all)."""

    values: dict[str, Any]
    where: dict[str, str]  # parameter → "FILE:LINE: key" or "--flag"; absent: the default
    problems: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # parameters the file gives a wrong value (a problem said)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def checked(self, names: tuple[str, ...], convert: Callable[[], _T]) -> _T:
        """`convert()`, its ConfigError prefixed with where the first of `names` that was given came from."""
        try:
            return convert()
        except ConfigError as exc:
            given = [self.where[n] for n in names if n in self.where]
            raise ConfigError(f"{given[0]}: {exc}" if given else str(exc)) from None


_KEYS = {param: key for key, (param, _) in SETTINGS.items()}  # command parameter → TOML key


def settings_now(ctx: click.Context, config: str | None) -> Settings:
    """The `run` command's settings as they are now: each flag given on the command line, else the
    configuration file's value (the file read again), else the default. A value the file gets wrong is a
    problem in `problems` (and its default stands in); a file that cannot be read is a ConfigError."""
    from_file, lines, problems = read_config(config) if config else ({}, {}, [])
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    refused = {name for name in lines if name not in from_file}
    for param in ctx.command.params:
        name = param.name
        if name is None or name == "config":
            continue
        if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            values[name] = ctx.params[name]
            where[name] = param.opts[0]  # the flag as written: --tz for `zone`
            continue
        if name in from_file:
            where[name] = f"{config}:{lines[name]}: {_KEYS.get(name, name)}"
        default = param.default if isinstance(param.default, str | int | float | tuple) else None  # click's UNSET
        value = from_file.get(name, default)
        try:
            values[name] = _cast(ctx, param, value)
        except click.BadParameter as exc:
            choices = param.type.choices if isinstance(param.type, click.Choice) else ()
            problems.append(f"{where.get(name, name)}: {exc.message.rstrip('.')}{did_you_mean(value, choices)}")
            values[name] = _cast(ctx, param, default)
            refused.add(name)
    return Settings(values, where, problems, refused)


def _cast(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return () if getattr(param, "multiple", False) else None
    return param.type_cast_value(ctx, value)


def setup(settings: Settings, environ: dict[str, str]) -> tuple[RuleSet, RunOptions]:
    """The rules and the daemon's options from `run`'s settings, all checked: ConfigError listing every
    mistake of the settings and of the rules, each naming its file and line, or its flag."""
    opts, problems = run_options(settings, environ)
    ruleset = load_rules_of(settings, environ, problems)
    if problems or opts is None or ruleset is None:
        raise ConfigError("\n".join(problems))
    return ruleset, opts


def run_options(settings: Settings, environ: dict[str, str]) -> tuple[RunOptions | None, list[str]]:
    """The daemon's options from `run`'s settings (the rules aside), and every mistake of the settings, in
    the order of the file's lines (the options are None when there is one)."""
    from tailer import follow
    from tailer.config import resolve_zone
    from tailer.daemon import RunOptions
    from tailer.parse.accesslog import compile_log_format
    from tailer.reader import read_options

    v = settings
    problems = list(settings.problems)

    def checked(names: tuple[str, ...], convert: Callable[[], _T]) -> _T | None:
        try:
            return v.checked(names, convert)
        except ConfigError as exc:
            problems.append(str(exc))
            return None

    if not v["logs"] and "logs" not in v.refused:  # a wrong `logs` is one mistake, said once
        problems.append("no log to follow: give --log PATH (or `logs` in the --config file)")
    checked(("zone",), lambda: resolve_zone(v["zone"]))
    checked(
        ("log_formats",),
        lambda: [compile_log_format(f, f"--log-format #{i}") for i, f in enumerate(v["log_formats"], 1)],
    )
    reading = ("fmt", "zone", "host", "log_formats", "max_line")
    read = None if problems else checked(reading, lambda: read_options(*(v[n] for n in reading)))
    rotate_wait = checked(("rotate_wait",), lambda: seconds("rotate_wait", v))
    stall_after = checked(("stall_after",), lambda: seconds("stall_after", v))
    failing_after = checked(("failing_after",), lambda: seconds("failing_after", v))
    metrics = checked(("metrics",), lambda: metrics_address(v["metrics"]))
    problems.sort(key=_place)
    if problems or read is None or rotate_wait is None or stall_after is None or failing_after is None:
        return None, problems
    return RunOptions(
        list(v["logs"]),
        state_dir(v["state_dir"], environ),
        read,
        follow.Settings(start_at_end=v["start_at"] == "end", rotate_wait=rotate_wait),
        environ=environ,
        metrics=metrics,
        stall_after=stall_after,
        failing_after=failing_after,
        poll=bool(v["poll"]),
    ), problems


def _place(problem: str) -> tuple[str, int]:
    """A problem's file and line, for sorting (a flag's, or one with no place, sorts first)."""
    m = re.match(r"(.+?):(\d+): ", problem)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


def load_rules_of(settings: Settings, environ: Mapping[str, str], problems: list[str]) -> RuleSet | None:
    """The rules of `run`'s settings; None, with every mistake added to `problems`, when they do not load."""
    from tailer.rules.load import load_rules

    if "rules_dir" in settings.refused:  # said already: the default directory is not the one meant
        return None
    try:
        return load_rules(rules_dir(settings["rules_dir"], environ), ())
    except RulesError as exc:  # every mistake of the files, each with its own file:line
        problems.extend(exc.problems)
    except ConfigError as exc:  # the directory itself: say where it was named
        where = settings.where.get("rules_dir")
        problems.append(f"{where}: {exc}" if where else str(exc))
    return None


def seconds(name: str, settings: Settings) -> float:
    """The duration setting `name` in seconds (ConfigError quoting it)."""
    try:
        return duration(str(settings[name]))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc  # it quotes the text


def metrics_address(text: str | None) -> tuple[str, int] | None:
    """ "9464", ":9464", "127.0.0.1:9464", "[::1]:9464" → (host, port); None: no endpoint."""
    if text is None or text == "":
        return None
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r}: expected [HOST:]PORT, such as 127.0.0.1:9464")
    return host, int(port)


def rules_dir(given: str | None, environ: Mapping[str, str]) -> str:
    """--rules, else $KONG_TAILER_RULES, else /etc/kong-tailer/rules."""
    return given or environ.get("KONG_TAILER_RULES") or DEFAULT_RULES


def state_dir(given: str | None, environ: Mapping[str, str]) -> str:
    """--state-dir, else systemd's $STATE_DIRECTORY, else /var/lib/kong-tailer."""
    return given or environ.get("STATE_DIRECTORY", "").split(":")[0] or DEFAULT_STATE_DIR


def show_outbox(directory: str, out: TextIO) -> int:
    """Messages per notifier and state, then each dead letter: its key, notifier, why it failed, and on a line
    of its own what it says (its rule and text; for an entry a rule failed on, the entry)."""
    from tailer.state import open_outbox

    outbox = open_outbox(directory)
    try:
        counts = outbox.counts()
        dead = outbox.dead_letters()
    finally:
        outbox.close()
    if not counts:
        out.write("outbox is empty\n")
    for notifier in sorted({n for n, _ in counts}):
        states = ", ".join(f"{counts.get((notifier, s), 0)} {s}" for s in ("pending", "sending", "sent", "dead"))
        out.write(f"{notifier}: {states}\n")
    for row in dead:
        when = datetime.fromtimestamp(row.created_at, UTC).isoformat(timespec="seconds")
        out.write(f"dead {row.key[:12]} {row.notifier} queued {when}, {row.attempts} attempt(s): {row.last_error}\n")
        what = dead_letter_text(row.notifier, row.payload)
        if what:
            out.write(f"    {what}\n")
    return 0


SHOW_TEXT = 200  # characters of a dead letter's text shown by `outbox list`


def dead_letter_text(notifier: str, payload: str) -> str:
    """What a dead letter says, on one line, for a person: `rule NAME: its text` (`rules A, B: ...` for a
    message of several); for an entry a rule failed on (notifier `(rule NAME)`), the entry. Read back from the
    payload as stored, whatever the notifier's type (Slack, webhook, command, console); '' when none is found."""
    from tailer.notify.summary import one_line

    if notifier.startswith("(rule ") and notifier.endswith(")"):
        text = f"{notifier[1:-1]} failed on: {payload}"
    else:
        rules, body = _rules_and_text(payload)
        names = ", ".join(dict.fromkeys(rules))
        text = f"{'rules' if len(set(rules)) > 1 else 'rule'} {names}: {body}" if names else body
    text = one_line(text.strip())
    return text if len(text) <= SHOW_TEXT else text[: SHOW_TEXT - 1] + "…"


def _rules_and_text(payload: str) -> tuple[list[str], str]:
    """The rule names and the text in a stored payload (see `dead_letter_text`)."""
    import html
    import json

    try:
        data = json.loads(payload)
    except ValueError:  # the console's line: `<time> <host> [<rule>] <text>` (a digest: a header, then those)
        found = re.findall(r"^\s*\S+ \S+ \[([^\]]+)\] (.*)$", payload, re.M)
        return [rule for rule, _ in found], (found[0][1] if len(found) == 1 else payload.splitlines()[0])
    if not isinstance(data, dict):
        return [], payload
    if isinstance(data.get("blocks"), list):  # Slack: the rule in the context line, or a digest's sections
        texts = [str(e.get("text", "")) for b in data["blocks"] if isinstance(b, dict) for e in _elements(b)]
        single = [m.group(1) for m in (re.match(r"rule (.+?) · ", t) for t in texts) if m]  # its context line
        digest = [m.group(1) for m in (re.match(r"\*(.+?)\*: ", t) for t in texts) if m]  # a section per rule
        return [html.unescape(r) for r in single or digest], html.unescape(str(data.get("text", "")))
    if "method" in data and "body" in data:  # a webhook's request: its body, maybe JSON
        return _rules_and_text(str(data["body"])) if data["body"] else ([], "")
    alerts = data.get("alerts")
    if isinstance(alerts, list) and alerts:  # a digest (webhook), or the command notifier's message
        parts = [_rules_and_text(json.dumps(a)) for a in alerts if isinstance(a, dict)]
        rules = [r for rs, _ in parts for r in rs]
        return rules, parts[0][1] if len(parts) == 1 else f"{len(parts)} alerts: " + "; ".join(t for _, t in parts)
    inner: dict[str, Any] = data["kong_tailer"] if isinstance(data.get("kong_tailer"), dict) else data  # webhook
    if "rule" in inner and "text" in inner:
        return [str(inner["rule"])], str(inner["text"])
    return [], payload


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A Slack block's text objects: a section's text, a context's elements."""
    found = [block["text"]] if isinstance(block.get("text"), dict) else []
    found += [e for e in block.get("elements", []) if isinstance(e, dict)]
    return found


def retry_dead(directory: str, keys: tuple[str, ...], out: TextIO) -> int:
    """Dead letters (those whose key starts with one of `keys`, or all) back in the queue. A KEY that starts
    no dead letter's key is a TailerError, said after those of the others are queued (and why, when it starts
    a message's that is not dead, or an entry's a rule failed on)."""
    from tailer.errors import TailerError
    from tailer.state import open_outbox

    outbox = open_outbox(directory)
    problems = []
    try:
        if not keys:
            n = outbox.revive(())
        else:
            n = 0
            for key in dict.fromkeys(keys):
                revived = outbox.revive((key,))
                n += revived
                if not revived:
                    problems.append(_not_revived(outbox.db, key))
    finally:
        outbox.close()
    if n:
        out.write(f"{n} dead letter(s) queued again; a running daemon sends them within a few seconds\n")
    elif not keys:
        out.write("no dead letter to queue again\n")
    if problems:
        raise TailerError("\n".join(problems))
    return 0


def _not_revived(db: Any, key: str) -> str:
    """Why no dead letter's key starts with `key`."""
    rows = db.execute(
        "SELECT key, notifier, state FROM outbox WHERE key LIKE ? || '%' ORDER BY id", (key.replace("%", ""),)
    ).fetchall()
    if not rows:
        return f"no message's key starts with {key!r} (`kong-tailer outbox list` shows the dead letters)"
    k, notifier, state = rows[0]
    if notifier.startswith("("):
        return f"{k[:12]} is an entry {notifier[1:-1]} failed on, not a message: there is nothing to send"
    return f"{k[:12]} ({notifier}) is {state}, not a dead letter: there is nothing to queue again"
