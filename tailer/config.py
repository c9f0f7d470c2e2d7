"""Settings that come from the user or the host: the time zone of the error log and this machine's name."""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tailer.errors import ConfigError

_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$")


def resolve_zone(name: str | None) -> tzinfo:
    """The zone Kong's error log is written in: an IANA name, `UTC`, an offset such as `+02:00`, or
    `local`/None for this host's zone (TZ, then /etc/localtime)."""
    if name is None or name == "local":
        return _host_zone()
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = _OFFSET_RE.match(name)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ConfigError(f"time zone {name!r}: offset out of range (use e.g. +02:00)")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"time zone {name!r} is unknown: use an IANA name such as Europe/Paris, UTC, or an offset like +02:00"
        ) from exc


def _host_zone() -> tzinfo:
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return _posix_tz(tz)
    try:  # Debian: a link into /usr/share/zoneinfo, whose name makes a zone that can be saved by name
        target = os.readlink("/etc/localtime")
        key = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else None
        if key:
            return ZoneInfo(key)
    except (OSError, ValueError, ZoneInfoNotFoundError):
        pass
    return localtime_zone()


def localtime_zone() -> tzinfo:
    """The zone in /etc/localtime as a file (a copy, in containers); UTC without one."""
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return UTC


# POSIX TZ without daylight-saving rules: `UTC-02`, `<+03>-3`. The sign is west-positive: UTC-02 is +02:00.
_POSIX_FIXED = re.compile(r"^(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]+>)([+-]?)(\d{1,2})(?::(\d{2}))?$")


def _posix_tz(tz: str) -> tzinfo:
    """The zone in the TZ variable, as libc (and so nginx) reads it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    m = _POSIX_FIXED.match(tz)
    if m is None:
        raise ConfigError(
            f"TZ={tz!r} is a POSIX rule kong-tailer cannot follow: pass --tz with an IANA zone name such as "
            "Europe/Paris, or an offset like +02:00"
        )
    west = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
    return timezone(west if m.group(1) == "-" else -west)


def host_name() -> str:
    """This machine's name, as events carry it."""
    return socket.gethostname()
