"""Log timestamps → aware datetimes, cached: a busy log repeats the same second thousands of times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_CACHE_SIZE = 4096


class ErrorLogTimes:
    """`2022/11/21 04:27:36` (local time, no zone) → datetime in the configured zone."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._cache: dict[bytes, datetime] = {}

    def get(self, stamp: bytes) -> datetime | None:
        """None when the digits do not make a real date (month 13, 25 o'clock...)."""
        t = self._cache.get(stamp)
        if t is None:
            try:
                t = datetime(
                    int(stamp[0:4]),
                    int(stamp[5:7]),
                    int(stamp[8:10]),
                    int(stamp[11:13]),
                    int(stamp[14:16]),
                    int(stamp[17:19]),
                    tzinfo=self.zone,
                )
            except ValueError:
                return None
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[stamp] = t
        return t


class AccessLogTimes:
    """nginx `$time_local`, `15/Jan/2025:10:00:06 +0000` → datetime with that offset."""

    def __init__(self) -> None:
        self._cache: dict[bytes, datetime] = {}

    def get(self, stamp: bytes) -> datetime | None:
        t = self._cache.get(stamp)
        if t is None:
            try:
                sign = -1 if stamp[21:22] == b"-" else 1
                offset = timedelta(hours=int(stamp[22:24]), minutes=int(stamp[24:26]))
                if stamp[20:21] != b" " or stamp[21:22] not in (b"+", b"-") or len(stamp) != 26:
                    return None
                t = datetime(
                    int(stamp[7:11]),
                    _MONTHS[stamp[3:6]],
                    int(stamp[0:2]),
                    int(stamp[12:14]),
                    int(stamp[15:17]),
                    int(stamp[18:20]),
                    tzinfo=timezone(sign * offset),
                )
            except (ValueError, KeyError):
                return None
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[stamp] = t
        return t
