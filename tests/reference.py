"""Texts quoted from kong-log-formats.md §3 (inspect.lua output), shared by the simulator's and the decoder's tests."""

from __future__ import annotations

from typing import Any

from tests.kongsim import LuaFunction, LuaUserdata, Metatable

REF_3_STRINGS = (
    r"""{ "C:\\path\\n", "a\nb\tc\rd", "bell\a esc\27[1m nul\0 del\127 d\0012", 'say "hi"', "it's \"x\"" }"""
)

# Reference 3: metatables, userdata, functions, shared and cyclic tables.
REF_3_TABLES = """\
{ "x", "y",
  ["content-type"] = "application/json",
  fn = <function 1>,
  null = <userdata 1>,
  paths = { "/a", "/b",
    <metatable> = <1>{}
  },
  self = <2>{
    self = <table 2>
  },
  tags = {
    <metatable> = <table 1>
  }
}
"""


def ref_3_tables_value() -> dict[Any, Any]:
    """The Lua value that inspect prints as REF_3_TABLES: a shared array metatable, a cycle, opaque values."""
    array_mt: dict[str, object] = {}
    itself: dict[str, object] = {}
    itself["self"] = itself
    return {
        1: "x",
        2: "y",
        "content-type": "application/json",
        "fn": LuaFunction(),
        "null": LuaUserdata(),
        "paths": Metatable(["/a", "/b"], array_mt),
        "self": itself,
        "tags": Metatable({}, array_mt),
    }
