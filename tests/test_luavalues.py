"""tailer.parse.luavalues.decode_values against what inspect.lua really prints (tests/kongsim.py).

The expected values follow the mapping in the luavalues docstring: a number comes back as an int when Lua
printed it without a point or exponent and as a float otherwise, `{}` as {}, a pure sequence as a list,
any other table as a dict (sequence items under 1..n), opaque values and cycles as None, metatables dropped.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import os
import re
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.parse import luavalues
from tailer.parse.luavalues import LuaSyntaxError, decode_values
from tests import kongsim
from tests.conftest import typed
from tests.kongsim import LuaCdata, LuaFunction, LuaThread, LuaUserdata, Metatable
from tests.reference import REF_3_STRINGS, REF_3_TABLES, ref_3_tables_value

SETTINGS = settings(max_examples=200, deadline=None)

# --------------------------------------------------------------------------- expected values

_INT_TEXT = re.compile(r"-?[0-9]+\Z")


def lua_number(v: int | float) -> int | float:
    """What a Lua number decodes to: the number Lua printed (`%.14g`), int when printed without `.`/`e`."""
    printed = kongsim.inspect(v)
    return int(printed) if _INT_TEXT.match(printed) else float(printed)


def expected(v: Any) -> Any:
    """The decoded form of a Python value as kongsim prints it (no opaque values, no shared tables)."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | float):
        return lua_number(v)
    if isinstance(v, list):
        items = [(i, w) for i, w in enumerate(v, 1) if w is not None]
    else:
        assert isinstance(v, dict)
        items = [(k, w) for k, w in v.items() if w is not None]
    out: dict[Any, Any] = {}
    for k, w in items:
        key = k if isinstance(k, str) else lua_number(k)
        assert key not in out, f"keys {k!r} and another print the same"
        out[key] = expected(w)
    if not out:
        return {}
    n = len(out)
    if all(type(k) is int for k in out) and set(out) == set(range(1, n + 1)):
        return [out[i] for i in range(1, n + 1)]
    return out


# --------------------------------------------------------------------------- strategies

_SPECIAL_CHARS = "\"'\\\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x7f0123456789 =,{}[]<>-éß✓😀\u2028\u00a0\x85"
texts = st.text(
    alphabet=st.one_of(st.sampled_from(_SPECIAL_CHARS), st.characters(codec="utf-8")),
    max_size=24,
)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
lua_ints = st.integers(-(2**53), 2**53)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
# Float keys that %.14g prints exactly, so two different keys never print the same.
float_keys = st.one_of(
    st.integers(-(10**6), 10**6).map(lambda n: n / 64),
    st.sampled_from([1e20, -2.5e-7, 1e15, 0.1]),
)
keys = st.one_of(identifiers, texts, st.integers(-5, 12), float_keys)
scalars = st.one_of(st.booleans(), lua_ints, finite_floats, texts)


def _tables(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, st.one_of(st.none(), children), max_size=5),
    )


values = st.recursive(scalars, _tables, max_leaves=16)
top_values = st.one_of(st.none(), values)


# --------------------------------------------------------------------------- round trip


@SETTINGS
@given(top_values, st.booleans())
def test_round_trip(value: Any, del_raw: bool) -> None:
    text = kongsim.inspect(value, del_raw=del_raw)
    assert typed(decode_values(text)) == typed([expected(value)])


@SETTINGS
@given(st.lists(top_values, min_size=1, max_size=4))
def test_inspect_arguments_round_trip(args: list[Any]) -> None:
    text = kongsim.inspect_args(*args)
    decoded = decode_values(text)
    assert len(decoded) == len(args)
    assert typed(decoded) == typed([expected(a) for a in args])


@SETTINGS
@given(finite_floats)
def test_numbers_are_lua_precision(x: float) -> None:
    [got] = decode_values(kongsim.inspect(x))
    assert math.isclose(got, x, rel_tol=1e-13, abs_tol=0.0) or got == x


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-2", -2),
        ("-0", 0),
        ("3.5", 3.5),
        ("12345678901234", 12345678901234),
        ("1e+14", 1e14),
        ("1.2345678901235e+14", 1.2345678901235e14),
        ("1e-07", 1e-07),
        ("5LL", 5),
        ("7ULL", 7),
        ("-3LL", -3),
        ("true", True),
        ("false", False),
        ("nil", None),
        ("{}", {}),
        ("{ 1, 2 }", [1, 2]),
    ],
)
def test_scalars_and_simple_tables(text: str, value: Any) -> None:
    assert typed(decode_values(text)) == typed([value])


def test_reference_string_escapes() -> None:
    # Reference §3, verbatim, and the same text from the simulator.
    text = REF_3_STRINGS
    strings = ["C:\\path\\n", "a\nb\tc\rd", "bell\a esc\x1b[1m nul\0 del\x7f d\x012", 'say "hi"', 'it\'s "x"']
    assert kongsim.inspect(strings) == text
    assert decode_values(text) == [strings]
    assert decode_values(kongsim.inspect(strings, del_raw=True)) == [strings]


# --------------------------------------------------------------------------- special values


def test_non_finite_numbers() -> None:
    nan, inf, ninf = decode_values(kongsim.inspect_args(math.nan, math.inf, -math.inf))
    assert kongsim.inspect_args(math.nan, math.inf, -math.inf) == "nan inf -inf"
    assert isinstance(nan, float) and math.isnan(nan)
    assert inf == math.inf and ninf == -math.inf
    [neg_nan] = decode_values("-nan")  # glibc's printf, accepted by the reference grammar
    assert math.isnan(neg_nan)
    [table] = decode_values(kongsim.inspect({"rate": math.nan, "limit": math.inf}))
    assert math.isnan(table["rate"]) and table["limit"] == math.inf


def test_reference_table_with_metatables_refs_and_opaque_values() -> None:
    value = ref_3_tables_value()
    text = kongsim.inspect(value)
    assert text == REF_3_TABLES.removesuffix("\n")
    assert decode_values(text) == [
        {
            1: "x",
            2: "y",
            "content-type": "application/json",
            "fn": None,
            "null": None,
            "paths": ["/a", "/b"],
            "self": {"self": None},
            "tags": {},
        }
    ]


def test_shared_table_is_the_same_table() -> None:
    shared = [1, 2]
    text = kongsim.inspect({"a": shared, "b": shared, "c": [shared]})
    assert "<1>{ 1, 2 }" in text and text.count("<table 1>") == 2
    [got] = decode_values(text)
    assert got == {"a": [1, 2], "b": [1, 2], "c": [[1, 2]]}
    assert got["a"] is got["b"] is got["c"][0]


def test_cycles_become_none() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert kongsim.inspect(loop) == "<1>{ <table 1> }"
    assert decode_values(kongsim.inspect(loop)) == [[None]]
    a: dict[str, Any] = {"name": "a"}
    b: dict[str, Any] = {"name": "b", "peer": a}
    a["peer"] = b
    [got] = decode_values(kongsim.inspect(a))
    assert got == {"name": "a", "peer": {"name": "b", "peer": None}}


def test_opaque_values_are_none() -> None:
    f, g, u, th = LuaFunction(), LuaFunction(), LuaUserdata(), LuaThread()
    text = kongsim.inspect([f, g, f, u, th])
    assert text == "{ <function 1>, <function 2>, <function 1>, <userdata 1>, <thread 1> }"
    assert decode_values(text) == [[None, None, None, None, None]]
    assert decode_values(kongsim.inspect_args(f, "x", u)) == [None, "x", None]


def test_cdata() -> None:
    value = {
        "n": LuaCdata("5LL"),
        "u": LuaCdata("7ULL"),
        "p": LuaCdata("cdata<void *>: NULL"),
        "s": LuaCdata("cdata<struct 97>: 0x7f3a2c001230"),
    }
    text = kongsim.inspect(value)
    assert "p = cdata<void *>: NULL" in text
    assert decode_values(text) == [{"n": 5, "u": 7, "p": None, "s": None}]
    assert decode_values("cdata<void *>: NULL 5LL") == [None, 5]


def test_metatable_is_dropped() -> None:
    value = Metatable({"a": 1, "b": [1, 2]}, {"__index": {"x": 1}, "__tostring": LuaFunction()})
    text = kongsim.inspect(value)
    assert "<metatable> = {" in text
    assert decode_values(text) == [{"a": 1, "b": [1, 2]}]
    assert decode_values(kongsim.inspect(Metatable([], {"__mode": "k"}))) == [{}]


def test_holes_and_table_keys() -> None:
    assert decode_values(kongsim.inspect([1, None, 3])) == [{1: 1, 3: 3}]
    assert decode_values(kongsim.inspect({Metatable([1, 2], None): "v", "k": 1})) == [{"{ 1, 2 }": "v", "k": 1}]
    assert decode_values(kongsim.inspect({True: 1, False: 0})) == [{True: 1, False: 0}]


# --------------------------------------------------------------------------- fast path


@SETTINGS
@given(st.lists(top_values, min_size=1, max_size=3))
def test_json_fast_path_agrees_with_tokenizer(args: list[Any]) -> None:
    for text in (kongsim.inspect(args[0]), kongsim.inspect_args(*args)):
        fast = luavalues._decode_as_json(text)
        if fast is not None:
            assert typed(fast) == typed(luavalues._decode_tokens(text))


_LUA_ISH = st.text(alphabet="{}[]<>=,\"' \n-0123456789.eEaLnultrfsx:\\", max_size=24)


@settings(max_examples=300, deadline=None)
@given(_LUA_ISH)
def test_json_fast_path_accepts_only_what_the_tokenizer_accepts(text: str) -> None:
    """The fast path must not read text that the exact reader rejects, nor read it differently."""
    fast = luavalues._decode_as_json(text)
    if fast is None:
        return
    try:
        slow = luavalues._decode_tokens(text)
    except LuaSyntaxError as exc:
        pytest.fail(f"fast path read {text!r} as {fast!r}; the tokenizer rejects it: {exc}")
    assert typed(fast) == typed(slow)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{ }",
        "1, 2",
        '{"a": 1}',
        "{ 1 , 2 }",
        '"a" { 1, 2 }',
        "{\n  a = { }\n}",
        "{\n  a-b = 1\n}",
        "{\n  9x = 1\n}",
    ],
)
def test_json_fast_path_agrees_on_examples(text: str) -> None:
    fast = luavalues._decode_as_json(text)
    try:
        slow = luavalues._decode_tokens(text)
    except LuaSyntaxError:
        assert fast is None, f"fast path read {text!r} as {fast!r}; the tokenizer rejects it"
        return
    assert fast is None or typed(fast) == typed(slow)


HOOK_DATA = {
    "consumer": {},
    "ip": "203.0.113.45",
    "limit": 100,
    "rate": 101,
    "service": {"id": "c1f0e7d2-6b3a-4f59-8e21-7a9d0c4b3e58", "name": "orders", "tags": ["a", "b"]},
    "window": "minute",
    "ratio": 0.5,
    "enabled": True,
}


def _hook_payload() -> str:
    return kongsim.event_hook_message("rate-limit-exceeded", "rate-limiting-advanced", HOOK_DATA, 2292)


def test_event_hook_payload_takes_the_fast_path() -> None:
    text = _hook_payload()
    fast = luavalues._decode_as_json(text)
    assert fast is not None, "a plain Event Hooks payload fell back to the slow reader"
    expected_value = ["log callback: ", ["rate-limit-exceeded", "rate-limiting-advanced", HOOK_DATA, 2292]]
    assert typed(fast) == typed(expected_value)
    assert typed(luavalues._decode_tokens(text)) == typed(expected_value)
    assert typed(decode_values(text)) == typed(expected_value)


# --------------------------------------------------------------------------- malformed text

MALFORMED = [
    "",
    "   \n ",
    "{",
    "{ 1, 2",
    "{\n  a = 1",
    "<1>{ 1",
    "{ { 1 }",
    '"abc',
    "'abc",
    "{ 1 2 }",
    '{ "a" "b" }',
    "{ 1,, 2 }",
    "{ , 1 }",
    ",",
    "1,",
    ", 1",
    "1, 2",
    '"a", "b"',
    "{ 1 , 2 }",
    "{ 1, }",
    '{"a": 1}',
    "[1, 2]",
    "hello",
    "foo bar",
    "{ a }",
    "a = 1",
    "{\n  a = \n}",
    "{\n  a 1\n}",
    "{\n  [1] 2\n}",
    "{\n  [1] = \n}",
    "}",
    "]",
    "{ ] }",
    "{ 1 }}",
    "<table>",
    "<table x>",
    "1LL2",
    "0x10",
    "1.",
    ".5",
    "--1",
    "Infinity",
    "NaN",
    "null",
    '"\\300"',
    "{\n  = 1\n}",
    "=",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_text_raises_lua_syntax_error(text: str) -> None:
    with pytest.raises(LuaSyntaxError):
        decode_values(text)


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_text_is_rejected_by_the_tokenizer(text: str) -> None:
    with pytest.raises(LuaSyntaxError):
        luavalues._decode_tokens(text)


CODE = [
    'os.execute("x")',
    "__import__('os')",
    "__import__('os').system('touch /tmp/kong-tailer-pwned')",
    'os.execute("touch /tmp/kong-tailer-pwned")',
    "print(1)",
    "(lambda: 1)()",
    '{ os.execute("x") }',
    '{\n  a = os.getenv("HOME")\n}',
    'loadstring("return 1")()',
    'require "os"',
    "1 + 1",
    "exec('1')",
]


@pytest.mark.parametrize("text", CODE)
def test_code_is_never_evaluated(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def trap(name: str) -> Any:
        def called(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} called")

        return called

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, trap(name))
    monkeypatch.setattr(os, "system", trap("os.system"))
    monkeypatch.setattr(subprocess, "Popen", trap("subprocess.Popen"))
    with pytest.raises(LuaSyntaxError):
        decode_values(text)
    assert calls == []


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _LUA_ISH, texts))
def test_arbitrary_text_raises_only_lua_syntax_error(text: str) -> None:
    with contextlib.suppress(LuaSyntaxError):  # anything else fails the test
        decode_values(text)


@pytest.mark.parametrize(
    "text",
    [
        "9" * 4301,  # past CPython's int() digit limit
        "-" + "1" * 5000 + "LL",
        "{\n  [" + "7" * 5000 + "] = 1\n}",
        "{ " * 3000 + "1" + " }" * 3000,  # deeper than the recursion limit
        "{\n  a = " + "{ " * 3000 + "1" + " }" * 3000 + "\n}",
    ],
    ids=["long-int", "long-cdata-int", "long-int-key", "deep-sequence", "deep-in-keyed-table"],
)
def test_pathological_text_raises_only_lua_syntax_error(text: str) -> None:
    with contextlib.suppress(LuaSyntaxError):  # anything else fails the test
        decode_values(text)
