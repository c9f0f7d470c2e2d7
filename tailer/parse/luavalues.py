"""Lua-table text, as inspect.lua prints it, → plain Python values. Never `eval`.

What comes back:

    string → str              true / false → bool         nil → None
    1, -2, 5LL → int          3.5, 1e+14, inf, nan → float
    {} → {}                   { 1, 2 } (pure sequence) → [1, 2]
    a table with any other key → dict: sequence items under 1..n, then the keyed entries
    <1>{ … } → that table     <table 1> → the same table if it is complete, else None (a cycle)
    <function 1>, <userdata 1>, <thread 1>, cdata<…>: 0x… → None
    <metatable> = … → dropped
    tables nested deeper than MAX_DEPTH → LuaSyntaxError (Kong's data is shallow; output recurses)

A table used as a key has no Python equivalent; its Lua text (e.g. "{ 1, 2 }") is the key instead.

Speed matters: a debug log carries boxes by the thousand, and sre costs tens of nanoseconds per character.
`decode_values` first tries `_decode_as_json`: it masks the strings out, rewrites the remaining structure to
JSON with a fixed number of `str.replace` calls and lets the C `json` module build the values. That covers the
usual Event Hooks payload (plain double-quoted strings, identifier keys, pure tables). Anything else (escapes,
`[key]`s, `<refs>`, mixed tables, nan, nil...) goes to `_decode_tokens`, the exact reader: one `findall` cuts
the text into (key, value, comma) triples, and every non-blank character belongs to some token (the last
alternative takes any stray one), so garbage is reported, never skipped. A property test holds the two equal.
"""

from __future__ import annotations

import json
import re
from typing import Any


class LuaSyntaxError(ValueError):
    """The text is not inspect.lua output."""


_STRING = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|' r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'"  # unrolled: fast in sre
_SIMPLE_KEY = r'[A-Za-z_][A-Za-z0-9_]*|<metatable>|\[(?:"[^"\\\n]*"|-?[0-9][0-9.e+-]*|true|false)\]'
_TOKENS = re.compile(
    rf"[ \n\t\r]*(?:({_SIMPLE_KEY}) = )?"
    r"("
    rf"{_STRING}"
    r"|<[0-9]+>\{"  # a table printed with its reference number
    r"|<(?:table|function|userdata|thread) [0-9]+>"
    r"|cdata<[^>\n]*>: (?:NULL|0x[0-9a-fA-F]+)"
    r"|\] = "  # the end of a key that needed the slow path: [<table>], ["esc\"aped"]
    r"|[^\s,{}\[\]<>=\"']+"  # numbers, true, false, nil, inf, nan, 5LL
    r"|\S"  # { } [ and any stray character
    r")(,?)"
)
_INT = re.compile(r"-?[0-9]+\Z")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|inf|nan)\Z")
_CDATA_INT = re.compile(r"(-?[0-9]+)U?LL\Z")
_ESCAPE = re.compile(r"\\([0-9]{1,3}|.)", re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_WORDS: dict[str, Any] = {"true": True, "false": False, "nil": None}
_NO_KEY: Any = object()  # the next value of a table is a sequence item
_META_KEY: Any = object()  # the next value of a table is its metatable, which is dropped
_BRACKET: Any = object()  # reading a key written as [value] the slow way


class _Table:
    __slots__ = ("seq", "hash", "ref_id", "key", "closed_item", "items")

    def __init__(self, ref_id: str | None) -> None:
        self.seq: list[Any] = []
        self.hash: dict[Any, Any] | None = None
        self.ref_id = ref_id
        self.key: Any = _NO_KEY
        self.closed_item = False  # an item was read and no comma followed it yet
        self.items = 0  # items read, metatables included


def decode_values(text: str) -> list[Any]:
    """The values of one inspect call: `"label" { … } 42` → ["label", {...}, 42]. Raises LuaSyntaxError."""
    try:
        values = _decode_as_json(text)
        return values if values is not None else _decode_tokens(text)
    except LuaSyntaxError:
        raise
    except (ValueError, RecursionError) as exc:  # int() refuses 4300 digits; a table key nested 1000 deep
        raise LuaSyntaxError(f"unreadable value: {exc}") from exc


MAX_DEPTH = 100  # tables nested deeper are refused: JSON output and rules recurse over the values
_INDENT = re.compile("\n +")
_NOT_IDENTIFIER_KEY = re.compile('\n"(?![A-Za-z_][A-Za-z0-9_]*": )')  # every key follows an inserted \n"
_MASK = "\0"  # stands for one masked string while the structure is rewritten


def _decode_as_json(text: str) -> list[Any] | None:
    """The common case at C speed, or None when the text needs the exact reader.

    It accepts only what the exact reader accepts, with the same result: one table, maybe after one string
    label (`"log callback: " { … }`), in inspect's own spacing, with identifier keys."""
    if "\\" in text:
        return None
    parts = text.split('"')  # with no backslash, odd parts are exactly the bodies of "strings"
    if not len(parts) & 1:
        return None
    s = _MASK.join(parts[0::2]).strip()
    labelled = s.startswith(_MASK + " {")
    if not (labelled or s.startswith("{")) or not s.endswith("}"):
        return None
    # Structure inspect never prints but JSON would accept: [ ] < > ' : null, " ,", "{ }".
    if "[" in s or "<" in s or "'" in s or ":" in s or "null" in s or " ," in s or "{ }" in s:
        return None
    if s.count("{") > MAX_DEPTH:  # maybe too deep: the exact reader counts
        return None
    # inspect starts a new line only before a key (after "{" or ",") or before the "}" of a keyed table;
    # a sequence opens with "{ " and closes with " }". Mixed tables come out as invalid JSON (fallback).
    s = (
        _INDENT.sub("\n", s)
        .replace("{\n", '{\n"')
        .replace(",\n", ',\n"')
        .replace(" = ", '": ')
        .replace("{ ", "[ ")
        .replace(" }", " ]")
    )
    if _NOT_IDENTIFIER_KEY.search(s):  # the exact reader takes only identifier keys bare (not `a-b = 1`)
        return None
    s = "[" + (_MASK + "," + s[1:] if labelled else s) + "]"
    pieces = s.split(_MASK)
    if len(pieces) != (len(parts) + 1) // 2:
        return None
    parts[0::2] = pieces
    doc = '"'.join(parts)
    try:
        values, end = _JSON.raw_decode(doc)
    except (ValueError, RecursionError):
        return None
    assert isinstance(values, list)
    if end != len(doc) or len(values) != (2 if labelled else 1):  # `{ 1 }, { 2 }` is not one table
        return None
    return values


def _not_lua(name: str) -> Any:
    raise ValueError(f"{name} is JSON, not Lua")


# Made once: json.loads(text, parse_constant=...) would build a decoder on every call.
_JSON = json.JSONDecoder(parse_constant=_not_lua)


def _decode_tokens(text: str) -> list[Any]:
    r = _Reader()
    for key_text, tok, comma in _TOKENS.findall(text):
        r.token(key_text, tok, comma)
    if r.stack:
        raise LuaSyntaxError("table not closed at end of text")
    if not r.top:
        raise LuaSyntaxError("no value")
    return r.top


class _Reader:
    """The state of one decode: finished top-level values, the tables still open, numbered tables."""

    __slots__ = ("top", "stack", "refs", "t")

    def __init__(self) -> None:
        self.top: list[Any] = []
        self.stack: list[_Table] = []
        self.refs: dict[str, Any] = {}
        self.t: _Table | None = None  # the innermost open table

    def token(self, key_text: str, tok: str, comma: str) -> None:
        t = self.t
        if t is not None:
            if t.closed_item and tok != "}":
                raise LuaSyntaxError(f"expected ',' or '}}' before {tok!r}")
            if key_text:
                if t.key is not _NO_KEY:
                    raise LuaSyntaxError(f"unexpected key {key_text!r}")
                t.key = _key(key_text)
        elif key_text or comma:
            raise LuaSyntaxError(f"unexpected {key_text or comma!r} outside a table")
        c = tok[0]
        if c == '"' or c == "'":
            value: Any = _string(tok)
        elif c == "{" or (c == "<" and tok[-1] == "{"):
            if comma:
                raise LuaSyntaxError("unexpected ',' after '{'")
            if len(self.stack) >= MAX_DEPTH:
                raise LuaSyntaxError(f"tables nested deeper than {MAX_DEPTH}")
            self.t = _Table(tok[1:-2] if c == "<" else None)
            self.stack.append(self.t)
            return
        elif c == "}":
            if t is None or t.key is not _NO_KEY:
                raise LuaSyntaxError("unexpected '}'")
            if t.items and not t.closed_item:
                raise LuaSyntaxError("',' before '}'")
            done = self.stack.pop()
            value = _table_value(done)
            if done.ref_id is not None:
                self.refs[done.ref_id] = value
            t = self.t = self.stack[-1] if self.stack else None
            if t is None and comma:
                raise LuaSyntaxError("unexpected ',' outside a table")
        elif c == "<":
            value = self.refs.get(tok[7:-1]) if tok.startswith("<table ") else None
        elif c == "[":
            if t is None or comma or t.key is not _NO_KEY:
                raise LuaSyntaxError("unexpected '['")
            t.key = _BRACKET
            return
        elif c == "]":
            if tok != "] = " or t is None or not isinstance(t.key, _Bracketed):
                raise LuaSyntaxError("unexpected ']'")
            t.key = t.key.value
            return
        elif tok.startswith("cdata<"):
            value = None
        else:
            value = _bare(tok)
        if t is None:
            self.top.append(value)
            return
        key = t.key
        if key is _NO_KEY:
            t.seq.append(value)
        elif key is _BRACKET:
            if comma:
                raise LuaSyntaxError("unexpected ',' in a key")
            t.key = _Bracketed(value)
            return
        else:
            t.key = _NO_KEY
            if key is not _META_KEY:
                if t.hash is None:
                    t.hash = {key: value}
                else:
                    t.hash[key] = value
        t.items += 1
        t.closed_item = not comma


class _Bracketed:
    """A key read the slow way, waiting for its `] = `."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        # A table cannot be a dict key: keep its Lua text instead.
        self.value = _lua_text(value) if isinstance(value, (dict, list)) else value


def _lua_text(value: Any) -> str:
    if isinstance(value, list):
        return "{ " + ", ".join(_lua_text(v) for v in value) + " }" if value else "{}"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"[{_lua_text(k)}] = {_lua_text(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _key(text: str) -> Any:
    if text[0] != "[":
        return _META_KEY if text == "<metatable>" else text
    inner = text[1:-1]
    return _string(inner) if inner[0] == '"' else _bare(inner)


def _table_value(t: _Table) -> Any:
    if t.hash is None:
        return t.seq if t.seq else {}
    if not t.seq:
        return t.hash
    out: dict[Any, Any] = dict(enumerate(t.seq, 1))
    out.update(t.hash)
    return out


def _bare(tok: str) -> Any:
    if _INT.match(tok):
        return int(tok)
    if tok in _WORDS:
        return _WORDS[tok]
    if _NUMBER.match(tok):
        return float(tok)
    m = _CDATA_INT.match(tok)
    if m:
        return int(m.group(1))
    raise LuaSyntaxError(f"unexpected {tok!r}")


def _string(quoted: str) -> str:
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape, body)


def _unescape(m: re.Match[str]) -> str:
    esc = m.group(1)
    if esc[0].isdigit():
        code = int(esc)
        if code > 255:
            raise LuaSyntaxError(f"escape \\{esc} is out of range")
        return chr(code)
    return _SIMPLE_ESCAPES.get(esc, esc)
