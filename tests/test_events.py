"""tailer.events: JSON output of events, and the package's public names."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import tailer
from tailer.events import Error, Event, EventHook, Http, Inspect, ParseError
from tailer.parse.luavalues import decode_values

T = datetime(2025, 1, 15, 10, 0, 2, tzinfo=UTC)


def strict(s: str) -> Any:
    """Parse `s` as strict JSON: NaN, Infinity and -Infinity are refused."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(s, parse_constant=refuse)


def inspect_event(values: list[Any]) -> Inspect:
    return Inspect(T, "h", "error.log", 10, "raw text", "handler.lua", "access", 12, "my-plugin", values, 1280)


def test_nan_and_inf_in_lua_values_become_strings() -> None:
    values = [math.nan, math.inf, -math.inf, {"a": math.nan, "b": [1.5, math.inf, {"c": -math.inf}]}, 2.5, 3]
    out = strict(inspect_event(values).to_json())
    assert out["values"] == ["nan", "inf", "-inf", {"a": "nan", "b": [1.5, "inf", {"c": "-inf"}]}, 2.5, 3]


def test_nan_in_event_hook_data_becomes_a_string() -> None:
    event = EventHook(
        T, "h", "error.log", 0, "raw", "rate-limiting-advanced", "rate-limit-exceeded", {"x": math.nan}, 42, 2120
    )
    out = strict(event.to_json())
    assert out["data"] == {"x": "nan"}
    assert out["kind"] == "event_hook"


def test_values_decoded_from_a_box_with_nan_serialise() -> None:
    values = decode_values("{ ratio = nan, limit = inf, low = -inf }")
    out = strict(inspect_event(values).to_json())
    assert out["values"] == [{"ratio": "nan", "limit": "inf", "low": "-inf"}]


@pytest.mark.parametrize("key", [math.inf, -math.inf])
def test_infinite_table_key_serialises(key: float) -> None:
    """Lua allows `t[math.huge] = 1`; inspect.lua prints it as `[inf] = 1`, and the decoder gives a float key."""
    values = decode_values("{ [inf] = 1, [-inf] = 2, x = 3 }")
    assert values == [{math.inf: 1, -math.inf: 2, "x": 3}]
    out = strict(inspect_event([{key: "v"}]).to_json())
    assert out["values"] == [{"inf" if key > 0 else "-inf": "v"}]
    out = strict(inspect_event(values).to_json())
    assert out["values"] == [{"inf": 1, "-inf": 2, "x": 3}]


def test_finite_output_is_unchanged_and_unicode_is_kept() -> None:
    event = inspect_event([{"name": "café ✓", "n": 1e300, "neg": -0.5, "t": True, "nil": None}])
    s = event.to_json()
    assert "café ✓" in s  # not \u-escaped
    assert strict(s)["values"] == [{"name": "café ✓", "n": 1e300, "neg": -0.5, "t": True, "nil": None}]


def test_to_json_is_one_line() -> None:
    event = ParseError(None, "h", "f", 0, "line one\nline two\r\n\u2028", "why\nnot")
    s = event.to_json()
    assert "\n" not in s and "\r" not in s
    assert strict(s)["raw"] == "line one\nline two\r\n\u2028"


def test_to_dict_kind_first_raw_last_time_iso() -> None:
    paris = timezone(timedelta(hours=1))
    event = Http(
        datetime(2025, 1, 15, 11, 0, 2, 500000, tzinfo=paris),
        "h",
        "access.log",
        7,
        "raw line",
        status=502,
        method="GET",
        path="/x",
        protocol="HTTP/1.1",
        client="10.0.0.5",
        bytes=126,
        user_agent=None,
        referer=None,
        request_id=None,
        extra={"remote_user": None},
    )
    d = event.to_dict()
    keys = list(d)
    assert keys[0] == "kind" and keys[-1] == "raw"
    assert d["kind"] == "http"
    assert d["time"] == "2025-01-15T11:00:02.500000+01:00"
    assert datetime.fromisoformat(d["time"]) == event.time
    assert strict(event.to_json()) == d


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (Event, "event"),
        (EventHook, "event_hook"),
        (Inspect, "inspect"),
        (Http, "http"),
        (Error, "error"),
        (ParseError, "parse_error"),
    ],
)
def test_kinds(cls: type[Event], kind: str) -> None:
    assert cls.kind == kind


def test_none_time_is_null() -> None:
    assert strict(ParseError(None, "h", "f", 3, "x", "junk").to_json())["time"] is None


def test_public_names_are_pinned() -> None:
    assert tailer.__all__ == [
        "ConfigError",
        "Error",
        "Event",
        "EventHook",
        "Http",
        "InputError",
        "Inspect",
        "ParseError",
        "TailerError",
        "__version__",
    ]
    for name in tailer.__all__:
        assert hasattr(tailer, name), name
    assert tailer.__version__ == "0.1.0"


def test_where_names_the_line_and_falls_back_to_the_byte_when_the_line_is_not_known() -> None:
    event = ParseError(None, "h", "logs/error.log", 4096, "raw", "why", lineno=57)
    assert event.where() == "logs/error.log:57"
    event.lineno = 0  # read from a snapshot written before events had line numbers
    assert event.where() == "logs/error.log byte 4096"
