"""tailer.config.resolve_zone: the time zone the error log is written in."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tailer.config import host_name, resolve_zone
from tailer.errors import ConfigError

WINTER = datetime(2025, 1, 15, 12, 0)
SUMMER = datetime(2025, 7, 15, 12, 0)


def test_iana_name() -> None:
    zone = resolve_zone("Europe/Paris")
    assert zone == ZoneInfo("Europe/Paris")
    assert WINTER.replace(tzinfo=zone).utcoffset() == timedelta(hours=1)
    assert SUMMER.replace(tzinfo=zone).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("name", ["UTC", "utc", "Z", "GMT"])
def test_utc(name: str) -> None:
    assert resolve_zone(name) is UTC


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("+02:00", timedelta(hours=2)),
        ("+0200", timedelta(hours=2)),
        ("-0530", -timedelta(hours=5, minutes=30)),
        ("-05:30", -timedelta(hours=5, minutes=30)),
        ("+5", timedelta(hours=5)),
        ("+00:00", timedelta(0)),
        ("+23:59", timedelta(hours=23, minutes=59)),
    ],
)
def test_fixed_offsets(name: str, offset: timedelta) -> None:
    zone = resolve_zone(name)
    assert zone == timezone(offset)
    assert WINTER.replace(tzinfo=zone).utcoffset() == offset
    assert SUMMER.replace(tzinfo=zone).utcoffset() == offset


@pytest.mark.parametrize("name", ["+24:00", "-25:00", "+05:60", "+99"])
def test_offset_out_of_range(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_zone(name)
    assert name in str(info.value)
    assert "range" in str(info.value)


@pytest.mark.parametrize("name", ["nonsense", "Mars/Olympus_Mons", "Europe/Pariss", "../../etc/passwd", "+2:3"])
def test_unknown_zone(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_zone(name)
    message = str(info.value)
    assert repr(name) in message
    assert "Europe/Paris" in message and "+02:00" in message  # says what would work


@contextmanager
def tz_env(value: str) -> Iterator[None]:
    """TZ set to `value` for this process and libc, restored afterwards."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = value
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize("tz", ["Europe/Paris", ":Europe/Paris", "UTC", "Asia/Kolkata", "UTC-02", "<+03>-3"])
def test_local_zone_follows_tz_as_libc_reads_it(tz: str) -> None:
    """nginx writes error-log times with libc's localtime(), so `local` must read TZ the way libc does
    (POSIX: `UTC-02` is two hours *east* of UTC, `<+03>-3` is +03:00)."""
    with tz_env(tz):
        for moment in (WINTER.replace(tzinfo=UTC), SUMMER.replace(tzinfo=UTC)):
            libc = timedelta(seconds=time.localtime(moment.timestamp()).tm_gmtoff)
            for name in (None, "local"):
                zone = resolve_zone(name)
                assert moment.astimezone(zone).utcoffset() == libc, (tz, name, moment)


def test_host_name_is_not_empty() -> None:
    name = host_name()
    assert isinstance(name, str) and name
