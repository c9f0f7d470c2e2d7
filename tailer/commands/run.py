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
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from tailer.errors import ConfigError
from tailer.rules.load import duration

DEFAULT_STATE_DIR = "/var/lib/kong-tailer"

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
}


def load_config(path: str) -> dict[str, Any]:
    """The settings of a configuration file, by command parameter name (click's `default_map`)."""
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
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {key} must be a list of strings")
            value = tuple(value)
        if key == "rotate_wait":
            value = str(value)
        out[param] = value
    return out


def rotate_wait(text: str) -> float:
    try:
        return duration(text)
    except ValueError as exc:
        raise ConfigError(f"rotate_wait {text!r}: {exc}") from exc


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
