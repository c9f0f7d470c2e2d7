"""Log timestamps → aware datetimes, cached: a busy log repeats the same second thousands of times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_CACHE_SIZE = 4096


class _StampCache:
    """Stamp bytes → datetime, remembered; `convert` says how, and returns None for a stamp that is no time."""

    def __init__(self) -> None:
        self._cache: dict[bytes, datetime] = {}

    def get(self, stamp: bytes) -> datetime | None:
        t = self._cache.get(stamp)
        if t is None:
            try:
                t = self.convert(stamp)
            except (ValueError, KeyError):
                return None
            if t is None:
                return None
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[stamp] = t
        return t

    def convert(self, stamp: bytes) -> datetime | None:
        raise NotImplementedError


class ErrorLogTimes(_StampCache):
    """`2022/11/21 04:27:36` (local time, no zone) → datetime in the configured zone; None when the digits
    do not make a real date (month 13, 25 o'clock...)."""

    def __init__(self, zone: tzinfo) -> None:
        super().__init__()
        self.zone = zone

    def convert(self, stamp: bytes) -> datetime | None:
        return datetime(
            int(stamp[0:4]),
            int(stamp[5:7]),
            int(stamp[8:10]),
            int(stamp[11:13]),
            int(stamp[14:16]),
            int(stamp[17:19]),
            tzinfo=self.zone,
        )


class AccessLogTimes(_StampCache):
    """nginx `$time_local`, `15/Jan/2025:10:00:06 +0000` → datetime with that offset."""

    def convert(self, stamp: bytes) -> datetime | None:
        if len(stamp) != 26 or stamp[20:21] != b" " or stamp[21:22] not in (b"+", b"-"):
            return None
        offset = timedelta(hours=int(stamp[22:24]), minutes=int(stamp[24:26]))
        return datetime(
            int(stamp[7:11]),
            _MONTHS[stamp[3:6]],
            int(stamp[0:2]),
            int(stamp[12:14]),
            int(stamp[15:17]),
            int(stamp[18:20]),
            tzinfo=timezone(-offset if stamp[21:22] == b"-" else offset),
        )


def epoch_time(seconds: float, zone: tzinfo) -> datetime | None:
    """Seconds since the epoch (`$msec`, file-log's `started_at` / 1000) in `zone`; None if out of range."""
    try:
        return datetime.fromtimestamp(seconds, zone)
    except (ValueError, OverflowError, OSError):  # past year 9999, or beyond the platform's time_t
        return None
