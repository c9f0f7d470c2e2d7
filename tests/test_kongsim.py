# ruff: noqa: E501  (verbatim 122-byte box rows and nginx log lines below)
"""tests/kongsim.py must reproduce known Kong output byte for byte.

Expected texts are copied verbatim from issue 2 ("The seed block") and from
shared/reference/kong-log-formats.md sections 2.3, 2.4 and 3.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kongsim import (
    LuaFunction,
    LuaUserdata,
    Metatable,
    box_lines,
    box_rows,
    box_rows_bytes,
    error_line,
    event_hook_message,
    inspect,
    inspect_args,
    join_lines,
)
from tests.reference import REF_3_STRINGS, REF_3_TABLES, ref_3_tables_value

# --------------------------------------------------------------------------- verbatim expectations

# Issue 2, "## The seed block" (Kong 3.x, debug level, no consumer), verbatim in the fixtures.
SEED_BLOCK = (Path(__file__).parent / "fixtures" / "error" / "seed-3.x-debug-rate-limit.log").read_text()

# Reference 2.3: 3.9+, Event Hooks `log` handler, rate-limiting-advanced.
REF_39 = """\
2025/03/04 14:22:07 [notice] 2291#0: [kong] event_hooks.lua:?:616 [core]--------------------------------------------------------------------------------------+
2025/03/04 14:22:07 [notice] 2291#0: |"log callback: " { "rate-limit-exceeded", "rate-limiting-advanced", {                                                   |
2025/03/04 14:22:07 [notice] 2291#0: |    consumer = {},                                                                                                      |
2025/03/04 14:22:07 [notice] 2291#0: |    ip = "203.0.113.45",                                                                                                |
2025/03/04 14:22:07 [notice] 2291#0: |    limit = 100,                                                                                                        |
2025/03/04 14:22:07 [notice] 2291#0: |    rate = 101,                                                                                                         |
2025/03/04 14:22:07 [notice] 2291#0: |    service = {                                                                                                         |
2025/03/04 14:22:07 [notice] 2291#0: |      id = "c1f0e7d2-6b3a-4f59-8e21-7a9d0c4b3e58",                                                                      |
2025/03/04 14:22:07 [notice] 2291#0: |      name = "orders"                                                                                                   |
2025/03/04 14:22:07 [notice] 2291#0: |    },                                                                                                                  |
2025/03/04 14:22:07 [notice] 2291#0: |    window = "minute"                                                                                                   |
2025/03/04 14:22:07 [notice] 2291#0: |  }, 2292 }                                                                                                             |
2025/03/04 14:22:07 [notice] 2291#0: +------------------------------------------------------------------------------------------------------------------------+
"""

# Reference 2.3: 2.7-3.8, balancer health; the reference elides the middle rows ("…").
REF_27_ELIDED = """\
2023/08/14 09:12:45 [debug] 1187#0: *4021 [kong] event_hooks.lua:?:537 [core]--------------------------------------------------------------------------------------+
2023/08/14 09:12:45 [debug] 1187#0: *4021 |"log callback: " { "health", "balancer", {                                                                              |
2023/08/14 09:12:45 [debug] 1187#0: *4021 |    health = "healthy",                                                                                                 |
…
2023/08/14 09:12:45 [debug] 1187#0: *4021 |  }, 1188 }                                                                                                             |
2023/08/14 09:12:45 [debug] 1187#0: *4021 +------------------------------------------------------------------------------------------------------------------------+
"""

# Reference 2.3: 1.0.1-2.6 crud box with the timer suffix on every row, then a short unboxed message.
REF_101 = """\
2021/10/05 16:40:12 [notice] 731#0: *55102 +------------------------------------------------------------------------------------------------------------------------+, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |[kong] event_hooks.lua:?:452 "log callback: " { "consumers", "crud", {                                                  |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |    entity = {                                                                                                          |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |      id = "2c8f4a1e-9b7d-4e3a-a6c5-1f0e9d8b7a63",                                                                      |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |      username = "batch-job"                                                                                            |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |    },                                                                                                                  |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |    operation = "delete",                                                                                               |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |    schema = "consumers"                                                                                                |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 |  }, 731 }                                                                                                              |, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2021/10/05 16:40:12 [notice] 731#0: *55102 +------------------------------------------------------------------------------------------------------------------------+, context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001
2020/06/01 12:00:00 [notice] 12#0: *9 [kong] handler.lua:access:31 "upstream:" "orders" 3, client: 192.0.2.10, server: kong, request: "GET /v1/items HTTP/1.1", host: "api.example.test"
"""

# Reference 2.3: 0.14-1.0.0, one multi-line entry.
REF_014 = """\
2018/10/02 08:30:00 [notice] 40#0: *118 [kong] handler.lua:access:27 "retry state:" {
  hosts = { "10.0.0.4", "10.0.0.5" },
  tries = 2
}, client: 192.0.2.10, server: kong, request: "GET /v1/items HTTP/1.1", host: "api.example.test"
"""

# Reference 2.4: a 130-byte string wraps; a line of exactly 120 bytes gets an extra blank row.
REF_24_WRAP = """\
[kong] handler.lua:access:14 [my-plugin]---------------------------------------------------------------------------------+
|"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz|
|zzzzzzzzzzz"                                                                                                            |
+------------------------------------------------------------------------------------------------------------------------+
[kong] handler.lua:access:14 [my-plugin]---------------------------------------------------------------------------------+
|{                                                                                                                       |
|  a = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",|
|                                                                                                                        |
|  b = 1                                                                                                                 |
|}                                                                                                                       |
+------------------------------------------------------------------------------------------------------------------------+
"""

# Reference 2.4: padding counts bytes.
REF_24_UTF8 = """\
[kong] handler.lua:access:14 [my-plugin]---------------------------------------------------------------------------------+
|"héllo ✓"                                                                                                            |
+------------------------------------------------------------------------------------------------------------------------+
"""

# Reference 3: string escapes.
PLUGIN_HEADER = "[kong] handler.lua:access:14 [my-plugin]"
TIMER_SUFFIX = ", context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001"
REQUEST_SUFFIX = ', client: 192.0.2.10, server: kong, request: "GET /v1/items HTTP/1.1", host: "api.example.test"'


def _lines(block: str) -> list[str]:
    return block.split("\n")[:-1] if block.endswith("\n") else block.split("\n")


# --------------------------------------------------------------------------- the seed block


def seed_data() -> dict[str, object]:
    return {
        "consumer": {},
        "ip": "10.42.0.1",
        "limit": 3,
        "rate": 4,
        "window": "minute",
        "service": {
            "connect_timeout": 60000,
            "created_at": 1668754239,
            "enabled": True,
            "host": "httpbin.org",
            "id": "9d0bee90-04b9-4af3-993f-b10db881b144",
            "name": "demo",
            "path": "/anything",
            "port": 80,
            "protocol": "http",
            "read_timeout": 60000,
            "retries": 5,
            "updated_at": 1668754239,
            "write_timeout": 60000,
            "ws_id": "d06c2d4d-3fb1-49ae-a4c8-5806328c591d",
        },
    }


def test_seed_block_byte_for_byte() -> None:
    message = event_hook_message("rate-limit-exceeded", "rate-limiting-advanced", seed_data(), 2120)
    lines = box_lines(
        "2022/11/21 04:27:36", "debug", 2120, "[kong] event_hooks.lua:?:452 [core]", message, "2.7", conn=1338
    )
    assert lines == _lines(SEED_BLOCK)
    assert join_lines(lines).encode() == SEED_BLOCK.encode()
    assert len(lines) == 25  # header, 23 rows, footer


def test_seed_block_ignores_dict_insertion_order() -> None:
    data = seed_data()
    shuffled = dict(reversed(list(data.items())))
    a = event_hook_message("rate-limit-exceeded", "rate-limiting-advanced", data, 2120)
    b = event_hook_message("rate-limit-exceeded", "rate-limiting-advanced", shuffled, 2120)
    assert a == b


# --------------------------------------------------------------------------- reference 2.3


def test_ref_39_event_hooks_box() -> None:
    data = {
        "consumer": {},
        "ip": "203.0.113.45",
        "limit": 100,
        "rate": 101,
        "service": {"id": "c1f0e7d2-6b3a-4f59-8e21-7a9d0c4b3e58", "name": "orders"},
        "window": "minute",
    }
    message = event_hook_message("rate-limit-exceeded", "rate-limiting-advanced", data, 2292)
    # 3.9 logs through the cycle log: no *conn and no suffix, whatever the caller passes.
    lines = box_lines(
        "2025/03/04 14:22:07",
        "notice",
        2291,
        "[kong] event_hooks.lua:?:616 [core]",
        message,
        "3.9",
        conn=77,
        suffix=", client: 10.0.0.1, server: kong",
    )
    assert lines == _lines(REF_39)


def test_ref_27_balancer_box_visible_rows() -> None:
    data = {
        "upstream_id": "4f3a2b1c-0d9e-4f8a-b7c6-d5e4f3a2b1c0",
        "ip": "10.0.0.12",
        "port": 8080,
        "hostname": "orders.internal",
        "health": "healthy",
    }
    message = event_hook_message("health", "balancer", data, 1188)
    lines = box_lines(
        "2023/08/14 09:12:45",
        "debug",
        1187,
        "[kong] event_hooks.lua:?:537 [core]",
        message,
        "2.7",
        conn=4021,
        suffix=", client: 10.0.0.1, server: kong",
    )
    expected = _lines(REF_27_ELIDED)
    assert expected[3] == "…"
    assert lines[:3] == expected[:3]
    assert lines[-2:] == expected[-2:]
    assert len(lines) == 1 + 1 + 5 + 1 + 1  # header, first row, 5 data keys, "  }, 1188 }", footer


def test_ref_101_crud_box_suffix_on_every_row() -> None:
    data = {
        "entity": {"id": "2c8f4a1e-9b7d-4e3a-a6c5-1f0e9d8b7a63", "username": "batch-job"},
        "operation": "delete",
        "schema": "consumers",
    }
    message = event_hook_message("consumers", "crud", data, 731)
    lines = box_lines(
        "2021/10/05 16:40:12",
        "notice",
        731,
        "[kong] event_hooks.lua:?:452",
        message,
        "1.0.1",
        conn=55102,
        suffix=TIMER_SUFFIX,
    )
    assert lines == _lines(REF_101)[:-1]
    assert all(line.endswith(TIMER_SUFFIX) for line in lines)


def test_ref_101_short_message_is_not_boxed() -> None:
    message = inspect_args("upstream:", "orders", 3)
    lines = box_lines(
        "2020/06/01 12:00:00",
        "notice",
        12,
        "[kong] handler.lua:access:31",
        message,
        "1.0.1",
        conn=9,
        suffix=REQUEST_SUFFIX,
    )
    assert lines == _lines(REF_101)[-1:]


def test_ref_014_one_multiline_entry() -> None:
    message = inspect_args("retry state:", {"hosts": ["10.0.0.4", "10.0.0.5"], "tries": 2})
    lines = box_lines(
        "2018/10/02 08:30:00",
        "notice",
        40,
        "[kong] handler.lua:access:27",
        message,
        "0.14",
        conn=118,
        suffix=REQUEST_SUFFIX,
    )
    assert lines == [REF_014.removesuffix("\n")]
    assert box_rows("[kong] handler.lua:access:27", message, "0.14") == ["[kong] handler.lua:access:27 " + message]


# --------------------------------------------------------------------------- reference 2.4


def test_ref_24_wrap_and_extra_blank_row() -> None:
    rows = box_rows(PLUGIN_HEADER, inspect("z" * 130), "2.7")
    rows += box_rows(PLUGIN_HEADER, inspect({"a": "q" * 111, "b": 1}), "3.9")
    assert rows == _lines(REF_24_WRAP)


def test_ref_24_utf8_padding_counts_bytes() -> None:
    rows = box_rows(PLUGIN_HEADER, inspect("héllo ✓"), "2.7")
    assert rows == _lines(REF_24_UTF8)
    assert [len(r) for r in box_rows_bytes(PLUGIN_HEADER, inspect("héllo ✓"), "2.7")] == [122, 122, 122]
    assert len(rows[1]) == 119  # characters: looks 3 columns short on screen


def test_wrap_may_split_a_utf8_sequence() -> None:
    message = '"' + "a" * 118 + '✓"'  # ✓ is 3 bytes starting at byte 119
    raw = box_rows_bytes(PLUGIN_HEADER, message, "2.7")
    assert raw[1] == b"|" + message.encode()[:120] + b"|"
    assert raw[1].endswith(b"\xe2|") and raw[2].startswith(b'|\x9c\x93"')
    assert box_rows(PLUGIN_HEADER, message, "2.7")[1].encode("utf-8", "surrogateescape") == raw[1]


def test_several_arguments_share_rows() -> None:
    message = inspect_args("short", 42, True, None, {"k": 1}, "tail")
    assert message == '"short" 42 true nil {\n  k = 1\n} "tail"'
    rows = box_rows(PLUGIN_HEADER, message, "2.7")
    assert rows[1].startswith('|"short" 42 true nil {   ')
    assert rows[3].startswith('|} "tail"   ')


# --------------------------------------------------------------------------- reference 3


def test_ref_3_string_escapes() -> None:
    value = ["C:\\path\\n", "a\nb\tc\rd", "bell\a esc\x1b[1m nul\x00 del\x7f d\x012", 'say "hi"', 'it\'s "x"']
    assert inspect(value) == REF_3_STRINGS


def test_del_is_raw_before_inspect_313() -> None:
    assert inspect("del\x7f") == '"del\\127"'
    assert inspect("del\x7f", del_raw=True) == '"del\x7f"'
    assert inspect("d\x7f1") == '"d\\1271"'
    assert inspect("d\x7f1", del_raw=True) == '"d\x7f1"'


def test_short_escapes_keep_their_name_before_a_digit() -> None:
    # longControlCharEscapes has no entry for \a..\v, so a following digit does not force \ddd.
    assert inspect("\a1\t2\n3") == '"\\a1\\t2\\n3"'
    assert inspect("\x01\x02" + "3") == '"\\1\\0023"'
    assert inspect("\x1b9") == '"\\0279"'


def test_quotes_and_non_ascii() -> None:
    assert inspect("'") == '"\'"'
    assert inspect("\"'") == '"\\"\'"'
    assert inspect('back\\slash "q"') == "'back\\\\slash \"q\"'"
    assert inspect("clé ✓") == '"clé ✓"'
    assert inspect(b"\xff\xfe") == '"\udcff\udcfe"'  # invalid UTF-8 passes through as bytes


def test_ref_3_metatable_userdata_shared_tables() -> None:
    value = ref_3_tables_value()
    assert inspect(value) == REF_3_TABLES.removesuffix("\n")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (-2, "-2"),
        (3.5, "3.5"),
        (0.1, "0.1"),
        (1 / 3, "0.33333333333333"),
        (12345678901234, "12345678901234"),
        (10**14, "1e+14"),
        (123456789012345, "1.2345678901235e+14"),  # LuaJIT rounds the exact tie up; C would give ...234
        (2**53, "9.007199254741e+15"),
        (1e-07, "1e-07"),
        (-0.0, "-0"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
        (3.0, "3"),
        (True, "true"),
        (False, "false"),
        (None, "nil"),
    ],
)
def test_ref_3_scalars(value: object, text: str) -> None:
    assert inspect(value) == text


def test_ref_3_keys_and_order() -> None:
    table = {"a": 5, "_x1": 4, "Upper": 3, "9lives": 2, "": 1, "content-type": 0, "end": 5, "clé": 6}
    table.update({10: "n", 1.5: "f", -1: "m", True: "b"})
    assert inspect(table) == (
        "{\n"
        '  [-1] = "m",\n'
        '  [1.5] = "f",\n'
        '  [10] = "n",\n'
        '  [true] = "b",\n'
        '  [""] = 1,\n'
        '  ["9lives"] = 2,\n'
        "  Upper = 3,\n"
        "  _x1 = 4,\n"
        "  a = 5,\n"
        '  ["clé"] = 6,\n'
        '  ["content-type"] = 0,\n'
        "  end = 5\n"
        "}"
    )


def test_ref_3_sequences_holes_and_mixed_tables() -> None:
    assert inspect([]) == "{}"
    assert inspect({}) == "{}"
    assert inspect([1, 2, 3]) == "{ 1, 2, 3 }"
    assert inspect([1, None, 3]) == "{ 1,\n  [3] = 3\n}"
    assert inspect({2: "b", 1: "a", "k": "v"}) == '{ "a", "b",\n  k = "v"\n}'
    assert inspect({1.0: "a", 2: "b"}) == '{ "a", "b" }'
    assert inspect({2: "b"}) == '{\n  [2] = "b"\n}'
    assert inspect([[1, 2], {"a": [3]}]) == "{ { 1, 2 }, {\n    a = { 3 }\n  } }"


def test_ref_3_table_keys_and_references() -> None:
    key = Metatable({}, None)
    assert inspect({"a": key, key: 1}) == "{\n  a = <1>{},\n  [<table 1>] = 1\n}"
    shared = {"x": 1}
    assert inspect([shared, shared]) == "{ <1>{\n    x = 1\n  }, <table 1> }"
    fn = LuaFunction()
    assert inspect([fn, LuaFunction(), fn, LuaUserdata()]) == (
        "{ <function 1>, <function 2>, <function 1>, <userdata 1> }"
    )


# --------------------------------------------------------------------------- nginx lines


def test_error_line_forms() -> None:
    t = "2025/01/15 10:00:06"
    assert error_line(t, "error", 1311, "boom", 5120, ", client: 10.0.0.5, server: kong") == (
        "2025/01/15 10:00:06 [error] 1311#0: *5120 boom, client: 10.0.0.5, server: kong"
    )
    assert error_line(t, "notice", 1, "start worker process 1311") == (
        "2025/01/15 10:00:06 [notice] 1#0: start worker process 1311"
    )
    assert error_line(t, "verbose", None, "Kong: 3.9.1") == "2025/01/15 10:00:06 [verbose] Kong: 3.9.1"


def test_box_lines_drop_suffix_on_debug_and_reject_unknown_layout() -> None:
    lines = box_lines("2021/10/05 16:40:12", "debug", 7, "[kong] x.lua:f:1", "1", "1.0.1", 3, ", client: a")
    assert lines == ["2021/10/05 16:40:12 [debug] 7#0: *3 [kong] x.lua:f:1 1"]
    with pytest.raises(ValueError):
        box_rows("[kong] x.lua:f:1 [core]", "1", "4.0")


def test_long_header_has_no_dashes() -> None:
    header = "[kong] " + "x" * 120 + ".lua:?:1 [core]"
    rows = box_rows_bytes(header, "1", "2.7")
    assert rows[0] == header.encode() + b"+"
    assert rows[1:] == [b"|1" + b" " * 119 + b"|", b"+" + b"-" * 120 + b"+"]


# --------------------------------------------------------------------------- properties

_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


def _unquote(text: str) -> bytes:
    """Decode one inspect-printed string (the grammar of reference section 3)."""
    raw = text.encode("utf-8", "surrogateescape")
    assert raw[:1] in (b'"', b"'") and raw[-1:] == raw[:1]
    out, body, i = bytearray(), raw[1:-1], 0
    while i < len(body):
        if body[i] != 0x5C:
            assert body[i] != raw[0], "unescaped delimiter"
            out.append(body[i])
            i += 1
            continue
        m = re.match(rb"[0-9]{1,3}", body[i + 1 :])
        if m:
            out.append(int(m.group()))
            i += 1 + len(m.group())
        else:
            out.append(_ESC[chr(body[i + 1])])
            i += 2
    return bytes(out)


@given(st.text() | st.binary())
def test_strings_round_trip(value: str | bytes) -> None:
    text = inspect(value)
    expected = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    assert _unquote(text) == expected
    assert not re.search(r"[\x00-\x1f\x7f]", text)


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_del_raw_only_changes_del(value: str) -> None:
    assert inspect(value, del_raw=True).replace("\x7f", "\\127") == inspect(value)


@given(st.integers(min_value=-(10**14) + 1, max_value=10**14 - 1))
def test_small_integers_print_plainly(n: int) -> None:
    assert inspect(n) == str(n)


@given(st.floats())
def test_numbers_match_c_g14_except_exact_ties(x: float) -> None:
    text = inspect(x)
    if text != f"{x:.14g}":  # only an exact decimal tie may differ (LuaJIT rounds it up)
        digits = Decimal(x).as_tuple().digits[14:]
        assert digits[0] == 5 and not any(digits[1:])


_idents = st.from_regex(r"[_A-Za-z][_A-Za-z0-9]{0,8}", fullmatch=True)
_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=30)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_idents | st.text(max_size=5), inner, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(_idents, _values, min_size=1, max_size=6))
def test_tables_do_not_depend_on_insertion_order(table: dict[str, object]) -> None:
    assert inspect(table) == inspect(dict(reversed(list(table.items()))))


@given(_values)
def test_inspect_layout_invariants(value: object) -> None:
    text = inspect(value)
    lines = text.split("\n")
    for line in lines:
        assert not line.endswith(" ")  # inspect never ends a line with a space (reference 2.5)
        assert (len(line) - len(line.lstrip(" "))) % 2 == 0
    assert inspect(value) == text  # deterministic, numbering restarts per call


_messages = st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=6).map("\n".join)
_headers = st.text(min_size=0, max_size=160).filter(lambda h: "\n" not in h)


@settings(max_examples=200)
@given(_headers, _messages, st.sampled_from(["2.7", "3.9"]), st.integers(min_value=10, max_value=200))
def test_box_rows_are_width_plus_two_bytes(header: str, message: str, layout: str, width: int) -> None:
    rows = box_rows_bytes(header, message, layout, width)
    head = header.encode("utf-8", "surrogateescape")
    if len(head) > width + 1:
        assert rows[0] == head + b"+"
    else:
        assert len(rows[0]) == width + 2
    if message == "":  # cannot happen in Kong (inspect never returns ""): Lua's loop then writes no footer
        assert len(rows) == 1
        return
    assert all(len(r) == width + 2 for r in rows[1:])
    assert rows[-1] == b"+" + b"-" * width + b"+"
    assert all(r[:1] == b"|" and r[-1:] == b"|" for r in rows[1:-1])


@settings(max_examples=200)
@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_characters=" \n", exclude_categories=("Cs",)), max_size=300),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=10, max_value=200),
)
def test_box_rows_carry_the_whole_message(lines: list[str], width: int) -> None:
    message = "\n".join(lines)
    rows = box_rows_bytes("[kong] h.lua:f:1 [core]", message, "2.7", width)
    body = b"".join(r[1:-1].rstrip(b" ") for r in rows[1:-1])
    assert body == message.replace("\n", "").encode("utf-8", "surrogateescape")
    # a line followed by "\n" takes len // width + 1 rows (so an exact multiple gets the extra blank row);
    # the last line takes ceil(len / width) rows; the footer follows the last row
    sizes = [len(line.encode("utf-8", "surrogateescape")) for line in lines]
    expected = sum(n // width + 1 for n in sizes[:-1]) + -(-sizes[-1] // width)
    assert len(rows) == 1 + expected + (1 if expected else 0)


@settings(max_examples=200)
@given(_headers, _messages, st.integers(min_value=10, max_value=200))
def test_layout_101_boxes_only_long_or_multiline_text(header: str, message: str, width: int) -> None:
    rows = box_rows_bytes(header, message, "1.0.1", width)
    text = (header + " " + message).encode("utf-8", "surrogateescape")
    if b"\n" not in text and len(text) <= width:
        assert rows == [text]
        return
    border = b"+" + b"-" * width + b"+"
    assert rows[0] == rows[-1] == border
    assert all(len(r) == width + 2 and r[:1] == b"|" == r[-1:] for r in rows[1:-1])
    assert rows[1][1:].startswith(text[: min(width, len(text.split(b"\n")[0]))])


@given(_headers, _messages, st.text(max_size=40), st.integers(1, 99999), st.integers(1, 10**6))
def test_box_lines_wrap_every_row(header: str, message: str, suffix: str, pid: int, conn: int) -> None:
    t = "2024/02/29 23:59:59"
    rows = box_rows(header, message, "1.0.1")
    lines = box_lines(t, "notice", pid, header, message, "1.0.1", conn, suffix)
    assert lines == [f"{t} [notice] {pid}#0: *{conn} {r}{suffix}" for r in rows]
    lines = box_lines(t, "notice", pid, header + " [core]", message, "3.9", conn, suffix)
    assert lines == [f"{t} [notice] {pid}#0: {r}" for r in box_rows(header + " [core]", message, "3.9")]
