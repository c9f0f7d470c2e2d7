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

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click
from click.core import ParameterSource

from tailer.errors import ConfigError
from tailer.rules.load import duration

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
    """The settings of a configuration file, by command parameter name (`settings_now` lays flags over them)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in SETTINGS:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: {', '.join(SETTINGS)}")
        param, kind = SETTINGS[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {key} must be a list of strings")
            value = tuple(value)
        if key in _DURATIONS or key == "metrics":
            value = str(value)
        out[param] = value
    return out


@dataclass
class Settings:
    """`run`'s settings by parameter name, and where each came from (for error messages)."""

    values: dict[str, Any]
    where: dict[str, str]  # parameter → "FILE: key" or "--flag"; absent: the default

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
    configuration file's value (the file read again), else the default."""
    from_file = load_config(config) if config else {}
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name
        if name is None or name == "config":
            continue
        if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            values[name] = ctx.params[name]
            where[name] = param.opts[0]  # the flag as written: --tz for `zone`
            continue
        if name in from_file:
            where[name] = f"{config}: {_KEYS.get(name, name)}"
        default = param.default if isinstance(param.default, str | int | float | tuple) else None  # click's UNSET
        value = from_file.get(name, default)
        try:
            if value is None:
                values[name] = () if getattr(param, "multiple", False) else None
            else:
                values[name] = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"{where.get(name, name)}: {exc.message}") from exc
    return Settings(values, where)


def setup(settings: Settings, environ: dict[str, str]) -> tuple[RuleSet, RunOptions]:
    """The rules and the daemon's options from `run`'s settings, all checked (ConfigError, naming the file
    and line, or the setting, for the first mistake)."""
    from tailer import follow
    from tailer.daemon import RunOptions
    from tailer.reader import read_options
    from tailer.rules.load import load_rules

    v = settings
    if not v["logs"]:
        raise ConfigError("no log to follow: give --log PATH (or `logs` in the --config file)")
    reading = ("fmt", "zone", "host", "log_formats", "max_line")
    read = v.checked(reading, lambda: read_options(*(v[n] for n in reading)))
    ruleset = load_rules(rules_dir(v["rules_dir"], environ), ())
    following = follow.Settings(start_at_end=v["start_at"] == "end", rotate_wait=seconds("rotate_wait", v))
    return ruleset, RunOptions(
        list(v["logs"]),
        state_dir(v["state_dir"], environ),
        read,
        following,
        environ=environ,
        metrics=v.checked(("metrics",), lambda: metrics_address(v["metrics"])),
        stall_after=seconds("stall_after", v),
        failing_after=seconds("failing_after", v),
        poll=bool(v["poll"]),
    )


def seconds(name: str, settings: Settings) -> float:
    text = settings[name]

    def convert() -> float:
        try:
            return duration(str(text))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc  # it quotes the text

    return settings.checked((name,), convert)


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
    """Messages per notifier and state, then each dead letter with its reason."""
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
    return 0


def retry_dead(directory: str, keys: tuple[str, ...], out: TextIO) -> int:
    """Dead letters (those whose key starts with one of `keys`, or all) back in the queue."""
    from tailer.state import open_outbox

    outbox = open_outbox(directory)
    try:
        n = outbox.revive(keys)
    finally:
        outbox.close()
    out.write(f"{n} dead letter(s) queued again; a running daemon sends them within a few seconds\n")
    return 0 if n or not keys else 1
