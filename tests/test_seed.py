"""The seed block of issue 2, decoded field by field, in more than one configured zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tailer.events import EventHook
from tests.conftest import parse_bytes

SEED = (Path(__file__).parent / "fixtures" / "error" / "seed-3.x-debug-rate-limit.log").read_bytes()


@pytest.mark.parametrize("zone", [UTC, ZoneInfo("Europe/Paris"), timezone(timedelta(hours=-7))])
def test_seed_block_decodes_to_the_rate_limit_event_hook(zone: timezone | ZoneInfo) -> None:
    (event,) = parse_bytes(SEED, zone=zone)
    assert isinstance(event, EventHook)
    assert (event.kind, event.source, event.event, event.pid) == (
        "event_hook",
        "rate-limiting-advanced",
        "rate-limit-exceeded",
        2120,
    )
    data = event.data
    assert (data["ip"], data["limit"], data["rate"], data["window"], data["consumer"]) == (
        "10.42.0.1",
        3,
        4,
        "minute",
        {},
    )
    assert (data["service"]["name"], data["service"]["port"], data["service"]["retries"]) == ("demo", 80, 5)
    assert event.time == datetime(2022, 11, 21, 4, 27, 36, tzinfo=zone)
    assert event.time.utcoffset() == zone.utcoffset(datetime(2022, 11, 21, 4, 27, 36))
    assert (event.offset, event.file, event.host) == (0, "test.log", "test-host")
    assert event.raw == SEED.decode().rstrip("\n")
